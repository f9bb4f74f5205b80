//! Goods received against a purchase order: each line posts a stock receipt (document
//! type `purchase_order`, the line's price as unit cost) and adds to the line's received
//! quantity under the order's and the line's row locks, in one transaction; more than
//! ordered plus the tolerance setting is refused. A receipt's `reference` makes a
//! double-submitted form receive once. A line whose item has an active incoming quality
//! plan opens its incoming inspection in the same transaction (holding the lot received,
//! when the item is lot-tracked, until the inspection is decided).

use super::{PurchaseOrder, find, lock};
use crate::erp::quality::Kind;
use crate::erp::quality::inspections::{self, NewInspection};
use crate::erp::stock::{self, Receipt};
use crate::erp::{events, quantity};
use chrono::NaiveDate;
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self, Actor, Entry};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// The setting (a number of percent, default 0) by which a line may be over-received.
pub const TOLERANCE_SETTING: &str = "purchasing.over_receipt_tolerance_percent";

/// One line received.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLineInput {
    /// The order's line number.
    #[schema(minimum = 1)]
    pub line: i32,
    /// Greater than zero, in the item's base unit.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    /// A location of the order's warehouse.
    pub location_id: Uuid,
    /// Required for lot-tracked items (created on first receipt), refused for others.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
    pub lot_code: Option<String>,
    pub lot_expires_on: Option<NaiveDate>,
}

/// A receipt against an order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptInput {
    /// 1 to 200 lines.
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<ReceiptLineInput>,
    /// The client's idempotency reference (the `Idempotency-Key` header wins).
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
}

/// A receipt posted (or found under its reference), with the order as it now stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptResult {
    pub id: Uuid,
    /// The stock movements posted, one per line.
    pub movement_ids: Vec<Uuid>,
    /// The incoming inspections the receipt opened (items with an incoming quality plan).
    pub inspection_ids: Vec<Uuid>,
    pub purchase_order: PurchaseOrder,
    /// False when the reference had already received it.
    pub created: bool,
}

/// The tolerance in percent (0 when unset or not a number of 0 to 100).
async fn tolerance(db: &impl GenericClient) -> ApiResult<Decimal> {
    let row = db
        .query_opt(
            "SELECT value #>> '{}' FROM settings WHERE key = $1",
            &[&TOLERANCE_SETTING],
        )
        .await?;
    let percent = row
        .and_then(|row| row.get::<_, Option<String>>(0))
        .and_then(|text| text.trim().parse::<Decimal>().ok())
        .filter(|p| *p >= Decimal::ZERO && *p <= Decimal::ONE_HUNDRED)
        .unwrap_or(Decimal::ZERO);
    Ok(percent)
}

/// The most a line of `ordered` may receive in all.
pub fn receivable(ordered: Decimal, tolerance_percent: Decimal) -> Decimal {
    (ordered + ordered * tolerance_percent / Decimal::ONE_HUNDRED).round_dp(quantity::SCALE)
}

async fn existing(
    db: &impl GenericClient,
    order_id: Uuid,
    reference: Option<&str>,
) -> ApiResult<Option<ReceiptResult>> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    let Some(row) = db
        .query_opt(
            "SELECT id, purchase_order_id, movement_ids FROM purchase_receipts WHERE reference = $1",
            &[&reference],
        )
        .await?
    else {
        return Ok(None);
    };
    if row.get::<_, Uuid>(1) != order_id {
        return Err(ApiError::conflict(
            "reference_taken",
            "this reference was used for a receipt of another purchase order",
        ));
    }
    let movement_ids: Vec<Uuid> = row.get(2);
    Ok(Some(ReceiptResult {
        id: row.get(0),
        inspection_ids: inspections_of(db, &movement_ids).await?,
        movement_ids,
        purchase_order: find(db, order_id).await?,
        created: false,
    }))
}

/// Receives goods against order `id`, in the caller's transaction. 404
/// `purchase_order_not_found`; 409 `purchase_order_not_receivable` (not approved or
/// partially received), `over_receipt`, `reference_taken`; 422 on `lines[i]...`.
pub async fn receive(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    input: ReceiptInput,
) -> ApiResult<ReceiptResult> {
    if let Some(reference) = &input.reference
        && (reference.is_empty() || reference.chars().count() > 200 || reference.contains('\0'))
    {
        return Err(ApiError::invalid("reference", "1 to 200 characters"));
    }
    // The order's lock first: a repeat of this receipt waits for it, then finds it.
    let status = lock(db, id).await?;
    if let Some(done) = existing(db, id, input.reference.as_deref()).await? {
        return Ok(done);
    }
    if !["approved", "partially_received"].contains(&status.as_str()) {
        return Err(ApiError::conflict(
            "purchase_order_not_receivable",
            format!(
                "only an approved or partially received order is received against; this one is {status}"
            ),
        ));
    }
    if input.lines.is_empty() || input.lines.len() > super::MAX_LINES {
        return Err(ApiError::invalid("lines", "1 to 200 lines"));
    }
    let before = find(db, id).await?;
    let tolerance = tolerance(db).await?;
    let mut movement_ids = Vec::with_capacity(input.lines.len());
    for (index, line) in input.lines.into_iter().enumerate() {
        let field = |name: &str| format!("lines[{index}].{name}");
        let row = db
            .query_opt(
                "SELECT id, item_id, quantity, unit_price, received_quantity \
                 FROM purchase_order_lines WHERE purchase_order_id = $1 AND line_no = $2 FOR UPDATE",
                &[&id, &line.line],
            )
            .await?
            .ok_or_else(|| ApiError::invalid(&field("line"), "this order has no such line"))?;
        let (line_id, item_id, ordered, price, received): (Uuid, Uuid, Decimal, Decimal, Decimal) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let quantity = quantity::positive(&field("quantity"), line.quantity)?;
        let in_warehouse = db
            .query_opt(
                "SELECT 1 FROM locations WHERE id = $1 AND warehouse_id = $2",
                &[&line.location_id, &before.warehouse_id],
            )
            .await?
            .is_some();
        if !in_warehouse {
            return Err(ApiError::invalid(
                &field("location_id"),
                "not a location of the order's warehouse",
            ));
        }
        let total = received + quantity;
        let most = receivable(ordered, tolerance);
        if total > most {
            return Err(ApiError::conflict(
                "over_receipt",
                format!(
                    "line {} would receive {} of {} ordered (at most {} with the tolerance)",
                    line.line,
                    total.normalize(),
                    ordered.normalize(),
                    most.normalize()
                ),
            ));
        }
        let posted = stock::post_receipt(
            db,
            actor,
            Receipt {
                item_id,
                location_id: line.location_id,
                quantity,
                unit: None,
                unit_cost: Some(price),
                lot_code: line.lot_code,
                lot_expires_on: line.lot_expires_on,
                reference: None,
                document_type: Some("purchase_order".into()),
                document_id: Some(id.to_string()),
                document_line: Some(line.line),
                note: before.number.clone(),
            },
        )
        .await?;
        db.execute(
            "UPDATE purchase_order_lines SET received_quantity = $2 WHERE id = $1",
            &[&line_id, &total],
        )
        .await?;
        movement_ids.push(posted.movement.id);
        inspect_on_receipt(db, actor, &posted.movement).await?;
    }
    let complete = db
        .query_one(
            "SELECT bool_and(received_quantity >= quantity) FROM purchase_order_lines \
             WHERE purchase_order_id = $1",
            &[&id],
        )
        .await?
        .get::<_, Option<bool>>(0)
        .unwrap_or(false);
    let status = if complete {
        "received"
    } else {
        "partially_received"
    };
    db.execute(
        "UPDATE purchase_orders SET status = $2, updated_at = now() WHERE id = $1",
        &[&id, &status],
    )
    .await?;
    crate::erp::kanban::follow_purchase_order(db, id, status).await?;
    let receipt_id = Uuid::now_v7();
    db.execute(
        "INSERT INTO purchase_receipts (id, purchase_order_id, reference, movement_ids, user_id) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &receipt_id,
            &id,
            &input.reference,
            &movement_ids,
            &actor.user_id,
        ],
    )
    .await?;
    let after = find(db, id).await?;
    let data = serde_json::json!({
        "purchase_order_id": id,
        "number": after.number,
        "receipt_id": receipt_id,
        "movement_ids": movement_ids,
        "status": after.status,
    });
    events::emit(db, "purchase_order.received", data).await?;
    tenant_audit::record(
        db,
        actor,
        Entry {
            action: "purchase_order.received",
            target_kind: "purchase_order",
            target_id: id.to_string(),
            before: Some(serde_json::json!(before)),
            after: Some(serde_json::json!(after)),
        },
    )
    .await?;
    Ok(ReceiptResult {
        id: receipt_id,
        inspection_ids: inspections_of(db, &movement_ids).await?,
        movement_ids,
        purchase_order: after,
        created: true,
    })
}

/// Opens the incoming inspection of a received line when its item has an incoming plan.
async fn inspect_on_receipt(
    db: &impl GenericClient,
    actor: &Actor,
    movement: &stock::Movement,
) -> ApiResult<()> {
    for entry in &movement.entries {
        let input = NewInspection {
            kind: Kind::Incoming,
            receipt_entry_id: Some(entry.id),
            work_order_id: None,
            item_id: None,
            lot_id: None,
            quantity: None,
            plan_id: None,
            hold: Some(entry.lot_id.is_some()),
        };
        inspections::open_if_planned(db, actor, entry.item_id, input).await?;
    }
    Ok(())
}

/// The incoming inspections opened on the receipt entries of `movements`.
async fn inspections_of(db: &impl GenericClient, movements: &[Uuid]) -> ApiResult<Vec<Uuid>> {
    let rows = db
        .query(
            "SELECT q.id FROM quality_inspections q JOIN stock_ledger e ON e.id = q.receipt_entry_id \
             WHERE e.movement_id = ANY($1) ORDER BY q.id",
            &[&movements],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn the_tolerance_widens_what_a_line_may_receive() {
        assert_eq!(receivable(dec("100"), dec("0")), dec("100"));
        assert_eq!(receivable(dec("100"), dec("5")), dec("105"));
        assert_eq!(receivable(dec("3"), dec("10")), dec("3.3"));
    }
}
