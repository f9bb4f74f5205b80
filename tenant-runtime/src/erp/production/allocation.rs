//! Allocation: the preview of what an order's components need against what its warehouse
//! has (and what would cover a shortage: open purchase orders, stock in other
//! warehouses), release (every component reserved in the order's warehouse with
//! `erp::stock::reservations`, which locks the item there so two releases racing for the
//! last units queue and never over-reserve), and giving reservations back. Lots are not
//! chosen here: a reservation holds quantity per item and warehouse, and consumption picks
//! lots first-expired-first-out as every stock issue does.

use super::orders::{ManufacturingOrder, Status, find, lock, require, set_status};
use super::{DOCUMENT_TYPE, record};
use crate::erp::events;
use crate::erp::stock::{ReservationRequest, reservations};
use chrono::NaiveDate;
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// An open purchase order line that would bring a short component in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncomingSupply {
    pub purchase_order_id: Uuid,
    pub number: String,
    pub status: String,
    /// Ordered and not yet received, in the base unit.
    #[schema(value_type = String)]
    pub open_quantity: Decimal,
    pub expected_on: Option<NaiveDate>,
}

/// Stock of the component free in another warehouse (a transfer would cover it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StockElsewhere {
    pub warehouse_id: Uuid,
    pub warehouse_code: String,
    #[schema(value_type = String)]
    pub available: Decimal,
}

/// One component's allocation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AllocationLine {
    pub line: i32,
    pub item_id: Uuid,
    pub sku: String,
    pub base_unit: String,
    /// Still to consume (required - consumed).
    #[schema(value_type = String)]
    pub required: Decimal,
    /// Already held for this order.
    #[schema(value_type = String)]
    pub reserved: Decimal,
    /// Free in the order's warehouse (on hand - every reservation there; may be negative).
    #[schema(value_type = String)]
    pub available: Decimal,
    /// What neither the reservation nor the free stock covers.
    #[schema(value_type = String)]
    pub short: Decimal,
    /// When short: open purchase orders for the component, oldest first.
    pub open_purchase_orders: Vec<IncomingSupply>,
    /// When short: free stock in other warehouses.
    pub other_warehouses: Vec<StockElsewhere>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Allocation {
    pub order_id: Uuid,
    pub status: Status,
    /// Whether any component is short.
    pub short: bool,
    pub lines: Vec<AllocationLine>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Reserve what is there and release anyway, listing the shortages (default false:
    /// all or nothing, 409 `insufficient_stock`).
    #[serde(default)]
    pub allow_partial: bool,
}

/// A component a release could not fully reserve.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Shortage {
    pub line: i32,
    pub item_id: Uuid,
    pub sku: String,
    #[schema(value_type = String)]
    pub required: Decimal,
    #[schema(value_type = String)]
    pub reserved: Decimal,
    #[schema(value_type = String)]
    pub short: Decimal,
}

/// A released order and what it could not reserve.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Released {
    pub order: ManufacturingOrder,
    pub shortages: Vec<Shortage>,
}

/// The allocation preview of an order: 404 `manufacturing_order_not_found`.
pub async fn preview(db: &impl GenericClient, id: Uuid) -> ApiResult<Allocation> {
    let order = find(db, id).await?;
    let mut lines = Vec::with_capacity(order.components.len());
    for c in &order.components {
        let required = (c.required - c.consumed).max(Decimal::ZERO);
        let short = (required - c.reserved - c.available.max(Decimal::ZERO)).max(Decimal::ZERO);
        let (open_purchase_orders, other_warehouses) = if short > Decimal::ZERO {
            (
                incoming(db, c.item_id).await?,
                elsewhere(db, c.item_id, order.order.warehouse_id).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        lines.push(AllocationLine {
            line: c.line,
            item_id: c.item_id,
            sku: c.sku.clone(),
            base_unit: c.base_unit.clone(),
            required: required.normalize(),
            reserved: c.reserved,
            available: c.available,
            short: short.normalize(),
            open_purchase_orders,
            other_warehouses,
        });
    }
    Ok(Allocation {
        order_id: id,
        status: order.order.status,
        short: lines.iter().any(|l| l.short > Decimal::ZERO),
        lines,
    })
}

async fn incoming(db: &impl GenericClient, item_id: Uuid) -> ApiResult<Vec<IncomingSupply>> {
    let rows = db
        .query(
            "SELECT o.id, o.number, o.status, sum(l.quantity - l.received_quantity), o.expected_on \
             FROM purchase_order_lines l JOIN purchase_orders o ON o.id = l.purchase_order_id \
             WHERE l.item_id = $1 AND l.quantity > l.received_quantity \
               AND o.status IN ('draft', 'submitted', 'approved', 'partially_received') \
             GROUP BY o.id ORDER BY o.expected_on NULLS LAST, o.id LIMIT 20",
            &[&item_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| IncomingSupply {
            purchase_order_id: r.get(0),
            number: r.get(1),
            status: r.get(2),
            open_quantity: r.get::<_, Decimal>(3).normalize(),
            expected_on: r.get(4),
        })
        .collect())
}

async fn elsewhere(
    db: &impl GenericClient,
    item_id: Uuid,
    warehouse_id: Uuid,
) -> ApiResult<Vec<StockElsewhere>> {
    let rows = db
        .query(
            "SELECT w.id, w.code, \
                    coalesce((SELECT sum(b.on_hand) FROM stock_balances b \
                              JOIN locations l ON l.id = b.location_id \
                              WHERE b.item_id = $1 AND l.warehouse_id = w.id), 0) \
                  - coalesce((SELECT sum(r.quantity) FROM stock_reservations r \
                              WHERE r.item_id = $1 AND r.warehouse_id = w.id), 0) AS free \
             FROM warehouses w WHERE w.id <> $2 AND w.active ORDER BY w.code",
            &[&item_id, &warehouse_id],
        )
        .await?;
    Ok(rows
        .iter()
        .filter(|r| r.get::<_, Decimal>(2) > Decimal::ZERO)
        .map(|r| StockElsewhere {
            warehouse_id: r.get(0),
            warehouse_code: r.get(1),
            available: r.get::<_, Decimal>(2).normalize(),
        })
        .collect())
}

/// Reserves `quantity` of the component for the order's line.
async fn reserve(
    db: &impl GenericClient,
    id: Uuid,
    warehouse_id: Uuid,
    line: i32,
    item_id: Uuid,
    quantity: Decimal,
) -> ApiResult<()> {
    let request = ReservationRequest {
        item_id,
        warehouse_id,
        quantity,
        document_type: DOCUMENT_TYPE.to_owned(),
        document_id: id.to_string(),
        document_line: Some(line),
    };
    reservations::reserve(db, request).await.map(|_| ())
}

fn is_insufficient(error: &ApiError) -> bool {
    matches!(error, ApiError::Client(problem) if problem.code == "insufficient_stock")
}

/// Reserves what the line needs; on a shortage (the item's lock is held by then, so the
/// free quantity read next cannot change) reserves what there is when `partial`, and
/// answers what is short.
async fn reserve_line(
    db: &impl GenericClient,
    order: &ManufacturingOrder,
    line: i32,
    partial: bool,
) -> ApiResult<Option<Shortage>> {
    let Some(c) = order.components.iter().find(|c| c.line == line) else {
        return Ok(None);
    };
    let wanted = c.required - c.consumed - c.reserved;
    if wanted <= Decimal::ZERO {
        return Ok(None);
    }
    let (id, warehouse) = (order.order.id, order.order.warehouse_id);
    match reserve(db, id, warehouse, line, c.item_id, wanted).await {
        Ok(()) => return Ok(None),
        Err(error) if is_insufficient(&error) => {}
        Err(error) => return Err(error),
    }
    let free = reservations::available(db, c.item_id, warehouse)
        .await?
        .max(Decimal::ZERO);
    let mut reserved = c.reserved;
    if partial && free > Decimal::ZERO {
        reserve(db, id, warehouse, line, c.item_id, free).await?;
        reserved += free;
    }
    Ok(Some(Shortage {
        line,
        item_id: c.item_id,
        sku: c.sku.clone(),
        required: (c.required - c.consumed).normalize(),
        reserved: reserved.normalize(),
        // What even every free unit leaves uncovered (the same whether or not they were
        // taken now).
        short: (wanted - free).normalize(),
    }))
}

fn describe(shortages: &[Shortage]) -> String {
    let parts: Vec<String> = shortages
        .iter()
        .map(|s| format!("{} short {} (needs {})", s.sku, s.short, s.required))
        .collect();
    parts.join("; ")
}

/// Releases a draft: reserves every component in the order's warehouse. All or nothing
/// unless `allow_partial` (409 `insufficient_stock` naming each short component, nothing
/// reserved once the caller rolls back); partial releases list what is short. 409
/// `invalid_status` unless a draft.
pub async fn release(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    request: ReleaseRequest,
) -> ApiResult<Released> {
    require(lock(db, id).await?, &[Status::Draft], "released")?;
    let before = find(db, id).await?;
    // One lock order for every release (by item), so two orders sharing components queue
    // instead of deadlocking.
    let mut lines: Vec<(Uuid, i32)> = before
        .components
        .iter()
        .map(|c| (c.item_id, c.line))
        .collect();
    lines.sort();
    let mut shortages = Vec::new();
    for (_, line) in lines {
        if let Some(short) = reserve_line(db, &before, line, request.allow_partial).await? {
            shortages.push(short);
        }
    }
    shortages.sort_by_key(|s| s.line);
    if !shortages.is_empty() && !request.allow_partial {
        return Err(ApiError::conflict(
            "insufficient_stock",
            format!(
                "not enough available in the warehouse, nothing was reserved: {}",
                describe(&shortages)
            ),
        ));
    }
    set_status(db, id, Status::Released).await?;
    let after = find(db, id).await?;
    record(
        db,
        actor,
        "manufacturing_order.released",
        "manufacturing_order",
        id.to_string(),
        Some(serde_json::json!(before)),
        serde_json::json!({ "order": after, "shortages": shortages }),
    )
    .await?;
    let data = serde_json::json!({
        "id": id,
        "number": after.order.number,
        "item_id": after.order.item_id,
        "quantity": after.order.quantity,
        "shortages": shortages,
    });
    events::emit(db, "mo.released", data).await?;
    Ok(Released {
        order: after,
        shortages,
    })
}

/// The order's reservations of one line, oldest first: (id, quantity).
pub(super) async fn line_reservations(
    db: &impl GenericClient,
    id: Uuid,
    line: i32,
) -> ApiResult<Vec<(Uuid, Decimal)>> {
    let rows = db
        .query(
            "SELECT id, quantity FROM stock_reservations \
             WHERE document_type = $1 AND document_id = $2 AND document_line = $3 \
             ORDER BY created_at, id",
            &[&DOCUMENT_TYPE, &id.to_string(), &line],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Takes `by` off the line's reservations (stock consumed against them), oldest first.
pub(super) async fn reduce_line(
    db: &impl GenericClient,
    id: Uuid,
    line: i32,
    by: Decimal,
) -> ApiResult<()> {
    let mut left = by;
    for (reservation, quantity) in line_reservations(db, id, line).await? {
        if left <= Decimal::ZERO {
            break;
        }
        let take = left.min(quantity);
        reservations::reduce(db, reservation, take).await?;
        left -= take;
    }
    Ok(())
}

/// Tops the line's reservations up to `needed` (more consumed now than was reserved): 409
/// `insufficient_stock` when the warehouse does not have it free.
pub(super) async fn ensure_reserved(
    db: &impl GenericClient,
    order: &ManufacturingOrder,
    line: i32,
    item_id: Uuid,
    needed: Decimal,
) -> ApiResult<()> {
    let held: Decimal = line_reservations(db, order.order.id, line)
        .await?
        .iter()
        .map(|(_, q)| *q)
        .sum();
    if needed > held {
        reserve(
            db,
            order.order.id,
            order.order.warehouse_id,
            line,
            item_id,
            needed - held,
        )
        .await?;
    }
    Ok(())
}

/// Gives every reservation of the order back (closed or canceled).
pub async fn release_all(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    let rows = db
        .query(
            "SELECT id FROM stock_reservations WHERE document_type = $1 AND document_id = $2",
            &[&DOCUMENT_TYPE, &id.to_string()],
        )
        .await?;
    for row in rows {
        reservations::release(db, row.get(0)).await?;
    }
    Ok(())
}
