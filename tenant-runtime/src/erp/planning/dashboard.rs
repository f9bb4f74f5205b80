//! The PPIC dashboard's figures, read in one pass of set queries: manufacturing orders by
//! state, output against plan for each day of this week (Monday to Sunday), late
//! manufacturing and sales orders, component shortages of running orders, and the quality
//! pass rate over the last 30 days. Read-only; what "today" is comes from the database's
//! clock, so the page and the API agree.

use chrono::{Datelike, Duration, NaiveDate};
use common::api_error::ApiResult;
use rust_decimal::Decimal;
use serde::Serialize;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// Late orders and shortages listed at most (the counts cover all).
pub const LISTED: i64 = 20;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusCount {
    pub status: String,
    pub count: i64,
}

/// One day of this week: what open orders were due that day, and what was produced.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayOutput {
    pub date: NaiveDate,
    /// Quantities of the manufacturing orders (not canceled) due that day.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub planned: Decimal,
    /// Quantities completed that day.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub produced: Decimal,
}

/// An order past its date and not done.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LateOrder {
    /// `manufacturing_order` or `sales_order`.
    pub document_type: String,
    pub id: Uuid,
    pub number: String,
    pub status: String,
    pub due_on: NaiveDate,
    pub days_late: i32,
}

/// A component running orders still need beyond what they hold.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComponentShortage {
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub short: Decimal,
    /// Running orders short of it.
    pub orders: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityRate {
    /// Inspections decided in the last 30 days.
    pub decided: i64,
    pub passed: i64,
    pub failed: i64,
    pub conditional: i64,
    /// Passed / decided, in percent with one decimal; none when nothing was decided.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,3}(\.[0-9])?$")]
    pub pass_rate: Option<Decimal>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dashboard {
    pub today: NaiveDate,
    pub orders_by_status: Vec<StatusCount>,
    /// Monday to Sunday of this week.
    pub week: Vec<DayOutput>,
    pub late_count: i64,
    /// The latest first, at most 20.
    pub late: Vec<LateOrder>,
    pub shortage_count: i64,
    /// The largest first, at most 20.
    pub shortages: Vec<ComponentShortage>,
    pub quality: QualityRate,
}

/// The dashboard as of the database's today.
pub async fn load(db: &impl GenericClient) -> ApiResult<Dashboard> {
    let today: NaiveDate = db.query_one("SELECT current_date", &[]).await?.get(0);
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let (late_count, late) = late_orders(db, today).await?;
    let (shortage_count, shortages) = shortages(db).await?;
    Ok(Dashboard {
        today,
        orders_by_status: orders_by_status(db).await?,
        week: week(db, monday).await?,
        late_count,
        late,
        shortage_count,
        shortages,
        quality: quality(db).await?,
    })
}

async fn orders_by_status(db: &impl GenericClient) -> ApiResult<Vec<StatusCount>> {
    let rows = db
        .query(
            "SELECT s.status, count(o.id) FROM unnest(ARRAY['draft', 'released', \
             'in_progress', 'completed', 'closed', 'canceled']) WITH ORDINALITY AS s (status, n) \
             LEFT JOIN manufacturing_orders o ON o.status = s.status \
             GROUP BY s.status, s.n ORDER BY s.n",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| StatusCount {
            status: row.get(0),
            count: row.get(1),
        })
        .collect())
}

async fn week(db: &impl GenericClient, monday: NaiveDate) -> ApiResult<Vec<DayOutput>> {
    let rows = db
        .query(
            "SELECT d::date, \
               coalesce((SELECT sum(quantity) FROM manufacturing_orders \
                         WHERE due_on = d::date AND status <> 'canceled'), 0), \
               coalesce((SELECT sum(quantity) FROM production_completions \
                         WHERE created_at >= d AND created_at < d + interval '1 day'), 0) \
             FROM generate_series($1::date, $1::date + 6, interval '1 day') AS d ORDER BY d",
            &[&monday],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| DayOutput {
            date: row.get(0),
            planned: row.get::<_, Decimal>(1).normalize(),
            produced: row.get::<_, Decimal>(2).normalize(),
        })
        .collect())
}

/// Manufacturing orders due before today and not completed, and sales orders requested
/// before today and not delivered.
async fn late_orders(
    db: &impl GenericClient,
    today: NaiveDate,
) -> ApiResult<(i64, Vec<LateOrder>)> {
    const LATE: &str = "\
        SELECT 'manufacturing_order', id, number, status, due_on FROM manufacturing_orders \
        WHERE due_on < $1 AND status IN ('draft', 'released', 'in_progress') \
        UNION ALL \
        SELECT 'sales_order', id, number, status, requested_date FROM sales_orders \
        WHERE requested_date < $1 AND status IN ('draft', 'confirmed', 'partially_delivered')";
    // The window count is taken before LIMIT: the total and the first page in one pass.
    let rows = db
        .query(
            &format!("SELECT *, count(*) OVER () FROM ({LATE}) late ORDER BY 5, 3 LIMIT {LISTED}"),
            &[&today],
        )
        .await?;
    let count = total(&rows, 5);
    let late = rows
        .iter()
        .map(|row| {
            let due_on: NaiveDate = row.get(4);
            LateOrder {
                document_type: row.get(0),
                id: row.get(1),
                number: row.get(2),
                status: row.get(3),
                due_on,
                days_late: i32::try_from((today - due_on).num_days()).unwrap_or(i32::MAX),
            }
        })
        .collect();
    Ok((count, late))
}

/// Per component: what released or in-progress orders still have to consume beyond what
/// is reserved for them.
async fn shortages(db: &impl GenericClient) -> ApiResult<(i64, Vec<ComponentShortage>)> {
    const SHORT: &str = "\
        SELECT c.item_id, sum(c.short) AS short, count(DISTINCT c.order_id) AS orders FROM ( \
          SELECT c.item_id, c.order_id, greatest(c.required - c.consumed - coalesce( \
                   (SELECT sum(r.quantity) FROM stock_reservations r \
                    WHERE r.document_type = 'manufacturing_order' \
                      AND r.document_id = o.id::text AND r.document_line = c.line_no), 0), 0) \
                 AS short \
          FROM manufacturing_order_components c \
          JOIN manufacturing_orders o ON o.id = c.order_id \
          WHERE o.status IN ('released', 'in_progress')) c \
        WHERE c.short > 0 GROUP BY c.item_id";
    let rows = db
        .query(
            &format!(
                "SELECT s.item_id, i.sku, i.name, s.short, s.orders, count(*) OVER () \
                 FROM ({SHORT}) s JOIN items i ON i.id = s.item_id \
                 ORDER BY s.short DESC, i.sku LIMIT {LISTED}"
            ),
            &[],
        )
        .await?;
    let count = total(&rows, 5);
    let listed = rows
        .iter()
        .map(|row| ComponentShortage {
            item_id: row.get(0),
            sku: row.get(1),
            item_name: row.get(2),
            short: row.get::<_, Decimal>(3).normalize(),
            orders: row.get(4),
        })
        .collect();
    Ok((count, listed))
}

/// The `count(*) OVER ()` at `column` of a listed page: every row carries the total, and
/// no row means none at all.
fn total(rows: &[tokio_postgres::Row], column: usize) -> i64 {
    rows.first().map_or(0, |row| row.get(column))
}

async fn quality(db: &impl GenericClient) -> ApiResult<QualityRate> {
    let row = db
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE status = 'passed'), \
             count(*) FILTER (WHERE status = 'failed'), \
             count(*) FILTER (WHERE status = 'conditional') \
             FROM quality_inspections \
             WHERE status <> 'open' AND decided_at >= now() - interval '30 days'",
            &[],
        )
        .await?;
    let (decided, passed): (i64, i64) = (row.get(0), row.get(1));
    Ok(QualityRate {
        decided,
        passed,
        failed: row.get(2),
        conditional: row.get(3),
        pass_rate: pass_rate(passed, decided),
    })
}

/// `passed / decided` in percent, one decimal (none of nothing).
pub fn pass_rate(passed: i64, decided: i64) -> Option<Decimal> {
    (decided > 0).then(|| {
        (Decimal::from(passed) * Decimal::ONE_HUNDRED / Decimal::from(decided)).round_dp(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pass_rate_is_a_rounded_percentage_or_nothing() {
        assert_eq!(pass_rate(0, 0), None);
        assert_eq!(pass_rate(2, 3), Some("66.7".parse().unwrap()));
        assert_eq!(pass_rate(4, 4), Some(Decimal::ONE_HUNDRED));
    }
}
