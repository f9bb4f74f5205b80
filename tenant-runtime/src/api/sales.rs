//! Sales orders (`/api/v1/sales-orders`, plan module `sales`): thin handlers over
//! `crate::erp::sales`. Reads need `sales.read`, writes `sales.write`; each write is one
//! transaction (the order, its reservations or stock movements, the audit entry and the
//! events). A create or delivery repeated with the same `Idempotency-Key` header (or body
//! `reference`) happens once: the repeat answers 200 with the order instead of 201.
//! `invoice` only marks a fully delivered order invoiced: real invoicing is out of scope.

use crate::api::stock::{order_lines_download, reference};
use crate::auth::Authorized;
use crate::auth::perm::{SalesRead, SalesWrite};
use crate::erp::masters::{Page, PageQuery};
use crate::erp::reports::{OrderKind, SalesLinesQuery};
use crate::erp::sales::{
    self, Delivery, NewSalesOrder, OrderFilter, SalesOrder, SalesOrderChanges, SalesOrderSummary,
};
use actix_web::{HttpRequest, HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use uuid::Uuid;

/// 201 with a new order, 200 with the one a repeated reference answers.
fn answer((order, created): (SalesOrder, bool)) -> HttpResponse {
    if created {
        HttpResponse::Created().json(order)
    } else {
        HttpResponse::Ok().json(order)
    }
}

#[utoipa::path(get, path = "/api/v1/sales-orders", tag = "sales", security(("bearer" = [])),
    params(OrderFilter, PageQuery),
    responses((status = 200, body = Page<SalesOrderSummary>),
              (status = 422, description = "validation_failed: a malformed query parameter or cursor")))]
pub async fn list(
    auth: Authorized<SalesRead>,
    filter: web::Query<OrderFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<SalesOrderSummary>>> {
    Ok(web::Json(
        sales::list(auth.current.db.client(), &filter, &paging).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/sales-orders/{id}", tag = "sales", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SalesOrder), (status = 404, description = "`sales_order_not_found`")))]
pub async fn show(
    auth: Authorized<SalesRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SalesOrder>> {
    Ok(web::Json(sales::find(auth.current.db.client(), *id).await?))
}

#[utoipa::path(post, path = "/api/v1/sales-orders", tag = "sales", security(("bearer" = [])),
    request_body = NewSalesOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key creates one order")),
    responses((status = 201, body = SalesOrder), (status = 200, body = SalesOrder, description = "created before under this key"),
              (status = 409, description = "`reference_taken`"),
              (status = 404, description = "`customer_not_found`, `warehouse_not_found`, `item_not_found`: an id in the body names nothing"),
              (status = 422, description = "`validation_failed`: not an active customer, inactive or service item, quantity not above zero, unknown unit conversion, ...")))]
pub async fn create(
    auth: Authorized<SalesWrite>,
    request: HttpRequest,
    body: Body<NewSalesOrder>,
) -> ApiResult<HttpResponse> {
    let mut body = body.into_inner()?;
    body.reference = reference(&request, body.reference)?;
    Ok(answer(in_transaction!(auth, |tx, actor| sales::create(
        &tx, &actor, body
    ))))
}

#[utoipa::path(patch, path = "/api/v1/sales-orders/{id}", tag = "sales", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SalesOrderChanges,
    responses((status = 200, body = SalesOrder), (status = 404, description = "`sales_order_not_found`"),
              (status = 409, description = "`invalid_status`: only a draft changes"),
              (status = 422, description = "validation_failed")))]
pub async fn update(
    auth: Authorized<SalesWrite>,
    id: web::Path<Uuid>,
    body: Body<SalesOrderChanges>,
) -> ApiResult<web::Json<SalesOrder>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| sales::update(
        &tx, &actor, *id, body
    ))))
}

#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/confirm", tag = "sales", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SalesOrder), (status = 404, description = "`sales_order_not_found`"),
              (status = 409, description = "`insufficient_stock` (naming the short lines; nothing is reserved; stock of held or quarantined lots is not available), `invalid_status` (not a draft)")))]
pub async fn confirm(
    auth: Authorized<SalesWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SalesOrder>> {
    Ok(web::Json(in_transaction!(
        auth,
        |tx, actor| sales::confirm(&tx, &actor, *id)
    )))
}

#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/deliveries", tag = "sales", security(("bearer" = [])),
    params(("id" = Uuid, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key delivers once")),
    request_body = Delivery,
    responses((status = 201, body = SalesOrder, description = "delivered; the order after it"),
              (status = 200, body = SalesOrder, description = "delivered before under this key"),
              (status = 404, description = "`sales_order_not_found`, `lot_not_found`"),
              (status = 409, description = "`over_delivery` (more than left to deliver), `insufficient_stock` (more than on hand at the location), `invalid_status` (not confirmed or partially delivered), `reference_taken`, `item_inactive`, `location_inactive`, `lot_quarantined` / `lot_held` / `lot_scrapped` (a named lot that is not available)"),
              (status = 422, description = "`validation_failed`: unknown line, a location outside the order's warehouse, quantity not above zero, lot not allowed")))]
pub async fn deliver(
    auth: Authorized<SalesWrite>,
    request: HttpRequest,
    id: web::Path<Uuid>,
    body: Body<Delivery>,
) -> ApiResult<HttpResponse> {
    let mut body = body.into_inner()?;
    body.reference = reference(&request, body.reference)?;
    Ok(answer(in_transaction!(auth, |tx, actor| sales::deliver(
        &tx, &actor, *id, body
    ))))
}

#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/invoice", tag = "sales", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SalesOrder, description = "marked invoiced (no invoice document is made: out of scope)"),
              (status = 404, description = "`sales_order_not_found`"),
              (status = 409, description = "`invalid_status`: only a fully delivered order")))]
pub async fn invoice(
    auth: Authorized<SalesWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SalesOrder>> {
    Ok(web::Json(in_transaction!(
        auth,
        |tx, actor| sales::invoice(&tx, &actor, *id)
    )))
}

#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/close", tag = "sales", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SalesOrder, description = "closed; what was still reserved is released"),
              (status = 404, description = "`sales_order_not_found`"),
              (status = 409, description = "`invalid_status`: only a partially or fully delivered or invoiced order")))]
pub async fn close(
    auth: Authorized<SalesWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SalesOrder>> {
    Ok(web::Json(in_transaction!(auth, |tx, actor| sales::close(
        &tx, &actor, *id
    ))))
}

#[utoipa::path(post, path = "/api/v1/sales-orders/{id}/cancel", tag = "sales", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SalesOrder, description = "canceled; every reservation released"),
              (status = 404, description = "`sales_order_not_found`"),
              (status = 409, description = "`invalid_status`: only a draft or confirmed order (nothing delivered)")))]
pub async fn cancel(
    auth: Authorized<SalesWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<SalesOrder>> {
    Ok(web::Json(in_transaction!(auth, |tx, actor| sales::cancel(
        &tx, &actor, *id
    ))))
}

/// The lines of sales orders as CSV, oldest order first, streamed (`open=true`: the
/// open-orders report; `partner_id`: one customer).
///
/// Columns: `order,customer,status,requested_date,line,sku,item,ordered,delivered,outstanding,unit_price,line_total`
/// (quantities in the item's base unit).
#[utoipa::path(get, path = "/api/v1/sales-orders/export", tag = "sales", security(("bearer" = [])),
    params(SalesLinesQuery),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
               description = "A CSV attachment (`Content-Disposition: attachment`)"),
              (status = 422, description = "`validation_failed`: an unknown status")))]
pub async fn lines_export(
    auth: Authorized<SalesRead>,
    filter: web::Query<SalesLinesQuery>,
) -> ApiResult<HttpResponse> {
    order_lines_download(
        auth.current.db,
        OrderKind::Sales,
        filter.into_inner().into(),
    )
}
