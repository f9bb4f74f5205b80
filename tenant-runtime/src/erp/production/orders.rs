//! Manufacturing orders: made for an item and quantity from the item's active BOM (422
//! `no_active_bom` without one), which the order keeps even when another version becomes
//! active later. The order's components are the BOM's direct components, multiplied out
//! for the order's quantity with their scrap allowance (made components are their own
//! orders). Creating is idempotent by the client's reference. The states move draft ->
//! released (components reserved, `allocation`) -> in_progress (first daily input or
//! partial completion) -> completed (`completion`) -> closed, or canceled before anything
//! is completed; closing or canceling gives the reservations back.

use super::{DOCUMENT_TYPE, allocation, check_item, record};
use crate::erp::masters::{Page, PageQuery, check_text, page};
use crate::erp::quantity;
use crate::erp::stock::reservations;
use chrono::{DateTime, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ManufacturingOrderStatus)]
pub enum Status {
    Draft,
    Released,
    InProgress,
    Completed,
    Closed,
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Released => "released",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Closed => "closed",
            Self::Canceled => "canceled",
        }
    }

    /// The status stored as `text` (the table's CHECK holds only these).
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Released,
            Self::InProgress,
            Self::Completed,
            Self::Closed,
            Self::Canceled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// Released or in progress: work is being done and components are held.
    pub fn is_running(self) -> bool {
        matches!(self, Self::Released | Self::InProgress)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// An active item with an active BOM.
    pub item_id: Uuid,
    /// Greater than zero, in `unit` (the item's base unit when omitted).
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,13}(\.[0-9]{1,6})?|0\.[0-9]{0,5}[1-9])$")]
    pub quantity: Decimal,
    #[schema(max_length = 16)]
    pub unit: Option<String>,
    /// The active warehouse components are reserved in and consumed from.
    pub warehouse_id: Uuid,
    /// A location of that warehouse the finished goods go to.
    pub output_location_id: Uuid,
    pub due_on: Option<NaiveDate>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub notes: String,
    /// The client's idempotency reference: sending it again answers the order it created.
    /// The `Idempotency-Key` header wins.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
}

/// An order without its components (the list's rows).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderSummary {
    pub id: Uuid,
    /// `MO-000001`, from a sequence.
    pub number: String,
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    pub base_unit: String,
    /// The BOM version the order was made from.
    pub bom_id: Uuid,
    pub bom_version: i32,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub completed_quantity: Decimal,
    pub warehouse_id: Uuid,
    pub output_location_id: Uuid,
    pub status: Status,
    pub due_on: Option<NaiveDate>,
    pub notes: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One component of an order: what it needs, has consumed, holds and could still get.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderComponent {
    pub line: i32,
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    pub base_unit: String,
    /// For the whole order, scrap included.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub required: Decimal,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub consumed: Decimal,
    /// Held back for this order now.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reserved: Decimal,
    /// On hand in the order's warehouse minus everything reserved there (may be negative).
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub available: Decimal,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManufacturingOrder {
    #[serde(flatten)]
    pub order: OrderSummary,
    pub components: Vec<OrderComponent>,
}

/// `GET /production/orders` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct OrderFilter {
    pub status: Option<Status>,
    pub item_id: Option<Uuid>,
}

const SELECT: &str = "SELECT o.id, o.number, o.item_id, i.sku, i.name, i.base_unit, o.bom_id, \
     b.version, o.quantity, o.completed_quantity, o.warehouse_id, o.output_location_id, \
     o.status, o.due_on, o.notes, o.created_by, o.created_at, o.updated_at \
     FROM manufacturing_orders o JOIN items i ON i.id = o.item_id JOIN boms b ON b.id = o.bom_id";

fn summary(row: &tokio_postgres::Row) -> OrderSummary {
    let status: String = row.get(12);
    OrderSummary {
        id: row.get(0),
        number: row.get(1),
        item_id: row.get(2),
        sku: row.get(3),
        item_name: row.get(4),
        base_unit: row.get(5),
        bom_id: row.get(6),
        bom_version: row.get(7),
        quantity: row.get::<_, Decimal>(8).normalize(),
        completed_quantity: row.get::<_, Decimal>(9).normalize(),
        warehouse_id: row.get(10),
        output_location_id: row.get(11),
        // The CHECK admits only the statuses `parse` knows.
        status: Status::parse(&status).unwrap_or(Status::Draft),
        due_on: row.get(13),
        notes: row.get(14),
        created_by: row.get(15),
        created_at: row.get(16),
        updated_at: row.get(17),
    }
}

pub(super) fn not_found() -> ApiError {
    ApiError::not_found(
        "manufacturing_order_not_found",
        "no manufacturing order has this id",
    )
}

/// A page of orders, newest first.
pub async fn list(
    db: &impl GenericClient,
    filter: &OrderFilter,
    paging: &PageQuery,
) -> ApiResult<Page<OrderSummary>> {
    let limit = paging.limit()?;
    let after = match paging.after()? {
        Some(key) => Some(
            Uuid::parse_str(&key)
                .map_err(|_| ApiError::invalid("after", "is not a cursor this API gave out"))?,
        ),
        None => None,
    };
    let status = filter.status.map(Status::as_str);
    let rows = db
        .query(
            &format!(
                "{SELECT} WHERE ($1::text IS NULL OR o.status = $1) \
                   AND ($2::uuid IS NULL OR o.item_id = $2) \
                   AND ($3::uuid IS NULL OR o.id < $3) ORDER BY o.id DESC LIMIT $4"
            ),
            &[&status, &filter.item_id, &after, &(limit + 1)],
        )
        .await?;
    let orders = rows.iter().map(summary).collect();
    Ok(page(orders, limit, |o: &OrderSummary| o.id.to_string()))
}

/// One order with its components: 404 `manufacturing_order_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<ManufacturingOrder> {
    let order = db
        .query_opt(&format!("{SELECT} WHERE o.id = $1"), &[&id])
        .await?
        .map(|row| summary(&row))
        .ok_or_else(not_found)?;
    let rows = db
        .query(
            "SELECT c.line_no, c.item_id, i.sku, i.name, i.base_unit, c.required, c.consumed, \
                    coalesce((SELECT sum(r.quantity) FROM stock_reservations r \
                              WHERE r.document_type = $2 AND r.document_id = $3 \
                                AND r.document_line = c.line_no), 0) \
             FROM manufacturing_order_components c JOIN items i ON i.id = c.item_id \
             WHERE c.order_id = $1 ORDER BY c.line_no",
            &[&id, &DOCUMENT_TYPE, &id.to_string()],
        )
        .await?;
    let mut components = Vec::with_capacity(rows.len());
    for row in rows {
        let item_id: Uuid = row.get(1);
        let available = reservations::available(db, item_id, order.warehouse_id).await?;
        components.push(OrderComponent {
            line: row.get(0),
            item_id,
            sku: row.get(2),
            item_name: row.get(3),
            base_unit: row.get(4),
            required: row.get::<_, Decimal>(5).normalize(),
            consumed: row.get::<_, Decimal>(6).normalize(),
            reserved: row.get::<_, Decimal>(7).normalize(),
            available: available.normalize(),
        });
    }
    Ok(ManufacturingOrder { order, components })
}

/// Locks the order's row for a write and answers its status: 404.
pub(super) async fn lock(db: &impl GenericClient, id: Uuid) -> ApiResult<Status> {
    let row = db
        .query_opt(
            "SELECT status FROM manufacturing_orders WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(not_found)?;
    let status: String = row.get(0);
    Ok(Status::parse(&status).unwrap_or(Status::Draft))
}

/// 409 `invalid_status` unless the order is in one of `allowed`.
pub(super) fn require(status: Status, allowed: &[Status], action: &str) -> ApiResult<()> {
    if allowed.contains(&status) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    Err(ApiError::conflict(
        "invalid_status",
        format!(
            "a {} order cannot be {action}: only {}",
            status.as_str(),
            names.join(", ")
        ),
    ))
}

pub(super) async fn set_status(db: &impl GenericClient, id: Uuid, status: Status) -> ApiResult<()> {
    db.execute(
        "UPDATE manufacturing_orders SET status = $2, updated_at = now() WHERE id = $1",
        &[&id, &status.as_str()],
    )
    .await?;
    // Its kanban cards (and its work orders') follow it, in this transaction.
    crate::erp::kanban::follow_manufacturing_order(db, id, status.as_str()).await
}

/// 404 `warehouse_not_found`, `location_not_found`; 409 `warehouse_inactive`,
/// `location_inactive` (or a quarantine location); 422 on `output_location_id` for a
/// location of another warehouse.
async fn check_place(db: &impl GenericClient, warehouse: Uuid, location: Uuid) -> ApiResult<()> {
    let row = db
        .query_opt("SELECT active FROM warehouses WHERE id = $1", &[&warehouse])
        .await?
        .ok_or_else(|| ApiError::not_found("warehouse_not_found", "no warehouse has this id"))?;
    if !row.get::<_, bool>(0) {
        return Err(ApiError::conflict(
            "warehouse_inactive",
            "this warehouse is inactive",
        ));
    }
    let row = db
        .query_opt(
            "SELECT warehouse_id, active AND kind <> 'quarantine' FROM locations WHERE id = $1",
            &[&location],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("location_not_found", "no location has this id"))?;
    if row.get::<_, Uuid>(0) != warehouse {
        return Err(ApiError::invalid(
            "output_location_id",
            "a location of the order's warehouse",
        ));
    }
    if !row.get::<_, bool>(1) {
        return Err(ApiError::conflict(
            "location_inactive",
            "this location is inactive or holds quarantined goods",
        ));
    }
    Ok(())
}

/// The order a reference created before, if any.
async fn by_reference(db: &impl GenericClient, reference: Option<&str>) -> ApiResult<Option<Uuid>> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    Ok(db
        .query_opt(
            "SELECT id FROM manufacturing_orders WHERE reference = $1",
            &[&reference],
        )
        .await?
        .map(|row| row.get(0)))
}

/// Creates a draft order from the item's active BOM; answers it and whether it is new
/// (false: its reference made it before). 404 `item_not_found`, `warehouse_not_found`;
/// 422 `no_active_bom`, `validation_failed`.
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: NewOrder,
) -> ApiResult<(ManufacturingOrder, bool)> {
    if let Some(id) = by_reference(db, input.reference.as_deref()).await? {
        return Ok((find(db, id).await?, false));
    }
    check_text(&input.notes, 2000).map_err(|message| ApiError::invalid("notes", message))?;
    check_item(db, input.item_id, "item_id").await?;
    let given = quantity::positive("quantity", input.quantity)?;
    let base =
        quantity::to_base_unit(db, input.item_id, given, input.unit.as_deref(), "unit").await?;
    let quantity = quantity::positive("quantity", base)?;
    check_place(db, input.warehouse_id, input.output_location_id).await?;
    let bom_id = super::boms::active_of(db, input.item_id)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable("no_active_bom", "this item has no active bill of materials")
        })?;
    let id = Uuid::now_v7();
    let inserted = db
        .execute(
            "INSERT INTO manufacturing_orders (id, item_id, bom_id, quantity, warehouse_id, \
             output_location_id, due_on, notes, reference, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (reference) DO NOTHING",
            &[
                &id,
                &input.item_id,
                &bom_id,
                &quantity,
                &input.warehouse_id,
                &input.output_location_id,
                &input.due_on,
                &input.notes,
                &input.reference,
                &actor.user_id,
            ],
        )
        .await?;
    if inserted == 0 {
        // A concurrent create with the same reference committed first: answer it.
        let id = by_reference(db, input.reference.as_deref())
            .await?
            .ok_or_else(|| ApiError::conflict("reference_in_use", "retry the request"))?;
        return Ok((find(db, id).await?, false));
    }
    write_components(db, id, bom_id, quantity).await?;
    let created = find(db, id).await?;
    let after = serde_json::json!(created);
    record(
        db,
        actor,
        "manufacturing_order.created",
        "manufacturing_order",
        id.to_string(),
        None,
        after,
    )
    .await?;
    Ok((created, true))
}

/// The BOM's components for `quantity` of the order, scrap included, rounded up to six
/// places (so a tiny component never rounds to nothing).
async fn write_components(
    db: &impl GenericClient,
    id: Uuid,
    bom_id: Uuid,
    quantity: Decimal,
) -> ApiResult<()> {
    let rows = db
        .query(
            "SELECT line_no, item_id, quantity, scrap_percent FROM bom_components \
             WHERE bom_id = $1 ORDER BY line_no",
            &[&bom_id],
        )
        .await?;
    for row in rows {
        let per_unit: Decimal = row.get(2);
        let scrap: Decimal = row.get(3);
        let required = requirement(quantity, per_unit, scrap);
        let required = quantity::fits("quantity", required)?;
        db.execute(
            "INSERT INTO manufacturing_order_components (order_id, line_no, item_id, required) \
             VALUES ($1, $2, $3, $4)",
            &[
                &id,
                &row.get::<_, i32>(0),
                &row.get::<_, Uuid>(1),
                &required,
            ],
        )
        .await?;
    }
    Ok(())
}

/// What `quantity` of the parent needs of a component: `per_unit` each plus `scrap` %.
pub fn requirement(quantity: Decimal, per_unit: Decimal, scrap: Decimal) -> Decimal {
    let factor = Decimal::ONE + scrap / Decimal::from(100);
    (quantity * per_unit * factor)
        .round_dp_with_strategy(quantity::SCALE, RoundingStrategy::AwayFromZero)
        .normalize()
}

/// Cancels an order with nothing completed (draft, released or in progress): its
/// reservations and pending work-order edits are dropped. 409 `invalid_status`.
pub async fn cancel(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
) -> ApiResult<ManufacturingOrder> {
    let status = lock(db, id).await?;
    let before = find(db, id).await?;
    if before.order.completed_quantity > Decimal::ZERO {
        return Err(ApiError::conflict(
            "invalid_status",
            "an order with completed goods cannot be canceled: close it",
        ));
    }
    require(
        status,
        &[Status::Draft, Status::Released, Status::InProgress],
        "canceled",
    )?;
    end(
        db,
        actor,
        id,
        before,
        Status::Canceled,
        "manufacturing_order.canceled",
    )
    .await
}

/// Closes a running or completed order: what is still reserved is given back. 409
/// `invalid_status`.
pub async fn close(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
) -> ApiResult<ManufacturingOrder> {
    let status = lock(db, id).await?;
    require(
        status,
        &[Status::Released, Status::InProgress, Status::Completed],
        "closed",
    )?;
    let before = find(db, id).await?;
    end(
        db,
        actor,
        id,
        before,
        Status::Closed,
        "manufacturing_order.closed",
    )
    .await
}

async fn end(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    before: ManufacturingOrder,
    status: Status,
    action: &str,
) -> ApiResult<ManufacturingOrder> {
    allocation::release_all(db, id).await?;
    super::work_orders::withdraw_edits(db, id).await?;
    set_status(db, id, status).await?;
    let after = find(db, id).await?;
    record(
        db,
        actor,
        action,
        "manufacturing_order",
        id.to_string(),
        Some(serde_json::json!(before)),
        serde_json::json!(after),
    )
    .await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_text() {
        for status in [
            Status::Draft,
            Status::Released,
            Status::InProgress,
            Status::Completed,
            Status::Closed,
            Status::Canceled,
        ] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("done"), None);
    }

    #[test]
    fn a_requirement_adds_the_scrap_allowance_and_rounds_up() {
        let d = Decimal::from;
        assert_eq!(requirement(d(10), d(2), d(5)), Decimal::new(21, 0));
        assert_eq!(
            requirement(d(1), Decimal::new(1, 6), d(50)),
            Decimal::new(2, 6)
        );
        assert_eq!(requirement(d(3), d(1), Decimal::ZERO), d(3));
    }
}
