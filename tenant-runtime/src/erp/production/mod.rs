//! Production: bills of materials, manufacturing orders and their work orders.
//!
//! - `boms`: multi-level bills of materials in numbered versions (one active per item),
//!   components converted to their base unit, cycles refused when a version is saved or
//!   activated, and the exploded view (every level, quantities multiplied out).
//! - `orders`: manufacturing orders (MO) made from an item's active BOM, their reads, and
//!   the states draft -> released -> in progress -> completed -> closed, or canceled.
//! - `allocation`: the allocation preview, release (components reserved from the order's
//!   warehouse, all or nothing unless partial is asked for), and giving reservations back.
//! - `completion`: completing (part of) an order: the allocated components consumed and
//!   the finished goods produced as ledger movements, in the caller's transaction.
//! - `output`: the stock primitive production needs that `erp::stock` lacks: a `produce`
//!   movement (with its lot), posted through `erp::stock::post`.
//! - `work_orders`: work orders (the seeds' SPK) per operation or department, daily input
//!   against their target, and changes after release through an approval.
//!
//! Every write takes the caller's transaction and writes its audit entry and events there.

pub mod allocation;
pub mod boms;
pub mod completion;
pub mod orders;
pub mod output;
pub mod work_orders;

use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self as audit, Actor};
use serde_json::Value;
use tokio_postgres::GenericClient;

/// The `document_type` of an order's reservations and stock movements.
pub const DOCUMENT_TYPE: &str = "manufacturing_order";

/// The audit entry of one production write.
async fn record(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    target_kind: &str,
    target_id: String,
    before: Option<Value>,
    after: Value,
) -> ApiResult<()> {
    let entry = audit::Entry {
        action,
        target_kind,
        target_id,
        before,
        after: Some(after),
    };
    audit::record(db, actor, entry).await?;
    Ok(())
}

/// 404 `item_not_found`; 409 `item_inactive`, `service_item` (nothing made or consumed
/// from stock: the item's state, not the request's shape, is wrong).
async fn check_item(db: &impl GenericClient, id: uuid::Uuid, field: &str) -> ApiResult<()> {
    let row = db
        .query_opt("SELECT active, kind FROM items WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| {
            ApiError::not_found("item_not_found", format!("{field}: no item has this id"))
        })?;
    if !row.get::<_, bool>(0) {
        return Err(ApiError::conflict(
            "item_inactive",
            format!("{field}: this item is inactive"),
        ));
    }
    if row.get::<_, String>(1) == "service" {
        return Err(ApiError::conflict(
            "service_item",
            format!("{field}: a service item holds no stock"),
        ));
    }
    Ok(())
}
