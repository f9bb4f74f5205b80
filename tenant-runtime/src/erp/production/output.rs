//! The one stock primitive production adds: a `produce` movement (finished goods coming
//! out of an order, at the cost of what it consumed), posted through `erp::stock::post`
//! like every movement, with the finished lot created for a lot-tracked item. The stock
//! module's receipts are always `receipt` movements, so this lives here rather than in
//! `erp/stock/`.

use crate::erp::stock::post::{self, Cost, MovementHeader, NewEntry, Posted};
use common::api_error::ApiResult;
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Finished goods of an order.
#[derive(Debug, Clone)]
pub struct Output {
    pub order_id: Uuid,
    pub item_id: Uuid,
    pub location_id: Uuid,
    /// In the item's base unit, above zero.
    pub quantity: Decimal,
    pub unit_cost: Decimal,
    /// The finished lot's code (lot-tracked items only; created here).
    pub lot_code: Option<String>,
    pub note: String,
}

/// The lot `code` of the item, made now (or the existing one of that code).
async fn lot(db: &impl GenericClient, item_id: Uuid, code: &str) -> ApiResult<Uuid> {
    db.execute(
        "INSERT INTO lots (id, item_id, code) VALUES ($1, $2, $3) \
         ON CONFLICT (item_id, lower(code)) DO NOTHING",
        &[&Uuid::now_v7(), &item_id, &code],
    )
    .await?;
    let row = db
        .query_one(
            "SELECT id FROM lots WHERE item_id = $1 AND lower(code) = lower($2)",
            &[&item_id, &code],
        )
        .await?;
    Ok(row.get(0))
}

/// Posts the `produce` movement, in the caller's transaction; answers it and its lot.
pub async fn produce(
    db: &impl GenericClient,
    actor: &Actor,
    output: Output,
) -> ApiResult<(Posted, Option<Uuid>)> {
    let lot_id = match output.lot_code.as_deref() {
        Some(code) => Some(lot(db, output.item_id, code).await?),
        None => None,
    };
    let header = MovementHeader {
        kind: "produce",
        document_type: Some(super::DOCUMENT_TYPE.to_owned()),
        document_id: Some(output.order_id.to_string()),
        note: output.note,
        ..MovementHeader::default()
    };
    let entry = NewEntry {
        kind: "produce",
        item_id: output.item_id,
        location_id: output.location_id,
        lot_id,
        quantity: output.quantity,
        cost: Cost::Given(output.unit_cost),
        document_line: None,
        reverses: None,
    };
    let posted = post::post(db, actor, header, vec![entry]).await?;
    Ok((posted, lot_id))
}
