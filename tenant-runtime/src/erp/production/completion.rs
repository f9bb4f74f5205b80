//! Completing an order, whole or in part: `quantity` finished now consumes each
//! component in proportion (what the completed share of the order needs, minus what was
//! consumed before, so the last completion takes exactly the rest), from the order's
//! reservations (topped up from free stock when they fall short), as `consume` issues
//! picking lots first-expired-first-out; then the finished goods are produced (`output`)
//! at the consumed cost divided by the quantity. Everything happens in the caller's
//! transaction: the order's row is locked first, so two completions of one order queue,
//! and a repeated `Idempotency-Key` answers the order without doing anything again.
//!
//! Finished goods pass their final inspection before anyone can use them: when the item
//! has an active `final` quality plan (its own or its category's), the completion opens a
//! final inspection of the lot it produced, holding the lot (not available, not issuable,
//! not allocatable) until the inspection is decided; a failed one quarantines it.

use super::allocation::{ensure_reserved, reduce_line};
use super::orders::{ManufacturingOrder, Status, find, lock, require, set_status};
use super::output::{self, Output};
use super::{DOCUMENT_TYPE, record};
use crate::erp::events;
use crate::erp::quality::Kind;
use crate::erp::quality::inspections::{self, NewInspection};
use crate::erp::quantity;
use crate::erp::stock::{self, Issue, Posted};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::Deserialize;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    /// Finished now, in the item's base unit: above zero, at most what is left.
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,13}(\.[0-9]{1,6})?|0\.[0-9]{0,5}[1-9])$")]
    pub quantity: Decimal,
    /// The client's idempotency reference: a repeat completes nothing and answers the
    /// order. The `Idempotency-Key` header wins.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
}

/// Whether `reference` completed this order before: 409 `reference_taken` when it
/// completed another.
async fn completed_before(
    db: &impl GenericClient,
    id: Uuid,
    reference: Option<&str>,
) -> ApiResult<bool> {
    let Some(reference) = reference else {
        return Ok(false);
    };
    let row = db
        .query_opt(
            "SELECT order_id FROM production_completions WHERE reference = $1",
            &[&reference],
        )
        .await?;
    match row {
        Some(row) if row.get::<_, Uuid>(0) == id => Ok(true),
        Some(_) => Err(ApiError::conflict(
            "reference_taken",
            "this reference completed another order",
        )),
        None => Ok(false),
    }
}

/// What the completed share `done / total` of `required` is, rounded to six places; all
/// of it once the order is done.
pub fn share(required: Decimal, done: Decimal, total: Decimal) -> Decimal {
    if done >= total {
        return required;
    }
    (required * done / total).round_dp(quantity::SCALE)
}

/// The locations of the order's warehouse holding usable stock of the item, the one
/// with the earliest-expiring lot first: (location, on hand).
async fn sources(
    db: &impl GenericClient,
    item_id: Uuid,
    warehouse_id: Uuid,
) -> ApiResult<Vec<(Uuid, Decimal)>> {
    let rows = db
        .query(
            "SELECT b.location_id, sum(b.on_hand) FROM stock_balances b \
             JOIN locations l ON l.id = b.location_id LEFT JOIN lots t ON t.id = b.lot_id \
             WHERE b.item_id = $1 AND l.warehouse_id = $2 AND b.on_hand > 0 AND l.active \
               AND l.kind <> 'quarantine' AND (b.lot_id IS NULL OR t.status = 'available') \
             GROUP BY b.location_id \
             ORDER BY min(t.expires_on) NULLS LAST, min(t.created_at) NULLS LAST, b.location_id",
            &[&item_id, &warehouse_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Consumes `quantity` of a component from the warehouse's locations in turn; answers the
/// movements and their cost. 409 `insufficient_stock` when they hold too little.
async fn consume(
    db: &impl GenericClient,
    actor: &Actor,
    order: &ManufacturingOrder,
    line: i32,
    item_id: Uuid,
    quantity: Decimal,
) -> ApiResult<(Vec<Posted>, Decimal)> {
    let (id, warehouse) = (order.order.id, order.order.warehouse_id);
    let places = sources(db, item_id, warehouse).await?;
    let held: Decimal = places.iter().map(|(_, q)| *q).sum();
    if held < quantity {
        let sku = order
            .components
            .iter()
            .find(|c| c.line == line)
            .map(|c| c.sku.clone())
            .unwrap_or_default();
        return Err(ApiError::conflict(
            "insufficient_stock",
            format!(
                "{sku}: needs {} now, {} on hand in the order's warehouse",
                quantity.normalize(),
                held.normalize()
            ),
        ));
    }
    let (mut left, mut posted, mut cost) = (quantity, Vec::new(), Decimal::ZERO);
    for (location_id, on_hand) in places {
        if left <= Decimal::ZERO {
            break;
        }
        let take = left.min(on_hand);
        let issue = Issue {
            kind: Some("consume"),
            item_id,
            location_id,
            quantity: take,
            document_type: Some(DOCUMENT_TYPE.to_owned()),
            document_id: Some(id.to_string()),
            document_line: Some(line),
            note: format!("consumed by {}", order.order.number),
            ..Issue::default()
        };
        let movement = stock::post_issue(db, actor, issue).await?;
        cost += movement
            .movement
            .entries
            .iter()
            .map(|e| -e.quantity * e.unit_cost)
            .sum::<Decimal>();
        posted.push(movement);
        left -= take;
    }
    Ok((posted, cost))
}

/// Consumes each component's share of the completed quantity; answers the movements
/// and their total cost.
async fn consume_all(
    db: &impl GenericClient,
    actor: &Actor,
    order: &ManufacturingOrder,
    done_after: Decimal,
) -> ApiResult<(Vec<Uuid>, Decimal)> {
    let id = order.order.id;
    let mut components: Vec<_> = order.components.iter().collect();
    // One lock order (by item) for every completion and release.
    components.sort_by_key(|c| (c.item_id, c.line));
    let (mut movements, mut cost) = (Vec::new(), Decimal::ZERO);
    for c in components {
        let now = share(c.required, done_after, order.order.quantity) - c.consumed;
        if now <= Decimal::ZERO {
            continue;
        }
        ensure_reserved(db, order, c.line, c.item_id, now).await?;
        let (posted, spent) = consume(db, actor, order, c.line, c.item_id, now).await?;
        reduce_line(db, id, c.line, now).await?;
        db.execute(
            "UPDATE manufacturing_order_components SET consumed = consumed + $3 \
             WHERE order_id = $1 AND line_no = $2",
            &[&id, &c.line, &now],
        )
        .await?;
        movements.extend(posted.iter().map(|p| p.movement.id));
        cost += spent;
    }
    Ok((movements, cost))
}

/// The finished lot's code for a lot-tracked item: the order's number and the
/// completion's ordinal (`MO-000001-2`).
async fn lot_code(
    db: &impl GenericClient,
    order: &ManufacturingOrder,
) -> ApiResult<Option<String>> {
    let row = db
        .query_one(
            "SELECT i.lot_tracked, (SELECT count(*) FROM production_completions c \
                                    WHERE c.order_id = $2) FROM items i WHERE i.id = $1",
            &[&order.order.item_id, &order.order.id],
        )
        .await?;
    let tracked: bool = row.get(0);
    let count: i64 = row.get(1);
    Ok(tracked.then(|| format!("{}-{}", order.order.number, count + 1)))
}

/// Completes `input.quantity` of a released or running order; answers the order and
/// whether anything happened (false: its reference completed it before). 409
/// `invalid_status` (not running, or already completed), `over_completion` (more than
/// left), `insufficient_stock` (a component's stock is gone), `reference_taken`; 422.
pub async fn complete(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    input: Completion,
) -> ApiResult<(ManufacturingOrder, bool)> {
    let status = lock(db, id).await?;
    if completed_before(db, id, input.reference.as_deref()).await? {
        return Ok((find(db, id).await?, false));
    }
    require(status, &[Status::Released, Status::InProgress], "completed")?;
    let quantity = quantity::positive("quantity", input.quantity)?;
    let before = find(db, id).await?;
    let left = before.order.quantity - before.order.completed_quantity;
    if quantity > left {
        return Err(ApiError::conflict(
            "over_completion",
            format!("only {} left to complete", left.normalize()),
        ));
    }
    let done_after = before.order.completed_quantity + quantity;
    let (mut movements, cost) = consume_all(db, actor, &before, done_after).await?;
    let unit_cost = (cost / quantity).round_dp(quantity::SCALE);
    let output = Output {
        order_id: id,
        item_id: before.order.item_id,
        location_id: before.order.output_location_id,
        quantity,
        unit_cost,
        lot_code: lot_code(db, &before).await?,
        note: format!("produced by {}", before.order.number),
    };
    let (produced, lot_id) = output::produce(db, actor, output).await?;
    movements.push(produced.movement.id);
    let inspection = final_inspection(db, actor, before.order.item_id, lot_id, quantity).await?;
    db.execute(
        "INSERT INTO production_completions (id, order_id, quantity, unit_cost, lot_id, \
         reference, movement_ids, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &Uuid::now_v7(),
            &id,
            &quantity,
            &unit_cost,
            &lot_id,
            &input.reference,
            &movements,
            &actor.user_id,
        ],
    )
    .await?;
    db.execute(
        "UPDATE manufacturing_orders SET completed_quantity = completed_quantity + $2 \
         WHERE id = $1",
        &[&id, &quantity],
    )
    .await?;
    let finished = done_after >= before.order.quantity;
    let next = if finished {
        Status::Completed
    } else {
        Status::InProgress
    };
    set_status(db, id, next).await?;
    let after = find(db, id).await?;
    let data = serde_json::json!({
        "id": id,
        "number": after.order.number,
        "item_id": after.order.item_id,
        "quantity": quantity,
        "completed_quantity": after.order.completed_quantity,
        "unit_cost": unit_cost.normalize(),
        "lot_id": lot_id,
        "final_inspection_id": inspection,
        "finished": finished,
    });
    record(
        db,
        actor,
        "manufacturing_order.completed",
        "manufacturing_order",
        id.to_string(),
        Some(serde_json::json!(before)),
        data.clone(),
    )
    .await?;
    events::emit(db, "mo.completed", data).await?;
    Ok((after, true))
}

/// Opens the final inspection of a produced lot, holding it, when the item has an active
/// final plan; answers its id. Stock without a lot cannot be held, so items that are not
/// lot-tracked are inspected (if at all) by hand.
async fn final_inspection(
    db: &impl GenericClient,
    actor: &Actor,
    item_id: Uuid,
    lot_id: Option<Uuid>,
    quantity: Decimal,
) -> ApiResult<Option<Uuid>> {
    let Some(lot_id) = lot_id else {
        return Ok(None);
    };
    let input = NewInspection {
        kind: Kind::Final,
        receipt_entry_id: None,
        work_order_id: None,
        item_id: None,
        lot_id: Some(lot_id),
        quantity: Some(quantity),
        plan_id: None,
        hold: Some(true),
    };
    inspections::open_if_planned(db, actor, item_id, input).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_completion_consumes_its_share_and_the_last_one_the_rest() {
        let d = Decimal::from;
        assert_eq!(share(d(10), d(1), d(3)), Decimal::new(3_333_333, 6));
        assert_eq!(share(d(10), d(3), d(3)), d(10));
        assert_eq!(share(d(10), d(4), d(3)), d(10));
        assert_eq!(share(d(9), d(1), d(3)), d(3));
    }
}
