//! Production (`/api/v1/production/...`, plan module `production`): thin handlers over
//! `crate::erp::production`. Reads need `production.read`, writes `production.write`;
//! each write is one transaction (the change, its reservations or stock movements, the
//! audit entry and the events). A create, completion or daily input repeated with the same
//! `Idempotency-Key` header (or body `reference`) happens once: the repeat answers 200.

use crate::api::stock::reference;
use crate::auth::Authorized;
use crate::auth::perm::{ProductionRead, ProductionWrite};
use crate::erp::masters::{Page, PageQuery};
use crate::erp::production::allocation::{self, Allocation, ReleaseRequest, Released};
use crate::erp::production::boms::{self, Bom, BomFilter, Explosion, ExplosionQuery, NewBom};
use crate::erp::production::completion::{self, Completion};
use crate::erp::production::orders::{
    self, ManufacturingOrder, NewOrder, OrderFilter, OrderSummary,
};
use crate::erp::production::work_orders::{
    self, NewInput, NewWorkOrder, WorkOrder, WorkOrderChanges, WorkOrderEdit, WorkOrderFilter,
};
use actix_web::{HttpRequest, HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use serde::Serialize;
use uuid::Uuid;

/// 201 with what a write made, 200 with what a repeated reference answers.
fn answer<T: Serialize>((value, created): (T, bool)) -> HttpResponse {
    if created {
        HttpResponse::Created().json(value)
    } else {
        HttpResponse::Ok().json(value)
    }
}

#[utoipa::path(get, path = "/api/v1/production/boms", tag = "production", security(("bearer" = [])),
    params(BomFilter, PageQuery),
    responses((status = 200, body = Page<Bom>, description = "versions without their components, newest first"),
              (status = 422, description = "validation_failed: a malformed query parameter or cursor")))]
pub async fn list_boms(
    auth: Authorized<ProductionRead>,
    filter: web::Query<BomFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<Bom>>> {
    Ok(web::Json(
        boms::list(auth.current.db.client(), &filter, &paging).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/production/boms/{id}", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Bom), (status = 404, description = "`bom_not_found`")))]
pub async fn show_bom(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Bom>> {
    Ok(web::Json(boms::find(auth.current.db.client(), *id).await?))
}

#[utoipa::path(post, path = "/api/v1/production/boms", tag = "production", security(("bearer" = [])),
    request_body = NewBom,
    responses((status = 201, body = Bom, description = "a new version of the item's BOM"),
              (status = 404, description = "`item_not_found`: the item or a component names nothing"),
              (status = 409, description = "`item_inactive`, `service_item`: the item or a component cannot be made or consumed"),
              (status = 422, description = "`bom_cycle` (the item would contain itself; the path is named), \
                `incompatible_unit` (a component's unit has no conversion to its base unit), \
                `validation_failed` (quantity not above zero, a component twice...)")))]
pub async fn create_bom(
    auth: Authorized<ProductionWrite>,
    body: Body<NewBom>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let bom = in_transaction!(auth, |tx, actor| boms::create(&tx, &actor, body));
    Ok(HttpResponse::Created().json(bom))
}

#[utoipa::path(post, path = "/api/v1/production/boms/{id}/activate", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Bom, description = "now the item's active version"),
              (status = 404, description = "`bom_not_found`"),
              (status = 422, description = "`bom_cycle`: the active BOMs below it now contain its item")))]
pub async fn activate_bom(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Bom>> {
    Ok(web::Json(in_transaction!(
        auth,
        |tx, actor| boms::activate(&tx, &actor, *id)
    )))
}

#[utoipa::path(get, path = "/api/v1/production/boms/{id}/explosion", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path), ExplosionQuery),
    responses((status = 200, body = Explosion, description = "every level, quantities multiplied out, scrap included"),
              (status = 404, description = "`bom_not_found`"),
              (status = 422, description = "validation_failed: quantity not above zero")))]
pub async fn explode_bom(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
    query: web::Query<ExplosionQuery>,
) -> ApiResult<web::Json<Explosion>> {
    let quantity = boms::explosion_quantity(&query)?;
    Ok(web::Json(
        boms::explode(auth.current.db.client(), *id, quantity).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/production/orders", tag = "production", security(("bearer" = [])),
    params(OrderFilter, PageQuery),
    responses((status = 200, body = Page<OrderSummary>),
              (status = 422, description = "validation_failed: a malformed query parameter or cursor")))]
pub async fn list_orders(
    auth: Authorized<ProductionRead>,
    filter: web::Query<OrderFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<OrderSummary>>> {
    Ok(web::Json(
        orders::list(auth.current.db.client(), &filter, &paging).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/production/orders/{id}", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ManufacturingOrder), (status = 404, description = "`manufacturing_order_not_found`")))]
pub async fn show_order(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ManufacturingOrder>> {
    Ok(web::Json(
        orders::find(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/production/orders", tag = "production", security(("bearer" = [])),
    request_body = NewOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key creates one order")),
    responses((status = 201, body = ManufacturingOrder), (status = 200, body = ManufacturingOrder, description = "created before under this key"),
              (status = 404, description = "`item_not_found`, `warehouse_not_found`, `location_not_found`"),
              (status = 409, description = "`item_inactive`, `service_item`, `warehouse_inactive`, `location_inactive`; `reference_in_use`: a concurrent create with this key, retry"),
              (status = 422, description = "`no_active_bom` (the item has no active BOM), `validation_failed` \
                (quantity not above zero, unknown unit conversion, \
                output location outside the warehouse...)")))]
pub async fn create_order(
    auth: Authorized<ProductionWrite>,
    request: HttpRequest,
    body: Body<NewOrder>,
) -> ApiResult<HttpResponse> {
    let mut body = body.into_inner()?;
    body.reference = reference(&request, body.reference)?;
    Ok(answer(in_transaction!(auth, |tx, actor| orders::create(
        &tx, &actor, body
    ))))
}

#[utoipa::path(get, path = "/api/v1/production/orders/{id}/allocation", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Allocation, description = "per component: required, reserved, available, short, and what would cover a shortage"),
              (status = 404, description = "`manufacturing_order_not_found`")))]
pub async fn allocation_preview(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Allocation>> {
    Ok(web::Json(
        allocation::preview(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/production/orders/{id}/release", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ReleaseRequest,
    responses((status = 200, body = Released, description = "released; components reserved (with `allow_partial`, what could not be is listed)"),
              (status = 404, description = "`manufacturing_order_not_found`"),
              (status = 409, description = "`insufficient_stock` (naming each short component; nothing reserved), `invalid_status` (not a draft)")))]
pub async fn release(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<ReleaseRequest>,
) -> ApiResult<web::Json<Released>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| {
        allocation::release(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(post, path = "/api/v1/production/orders/{id}/completions", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key completes once")),
    request_body = Completion,
    responses((status = 201, body = ManufacturingOrder, description = "completed (in part): components consumed, goods produced; the order after it. When the item has an active final quality plan, the produced lot is held by a final inspection until it is decided"),
              (status = 200, body = ManufacturingOrder, description = "completed before under this key: nothing done again"),
              (status = 404, description = "`manufacturing_order_not_found`"),
              (status = 409, description = "`invalid_status` (not released or in progress: e.g. already completed), \
                `over_completion` (more than left), `insufficient_stock` (a component's stock is not there), `reference_taken`"),
              (status = 422, description = "validation_failed: quantity not above zero")))]
pub async fn complete(
    auth: Authorized<ProductionWrite>,
    request: HttpRequest,
    id: web::Path<Uuid>,
    body: Body<Completion>,
) -> ApiResult<HttpResponse> {
    let mut body = body.into_inner()?;
    body.reference = reference(&request, body.reference)?;
    Ok(answer(in_transaction!(auth, |tx, actor| {
        completion::complete(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(post, path = "/api/v1/production/orders/{id}/close", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ManufacturingOrder, description = "closed; what was still reserved is released"),
              (status = 404, description = "`manufacturing_order_not_found`"),
              (status = 409, description = "`invalid_status`: only a released, running or completed order")))]
pub async fn close(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ManufacturingOrder>> {
    Ok(web::Json(in_transaction!(auth, |tx, actor| orders::close(
        &tx, &actor, *id
    ))))
}

#[utoipa::path(post, path = "/api/v1/production/orders/{id}/cancel", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ManufacturingOrder, description = "canceled; every reservation released"),
              (status = 404, description = "`manufacturing_order_not_found`"),
              (status = 409, description = "`invalid_status`: something was completed, or already closed or canceled")))]
pub async fn cancel(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ManufacturingOrder>> {
    Ok(web::Json(in_transaction!(
        auth,
        |tx, actor| orders::cancel(&tx, &actor, *id)
    )))
}

#[utoipa::path(get, path = "/api/v1/production/work-orders", tag = "production", security(("bearer" = [])),
    params(WorkOrderFilter),
    responses((status = 200, body = Vec<WorkOrder>, description = "oldest first, at most 500, without their inputs")))]
pub async fn list_work_orders(
    auth: Authorized<ProductionRead>,
    filter: web::Query<WorkOrderFilter>,
) -> ApiResult<web::Json<Vec<WorkOrder>>> {
    Ok(web::Json(
        work_orders::list(auth.current.db.client(), &filter).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/production/work-orders/{id}", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WorkOrder), (status = 404, description = "`work_order_not_found`")))]
pub async fn show_work_order(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<WorkOrder>> {
    Ok(web::Json(
        work_orders::find(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/production/work-orders", tag = "production", security(("bearer" = [])),
    request_body = NewWorkOrder,
    responses((status = 201, body = WorkOrder),
              (status = 404, description = "`manufacturing_order_not_found`, `location_not_found`"),
              (status = 409, description = "`invalid_status`: the order is completed, closed or canceled"),
              (status = 422, description = "validation_failed: no operation nor department, target not above zero, not a department")))]
pub async fn create_work_order(
    auth: Authorized<ProductionWrite>,
    body: Body<NewWorkOrder>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let created = in_transaction!(auth, |tx, actor| work_orders::create(&tx, &actor, body));
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(patch, path = "/api/v1/production/work-orders/{id}", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = WorkOrderChanges,
    responses((status = 200, body = WorkOrder),
              (status = 404, description = "`work_order_not_found`"),
              (status = 409, description = "`approval_required` (the order is released: use edit-requests), `invalid_status` (finished)"),
              (status = 422, description = "validation_failed: nothing to change, target not above zero")))]
pub async fn update_work_order(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<WorkOrderChanges>,
) -> ApiResult<web::Json<WorkOrder>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| {
        work_orders::update(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(post, path = "/api/v1/production/work-orders/{id}/edit-requests", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = WorkOrderChanges,
    responses((status = 201, body = WorkOrderEdit, description = "`pending` (waits for its approval request) or `applied` (no approval rule applies)"),
              (status = 404, description = "`work_order_not_found`"),
              (status = 409, description = "`invalid_status` (a draft order: change it directly; or finished), `edit_pending` (a change already waits)"),
              (status = 422, description = "validation_failed: nothing to change, target not above zero")))]
pub async fn request_edit(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<WorkOrderChanges>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let edit = in_transaction!(auth, |tx, actor| work_orders::request_edit(
        &tx, &actor, *id, body
    ));
    Ok(HttpResponse::Created().json(edit))
}

#[utoipa::path(post, path = "/api/v1/production/work-orders/{id}/inputs", tag = "production", security(("bearer" = [])),
    params(("id" = Uuid, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat it on a retry: the same key records once")),
    request_body = NewInput,
    responses((status = 201, body = WorkOrder, description = "recorded; the work order with its progress"),
              (status = 200, body = WorkOrder, description = "recorded before under this key"),
              (status = 404, description = "`work_order_not_found`"),
              (status = 409, description = "`invalid_status` (the order is not released or in progress), `reference_taken`"),
              (status = 422, description = "`over_target` (good output beyond the target and its tolerance), \
                `validation_failed` (a negative quantity, nothing recorded, blank shift or operator)")))]
pub async fn record_input(
    auth: Authorized<ProductionWrite>,
    request: HttpRequest,
    id: web::Path<Uuid>,
    body: Body<NewInput>,
) -> ApiResult<HttpResponse> {
    let mut body = body.into_inner()?;
    body.reference = reference(&request, body.reference)?;
    Ok(answer(in_transaction!(auth, |tx, actor| {
        work_orders::record_input(&tx, &actor, *id, body)
    })))
}
