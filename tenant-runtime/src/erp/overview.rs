//! The figures a company's dashboard opens with: stock value, items below their reorder
//! point, open purchase and sales orders, and the approvals waiting for the user. Each
//! is given only when the plan includes its module and the user may read it (`None`
//! otherwise, and the dashboard leaves its card out); each reuses its module's own rule
//! of what counts (`below_reorder`, `OPEN`, `pending_for`).

use crate::auth::CurrentUser;
use crate::erp::{approvals, purchasing, sales, stock};
use common::api_error::ApiResult;
use rust_decimal::Decimal;

/// The dashboard's figures.
#[derive(Debug, Default)]
pub struct Overview {
    pub stock_value: Option<Decimal>,
    pub below_reorder: Option<usize>,
    pub open_purchase_orders: Option<i64>,
    pub open_sales_orders: Option<i64>,
    pub pending_approvals: Option<usize>,
}

/// The figures `current` may see.
pub async fn figures(current: &CurrentUser) -> ApiResult<Overview> {
    let db = current.db.client();
    let opens = |module: &str, permission: &str| {
        current.tenant.0.plan.features.iter().any(|f| f == module) && current.can(permission)
    };
    let mut overview = Overview::default();
    if opens("inventory", "inventory.read") {
        let value: Decimal = db
            .query_one("SELECT coalesce(sum(value), 0) FROM stock_balances", &[])
            .await?
            .get(0);
        overview.stock_value = Some(value.round_dp(2));
        overview.below_reorder = Some(stock::queries::below_reorder(db).await?.len());
    }
    if opens("purchasing", "purchasing.read") {
        overview.open_purchase_orders = Some(count(db, "purchase_orders", purchasing::OPEN).await?);
    }
    if opens("sales", "sales.read") {
        overview.open_sales_orders = Some(count(db, "sales_orders", &sales::OPEN).await?);
    }
    if opens("approvals", "approvals.read") {
        overview.pending_approvals = Some(approvals::pending_for(db, &current.user).await?.len());
    }
    Ok(overview)
}

/// Orders of `table` in one of `statuses`.
async fn count(
    db: &impl tokio_postgres::GenericClient,
    table: &str,
    statuses: &[&str],
) -> ApiResult<i64> {
    let statuses: Vec<&str> = statuses.to_vec();
    let sql = format!("SELECT count(*) FROM {table} WHERE status = ANY($1)");
    Ok(db.query_one(&sql, &[&statuses]).await?.get(0))
}
