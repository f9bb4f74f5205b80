//! The consistency check: every balance row equals the sum of its ledger entries (on hand
//! and value), and no entry lacks its balance row. Tests run it after every scenario.

use common::api_error::ApiResult;
use rust_decimal::Decimal;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// A balance that differs from its ledger: (item, location, lot, balance on hand,
/// ledger on hand).
pub type Mismatch = (Uuid, Uuid, Option<Uuid>, Option<Decimal>, Option<Decimal>);

/// Rows where `stock_balances` and `SUM(stock_ledger)` disagree; empty when consistent.
pub async fn mismatches(db: &impl GenericClient) -> ApiResult<Vec<Mismatch>> {
    let rows = db
        .query(
            "SELECT item_id, location_id, lot_id, balance_on_hand, ledger_on_hand \
             FROM stock_balance_mismatches()",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}
