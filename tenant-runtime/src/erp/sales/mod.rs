//! Sales orders: a customer's order for items from one warehouse, drafted, confirmed
//! (every line's stock reserved there, all or nothing), delivered in one or more
//! deliveries (each line a `delivery` movement of the stock ledger, its reservation reduced
//! by what left), then invoiced and closed, or canceled before any delivery (reservations
//! released). Invoicing only marks the order: real invoices are out of scope.
//!
//! - this module: the types, and the reads (list with filters and keyset paging, one order
//!   with its lines' reserved, delivered and available quantities).
//! - `drafts`: creating (idempotent by reference) and changing draft orders.
//! - `lifecycle`: confirm, deliver, invoice, close, cancel.
//!
//! Every write takes the caller's transaction and writes its audit entry and events there.

pub mod drafts;
pub mod lifecycle;

pub use drafts::{NewLine, NewSalesOrder, SalesOrderChanges, create, update};
pub use lifecycle::{Delivery, DeliveryLine, cancel, close, confirm, deliver, invoice};

use crate::erp::masters::{Page, PageQuery, page};
use crate::erp::stock::reservations;
use chrono::{DateTime, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self as audit, Actor};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Confirmed,
    PartiallyDelivered,
    Delivered,
    Invoiced,
    Closed,
    Canceled,
}

impl Status {
    /// The actions an order in this status can take, as (action, label): what the
    /// lifecycle allows, so a page offers no button that can only be refused.
    pub fn actions(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Draft => &[("confirm", "Confirm (reserve stock)"), ("cancel", "Cancel")],
            Self::Confirmed => &[("cancel", "Cancel")],
            Self::PartiallyDelivered => &[("close", "Close")],
            Self::Delivered => &[("invoice", "Mark invoiced"), ("close", "Close")],
            Self::Invoiced => &[("close", "Close")],
            Self::Closed | Self::Canceled => &[],
        }
    }

    /// Whether goods can be delivered against an order in this status.
    pub fn deliverable(self) -> bool {
        matches!(self, Self::Confirmed | Self::PartiallyDelivered)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Confirmed => "confirmed",
            Self::PartiallyDelivered => "partially_delivered",
            Self::Delivered => "delivered",
            Self::Invoiced => "invoiced",
            Self::Closed => "closed",
            Self::Canceled => "canceled",
        }
    }

    /// Every status, in lifecycle order.
    pub const ALL: [Self; 7] = [
        Self::Draft,
        Self::Confirmed,
        Self::PartiallyDelivered,
        Self::Delivered,
        Self::Invoiced,
        Self::Closed,
        Self::Canceled,
    ];

    /// The status stored as `text` (the table's CHECK holds only these).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// The statuses `open=true` lists: not yet invoiced, closed or canceled.
pub const OPEN: [&str; 4] = ["draft", "confirmed", "partially_delivered", "delivered"];

/// An order without its lines (the list's rows).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesOrderSummary {
    pub id: Uuid,
    /// `SO-000001`, from a sequence.
    pub number: String,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub warehouse_id: Uuid,
    pub status: Status,
    pub requested_date: Option<NaiveDate>,
    pub notes: String,
    /// Sum of quantity x unit price of the lines.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub total: Decimal,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One line, with what is reserved for it, delivered, and available in the warehouse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesOrderLine {
    pub line: i32,
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    /// In the item's base unit.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    pub base_unit: String,
    /// Per base unit.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub unit_price: Decimal,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub delivered_quantity: Decimal,
    /// Held back for this line (what is confirmed and not yet delivered).
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reserved_quantity: Decimal,
    /// On hand in the order's warehouse minus everything reserved there (may be negative).
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub available: Decimal,
}

/// An order with its lines.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesOrder {
    #[serde(flatten)]
    pub order: SalesOrderSummary,
    pub lines: Vec<SalesOrderLine>,
}

/// `GET /sales-orders` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct OrderFilter {
    pub status: Option<Status>,
    pub customer_id: Option<Uuid>,
    /// `true`: only orders not yet invoiced, closed or canceled; `false`: only those.
    pub open: Option<bool>,
}

const SELECT: &str = "SELECT o.id, o.number, o.customer_id, p.name, o.warehouse_id, o.status, \
      o.requested_date, o.notes, o.total, o.created_by, o.created_at, o.updated_at \
      FROM sales_orders o JOIN partners p ON p.id = o.customer_id";

fn summary(row: &tokio_postgres::Row) -> SalesOrderSummary {
    let status: String = row.get(5);
    let total: Decimal = row.get(8);
    SalesOrderSummary {
        id: row.get(0),
        number: row.get(1),
        customer_id: row.get(2),
        customer_name: row.get(3),
        warehouse_id: row.get(4),
        // The CHECK admits only the statuses `parse` knows.
        status: Status::parse(&status).unwrap_or(Status::Draft),
        requested_date: row.get(6),
        notes: row.get(7),
        total: total.normalize(),
        created_by: row.get(9),
        created_at: row.get(10),
        updated_at: row.get(11),
    }
}

/// A page of orders, newest first, filtered.
pub async fn list(
    db: &impl GenericClient,
    filter: &OrderFilter,
    paging: &PageQuery,
) -> ApiResult<Page<SalesOrderSummary>> {
    let limit = paging.limit()?;
    let after = match paging.after()? {
        Some(key) => Some(
            Uuid::parse_str(&key)
                .map_err(|_| ApiError::invalid("after", "is not a cursor this API gave out"))?,
        ),
        None => None,
    };
    let status = filter.status.map(Status::as_str);
    let open: Vec<String> = OPEN.iter().map(|s| (*s).to_owned()).collect();
    let sql = format!(
        "{SELECT} WHERE ($1::text IS NULL OR o.status = $1) \
           AND ($2::uuid IS NULL OR o.customer_id = $2) \
           AND ($3::bool IS NULL OR (o.status = ANY($4)) = $3) \
           AND ($5::uuid IS NULL OR o.id < $5) \
         ORDER BY o.id DESC LIMIT $6"
    );
    let rows = db
        .query(
            &sql,
            &[
                &status,
                &filter.customer_id,
                &filter.open,
                &open,
                &after,
                &(limit + 1),
            ],
        )
        .await?;
    let orders = rows.iter().map(summary).collect();
    Ok(page(orders, limit, |o: &SalesOrderSummary| {
        o.id.to_string()
    }))
}

fn not_found() -> ApiError {
    ApiError::not_found("sales_order_not_found", "no sales order has this id")
}

/// One order with its lines: 404 `sales_order_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<SalesOrder> {
    let order = db
        .query_opt(&format!("{SELECT} WHERE o.id = $1"), &[&id])
        .await?
        .map(|row| summary(&row))
        .ok_or_else(not_found)?;
    let rows = db
        .query(
            "SELECT l.line_no, l.item_id, i.sku, i.name, l.quantity, i.base_unit, l.unit_price, \
                    l.delivered_quantity, coalesce(r.quantity, 0) \
             FROM sales_order_lines l JOIN items i ON i.id = l.item_id \
             LEFT JOIN stock_reservations r ON r.id = l.reservation_id \
             WHERE l.order_id = $1 ORDER BY l.line_no",
            &[&id],
        )
        .await?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let item_id: Uuid = row.get(1);
        let available = reservations::available(db, item_id, order.warehouse_id).await?;
        let quantity: Decimal = row.get(4);
        let unit_price: Decimal = row.get(6);
        let delivered: Decimal = row.get(7);
        let reserved: Decimal = row.get(8);
        lines.push(SalesOrderLine {
            line: row.get(0),
            item_id,
            sku: row.get(2),
            item_name: row.get(3),
            quantity: quantity.normalize(),
            base_unit: row.get(5),
            unit_price: unit_price.normalize(),
            delivered_quantity: delivered.normalize(),
            reserved_quantity: reserved.normalize(),
            available: available.normalize(),
        });
    }
    Ok(SalesOrder { order, lines })
}

/// Locks the order's row for a write and answers its status: 404 `sales_order_not_found`.
async fn lock(db: &impl GenericClient, id: Uuid) -> ApiResult<Status> {
    let row = db
        .query_opt(
            "SELECT status FROM sales_orders WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(not_found)?;
    let status: String = row.get(0);
    Ok(Status::parse(&status).unwrap_or(Status::Draft))
}

/// 409 `invalid_status` unless the order is in one of `allowed`.
fn require(status: Status, allowed: &[Status], action: &str) -> ApiResult<()> {
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

async fn set_status(db: &impl GenericClient, id: Uuid, status: Status) -> ApiResult<()> {
    db.execute(
        "UPDATE sales_orders SET status = $2, updated_at = now() WHERE id = $1",
        &[&id, &status.as_str()],
    )
    .await?;
    Ok(())
}

/// The audit entry of a write: the order before (when it existed) and after.
async fn record(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    before: Option<&SalesOrder>,
    after: &SalesOrder,
) -> ApiResult<()> {
    let entry = audit::Entry {
        action,
        target_kind: "sales_order",
        target_id: after.order.id.to_string(),
        before: before.map(|o| serde_json::json!(o)),
        after: Some(serde_json::json!(after)),
    };
    audit::record(db, actor, entry).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_text() {
        for status in [
            Status::Draft,
            Status::Confirmed,
            Status::PartiallyDelivered,
            Status::Delivered,
            Status::Invoiced,
            Status::Closed,
            Status::Canceled,
        ] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("shipped"), None);
    }

    #[test]
    fn a_wrong_status_names_the_allowed_ones() {
        assert!(require(Status::Draft, &[Status::Draft], "confirmed").is_ok());
        assert!(require(Status::Closed, &[Status::Draft], "confirmed").is_err());
    }
}
