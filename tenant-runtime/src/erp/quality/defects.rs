//! Defect analysis: the defects recorded on decided inspections (on a failed criterion or
//! the inspection as a whole), counted and summed per defect type, item or work order,
//! for inspections decided in a period.

use chrono::NaiveDate;
use common::api_error::{ApiError, ApiResult};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};

/// What the defects are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Type,
    Item,
    WorkOrder,
}

impl GroupBy {
    /// The SQL expression of the group's key (text) and its label.
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Self::Type => ("d.defect_type", "d.defect_type"),
            Self::Item => ("q.item_id::text", "i.sku"),
            Self::WorkOrder => (
                "coalesce(q.work_order_id::text, '')",
                "coalesce(q.work_order_id::text, 'none')",
            ),
        }
    }
}

/// The period (inclusive dates, UTC) and the grouping.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DefectQuery {
    /// First day (inclusive); unbounded when omitted.
    pub from: Option<NaiveDate>,
    /// Last day (inclusive); unbounded when omitted. Not before `from`.
    pub to: Option<NaiveDate>,
    #[serde(default)]
    pub group_by: GroupBy,
}

/// One group's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DefectGroup {
    /// The defect type, the item's id, or the work order's id (empty: none).
    pub key: String,
    /// The defect type, the item's SKU, or the work order's id (`none`).
    pub label: String,
    /// How many defect records.
    pub count: i64,
    /// Units with the defect.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Distinct inspections they were found on.
    pub inspections: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DefectReport {
    pub group_by: GroupBy,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Most defects first.
    pub groups: Vec<DefectGroup>,
}

/// Defects of inspections decided in the period, grouped; 422 when `to` is before `from`.
pub async fn analyse(db: &impl GenericClient, query: &DefectQuery) -> ApiResult<DefectReport> {
    if let (Some(from), Some(to)) = (query.from, query.to)
        && to < from
    {
        return Err(ApiError::invalid("to", "must not be before from"));
    }
    let (key, label) = query.group_by.columns();
    let rows = db
        .query(
            &format!(
                "SELECT {key}, min({label}), count(*), sum(d.quantity), \
                        count(DISTINCT d.inspection_id) \
                 FROM quality_defects d JOIN quality_inspections q ON q.id = d.inspection_id \
                 JOIN items i ON i.id = q.item_id \
                 WHERE q.decided_at IS NOT NULL \
                   AND ($1::date IS NULL OR q.decided_at >= $1::date::timestamp AT TIME ZONE 'UTC') \
                   AND ($2::date IS NULL OR q.decided_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC') \
                 GROUP BY 1 ORDER BY 3 DESC, 4 DESC, 1 LIMIT 1000"
            ),
            &[&query.from, &query.to],
        )
        .await?;
    let groups = rows
        .iter()
        .map(|r| DefectGroup {
            key: r.get(0),
            label: r.get(1),
            count: r.get(2),
            quantity: r.get::<_, Decimal>(3).normalize(),
            inspections: r.get(4),
        })
        .collect();
    Ok(DefectReport {
        group_by: query.group_by,
        from: query.from,
        to: query.to,
        groups,
    })
}
