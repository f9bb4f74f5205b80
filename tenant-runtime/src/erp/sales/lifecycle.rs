//! A sales order's life after its draft: `confirm` reserves every line's stock in the
//! order's warehouse (all or nothing), `deliver` posts deliveries against the reservations,
//! `invoice` marks a fully delivered order invoiced (real invoicing is out of scope),
//! `close` ends it (releasing what is still reserved), `cancel` drops it before any
//! delivery (releasing every reservation). Each locks the order's row first, so two writes
//! to one order queue and the second sees the first's result.

use super::{SalesOrder, Status, find, lock, record, require, set_status};
use crate::erp::events;
use crate::erp::quantity;
use crate::erp::stock::{self, ReservationRequest, reservations};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// The `document_type` of the order's reservations and stock movements.
pub const DOCUMENT_TYPE: &str = "sales_order";

/// What one delivery takes out of stock, per order line.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryLine {
    /// The order line's number.
    #[schema(minimum = 1)]
    pub line: i32,
    /// Greater than zero, in the item's base unit; at most what is left to deliver.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    /// A location of the order's warehouse.
    pub location_id: Uuid,
    /// A lot of a lot-tracked item; first-expired-first-out when omitted.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
    pub lot_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<DeliveryLine>,
    /// The client's idempotency reference (unique per company): a repeat posts nothing
    /// and answers the order. The `Idempotency-Key` header wins.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
}

/// An order line as the lifecycle needs it, locked.
struct OpenLine {
    line_no: i32,
    item_id: Uuid,
    quantity: Decimal,
    delivered: Decimal,
    reservation_id: Option<Uuid>,
}

async fn lines(db: &impl GenericClient, id: Uuid) -> ApiResult<Vec<OpenLine>> {
    let rows = db
        .query(
            "SELECT line_no, item_id, quantity, delivered_quantity, reservation_id \
             FROM sales_order_lines WHERE order_id = $1 ORDER BY line_no FOR UPDATE",
            &[&id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| OpenLine {
            line_no: r.get(0),
            item_id: r.get(1),
            quantity: r.get(2),
            delivered: r.get(3),
            reservation_id: r.get(4),
        })
        .collect())
}

async fn warehouse_of(db: &impl GenericClient, id: Uuid) -> ApiResult<Uuid> {
    let row = db
        .query_one(
            "SELECT warehouse_id FROM sales_orders WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(row.get(0))
}

fn event_data(order: &SalesOrder) -> serde_json::Value {
    json!({
        "id": order.order.id,
        "number": order.order.number,
        "customer_id": order.order.customer_id,
        "status": order.order.status,
        "total": order.order.total,
    })
}

/// Confirms a draft: reserves every line in the order's warehouse. 409
/// `insufficient_stock` naming every short line (and nothing reserved: the caller's
/// transaction is not committed), `invalid_status` unless a draft.
pub async fn confirm(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<SalesOrder> {
    require(lock(db, id).await?, &[Status::Draft], "confirmed")?;
    let before = find(db, id).await?;
    let warehouse_id = warehouse_of(db, id).await?;
    let mut open = lines(db, id).await?;
    // One lock order for every confirmation (by item), so two orders sharing items queue
    // instead of deadlocking.
    open.sort_by_key(|line| (line.item_id, line.line_no));
    let mut short = Vec::new();
    for line in &open {
        let request = ReservationRequest {
            item_id: line.item_id,
            warehouse_id,
            quantity: line.quantity,
            document_type: DOCUMENT_TYPE.to_owned(),
            document_id: id.to_string(),
            document_line: Some(line.line_no),
        };
        match reservations::reserve(db, request).await {
            Ok(reservation) => {
                db.execute(
                    "UPDATE sales_order_lines SET reservation_id = $3 \
                     WHERE order_id = $1 AND line_no = $2",
                    &[&id, &line.line_no, &reservation.id],
                )
                .await?;
            }
            Err(ApiError::Client(problem)) if problem.code == "insufficient_stock" => {
                short.push(line.line_no);
            }
            Err(error) => return Err(error),
        }
    }
    if !short.is_empty() {
        short.sort_unstable();
        let names: Vec<String> = short.iter().map(ToString::to_string).collect();
        return Err(ApiError::conflict(
            "insufficient_stock",
            format!(
                "not enough available in the warehouse for line(s) {}: nothing was reserved",
                names.join(", ")
            ),
        ));
    }
    set_status(db, id, Status::Confirmed).await?;
    let after = find(db, id).await?;
    record(db, actor, "sales_order.confirmed", Some(&before), &after).await?;
    events::emit(db, "sales_order.confirmed", event_data(&after)).await?;
    Ok(after)
}

/// 422 unless the location is an active one of the warehouse.
async fn check_location(
    db: &impl GenericClient,
    location_id: Uuid,
    warehouse_id: Uuid,
    field: &str,
) -> ApiResult<()> {
    let ok = db
        .query_opt(
            "SELECT 1 FROM locations WHERE id = $1 AND warehouse_id = $2",
            &[&location_id, &warehouse_id],
        )
        .await?
        .is_some();
    if !ok {
        return Err(ApiError::invalid(
            field,
            "no location of the order's warehouse has this id",
        ));
    }
    Ok(())
}

/// The delivery a reference posted before: its order, or 409 `reference_taken` when it
/// was another order's.
async fn delivered_before(
    db: &impl GenericClient,
    id: Uuid,
    reference: Option<&str>,
) -> ApiResult<bool> {
    let Some(reference) = reference else {
        return Ok(false);
    };
    let row = db
        .query_opt(
            "SELECT order_id FROM sales_deliveries WHERE reference = $1",
            &[&reference],
        )
        .await?;
    match row {
        Some(row) if row.get::<_, Uuid>(0) == id => Ok(true),
        Some(_) => Err(ApiError::conflict(
            "reference_taken",
            "this reference was used for another order's delivery",
        )),
        None => Ok(false),
    }
}

/// The delivery's lines with their index in the request, by item: the order confirmations
/// lock stock in, so a delivery and a confirmation sharing items queue instead of
/// deadlocking. Lines the order lacks come first (they are refused before any lock).
fn in_lock_order(wanted: Vec<DeliveryLine>, open: &[OpenLine]) -> Vec<(usize, DeliveryLine)> {
    let mut indexed: Vec<(usize, DeliveryLine)> = wanted.into_iter().enumerate().collect();
    indexed.sort_by_key(|(index, wanted)| {
        let item = open
            .iter()
            .find(|line| line.line_no == wanted.line)
            .map(|line| line.item_id);
        (item, *index)
    });
    indexed
}

/// Posts a delivery against a confirmed or partially delivered order: per line a
/// `delivery` movement, the line's reservation reduced and its delivered quantity raised;
/// the order becomes partially or fully delivered. Answers the order and whether this
/// call posted (`false`: its reference had). 409 `over_delivery` beyond what is left to
/// deliver, `insufficient_stock` beyond on hand at the location, `invalid_status`.
pub async fn deliver(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    delivery: Delivery,
) -> ApiResult<(SalesOrder, bool)> {
    let status = lock(db, id).await?;
    if delivered_before(db, id, delivery.reference.as_deref()).await? {
        return Ok((find(db, id).await?, false));
    }
    require(
        status,
        &[Status::Confirmed, Status::PartiallyDelivered],
        "delivered",
    )?;
    if delivery.lines.is_empty() || delivery.lines.len() > super::drafts::MAX_LINES {
        return Err(ApiError::invalid("lines", "1 to 200 lines"));
    }
    let before = find(db, id).await?;
    let warehouse_id = warehouse_of(db, id).await?;
    let mut open = lines(db, id).await?;
    let delivery_id = Uuid::now_v7();
    db.execute(
        "INSERT INTO sales_deliveries (id, order_id, reference, created_by) \
         VALUES ($1, $2, $3, $4)",
        &[&delivery_id, &id, &delivery.reference, &actor.user_id],
    )
    .await?;
    let mut posted = Vec::new();
    for (index, wanted) in in_lock_order(delivery.lines, &open) {
        let field = |name: &str| format!("lines[{index}].{name}");
        let quantity = quantity::positive(&field("quantity"), wanted.quantity)?;
        check_location(db, wanted.location_id, warehouse_id, &field("location_id")).await?;
        let line = open
            .iter_mut()
            .find(|line| line.line_no == wanted.line)
            .ok_or_else(|| ApiError::invalid(&field("line"), "the order has no such line"))?;
        let left = line.quantity - line.delivered;
        if quantity > left {
            return Err(ApiError::conflict(
                "over_delivery",
                format!(
                    "line {} has {} left to deliver",
                    line.line_no,
                    left.normalize()
                ),
            ));
        }
        let issue = stock::Issue {
            kind: Some("delivery"),
            item_id: line.item_id,
            location_id: wanted.location_id,
            quantity,
            lot_code: wanted.lot_code,
            document_type: Some(DOCUMENT_TYPE.to_owned()),
            document_id: Some(id.to_string()),
            document_line: Some(line.line_no),
            note: format!("delivery {delivery_id}"),
            ..stock::Issue::default()
        };
        let movement = stock::post_issue(db, actor, issue).await?;
        if let Some(reservation) = line.reservation_id
            && !reservations::reduce(db, reservation, quantity).await?
        {
            line.reservation_id = None;
        }
        line.delivered += quantity;
        // The CHECK (delivered <= ordered) guards this too, under the row lock taken above.
        db.execute(
            "UPDATE sales_order_lines SET delivered_quantity = $3, reservation_id = $4 \
             WHERE order_id = $1 AND line_no = $2",
            &[&id, &line.line_no, &line.delivered, &line.reservation_id],
        )
        .await?;
        posted.push(json!({
            "line": line.line_no,
            "item_id": line.item_id,
            "quantity": quantity.normalize(),
            "movement_id": movement.movement.id,
        }));
    }
    let complete = open.iter().all(|line| line.delivered >= line.quantity);
    let status = if complete {
        Status::Delivered
    } else {
        Status::PartiallyDelivered
    };
    set_status(db, id, status).await?;
    let after = find(db, id).await?;
    record(db, actor, "sales_order.delivered", Some(&before), &after).await?;
    let mut data = event_data(&after);
    data["delivery_id"] = json!(delivery_id);
    data["lines"] = json!(posted);
    events::emit(db, "sales_order.delivered", data).await?;
    Ok((after, true))
}

/// Releases every reservation the order still holds.
async fn release_all(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    for line in lines(db, id).await? {
        if let Some(reservation) = line.reservation_id {
            reservations::release(db, reservation).await?;
        }
    }
    db.execute(
        "UPDATE sales_order_lines SET reservation_id = NULL WHERE order_id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

/// Marks a fully delivered order invoiced (no invoice document is made: out of scope).
pub async fn invoice(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<SalesOrder> {
    require(lock(db, id).await?, &[Status::Delivered], "invoiced")?;
    let before = find(db, id).await?;
    set_status(db, id, Status::Invoiced).await?;
    let after = find(db, id).await?;
    record(db, actor, "sales_order.invoiced", Some(&before), &after).await?;
    Ok(after)
}

/// Closes a delivered (or invoiced, or short-delivered) order, releasing what is still
/// reserved for it.
pub async fn close(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<SalesOrder> {
    let allowed = [
        Status::PartiallyDelivered,
        Status::Delivered,
        Status::Invoiced,
    ];
    require(lock(db, id).await?, &allowed, "closed")?;
    let before = find(db, id).await?;
    release_all(db, id).await?;
    set_status(db, id, Status::Closed).await?;
    let after = find(db, id).await?;
    record(db, actor, "sales_order.closed", Some(&before), &after).await?;
    Ok(after)
}

/// Cancels a draft or confirmed order (before any delivery), releasing its reservations.
pub async fn cancel(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<SalesOrder> {
    require(
        lock(db, id).await?,
        &[Status::Draft, Status::Confirmed],
        "canceled",
    )?;
    let before = find(db, id).await?;
    release_all(db, id).await?;
    set_status(db, id, Status::Canceled).await?;
    let after = find(db, id).await?;
    record(db, actor, "sales_order.canceled", Some(&before), &after).await?;
    events::emit(db, "sales_order.canceled", event_data(&after)).await?;
    Ok(after)
}
