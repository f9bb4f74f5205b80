//! Purchase orders (`/api/v1/purchase-orders`, plan module `purchasing`): thin handlers
//! over `crate::erp::purchasing`. Reads need `purchasing.read`, writes `purchasing.write`;
//! each write is one transaction (order, lines, stock, approval request, audit, events).
//! A create or a receipt repeated with the same `Idempotency-Key` header (or body
//! `reference`) makes one document: the repeat answers the first with 200.

use crate::api::stock::order_lines_download;
use crate::auth::Authorized;
use crate::auth::perm::{PurchasingRead, PurchasingWrite};
use crate::erp::masters::PageQuery;
use crate::erp::purchasing::{
    self, NewPurchaseOrder, PurchaseOrder, PurchaseOrderChanges, PurchaseOrderFilter,
    PurchaseOrderPage, ReceiptInput, ReceiptResult,
};
use crate::erp::reports::{OrderKind, PurchaseLinesQuery};
use actix_web::{HttpRequest, HttpResponse, web};
use common::api_error::{ApiError, ApiResult};
use common::http::Body;
use uuid::Uuid;

/// The header a client repeats on a retried write.
const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The idempotency reference: the header, else the body's; 422 when empty or too long.
fn reference(request: &HttpRequest, body: Option<String>) -> ApiResult<Option<String>> {
    let (field, value) = match request.headers().get(IDEMPOTENCY_HEADER) {
        Some(value) => (
            IDEMPOTENCY_HEADER,
            Some(
                value
                    .to_str()
                    .map_err(|_| ApiError::invalid(IDEMPOTENCY_HEADER, "must be visible ASCII"))?
                    .to_owned(),
            ),
        ),
        None => ("reference", body),
    };
    match value {
        Some(value) if value.is_empty() || value.chars().count() > 200 => {
            Err(ApiError::invalid(field, "1 to 200 characters"))
        }
        other => Ok(other),
    }
}

#[utoipa::path(get, path = "/api/v1/purchase-orders", tag = "purchasing", security(("bearer" = [])),
    params(PurchaseOrderFilter, PageQuery),
    responses((status = 200, body = PurchaseOrderPage),
              (status = 422, description = "`validation_failed`: a malformed filter or cursor")))]
pub async fn list(
    auth: Authorized<PurchasingRead>,
    filter: web::Query<PurchaseOrderFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<PurchaseOrderPage>> {
    Ok(web::Json(
        purchasing::list(auth.current.db.client(), &filter, &paging).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/purchase-orders/{id}", tag = "purchasing", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder), (status = 404, description = "`purchase_order_not_found`")))]
pub async fn show(
    auth: Authorized<PurchasingRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<PurchaseOrder>> {
    Ok(web::Json(
        purchasing::find(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/purchase-orders", tag = "purchasing", security(("bearer" = [])),
    request_body = NewPurchaseOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key creates one order")),
    responses((status = 201, body = PurchaseOrder), (status = 200, body = PurchaseOrder, description = "created before under this key"),
              (status = 404, description = "`supplier_not_found`, `warehouse_not_found`, `item_not_found`: an id in the body names nothing"),
              (status = 422, description = "`validation_failed`: not an active supplier or warehouse, an inactive or service item, a quantity not above zero, an unknown unit conversion")))]
pub async fn create(
    auth: Authorized<PurchasingWrite>,
    request: HttpRequest,
    body: Body<NewPurchaseOrder>,
) -> ApiResult<HttpResponse> {
    let mut body = body.into_inner()?;
    body.reference = reference(&request, body.reference.take())?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let created = purchasing::create(&transaction, &actor, body).await?;
    transaction.commit().await?;
    Ok(if created.created {
        HttpResponse::Created().json(created.order)
    } else {
        HttpResponse::Ok().json(created.order)
    })
}

#[utoipa::path(patch, path = "/api/v1/purchase-orders/{id}", tag = "purchasing", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PurchaseOrderChanges,
    responses((status = 200, body = PurchaseOrder), (status = 404, description = "`purchase_order_not_found`"),
              (status = 409, description = "`purchase_order_not_draft`"),
              (status = 422, description = "`validation_failed`")))]
pub async fn update(
    auth: Authorized<PurchasingWrite>,
    id: web::Path<Uuid>,
    body: Body<PurchaseOrderChanges>,
) -> ApiResult<web::Json<PurchaseOrder>> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let order = purchasing::update(&transaction, &actor, *id, body).await?;
    transaction.commit().await?;
    Ok(web::Json(order))
}

/// Runs one status change of an order in a transaction.
macro_rules! transition {
    ($auth:expr, $id:expr, $function:path) => {{
        let mut current = $auth.current;
        let actor = current.actor();
        let transaction = current.db.begin().await?;
        let order = $function(&transaction, &actor, $id).await?;
        transaction.commit().await?;
        Ok(web::Json(order))
    }};
}

#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/submit", tag = "purchasing", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder, description = "`approved` when no approval rule applies, else `submitted`"),
              (status = 404, description = "`purchase_order_not_found`"),
              (status = 409, description = "`purchase_order_not_draft`")))]
pub async fn submit(
    auth: Authorized<PurchasingWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<PurchaseOrder>> {
    transition!(auth, *id, purchasing::submit)
}

#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/cancel", tag = "purchasing", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder),
              (status = 404, description = "`purchase_order_not_found`"),
              (status = 409, description = "`purchase_order_not_cancelable`: something was received, or it is closed or canceled")))]
pub async fn cancel(
    auth: Authorized<PurchasingWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<PurchaseOrder>> {
    transition!(auth, *id, purchasing::cancel)
}

#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/close", tag = "purchasing", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder),
              (status = 404, description = "`purchase_order_not_found`"),
              (status = 409, description = "`purchase_order_not_closable`: not approved or received")))]
pub async fn close(
    auth: Authorized<PurchasingWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<PurchaseOrder>> {
    transition!(auth, *id, purchasing::close)
}

#[utoipa::path(post, path = "/api/v1/purchase-orders/{id}/receipts", tag = "purchasing", security(("bearer" = [])),
    params(("id" = Uuid, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key receives once")),
    request_body = ReceiptInput,
    responses((status = 201, body = ReceiptResult, description = "received; lines whose item has an incoming quality plan opened their inspection (`inspection_ids`), holding a lot-tracked receipt's lot until it is decided"), (status = 200, body = ReceiptResult, description = "received before under this key"),
              (status = 404, description = "`purchase_order_not_found`"),
              (status = 409, description = "`purchase_order_not_receivable` (not approved or partially received), `over_receipt` (beyond ordered plus the tolerance setting), `reference_taken` (another order's receipt), `location_inactive`, `item_inactive` (deactivated since it was ordered)"),
              (status = 422, description = "`validation_failed`: an unknown line, a location outside the order's warehouse, a quantity not above zero, a lot missing or not allowed")))]
pub async fn receive(
    auth: Authorized<PurchasingWrite>,
    request: HttpRequest,
    id: web::Path<Uuid>,
    body: Body<ReceiptInput>,
) -> ApiResult<HttpResponse> {
    let mut body = body.into_inner()?;
    body.reference = reference(&request, body.reference.take())?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let receipt = purchasing::receive(&transaction, &actor, *id, body).await?;
    transaction.commit().await?;
    Ok(if receipt.created {
        HttpResponse::Created().json(receipt)
    } else {
        HttpResponse::Ok().json(receipt)
    })
}

/// The lines of purchase orders as CSV, oldest order first, streamed (`open=true`: the
/// open-orders report; `partner_id`: one supplier).
///
/// Columns: `order,supplier,status,expected_on,line,sku,item,ordered,received,outstanding,unit_price,line_total`
/// (quantities in the item's base unit).
#[utoipa::path(get, path = "/api/v1/purchase-orders/export", tag = "purchasing", security(("bearer" = [])),
    params(PurchaseLinesQuery),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
               description = "A CSV attachment (`Content-Disposition: attachment`)"),
              (status = 422, description = "`validation_failed`: an unknown status")))]
pub async fn lines_export(
    auth: Authorized<PurchasingRead>,
    filter: web::Query<PurchaseLinesQuery>,
) -> ApiResult<HttpResponse> {
    order_lines_download(
        auth.current.db,
        OrderKind::Purchase,
        filter.into_inner().into(),
    )
}
