//! Purchase orders: a draft with lines (quantities in the item's base unit, a price per
//! base unit), submitted through the approvals engine (`erp::approvals`), received in one
//! or more receipts that post stock (`erp::stock::post_receipt`, document type
//! `purchase_order`), then closed; or canceled before anything was received.
//!
//! Status: `draft -> submitted -> approved -> partially_received -> received -> closed`,
//! `submitted -> draft` on rejection, `draft|submitted|approved -> canceled`. Every write
//! locks the order's row first, so two writers of one order queue, and writes its audit
//! entry and events in the caller's transaction.

mod receiving;

pub use receiving::{ReceiptInput, ReceiptLineInput, ReceiptResult, receive};

use crate::erp::approvals::{self, DocumentKind, DocumentRef, Outcome};
use crate::erp::masters::{PageQuery, check_text, encode_cursor, warehouses};
use crate::erp::{events, quantity};
use chrono::{DateTime, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self, Actor, Entry};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Lines an order may hold.
pub const MAX_LINES: usize = 200;

/// The statuses a purchase order goes through.
pub const STATUSES: &[&str] = &[
    "draft",
    "submitted",
    "approved",
    "partially_received",
    "received",
    "closed",
    "canceled",
];

/// Statuses of an order still in progress (`open=true`).
pub const OPEN: &[&str] = &["draft", "submitted", "approved", "partially_received"];

/// One line of an order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Line {
    pub line: i32,
    pub item_id: Uuid,
    /// Ordered, in the item's base unit.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Per base unit.
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    #[schema(value_type = String)]
    pub received_quantity: Decimal,
}

/// A purchase order with its lines.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PurchaseOrder {
    pub id: Uuid,
    /// `PO-000001`, from a sequence.
    pub number: String,
    pub supplier_id: Uuid,
    pub warehouse_id: Uuid,
    /// `draft`, `submitted`, `approved`, `partially_received`, `received`, `closed`, `canceled`.
    pub status: String,
    pub expected_on: Option<NaiveDate>,
    pub notes: String,
    /// The sum of the lines' quantity times unit price.
    #[schema(value_type = String)]
    pub total: Decimal,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest approval request, once submitted to one.
    pub approval_id: Option<Uuid>,
    pub lines: Vec<Line>,
}

/// A line as typed.
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
    /// Per base unit of the item, zero or more.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub unit_price: Decimal,
}

/// A new draft.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPurchaseOrder {
    /// An active partner that is a supplier.
    pub supplier_id: Uuid,
    /// An active warehouse (goods are received into its locations).
    pub warehouse_id: Uuid,
    pub expected_on: Option<NaiveDate>,
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub notes: String,
    /// 1 to 200 lines.
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<NewLine>,
    /// The client's idempotency reference: a second create with it answers the first order.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
}

/// Changes to a draft (absent fields stay; `lines` replaces every line).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseOrderChanges {
    pub supplier_id: Option<Uuid>,
    pub warehouse_id: Option<Uuid>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::erp::masters::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub expected_on: Option<Option<NaiveDate>>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Option<Vec<NewLine>>,
}

/// List filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PurchaseOrderFilter {
    /// One status.
    #[param(pattern = "^(draft|submitted|approved|partially_received|received|closed|canceled)$")]
    pub status: Option<String>,
    pub supplier_id: Option<Uuid>,
    /// Only orders still in progress (draft to partially received).
    pub open: Option<bool>,
}

/// A page of orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseOrderPage {
    pub items: Vec<PurchaseOrder>,
    pub next: Option<String>,
}

/// An order created, or the one its reference had created.
pub struct Created {
    pub order: PurchaseOrder,
    pub created: bool,
}

const SELECT: &str = "SELECT o.id, o.number, o.supplier_id, o.warehouse_id, o.status, \
     o.expected_on, o.notes, o.total, o.created_by, o.created_at, o.updated_at, \
     (SELECT r.id FROM approval_requests r WHERE r.document_type = 'purchase_order' \
        AND r.document_id = o.id ORDER BY r.id DESC LIMIT 1) \
     FROM purchase_orders o";

fn from_row(row: &tokio_postgres::Row) -> PurchaseOrder {
    PurchaseOrder {
        id: row.get(0),
        number: row.get(1),
        supplier_id: row.get(2),
        warehouse_id: row.get(3),
        status: row.get(4),
        expected_on: row.get(5),
        notes: row.get(6),
        // Stored with six decimals; answered as written (10, not 10.000000), as sales does.
        total: row.get::<_, Decimal>(7).normalize(),
        created_by: row.get(8),
        created_at: row.get(9),
        updated_at: row.get(10),
        approval_id: row.get(11),
        lines: Vec::new(),
    }
}

/// Fills in the lines of `orders` in one query.
async fn with_lines(
    db: &impl GenericClient,
    mut orders: Vec<PurchaseOrder>,
) -> ApiResult<Vec<PurchaseOrder>> {
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let rows = db
        .query(
            "SELECT purchase_order_id, line_no, item_id, quantity, unit_price, received_quantity \
             FROM purchase_order_lines WHERE purchase_order_id = ANY($1) \
             ORDER BY purchase_order_id, line_no",
            &[&ids],
        )
        .await?;
    for row in rows {
        let owner: Uuid = row.get(0);
        if let Some(order) = orders.iter_mut().find(|o| o.id == owner) {
            order.lines.push(Line {
                line: row.get(1),
                item_id: row.get(2),
                quantity: row.get::<_, Decimal>(3).normalize(),
                unit_price: row.get::<_, Decimal>(4).normalize(),
                received_quantity: row.get::<_, Decimal>(5).normalize(),
            });
        }
    }
    Ok(orders)
}

fn not_found() -> ApiError {
    ApiError::not_found("purchase_order_not_found", "no purchase order has this id")
}

/// One order with its lines: 404 `purchase_order_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<PurchaseOrder> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE o.id = $1"), &[&id])
        .await?
        .ok_or_else(not_found)?;
    with_lines(db, vec![from_row(&row)])
        .await?
        .pop()
        .ok_or_else(not_found)
}

/// Locks the order's row for a write and answers its status: 404 when there is none.
pub(crate) async fn lock(db: &impl GenericClient, id: Uuid) -> ApiResult<String> {
    Ok(db
        .query_opt(
            "SELECT status FROM purchase_orders WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(not_found)?
        .get(0))
}

/// A page of orders, newest first, filtered.
pub async fn list(
    db: &impl GenericClient,
    filter: &PurchaseOrderFilter,
    paging: &PageQuery,
) -> ApiResult<PurchaseOrderPage> {
    let limit = paging.limit()?;
    let after = match paging.after()? {
        Some(key) => Some(
            key.parse::<Uuid>()
                .map_err(|_| ApiError::invalid("after", "is not a cursor this API gave out"))?,
        ),
        None => None,
    };
    if let Some(status) = &filter.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::invalid(
            "status",
            format!("one of {}", STATUSES.join(", ")),
        ));
    }
    let open: Option<Vec<String>> = filter
        .open
        .filter(|open| *open)
        .map(|_| OPEN.iter().map(|s| (*s).to_owned()).collect());
    let rows = db
        .query(
            &format!(
                "{SELECT} WHERE ($1::text IS NULL OR o.status = $1) \
                   AND ($2::uuid IS NULL OR o.supplier_id = $2) \
                   AND ($3::text[] IS NULL OR o.status = ANY($3)) \
                   AND ($4::uuid IS NULL OR o.id < $4) \
                 ORDER BY o.id DESC LIMIT $5"
            ),
            &[
                &filter.status,
                &filter.supplier_id,
                &open,
                &after,
                &(limit + 1),
            ],
        )
        .await?;
    let mut orders: Vec<PurchaseOrder> = rows.iter().map(from_row).collect();
    let limit_rows = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = orders.len() > limit_rows;
    orders.truncate(limit_rows);
    let next = if more {
        orders.last().map(|o| encode_cursor(&o.id.to_string()))
    } else {
        None
    };
    Ok(PurchaseOrderPage {
        items: with_lines(db, orders).await?,
        next,
    })
}

/// 404 `supplier_not_found` for an unknown partner (as for any id that names nothing),
/// 422 unless it is an active supplier.
async fn check_supplier(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    let ok: bool = db
        .query_opt(
            "SELECT active AND is_supplier FROM partners WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("supplier_not_found", "no partner has this id"))?
        .get(0);
    if !ok {
        return Err(ApiError::invalid(
            "supplier_id",
            "no active supplier has this id",
        ));
    }
    Ok(())
}

fn check_notes(notes: &str) -> ApiResult<()> {
    check_text(notes, 2000).map_err(|message| ApiError::invalid("notes", message))
}

/// The lines in base units, checked: active stocked items, positive quantities, prices
/// zero or more. Answers them with the order's total.
async fn checked_lines(
    db: &impl GenericClient,
    lines: &[NewLine],
) -> ApiResult<(Vec<(Uuid, Decimal, Decimal)>, Decimal)> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(ApiError::invalid(
            "lines",
            format!("1 to {MAX_LINES} lines"),
        ));
    }
    let mut checked = Vec::with_capacity(lines.len());
    let mut total = Decimal::ZERO;
    for (index, line) in lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{index}].{name}");
        let item = db
            .query_opt(
                "SELECT active, kind FROM items WHERE id = $1",
                &[&line.item_id],
            )
            .await?;
        match item {
            Some(row) if row.get::<_, bool>(0) && row.get::<_, String>(1) != "service" => {}
            Some(row) if row.get::<_, bool>(0) => {
                return Err(ApiError::invalid(
                    &field("item_id"),
                    "a service item holds no stock",
                ));
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    &field("item_id"),
                    "this item is inactive",
                ));
            }
            None => {
                return Err(ApiError::not_found(
                    "item_not_found",
                    format!("{}: no item has this id", field("item_id")),
                ));
            }
        }
        if line
            .unit
            .as_deref()
            .is_some_and(|unit| unit.contains('\0') || unit.chars().count() > 16)
        {
            return Err(ApiError::invalid(&field("unit"), "not a unit of this item"));
        }
        let quantity = quantity::positive(&field("quantity"), line.quantity)?;
        let base = quantity::to_base_unit(
            db,
            line.item_id,
            quantity,
            line.unit.as_deref(),
            &field("unit"),
        )
        .await?;
        let base = quantity::positive(&field("quantity"), base)?;
        let price = quantity::not_negative(&field("unit_price"), line.unit_price)?;
        let amount = quantity::fits(&field("quantity"), (base * price).round_dp(quantity::SCALE))?;
        total = quantity::fits("lines", total + amount)?;
        checked.push((line.item_id, base, price));
    }
    Ok((checked, total))
}

async fn write_lines(
    db: &impl GenericClient,
    order: Uuid,
    lines: &[(Uuid, Decimal, Decimal)],
) -> ApiResult<()> {
    db.execute(
        "DELETE FROM purchase_order_lines WHERE purchase_order_id = $1",
        &[&order],
    )
    .await?;
    for (index, (item, quantity, price)) in lines.iter().enumerate() {
        let line_no = i32::try_from(index + 1).unwrap_or(i32::MAX);
        db.execute(
            "INSERT INTO purchase_order_lines (id, purchase_order_id, line_no, item_id, quantity, \
             unit_price) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&Uuid::now_v7(), &order, &line_no, item, quantity, price],
        )
        .await?;
    }
    Ok(())
}

/// Creates a draft, or answers the order its `reference` already created.
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: NewPurchaseOrder,
) -> ApiResult<Created> {
    if let Some(reference) = &input.reference {
        if reference.is_empty() || reference.chars().count() > 200 || reference.contains('\0') {
            return Err(ApiError::invalid("reference", "1 to 200 characters"));
        }
        if let Some(order) = by_reference(db, reference).await? {
            return Ok(Created {
                order,
                created: false,
            });
        }
    }
    check_supplier(db, input.supplier_id).await?;
    warehouses::check_active(db, input.warehouse_id).await?;
    check_notes(&input.notes)?;
    let (lines, total) = checked_lines(db, &input.lines).await?;
    let id = Uuid::now_v7();
    // A concurrent create with the same reference waits here for the first to commit,
    // then inserts nothing and answers the first's order.
    let inserted = db
        .execute(
            "INSERT INTO purchase_orders (id, reference, supplier_id, warehouse_id, expected_on, \
             notes, total, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (reference) DO NOTHING",
            &[
                &id,
                &input.reference,
                &input.supplier_id,
                &input.warehouse_id,
                &input.expected_on,
                &input.notes,
                &total,
                &actor.user_id,
            ],
        )
        .await?;
    if inserted == 0
        && let Some(reference) = &input.reference
        && let Some(order) = by_reference(db, reference).await?
    {
        return Ok(Created {
            order,
            created: false,
        });
    }
    write_lines(db, id, &lines).await?;
    let order = find(db, id).await?;
    audit(db, actor, "purchase_order.created", None, &order).await?;
    Ok(Created {
        order,
        created: true,
    })
}

async fn by_reference(
    db: &impl GenericClient,
    reference: &str,
) -> ApiResult<Option<PurchaseOrder>> {
    match db
        .query_opt(
            "SELECT id FROM purchase_orders WHERE reference = $1",
            &[&reference],
        )
        .await?
    {
        Some(row) => Ok(Some(find(db, row.get(0)).await?)),
        None => Ok(None),
    }
}

fn not_draft(status: &str) -> ApiError {
    ApiError::conflict(
        "purchase_order_not_draft",
        format!("only a draft can change; this order is {status}"),
    )
}

/// Changes a draft (lines replaced when given). 409 `purchase_order_not_draft`.
pub async fn update(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: PurchaseOrderChanges,
) -> ApiResult<PurchaseOrder> {
    let status = lock(db, id).await?;
    if status != "draft" {
        return Err(not_draft(&status));
    }
    let before = find(db, id).await?;
    if let Some(supplier) = changes.supplier_id {
        check_supplier(db, supplier).await?;
    }
    if let Some(warehouse) = changes.warehouse_id {
        warehouses::check_active(db, warehouse).await?;
    }
    if let Some(notes) = &changes.notes {
        check_notes(notes)?;
    }
    let total = match &changes.lines {
        Some(lines) => {
            let (lines, total) = checked_lines(db, lines).await?;
            write_lines(db, id, &lines).await?;
            total
        }
        None => before.total,
    };
    let expected_on = changes.expected_on.unwrap_or(before.expected_on);
    db.execute(
        "UPDATE purchase_orders SET supplier_id = $2, warehouse_id = $3, expected_on = $4, \
         notes = $5, total = $6, updated_at = now() WHERE id = $1",
        &[
            &id,
            &changes.supplier_id.unwrap_or(before.supplier_id),
            &changes.warehouse_id.unwrap_or(before.warehouse_id),
            &expected_on,
            &changes.notes.as_ref().unwrap_or(&before.notes),
            &total,
        ],
    )
    .await?;
    let after = find(db, id).await?;
    audit(db, actor, "purchase_order.updated", Some(&before), &after).await?;
    Ok(after)
}

async fn set_status(db: &impl GenericClient, id: Uuid, status: &str) -> ApiResult<()> {
    db.execute(
        "UPDATE purchase_orders SET status = $2, updated_at = now() WHERE id = $1",
        &[&id, &status],
    )
    .await?;
    // Its kanban cards follow it, in this transaction.
    crate::erp::kanban::follow_purchase_order(db, id, status).await
}

fn event_data(order: &PurchaseOrder) -> serde_json::Value {
    serde_json::json!({
        "purchase_order_id": order.id,
        "number": order.number,
        "supplier_id": order.supplier_id,
        "total": order.total,
        "status": order.status,
    })
}

/// Submits a draft for approval: `approved` at once when no rule applies (event
/// `purchase_order.approved`), else `submitted` (event `purchase_order.submitted`) until
/// the approvals engine decides. 409 `purchase_order_not_draft`.
pub async fn submit(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<PurchaseOrder> {
    let status = lock(db, id).await?;
    if status != "draft" {
        return Err(not_draft(&status));
    }
    let before = find(db, id).await?;
    let outcome = approvals::request(
        db,
        actor,
        DocumentRef {
            kind: DocumentKind::PurchaseOrder,
            id,
            amount: before.total,
            requested_by: actor.user_id.or(before.created_by),
        },
    )
    .await?;
    let (status, event) = match outcome {
        Outcome::Approved => ("approved", "purchase_order.approved"),
        Outcome::Pending(_) => ("submitted", "purchase_order.submitted"),
    };
    set_status(db, id, status).await?;
    let after = find(db, id).await?;
    events::emit(db, event, event_data(&after)).await?;
    audit(db, actor, "purchase_order.submitted", Some(&before), &after).await?;
    Ok(after)
}

/// The approvals engine's answer on a submitted order: `approved` (event
/// `purchase_order.approved`) or back to `draft`. An order no longer submitted is left.
pub(crate) async fn approval_decided(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    approved: bool,
) -> ApiResult<()> {
    let status = lock(db, id).await?;
    if status != "submitted" {
        return Ok(());
    }
    let before = find(db, id).await?;
    set_status(db, id, if approved { "approved" } else { "draft" }).await?;
    let after = find(db, id).await?;
    if approved {
        events::emit(db, "purchase_order.approved", event_data(&after)).await?;
    }
    let action = if approved {
        "purchase_order.approved"
    } else {
        "purchase_order.rejected"
    };
    audit(db, actor, action, Some(&before), &after).await
}

/// Cancels an order nothing was received against (a pending approval is withdrawn).
/// 409 `purchase_order_not_cancelable`.
pub async fn cancel(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<PurchaseOrder> {
    let status = lock(db, id).await?;
    if !["draft", "submitted", "approved"].contains(&status.as_str()) {
        return Err(ApiError::conflict(
            "purchase_order_not_cancelable",
            format!(
                "only an order nothing was received against can be canceled; this one is {status}"
            ),
        ));
    }
    let before = find(db, id).await?;
    approvals::withdraw(db, DocumentKind::PurchaseOrder, id).await?;
    set_status(db, id, "canceled").await?;
    let after = find(db, id).await?;
    events::emit(db, "purchase_order.canceled", event_data(&after)).await?;
    audit(db, actor, "purchase_order.canceled", Some(&before), &after).await?;
    Ok(after)
}

/// Closes an approved or (partially) received order: nothing more will be received.
/// 409 `purchase_order_not_closable`.
pub async fn close(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<PurchaseOrder> {
    let status = lock(db, id).await?;
    if !["approved", "partially_received", "received"].contains(&status.as_str()) {
        return Err(ApiError::conflict(
            "purchase_order_not_closable",
            format!("only an approved or received order can be closed; this one is {status}"),
        ));
    }
    let before = find(db, id).await?;
    set_status(db, id, "closed").await?;
    let after = find(db, id).await?;
    audit(db, actor, "purchase_order.closed", Some(&before), &after).await?;
    Ok(after)
}

async fn audit(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    before: Option<&PurchaseOrder>,
    after: &PurchaseOrder,
) -> ApiResult<()> {
    tenant_audit::record(
        db,
        actor,
        Entry {
            action,
            target_kind: "purchase_order",
            target_id: after.id.to_string(),
            before: before.map(|order| serde_json::json!(order)),
            after: Some(serde_json::json!(after)),
        },
    )
    .await?;
    Ok(())
}
