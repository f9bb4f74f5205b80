//! Inspection plans: a checklist of criteria for an item (or every item of a category) and
//! an inspection kind. A criterion is pass/fail, or measured against a minimum and/or
//! maximum in a unit. A new plan for the same target and kind replaces the active one
//! (the old one is kept for the inspections that used it). An inspection uses the item's
//! own plan first, then its category's.

use super::{Kind, kind_of, record, text};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// How a criterion is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    /// The inspector says whether it passed.
    PassFail,
    /// The inspector records a value; it passes within `min`..=`max`.
    Measured,
}

impl CriterionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PassFail => "pass_fail",
            Self::Measured => "measured",
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCriterion {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    pub kind: CriterionKind,
    /// Measured only: the lowest value that passes.
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub min: Option<Decimal>,
    /// Measured only: the highest value that passes (not below `min`).
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub max: Option<Decimal>,
    /// Measured only: the unit of the value (`mm`, `kg`...).
    #[schema(min_length = 1, max_length = 20, pattern = r"\S")]
    pub unit: Option<String>,
}

/// A new plan: for an item or for a category (exactly one of them).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    pub kind: Kind,
    pub item_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    #[schema(min_items = 1, max_items = 100)]
    pub criteria: Vec<NewCriterion>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Criterion {
    /// 1, 2, ... in the order given.
    pub position: i32,
    pub name: String,
    pub kind: CriterionKind,
    #[schema(value_type = Option<String>)]
    pub min: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub max: Option<Decimal>,
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Plan {
    pub id: Uuid,
    pub name: String,
    pub kind: Kind,
    pub item_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    /// False once a newer plan for the same target and kind replaced it.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub criteria: Vec<Criterion>,
}

/// 422 unless a measured criterion has a bound (and min <= max) and a pass/fail one none.
fn check_criterion(index: usize, c: &NewCriterion) -> ApiResult<()> {
    let field = |name: &str| format!("criteria[{index}].{name}");
    text(&field("name"), &c.name, 200, true)?;
    match c.kind {
        CriterionKind::PassFail if c.min.is_some() || c.max.is_some() || c.unit.is_some() => {
            Err(ApiError::invalid(
                &field("kind"),
                "a pass/fail criterion has no min, max or unit",
            ))
        }
        CriterionKind::Measured if c.min.is_none() && c.max.is_none() => Err(ApiError::invalid(
            &field("min"),
            "a measured criterion needs a min or a max",
        )),
        CriterionKind::Measured if matches!((c.min, c.max), (Some(a), Some(b)) if a > b) => {
            Err(ApiError::invalid(&field("max"), "must not be below min"))
        }
        _ => Ok(()),
    }
}

/// 404 `item_not_found` / `category_not_found`; 422 unless exactly one is named.
async fn check_target(db: &impl GenericClient, input: &NewPlan) -> ApiResult<()> {
    match (input.item_id, input.category_id) {
        (Some(item), None) => {
            db.query_opt("SELECT 1 FROM items WHERE id = $1", &[&item])
                .await?
                .ok_or_else(|| ApiError::not_found("item_not_found", "no item has this id"))?;
        }
        (None, Some(category)) => {
            db.query_opt("SELECT 1 FROM categories WHERE id = $1", &[&category])
                .await?
                .ok_or_else(|| {
                    ApiError::not_found("category_not_found", "no category has this id")
                })?;
        }
        _ => {
            return Err(ApiError::invalid(
                "item_id",
                "name an item or a category (one of them)",
            ));
        }
    }
    Ok(())
}

/// Creates a plan (replacing the active one of the same target and kind).
pub async fn create(db: &impl GenericClient, actor: &Actor, input: NewPlan) -> ApiResult<Plan> {
    let name = text("name", &input.name, 200, true)?;
    for (index, criterion) in input.criteria.iter().enumerate() {
        check_criterion(index, criterion)?;
    }
    if input.criteria.is_empty() || input.criteria.len() > 100 {
        return Err(ApiError::invalid("criteria", "between 1 and 100 criteria"));
    }
    check_target(db, &input).await?;
    let kind = input.kind.as_str();
    db.execute(
        "UPDATE quality_plans SET active = false WHERE active AND kind = $1 \
         AND (item_id = $2 OR category_id = $3)",
        &[&kind, &input.item_id, &input.category_id],
    )
    .await?;
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO quality_plans (id, name, kind, item_id, category_id, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &name,
            &kind,
            &input.item_id,
            &input.category_id,
            &actor.user_id,
        ],
    )
    .await?;
    for (index, c) in input.criteria.iter().enumerate() {
        let position = index as i32 + 1;
        let unit = c.unit.as_deref().map(str::trim);
        db.execute(
            "INSERT INTO quality_criteria (plan_id, position, name, kind, min, max, unit) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &position,
                &c.name.trim(),
                &c.kind.as_str(),
                &c.min,
                &c.max,
                &unit,
            ],
        )
        .await?;
    }
    let plan = find(db, id).await?;
    record(
        db,
        actor,
        "quality.plan_created",
        "quality_plan",
        id.to_string(),
        serde_json::json!(plan),
    )
    .await?;
    Ok(plan)
}

fn criterion(row: &tokio_postgres::Row) -> Criterion {
    let kind: String = row.get(2);
    Criterion {
        position: row.get(0),
        name: row.get(1),
        kind: if kind == "measured" {
            CriterionKind::Measured
        } else {
            CriterionKind::PassFail
        },
        min: row.get::<_, Option<Decimal>>(3).map(|d| d.normalize()),
        max: row.get::<_, Option<Decimal>>(4).map(|d| d.normalize()),
        unit: row.get(5),
    }
}

/// The criteria of a plan, in order.
pub async fn criteria(db: &impl GenericClient, plan_id: Uuid) -> ApiResult<Vec<Criterion>> {
    let rows = db
        .query(
            "SELECT position, name, kind, min, max, unit FROM quality_criteria \
             WHERE plan_id = $1 ORDER BY position",
            &[&plan_id],
        )
        .await?;
    Ok(rows.iter().map(criterion).collect())
}

const PLAN_SELECT: &str =
    "SELECT id, name, kind, item_id, category_id, active, created_at FROM quality_plans";

async fn plan(db: &impl GenericClient, row: &tokio_postgres::Row) -> ApiResult<Plan> {
    let id: Uuid = row.get(0);
    Ok(Plan {
        id,
        name: row.get(1),
        kind: kind_of(row.get(2))?,
        item_id: row.get(3),
        category_id: row.get(4),
        active: row.get(5),
        created_at: row.get(6),
        criteria: criteria(db, id).await?,
    })
}

/// One plan; 404 `plan_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Plan> {
    let row = db
        .query_opt(&format!("{PLAN_SELECT} WHERE id = $1"), &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("plan_not_found", "no inspection plan has this id"))?;
    plan(db, &row).await
}

/// The active plans (at most 500, newest first), optionally of one item.
pub async fn list(db: &impl GenericClient, item_id: Option<Uuid>) -> ApiResult<Vec<Plan>> {
    let rows = db
        .query(
            &format!(
                "{PLAN_SELECT} WHERE active AND ($1::uuid IS NULL OR item_id = $1) \
                 ORDER BY id DESC LIMIT 500"
            ),
            &[&item_id],
        )
        .await?;
    let mut plans = Vec::with_capacity(rows.len());
    for row in &rows {
        plans.push(plan(db, row).await?);
    }
    Ok(plans)
}

/// The plan an inspection of `item_id` and `kind` follows: the item's active one, else
/// its category's, else none.
pub async fn applicable(
    db: &impl GenericClient,
    item_id: Uuid,
    kind: Kind,
) -> ApiResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "SELECT p.id FROM quality_plans p, items i WHERE i.id = $1 AND p.active \
             AND p.kind = $2 AND (p.item_id = i.id OR p.category_id = i.category_id) \
             ORDER BY p.item_id IS NULL LIMIT 1",
            &[&item_id, &kind.as_str()],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(min: Option<i64>, max: Option<i64>) -> NewCriterion {
        NewCriterion {
            name: "Length".into(),
            kind: CriterionKind::Measured,
            min: min.map(Decimal::from),
            max: max.map(Decimal::from),
            unit: Some("mm".into()),
        }
    }

    #[test]
    fn a_measured_criterion_needs_a_bound_in_order() {
        assert!(check_criterion(0, &measured(Some(1), Some(2))).is_ok());
        assert!(check_criterion(0, &measured(None, Some(2))).is_ok());
        assert!(check_criterion(0, &measured(None, None)).is_err());
        assert!(check_criterion(0, &measured(Some(3), Some(2))).is_err());
    }

    #[test]
    fn a_pass_fail_criterion_has_no_bounds() {
        let mut c = measured(Some(1), None);
        c.kind = CriterionKind::PassFail;
        assert!(check_criterion(0, &c).is_err());
        c.min = None;
        c.unit = None;
        assert!(check_criterion(0, &c).is_ok());
    }
}
