//! The stock API (`/api/v1/stock/...` and `/api/v1/lots`, plan module `inventory`): thin
//! handlers over `crate::erp::stock`. Reads need `inventory.read`, writes
//! `inventory.write`; each write is one transaction (movement, balances, audit entry).
//! A write repeated with the same `Idempotency-Key` header (or body `reference`) posts
//! once: the repeat answers the first movement with 200 instead of 201. Each report
//! (`on-hand`, `movements`, `valuation`, `below-reorder`) has a streamed CSV `/export`.

use crate::auth::Authorized;
use crate::auth::perm::{InventoryRead, InventoryWrite};
use crate::erp::stock::held::{self, Adjusted, HeldAdjustment};
use crate::erp::stock::{self, Movement, Posted, queries};
use crate::erp::{csv, reports};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use common::http::Body;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::rc::Rc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The header a client repeats on a retried write.
const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    pub item_id: Uuid,
    pub location_id: Uuid,
    /// Greater than zero, in `unit` (the item's base unit when omitted).
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    /// A unit the item has a conversion for (422 otherwise).
    #[schema(max_length = 16)]
    pub unit: Option<String>,
    /// Per base unit; the item's standard cost when omitted.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub unit_cost: Option<Decimal>,
    /// Required for lot-tracked items (created on first receipt), refused for others.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
    pub lot_code: Option<String>,
    pub lot_expires_on: Option<NaiveDate>,
    /// The client's idempotency reference (unique per company); the header wins.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
    /// The document this movement belongs to (e.g. `purchase_order`).
    #[schema(min_length = 1, max_length = 50)]
    pub document_type: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub document_id: Option<String>,
    #[schema(minimum = 1)]
    pub document_line: Option<i32>,
    /// Free text, kept verbatim.
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    pub item_id: Uuid,
    pub location_id: Uuid,
    /// Greater than zero, in `unit` (the item's base unit when omitted).
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    #[schema(max_length = 16)]
    pub unit: Option<String>,
    /// A lot of a lot-tracked item; first-expired-first-out across lots when omitted.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
    pub lot_code: Option<String>,
    /// The client's idempotency reference (unique per company); the header wins.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
    /// The document this movement belongs to (e.g. `purchase_order`).
    #[schema(min_length = 1, max_length = 50)]
    pub document_type: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub document_id: Option<String>,
    #[schema(minimum = 1)]
    pub document_line: Option<i32>,
    /// Free text, kept verbatim.
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub item_id: Uuid,
    pub from_location_id: Uuid,
    /// Another location (any warehouse, or a department).
    pub to_location_id: Uuid,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    #[schema(max_length = 16)]
    pub unit: Option<String>,
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
    pub lot_code: Option<String>,
    /// The client's idempotency reference; the header wins.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentBody {
    pub item_id: Uuid,
    pub location_id: Uuid,
    /// Signed, not zero: positive for stock found, negative for stock lost.
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    #[schema(max_length = 16)]
    pub unit: Option<String>,
    /// For stock found; the item's standard cost when omitted.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub unit_cost: Option<Decimal>,
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
    pub lot_code: Option<String>,
    pub lot_expires_on: Option<NaiveDate>,
    /// Why the stock is corrected (kept verbatim).
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseBody {
    /// Why (kept verbatim).
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub reason: String,
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
}

/// The idempotency reference: the header, else the body's; 422 when too long or empty.
pub(crate) fn reference(request: &HttpRequest, body: Option<String>) -> ApiResult<Option<String>> {
    let header = match request.headers().get(IDEMPOTENCY_HEADER) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::invalid(IDEMPOTENCY_HEADER, "must be visible ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    let (field, value) = match header {
        Some(value) => (IDEMPOTENCY_HEADER, Some(value)),
        None => ("reference", body),
    };
    match value {
        Some(value) if value.is_empty() || value.chars().count() > 200 => {
            Err(ApiError::invalid(field, "1 to 200 characters"))
        }
        other => Ok(other),
    }
}

/// 422 unless an optional text is 1 to `max` characters.
fn bounded(field: &str, value: &Option<String>, max: usize) -> ApiResult<()> {
    match value {
        Some(text) if text.is_empty() || text.chars().count() > max => {
            Err(ApiError::invalid(field, format!("1 to {max} characters")))
        }
        _ => Ok(()),
    }
}

fn check_document(
    document_type: &Option<String>,
    document_id: &Option<String>,
    document_line: Option<i32>,
) -> ApiResult<()> {
    bounded("document_type", document_type, 50)?;
    bounded("document_id", document_id, 100)?;
    if document_line.is_some_and(|line| line < 1) {
        return Err(ApiError::invalid("document_line", "must be 1 or more"));
    }
    Ok(())
}

/// 201 with a new movement, 200 with the one its reference had posted.
fn answer(posted: Posted) -> HttpResponse {
    if posted.created {
        HttpResponse::Created().json(posted.movement)
    } else {
        HttpResponse::Ok().json(posted.movement)
    }
}

#[utoipa::path(post, path = "/api/v1/stock/receipts", tag = "stock", security(("bearer" = [])),
    request_body = ReceiptBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key posts once")),
    responses((status = 201, body = Movement), (status = 200, body = Movement, description = "posted before under this key"),
              (status = 404, description = "`item_not_found`, `location_not_found`"),
              (status = 409, description = "`item_inactive`, `location_inactive`"),
              (status = 422, description = "`validation_failed`: quantity not above zero, unknown unit conversion, lot missing or not allowed")))]
pub async fn receipt(
    auth: Authorized<InventoryWrite>,
    request: HttpRequest,
    body: Body<ReceiptBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    check_document(&body.document_type, &body.document_id, body.document_line)?;
    let input = stock::Receipt {
        item_id: body.item_id,
        location_id: body.location_id,
        quantity: body.quantity,
        unit: body.unit,
        unit_cost: body.unit_cost,
        lot_code: body.lot_code,
        lot_expires_on: body.lot_expires_on,
        reference: reference(&request, body.reference)?,
        document_type: body.document_type,
        document_id: body.document_id,
        document_line: body.document_line,
        note: body.note,
    };
    Ok(answer(in_transaction!(auth, |tx, actor| {
        stock::post_receipt(&tx, &actor, input)
    })))
}

#[utoipa::path(post, path = "/api/v1/stock/issues", tag = "stock", security(("bearer" = [])),
    request_body = IssueBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key posts once")),
    responses((status = 201, body = Movement), (status = 200, body = Movement, description = "posted before under this key"),
              (status = 404, description = "`item_not_found`, `location_not_found`, `lot_not_found`"),
              (status = 409, description = "`insufficient_stock` (more than on hand, and negative stock not allowed), `item_inactive`, `location_inactive`, `lot_quarantined` / `lot_held` / `lot_scrapped` (a named lot that is not available; first-expired-first-out skips such lots)"),
              (status = 422, description = "`validation_failed`: quantity not above zero, unknown unit conversion, lot not allowed")))]
pub async fn issue(
    auth: Authorized<InventoryWrite>,
    request: HttpRequest,
    body: Body<IssueBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    check_document(&body.document_type, &body.document_id, body.document_line)?;
    let input = stock::Issue {
        kind: None,
        item_id: body.item_id,
        location_id: body.location_id,
        quantity: body.quantity,
        unit: body.unit,
        lot_code: body.lot_code,
        reference: reference(&request, body.reference)?,
        document_type: body.document_type,
        document_id: body.document_id,
        document_line: body.document_line,
        note: body.note,
    };
    Ok(answer(in_transaction!(
        auth,
        |tx, actor| stock::post_issue(&tx, &actor, input)
    )))
}

#[utoipa::path(post, path = "/api/v1/stock/transfers", tag = "stock", security(("bearer" = [])),
    request_body = TransferBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key posts once")),
    responses((status = 201, body = Movement), (status = 200, body = Movement, description = "posted before under this key"),
              (status = 404, description = "`item_not_found`, `location_not_found`, `lot_not_found`"),
              (status = 409, description = "`insufficient_stock`, `item_inactive`, `location_inactive`, `lot_quarantined` / `lot_held` / `lot_scrapped` (a named lot that is not available; first-expired-first-out skips such lots)"),
              (status = 422, description = "`validation_failed`: quantity, unit, lot, the same location twice")))]
pub async fn transfer(
    auth: Authorized<InventoryWrite>,
    request: HttpRequest,
    body: Body<TransferBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let input = stock::Transfer {
        item_id: body.item_id,
        from_location_id: body.from_location_id,
        to_location_id: body.to_location_id,
        quantity: body.quantity,
        unit: body.unit,
        lot_code: body.lot_code,
        reference: reference(&request, body.reference)?,
        note: body.note,
    };
    Ok(answer(in_transaction!(auth, |tx, actor| {
        stock::post_transfer(&tx, &actor, input)
    })))
}

/// Corrects stock. When the company's `stock_adjustment` approval rules cover the
/// adjustment's value (stock found at its unit cost, stock lost at the moving average),
/// nothing moves yet: the answer is 202 with the held adjustment, posted when its approval
/// request is finally approved (`/api/v1/approvals/...`).
#[utoipa::path(post, path = "/api/v1/stock/adjustments", tag = "stock", security(("bearer" = [])),
    request_body = AdjustmentBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key posts once")),
    responses((status = 201, body = Movement), (status = 200, body = Movement, description = "posted before under this key"),
              (status = 202, body = HeldAdjustment, description = "held for approval (or, repeated under its key, the held adjustment as it stands)"),
              (status = 404, description = "`item_not_found`, `location_not_found`, `lot_not_found`"),
              (status = 409, description = "`insufficient_stock`, `item_inactive`, `location_inactive`, `lot_quarantined` / `lot_held` / `lot_scrapped` (a named lot that is not available; first-expired-first-out skips such lots)"),
              (status = 422, description = "`validation_failed`: zero quantity, unit, lot, empty reason")))]
pub async fn adjustment(
    auth: Authorized<InventoryWrite>,
    request: HttpRequest,
    body: Body<AdjustmentBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let input = stock::Adjustment {
        item_id: body.item_id,
        location_id: body.location_id,
        quantity: body.quantity,
        unit: body.unit,
        unit_cost: body.unit_cost,
        lot_code: body.lot_code,
        lot_expires_on: body.lot_expires_on,
        reason: body.reason,
        reference: reference(&request, body.reference)?,
    };
    let mut current = auth.current;
    let actor = current.actor();
    let mut tx = current.db.begin().await?;
    let adjusted = held::adjust(&mut tx, &actor, input).await?;
    tx.commit().await?;
    Ok(match adjusted {
        Adjusted::Posted(posted) => answer(posted),
        Adjusted::Held(held) => HttpResponse::Accepted().json(held),
    })
}

/// A stock adjustment held for approval, and what became of it.
#[utoipa::path(get, path = "/api/v1/stock/adjustment-requests/{id}", tag = "stock", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = HeldAdjustment), (status = 404, description = "`adjustment_request_not_found`")))]
pub async fn adjustment_request(
    auth: Authorized<InventoryRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<HeldAdjustment>> {
    Ok(web::Json(held::find(auth.current.db.client(), *id).await?))
}

#[utoipa::path(post, path = "/api/v1/stock/movements/{movement_id}/reverse", tag = "stock",
    security(("bearer" = [])), request_body = ReverseBody,
    params(("movement_id" = Uuid, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key posts once")),
    responses((status = 201, body = Movement), (status = 200, body = Movement, description = "posted before under this key"),
              (status = 404, description = "`movement_not_found`"),
              (status = 409, description = "`already_reversed`, `cannot_reverse_reversal`, `insufficient_stock` (the stock it brought in has left)"),
              (status = 422, description = "`validation_failed`")))]
pub async fn reverse(
    auth: Authorized<InventoryWrite>,
    request: HttpRequest,
    movement_id: web::Path<Uuid>,
    body: Body<ReverseBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let key = reference(&request, body.reference)?;
    let id = movement_id.into_inner();
    Ok(answer(in_transaction!(auth, |tx, actor| stock::reverse(
        &tx,
        &actor,
        id,
        key,
        &body.reason
    ))))
}

/// Paging of every stock list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageParams {
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

impl PageParams {
    fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(50),
            Some(limit) if (1..=queries::MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::invalid("limit", "1 to 200")),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MovementParams {
    pub item_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    /// An entry kind.
    #[param(schema_with = entry_kind_schema)]
    pub kind: Option<String>,
    #[param(max_length = 50)]
    pub document_type: Option<String>,
    #[param(max_length = 100)]
    pub document_id: Option<String>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub to: Option<DateTime<Utc>>,
}

pub(crate) const ENTRY_KINDS: [&str; 9] = [
    "receipt",
    "issue",
    "transfer_out",
    "transfer_in",
    "adjustment",
    "reversal",
    "consume",
    "produce",
    "delivery",
];

fn entry_kind_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(ENTRY_KINDS)
}

#[utoipa::path(get, path = "/api/v1/stock/movements", tag = "stock", security(("bearer" = [])),
    params(MovementParams, PageParams),
    responses((status = 200, body = queries::EntryPage), (status = 422, description = "`validation_failed`: a filter or the cursor")))]
pub async fn movements(
    auth: Authorized<InventoryRead>,
    filter: web::Query<MovementParams>,
    page: web::Query<PageParams>,
) -> ApiResult<web::Json<queries::EntryPage>> {
    let query = queries::MovementFilter {
        after: queries::cursor_i64(page.after.as_deref())?,
        limit: page.limit()?,
        ..filter.into_inner().into_filter()?
    };
    Ok(web::Json(
        queries::movements(auth.current.db.client(), &query).await?,
    ))
}

impl MovementParams {
    /// The library's filter (first page); 422 for an unknown entry kind.
    pub(crate) fn into_filter(self) -> ApiResult<queries::MovementFilter> {
        if let Some(kind) = &self.kind
            && !ENTRY_KINDS.contains(&kind.as_str())
        {
            return Err(ApiError::invalid("kind", "not an entry kind"));
        }
        Ok(queries::MovementFilter {
            item_id: self.item_id,
            location_id: self.location_id,
            kind: self.kind,
            document_type: self.document_type,
            document_id: self.document_id,
            from: self.from,
            to: self.to,
            after: None,
            limit: queries::MAX_LIMIT,
        })
    }
}

/// The movements report as CSV (newest first), with the list's filters, streamed.
///
/// Columns: `entry,created_at,kind,item_id,location_id,lot,quantity,unit_cost,document_type,document_id,reverses,user_id,note`
/// (`quantity` signed, in the item's base unit; `created_at` RFC 3339 UTC). Cells that
/// start like a formula are written with a leading `'`.
#[utoipa::path(get, path = "/api/v1/stock/movements/export", tag = "stock", security(("bearer" = [])),
    params(MovementParams),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
               description = "A CSV attachment (`Content-Disposition: attachment`)"),
              (status = 422, description = "`validation_failed`: a filter")))]
pub async fn movements_export(
    auth: Authorized<InventoryRead>,
    filter: web::Query<MovementParams>,
) -> ApiResult<HttpResponse> {
    let filter = filter.into_inner().into_filter()?;
    let db = Rc::new(auth.current.db);
    Ok(csv::download(
        "stock-movements.csv",
        &reports::MOVEMENTS_HEADER,
        move |after| {
            let (db, filter) = (db.clone(), filter.clone());
            async move { reports::movements_batch(db.client(), &filter, after).await }
        },
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OnHandParams {
    pub item_id: Option<Uuid>,
    pub warehouse_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/stock/on-hand", tag = "stock", security(("bearer" = [])),
    params(OnHandParams, PageParams),
    responses((status = 200, body = queries::OnHandPage), (status = 422, description = "`validation_failed`: a filter or the cursor")))]
pub async fn on_hand(
    auth: Authorized<InventoryRead>,
    filter: web::Query<OnHandParams>,
    page: web::Query<PageParams>,
) -> ApiResult<web::Json<queries::OnHandPage>> {
    let query = queries::OnHandFilter {
        after: queries::cursor_i64(page.after.as_deref())?,
        limit: page.limit()?,
        ..filter.to_filter()
    };
    Ok(web::Json(
        queries::on_hand(auth.current.db.client(), &query).await?,
    ))
}

impl OnHandParams {
    fn to_filter(&self) -> queries::OnHandFilter {
        queries::OnHandFilter {
            item_id: self.item_id,
            warehouse_id: self.warehouse_id,
            location_id: self.location_id,
            category_id: self.category_id,
            after: None,
            limit: queries::MAX_LIMIT,
        }
    }
}

/// Stock on hand as CSV (a row per item, location and lot with stock or value), with the
/// list's filters, streamed.
///
/// Columns: `sku,warehouse_id,location,lot,on_hand,warehouse_reserved,warehouse_available,value,item_id,location_id`.
#[utoipa::path(get, path = "/api/v1/stock/on-hand/export", tag = "stock", security(("bearer" = [])),
    params(OnHandParams),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
               description = "A CSV attachment (`Content-Disposition: attachment`)"),
              (status = 422, description = "`validation_failed`: a filter")))]
pub async fn on_hand_export(
    auth: Authorized<InventoryRead>,
    filter: web::Query<OnHandParams>,
) -> HttpResponse {
    let filter = filter.to_filter();
    let db = Rc::new(auth.current.db);
    csv::download(
        "stock-on-hand.csv",
        &reports::ON_HAND_HEADER,
        move |after| {
            let (db, filter) = (db.clone(), filter.clone());
            async move { reports::on_hand_batch(db.client(), &filter, after).await }
        },
    )
}

#[utoipa::path(get, path = "/api/v1/stock/items/{item_id}", tag = "stock", security(("bearer" = [])),
    params(("item_id" = Uuid, Path)),
    responses((status = 200, body = queries::ItemStock), (status = 404, description = "`item_not_found`")))]
pub async fn item(
    auth: Authorized<InventoryRead>,
    item_id: web::Path<Uuid>,
) -> ApiResult<web::Json<queries::ItemStock>> {
    Ok(web::Json(
        queries::item_stock(auth.current.db.client(), *item_id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ValuationParams {
    /// `item` (default), `location` or `category`.
    #[param(schema_with = group_by_schema)]
    pub group_by: Option<String>,
}

fn group_by_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(["item", "location", "category"])
}

#[utoipa::path(get, path = "/api/v1/stock/valuation", tag = "stock", security(("bearer" = [])),
    params(ValuationParams),
    responses((status = 200, body = queries::Valuation), (status = 422, description = "`validation_failed`: `group_by`")))]
pub async fn valuation(
    auth: Authorized<InventoryRead>,
    params: web::Query<ValuationParams>,
) -> ApiResult<web::Json<queries::Valuation>> {
    let group_by = params.group_by.as_deref().unwrap_or("item");
    Ok(web::Json(
        queries::valuation(auth.current.db.client(), group_by).await?,
    ))
}

/// The valuation report as CSV: `key,label,on_hand,value` (key: the item, location or
/// category id, empty for items without a category; label: its SKU, code or name).
#[utoipa::path(get, path = "/api/v1/stock/valuation/export", tag = "stock", security(("bearer" = [])),
    params(ValuationParams),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
               description = "A CSV attachment (`Content-Disposition: attachment`)"),
              (status = 422, description = "`validation_failed`: `group_by`")))]
pub async fn valuation_export(
    auth: Authorized<InventoryRead>,
    params: web::Query<ValuationParams>,
) -> ApiResult<HttpResponse> {
    let group_by = params.group_by.clone().unwrap_or_else(|| "item".to_owned());
    // Refused before the first byte, not midway through the download.
    if !["item", "location", "category"].contains(&group_by.as_str()) {
        return Err(ApiError::invalid(
            "group_by",
            "one of `item`, `location`, `category`",
        ));
    }
    let db = Rc::new(auth.current.db);
    let filename = format!("stock-valuation-by-{group_by}.csv");
    Ok(csv::download(
        &filename,
        &reports::VALUATION_HEADER,
        move |_| {
            let (db, group_by) = (db.clone(), group_by.clone());
            async move { reports::valuation_batch(db.client(), &group_by).await }
        },
    ))
}

/// Items below their reorder point as CSV: `sku,name,reorder_point,on_hand,item_id`.
#[utoipa::path(get, path = "/api/v1/stock/below-reorder/export", tag = "stock", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
               description = "A CSV attachment (`Content-Disposition: attachment`)")))]
pub async fn below_reorder_export(auth: Authorized<InventoryRead>) -> HttpResponse {
    let db = Rc::new(auth.current.db);
    csv::download(
        "below-reorder.csv",
        &reports::BELOW_REORDER_HEADER,
        move |_| {
            let db = db.clone();
            async move { reports::below_reorder_batch(db.client()).await }
        },
    )
}

#[utoipa::path(get, path = "/api/v1/stock/below-reorder", tag = "stock", security(("bearer" = [])),
    responses((status = 200, body = [queries::BelowReorder])))]
pub async fn below_reorder(
    auth: Authorized<InventoryRead>,
) -> ApiResult<web::Json<Vec<queries::BelowReorder>>> {
    Ok(web::Json(
        queries::below_reorder(auth.current.db.client()).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LotParams {
    pub item_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/lots", tag = "stock", security(("bearer" = [])),
    params(LotParams, PageParams),
    responses((status = 200, body = queries::LotPage), (status = 422, description = "`validation_failed`: a filter or the cursor")))]
pub async fn lots(
    auth: Authorized<InventoryRead>,
    filter: web::Query<LotParams>,
    page: web::Query<PageParams>,
) -> ApiResult<web::Json<queries::LotPage>> {
    let after = page
        .after
        .as_deref()
        .map(|text| {
            text.parse::<Uuid>()
                .map_err(|_| ApiError::invalid("after", "not a cursor this list gave"))
        })
        .transpose()?;
    Ok(web::Json(
        queries::lots(
            auth.current.db.client(),
            filter.item_id,
            after,
            page.limit()?,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/lots/{id}", tag = "stock", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = queries::LotTrace), (status = 404, description = "`lot_not_found`")))]
pub async fn lot(
    auth: Authorized<InventoryRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<queries::LotTrace>> {
    Ok(web::Json(
        queries::lot_trace(auth.current.db.client(), *id).await?,
    ))
}

/// The streamed order-lines CSV of purchase or sales orders (`/export` of both lists):
/// 422 for a status the kind lacks, before the first byte.
pub(crate) fn order_lines_download(
    db: crate::registry::pool::TenantConnection,
    kind: reports::OrderKind,
    filter: reports::OrderLinesFilter,
) -> ApiResult<HttpResponse> {
    reports::check_lines_filter(kind, &filter)?;
    let (filename, header) = match kind {
        reports::OrderKind::Purchase => {
            ("purchase-order-lines.csv", reports::PURCHASE_LINES_HEADER)
        }
        reports::OrderKind::Sales => ("sales-order-lines.csv", reports::SALES_LINES_HEADER),
    };
    let db = Rc::new(db);
    Ok(csv::download(filename, &header, move |after| {
        let (db, filter) = (db.clone(), filter.clone());
        async move { reports::order_lines_batch(db.client(), kind, &filter, after).await }
    }))
}
