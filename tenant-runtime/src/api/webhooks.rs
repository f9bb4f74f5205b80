//! Outbound webhook endpoints under `/api/v1/webhooks/endpoints` (a platform setting, in
//! every plan): `settings.read` to see them and their delivery log, `settings.manage` to
//! change them. Thin handlers over `erp::webhooks::endpoints`.

use crate::auth::Authorized;
use crate::auth::perm::{SettingsManage, SettingsRead};
use crate::erp::webhooks::endpoints::{
    self, CreatedEndpoint, DeliveryPage, Endpoint, EndpointChange, EndpointPage, NewEndpoint,
    PageQuery, RotatedSecret, TestEvent,
};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/v1/webhooks/endpoints", tag = "webhooks",
    security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = EndpointPage), (status = 422, description = "validation_failed (limit, after)")))]
pub async fn list(
    auth: Authorized<SettingsRead>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<EndpointPage>> {
    Ok(web::Json(
        endpoints::list(auth.current.db.client(), &paging).await?,
    ))
}

/// Registers an endpoint; the answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints", tag = "webhooks",
    security(("bearer" = [])), request_body = NewEndpoint,
    responses((status = 201, body = CreatedEndpoint),
              (status = 422, description = "validation_failed, or url_not_allowed (not https, \
               or the host resolves to a private, loopback or reserved address, or not at all)")))]
pub async fn create(
    state: web::Data<AppState>,
    auth: Authorized<SettingsManage>,
    body: Body<NewEndpoint>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let created = endpoints::create(&mut current, &state.webhooks, body).await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Endpoint), (status = 404, description = "webhook_endpoint_not_found")))]
pub async fn show(
    auth: Authorized<SettingsRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Endpoint>> {
    Ok(web::Json(
        endpoints::show(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(patch, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = EndpointChange,
    responses((status = 200, body = Endpoint), (status = 404, description = "webhook_endpoint_not_found"),
              (status = 422, description = "validation_failed or url_not_allowed")))]
pub async fn update(
    state: web::Data<AppState>,
    auth: Authorized<SettingsManage>,
    id: web::Path<Uuid>,
    body: Body<EndpointChange>,
) -> ApiResult<web::Json<Endpoint>> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    Ok(web::Json(
        endpoints::update(&mut current, &state.webhooks, *id, body).await?,
    ))
}

/// Deletes an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, description = "webhook_endpoint_not_found")))]
pub async fn delete(
    auth: Authorized<SettingsManage>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut current = auth.current;
    endpoints::delete(&mut current, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new signing secret (shown once); the previous one keeps signing beside it for 24 h.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{id}/rotate-secret", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = RotatedSecret), (status = 404, description = "webhook_endpoint_not_found")))]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    auth: Authorized<SettingsManage>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<RotatedSecret>> {
    let mut current = auth.current;
    Ok(web::Json(
        endpoints::rotate_secret(&mut current, &state.webhooks, *id).await?,
    ))
}

/// Queues a `webhook.test` event for this endpoint; it is delivered like any event.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{id}/test", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 202, body = TestEvent), (status = 404, description = "webhook_endpoint_not_found"),
              (status = 409, description = "endpoint_disabled")))]
pub async fn send_test(
    auth: Authorized<SettingsManage>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut current = auth.current;
    let queued = endpoints::send_test(&mut current, *id).await?;
    Ok(HttpResponse::Accepted().json(queued))
}

/// The endpoint's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{id}/deliveries", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = DeliveryPage), (status = 404, description = "webhook_endpoint_not_found"),
              (status = 422, description = "validation_failed (limit, after)")))]
pub async fn deliveries(
    auth: Authorized<SettingsRead>,
    id: web::Path<Uuid>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<DeliveryPage>> {
    Ok(web::Json(
        endpoints::deliveries(auth.current.db.client(), *id, &paging).await?,
    ))
}
