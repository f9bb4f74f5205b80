//! The reports' CSV exports: stock on hand, movements in a period, valuation, items below
//! their reorder point, and the lines of open purchase and sales orders. Each export reads
//! through the same query as its JSON report (`erp::stock::queries`) where one exists, in
//! batches for `erp::csv::download`, so a large export streams and never sits in memory.
//! Decimals are written as stored (a dot, no thousands separator), times in RFC 3339 UTC.

use crate::erp::csv::Batch;
use crate::erp::stock::queries::{self, MovementFilter, OnHandFilter};
use crate::erp::{purchasing, sales};
use common::api_error::{ApiError, ApiResult};
use rust_decimal::Decimal;
use serde::Deserialize;
use tokio_postgres::GenericClient;
use utoipa::IntoParams;
use uuid::Uuid;

/// Rows per batch of a paged export (the lists' largest page).
const BATCH: i64 = queries::MAX_LIMIT;

pub const ON_HAND_HEADER: [&str; 10] = [
    "sku",
    "warehouse_id",
    "location",
    "lot",
    "on_hand",
    "warehouse_reserved",
    "warehouse_available",
    "value",
    "item_id",
    "location_id",
];

/// One batch of the on-hand export, after the balance id `after`.
pub async fn on_hand_batch(
    db: &impl GenericClient,
    filter: &OnHandFilter,
    after: Option<String>,
) -> ApiResult<Batch> {
    let filter = OnHandFilter {
        after: queries::cursor_i64(after.as_deref())?,
        limit: BATCH,
        ..filter.clone()
    };
    let page = queries::on_hand(db, &filter).await?;
    let rows = page
        .items
        .into_iter()
        .map(|row| {
            vec![
                row.sku,
                row.warehouse_id.to_string(),
                row.location_code,
                row.lot_code.unwrap_or_default(),
                row.on_hand.to_string(),
                row.warehouse_reserved.to_string(),
                row.warehouse_available.to_string(),
                row.value.to_string(),
                row.item_id.to_string(),
                row.location_id.to_string(),
            ]
        })
        .collect();
    Ok(Batch {
        rows,
        next: page.next,
    })
}

pub const MOVEMENTS_HEADER: [&str; 13] = [
    "entry",
    "created_at",
    "kind",
    "item_id",
    "location_id",
    "lot",
    "quantity",
    "unit_cost",
    "document_type",
    "document_id",
    "reverses",
    "user_id",
    "note",
];

/// One batch of the movements export (newest first), after the entry id `after`.
pub async fn movements_batch(
    db: &impl GenericClient,
    filter: &MovementFilter,
    after: Option<String>,
) -> ApiResult<Batch> {
    let filter = MovementFilter {
        after: queries::cursor_i64(after.as_deref())?,
        limit: BATCH,
        ..filter.clone()
    };
    let page = queries::movements(db, &filter).await?;
    let text = |value: Option<String>| value.unwrap_or_default();
    let rows = page
        .items
        .into_iter()
        .map(|entry| {
            vec![
                entry.id.to_string(),
                entry.created_at.to_rfc3339(),
                entry.kind,
                entry.item_id.to_string(),
                entry.location_id.to_string(),
                text(entry.lot_code),
                entry.quantity.to_string(),
                entry.unit_cost.to_string(),
                text(entry.document_type),
                text(entry.document_id),
                text(entry.reverses.map(|id| id.to_string())),
                text(entry.user_id.map(|id| id.to_string())),
                entry.note,
            ]
        })
        .collect();
    Ok(Batch {
        rows,
        next: page.next,
    })
}

pub const VALUATION_HEADER: [&str; 4] = ["key", "label", "on_hand", "value"];

/// The whole valuation report (one row per item, location or category) as one batch.
pub async fn valuation_batch(db: &impl GenericClient, group_by: &str) -> ApiResult<Batch> {
    let report = queries::valuation(db, group_by).await?;
    let rows = report
        .rows
        .into_iter()
        .map(|row| {
            vec![
                row.key.map(|id| id.to_string()).unwrap_or_default(),
                row.label.unwrap_or_default(),
                row.on_hand.to_string(),
                row.value.to_string(),
            ]
        })
        .collect();
    Ok(Batch { rows, next: None })
}

pub const BELOW_REORDER_HEADER: [&str; 5] = ["sku", "name", "reorder_point", "on_hand", "item_id"];

/// Every item below its reorder point, as one batch.
pub async fn below_reorder_batch(db: &impl GenericClient) -> ApiResult<Batch> {
    let rows = queries::below_reorder(db)
        .await?
        .into_iter()
        .map(|item| {
            vec![
                item.sku,
                item.name,
                item.reorder_point.to_string(),
                item.on_hand.to_string(),
                item.item_id.to_string(),
            ]
        })
        .collect();
    Ok(Batch { rows, next: None })
}

/// Filters of the order-lines exports. Without `status` or `open`, every order is listed;
/// `open=true` keeps those still in progress (each module's own `OPEN` statuses).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct OrderLinesFilter {
    pub status: Option<String>,
    /// The supplier (purchase orders) or customer (sales orders).
    pub partner_id: Option<Uuid>,
    pub open: Option<bool>,
}

/// `?status=&partner_id=&open=` of `GET /purchase-orders/export`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PurchaseLinesQuery {
    /// One status of the purchase order lifecycle.
    #[param(schema_with = purchase_status_schema)]
    pub status: Option<String>,
    /// The supplier.
    pub partner_id: Option<Uuid>,
    /// Only orders still in progress (draft to partially received).
    pub open: Option<bool>,
}

fn purchase_status_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(purchasing::STATUSES.iter().copied())
}

/// `?status=&partner_id=&open=` of `GET /sales-orders/export`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct SalesLinesQuery {
    /// One status of the sales order lifecycle.
    #[param(schema_with = sales_status_schema)]
    pub status: Option<String>,
    /// The customer.
    pub partner_id: Option<Uuid>,
    /// Only orders not yet invoiced, closed or canceled.
    pub open: Option<bool>,
}

fn sales_status_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(sales::Status::ALL.map(sales::Status::as_str))
}

impl From<PurchaseLinesQuery> for OrderLinesFilter {
    fn from(query: PurchaseLinesQuery) -> Self {
        Self {
            status: query.status,
            partner_id: query.partner_id,
            open: query.open,
        }
    }
}

impl From<SalesLinesQuery> for OrderLinesFilter {
    fn from(query: SalesLinesQuery) -> Self {
        Self {
            status: query.status,
            partner_id: query.partner_id,
            open: query.open,
        }
    }
}

pub const PURCHASE_LINES_HEADER: [&str; 12] = [
    "order",
    "supplier",
    "status",
    "expected_on",
    "line",
    "sku",
    "item",
    "ordered",
    "received",
    "outstanding",
    "unit_price",
    "line_total",
];

pub const SALES_LINES_HEADER: [&str; 12] = [
    "order",
    "customer",
    "status",
    "requested_date",
    "line",
    "sku",
    "item",
    "ordered",
    "delivered",
    "outstanding",
    "unit_price",
    "line_total",
];

/// Which order table an order-lines export reads, and its lifecycle's names.
#[derive(Debug, Clone, Copy)]
pub enum OrderKind {
    Purchase,
    Sales,
}

impl OrderKind {
    fn statuses(self) -> Vec<&'static str> {
        match self {
            Self::Purchase => purchasing::STATUSES.to_vec(),
            Self::Sales => sales::Status::ALL.map(sales::Status::as_str).to_vec(),
        }
    }

    fn open(self) -> Vec<String> {
        let open: &[&str] = match self {
            Self::Purchase => purchasing::OPEN,
            Self::Sales => &sales::OPEN,
        };
        open.iter().map(|status| (*status).to_owned()).collect()
    }

    /// The orders and their lines: `(order, partner, status, date)` of the order, then
    /// `(line, sku, name, ordered, done, unit_price)`.
    fn select(self) -> &'static str {
        match self {
            Self::Purchase => {
                "SELECT o.id, o.number, p.name, o.status, o.expected_on, l.line_no, i.sku, \
                        i.name, l.quantity, l.received_quantity, l.unit_price \
                 FROM purchase_orders o JOIN partners p ON p.id = o.supplier_id \
                 JOIN purchase_order_lines l ON l.purchase_order_id = o.id \
                 JOIN items i ON i.id = l.item_id \
                 WHERE o.id = ANY($1) ORDER BY o.id, l.line_no"
            }
            Self::Sales => {
                "SELECT o.id, o.number, p.name, o.status, o.requested_date, l.line_no, i.sku, \
                        i.name, l.quantity, l.delivered_quantity, l.unit_price \
                 FROM sales_orders o JOIN partners p ON p.id = o.customer_id \
                 JOIN sales_order_lines l ON l.order_id = o.id \
                 JOIN items i ON i.id = l.item_id \
                 WHERE o.id = ANY($1) ORDER BY o.id, l.line_no"
            }
        }
    }

    fn page(self) -> &'static str {
        match self {
            Self::Purchase => {
                "SELECT id FROM purchase_orders \
                 WHERE ($1::text IS NULL OR status = $1) \
                   AND ($2::uuid IS NULL OR supplier_id = $2) \
                   AND ($3::bool IS NULL OR (status = ANY($4)) = $3) \
                   AND ($5::uuid IS NULL OR id > $5) \
                 ORDER BY id LIMIT $6"
            }
            Self::Sales => {
                "SELECT id FROM sales_orders \
                 WHERE ($1::text IS NULL OR status = $1) \
                   AND ($2::uuid IS NULL OR customer_id = $2) \
                   AND ($3::bool IS NULL OR (status = ANY($4)) = $3) \
                   AND ($5::uuid IS NULL OR id > $5) \
                 ORDER BY id LIMIT $6"
            }
        }
    }
}

/// 422 for a status the order kind does not have (checked before the download starts).
pub fn check_lines_filter(kind: OrderKind, filter: &OrderLinesFilter) -> ApiResult<()> {
    match &filter.status {
        Some(status) if !kind.statuses().contains(&status.as_str()) => Err(ApiError::invalid(
            "status",
            format!("one of {}", kind.statuses().join(", ")),
        )),
        _ => Ok(()),
    }
}

/// One batch of an order-lines export: the lines of up to [`BATCH`] orders (oldest first)
/// after the order id `after`.
pub async fn order_lines_batch(
    db: &impl GenericClient,
    kind: OrderKind,
    filter: &OrderLinesFilter,
    after: Option<String>,
) -> ApiResult<Batch> {
    let after = after
        .map(|text| {
            text.parse::<Uuid>()
                .map_err(|_| ApiError::invalid("after", "not a cursor this export gave"))
        })
        .transpose()?;
    let ids: Vec<Uuid> = db
        .query(
            kind.page(),
            &[
                &filter.status,
                &filter.partner_id,
                &filter.open,
                &kind.open(),
                &after,
                &BATCH,
            ],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let next = (ids.len() as i64 == BATCH)
        .then(|| ids.last().map(Uuid::to_string))
        .flatten();
    let rows = db
        .query(kind.select(), &[&ids])
        .await?
        .iter()
        .map(|row| {
            let ordered: Decimal = row.get(8);
            let done: Decimal = row.get(9);
            let price: Decimal = row.get(10);
            let date: Option<chrono::NaiveDate> = row.get(4);
            vec![
                row.get::<_, String>(1),
                row.get(2),
                row.get(3),
                date.map(|d| d.to_string()).unwrap_or_default(),
                row.get::<_, i32>(5).to_string(),
                row.get(6),
                row.get(7),
                ordered.normalize().to_string(),
                done.normalize().to_string(),
                (ordered - done).normalize().to_string(),
                price.normalize().to_string(),
                (ordered * price).round_dp(6).normalize().to_string(),
            ]
        })
        .collect();
    Ok(Batch { rows, next })
}
