//! Draft sales orders: creating one (idempotent by the client's reference, so a
//! double-submitted form is one order) and changing it while it is a draft. The customer
//! must be an active partner marked as a customer, the warehouse active, each item active
//! and stocked (not a service); quantities are converted to the item's base unit.

use super::{SalesOrder, Status, find, lock, record, require};
use crate::erp::masters::{check_text, nullable, warehouses};
use crate::erp::quantity;
use chrono::NaiveDate;
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::Deserialize;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// The most lines one order holds.
pub const MAX_LINES: usize = 200;

/// One line of a new or changed order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLine {
    pub item_id: Uuid,
    /// Greater than zero, in `unit` (the item's base unit when omitted).
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    /// A unit the item has a conversion for (422 otherwise).
    #[schema(max_length = 16)]
    pub unit: Option<String>,
    /// Per base unit, zero or more.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub unit_price: Decimal,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSalesOrder {
    /// An active partner marked as a customer.
    pub customer_id: Uuid,
    /// The active warehouse the stock is reserved in and delivered from.
    pub warehouse_id: Uuid,
    pub requested_date: Option<NaiveDate>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub notes: String,
    /// The client's idempotency reference (unique per company): sending it again answers
    /// the order it created. The `Idempotency-Key` header wins.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
    /// 1 to 200 lines, numbered from 1 in this order.
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<NewLine>,
}

/// What a PATCH of a draft may change; absent fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderChanges {
    pub customer_id: Option<Uuid>,
    pub warehouse_id: Option<Uuid>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub requested_date: Option<Option<NaiveDate>>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    /// Replaces every line.
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Option<Vec<NewLine>>,
}

/// A line checked and in the item's base unit.
struct Line {
    item_id: Uuid,
    quantity: Decimal,
    unit_price: Decimal,
}

/// 404 `customer_not_found` for an unknown partner (as for any id that names nothing),
/// 422 on `customer_id` for one that is not an active customer.
async fn check_customer(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    let row = db
        .query_opt(
            "SELECT is_customer AND active FROM partners WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("customer_not_found", "no partner has this id"))?;
    if !row.get::<_, bool>(0) {
        return Err(ApiError::invalid(
            "customer_id",
            "this partner is not an active customer",
        ));
    }
    Ok(())
}

/// Each line checked (item active and stocked, quantity positive and converted, price
/// not negative); 422 naming `lines[i].field`.
async fn check_lines(db: &impl GenericClient, lines: Vec<NewLine>) -> ApiResult<Vec<Line>> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(ApiError::invalid(
            "lines",
            format!("1 to {MAX_LINES} lines"),
        ));
    }
    let mut checked = Vec::with_capacity(lines.len());
    for (index, line) in lines.into_iter().enumerate() {
        let field = |name: &str| format!("lines[{index}].{name}");
        let item = db
            .query_opt(
                "SELECT active, kind FROM items WHERE id = $1",
                &[&line.item_id],
            )
            .await?;
        match item {
            None => {
                return Err(ApiError::not_found(
                    "item_not_found",
                    format!("{}: no item has this id", field("item_id")),
                ));
            }
            Some(row) if !row.get::<_, bool>(0) => {
                return Err(ApiError::invalid(
                    &field("item_id"),
                    "this item is inactive",
                ));
            }
            Some(row) if row.get::<_, String>(1) == "service" => {
                return Err(ApiError::invalid(
                    &field("item_id"),
                    "a service item is not delivered from stock",
                ));
            }
            Some(_) => {}
        }
        let given = quantity::positive(&field("quantity"), line.quantity)?;
        let base = quantity::to_base_unit(
            db,
            line.item_id,
            given,
            line.unit.as_deref(),
            &field("unit"),
        )
        .await?;
        checked.push(Line {
            item_id: line.item_id,
            quantity: quantity::positive(&field("quantity"), base)?,
            unit_price: quantity::not_negative(&field("unit_price"), line.unit_price)?,
        });
    }
    Ok(checked)
}

fn check_notes(notes: &str) -> ApiResult<()> {
    check_text(notes, 2000).map_err(|message| ApiError::invalid("notes", message))
}

/// Replaces the order's lines and its total. 422 on `lines` when the total overflows.
async fn write_lines(db: &impl GenericClient, id: Uuid, lines: &[Line]) -> ApiResult<()> {
    db.execute("DELETE FROM sales_order_lines WHERE order_id = $1", &[&id])
        .await?;
    let mut total = Decimal::ZERO;
    for (index, line) in lines.iter().enumerate() {
        let amount = line
            .quantity
            .checked_mul(line.unit_price)
            .and_then(|amount| total.checked_add(amount))
            .ok_or_else(|| ApiError::invalid("lines", "the order's total is too large"))?;
        total = amount;
        let line_no = i32::try_from(index + 1).unwrap_or(i32::MAX);
        db.execute(
            "INSERT INTO sales_order_lines (order_id, line_no, item_id, quantity, unit_price) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &id,
                &line_no,
                &line.item_id,
                &line.quantity,
                &line.unit_price,
            ],
        )
        .await?;
    }
    let total = quantity::fits("lines", total.round_dp(quantity::SCALE))?;
    db.execute(
        "UPDATE sales_orders SET total = $2, updated_at = now() WHERE id = $1",
        &[&id, &total],
    )
    .await?;
    Ok(())
}

/// The order a reference created, if any.
async fn by_reference(db: &impl GenericClient, reference: Option<&str>) -> ApiResult<Option<Uuid>> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    let row = db
        .query_opt(
            "SELECT id FROM sales_orders WHERE reference = $1",
            &[&reference],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Creates a draft order; answers it with `true`, or the order its reference created
/// before with `false` (whatever the rest of the input says).
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: NewSalesOrder,
) -> ApiResult<(SalesOrder, bool)> {
    if let Some(id) = by_reference(db, input.reference.as_deref()).await? {
        return Ok((find(db, id).await?, false));
    }
    if let Some(reference) = &input.reference
        && (reference.is_empty() || reference.chars().count() > 200)
    {
        return Err(ApiError::invalid("reference", "1 to 200 characters"));
    }
    check_customer(db, input.customer_id).await?;
    warehouses::check_active(db, input.warehouse_id).await?;
    check_notes(&input.notes)?;
    let lines = check_lines(db, input.lines).await?;
    let id = Uuid::now_v7();
    // A concurrent twin with the same reference waits on the unique index, then inserts
    // nothing and answers the first one's order.
    let inserted = db
        .execute(
            "INSERT INTO sales_orders (id, number, customer_id, warehouse_id, requested_date, \
               notes, reference, created_by) \
             VALUES ($1, 'SO-' || lpad(nextval('sales_order_number_seq')::text, 6, '0'), \
               $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (reference) DO NOTHING",
            &[
                &id,
                &input.customer_id,
                &input.warehouse_id,
                &input.requested_date,
                &input.notes,
                &input.reference,
                &actor.user_id,
            ],
        )
        .await?;
    if inserted == 0 {
        let first = by_reference(db, input.reference.as_deref())
            .await?
            .ok_or_else(|| ApiError::conflict("reference_taken", "this reference is in use"))?;
        return Ok((find(db, first).await?, false));
    }
    write_lines(db, id, &lines).await?;
    let created = find(db, id).await?;
    record(db, actor, "sales_order.created", None, &created).await?;
    Ok((created, true))
}

/// Changes a draft: 409 `invalid_status` once it is confirmed.
pub async fn update(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: SalesOrderChanges,
) -> ApiResult<SalesOrder> {
    require(lock(db, id).await?, &[Status::Draft], "changed")?;
    let before = find(db, id).await?;
    if let Some(customer) = changes.customer_id {
        check_customer(db, customer).await?;
    }
    if let Some(warehouse) = changes.warehouse_id {
        warehouses::check_active(db, warehouse).await?;
    }
    if let Some(notes) = &changes.notes {
        check_notes(notes)?;
    }
    let lines = match changes.lines {
        Some(lines) => Some(check_lines(db, lines).await?),
        None => None,
    };
    let order = &before.order;
    db.execute(
        "UPDATE sales_orders SET customer_id = $2, warehouse_id = $3, requested_date = $4, \
           notes = $5, updated_at = now() WHERE id = $1",
        &[
            &id,
            &changes.customer_id.unwrap_or(order.customer_id),
            &changes.warehouse_id.unwrap_or(order.warehouse_id),
            &changes.requested_date.unwrap_or(order.requested_date),
            &changes.notes.as_deref().unwrap_or(&order.notes),
        ],
    )
    .await?;
    if let Some(lines) = lines {
        write_lines(db, id, &lines).await?;
    }
    let after = find(db, id).await?;
    record(db, actor, "sales_order.updated", Some(&before), &after).await?;
    Ok(after)
}
