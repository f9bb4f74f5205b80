//! Warehouses and their locations (`/warehouses`, `/warehouses/{id}/locations`): thin
//! handlers over `crate::erp::masters::warehouses`.

use crate::auth::Authorized;
use crate::auth::perm::{MasterDataRead, MasterDataWrite};
use crate::erp::masters::warehouses::{
    self, Location, LocationChanges, NewLocation, NewWarehouse, Warehouse, WarehouseChanges,
    WarehouseFilter,
};
use crate::erp::masters::{Page, PageQuery};
use actix_web::{HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/v1/warehouses", tag = "warehouses", security(("bearer" = [])),
    params(WarehouseFilter, PageQuery),
    responses((status = 200, body = Page<Warehouse>),
              (status = 422, description = "validation_failed: a malformed query parameter or cursor")))]
pub async fn list(
    auth: Authorized<MasterDataRead>,
    filter: web::Query<WarehouseFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<Warehouse>>> {
    Ok(web::Json(
        warehouses::list(auth.current.db.client(), &filter, &paging).await?,
    ))
}

/// Creates a warehouse with one `storage` location, `MAIN`.
#[utoipa::path(post, path = "/api/v1/warehouses", tag = "warehouses", security(("bearer" = [])),
    request_body = NewWarehouse,
    responses((status = 201, body = Warehouse), (status = 409, description = "`warehouse_code_taken` (codes ignore case)"),
              (status = 422, description = "validation_failed")))]
pub async fn create(
    auth: Authorized<MasterDataWrite>,
    body: Body<NewWarehouse>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let warehouse = warehouses::create(&transaction, &actor, &body).await?;
    transaction.commit().await?;
    Ok(HttpResponse::Created().json(warehouse))
}

#[utoipa::path(patch, path = "/api/v1/warehouses/{id}", tag = "warehouses", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = WarehouseChanges,
    responses((status = 200, body = Warehouse), (status = 404, description = "`warehouse_not_found`"),
              (status = 422, description = "validation_failed")))]
pub async fn update(
    auth: Authorized<MasterDataWrite>,
    id: web::Path<Uuid>,
    body: Body<WarehouseChanges>,
) -> ApiResult<web::Json<Warehouse>> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let warehouse = warehouses::update(&transaction, &actor, *id, &body).await?;
    transaction.commit().await?;
    Ok(web::Json(warehouse))
}

/// The warehouse's locations, by code (not paged: a warehouse has few).
#[utoipa::path(get, path = "/api/v1/warehouses/{id}/locations", tag = "warehouses",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = [Location]), (status = 404, description = "`warehouse_not_found`")))]
pub async fn locations(
    auth: Authorized<MasterDataRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<Location>>> {
    Ok(web::Json(
        warehouses::locations(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/warehouses/{id}/locations", tag = "warehouses",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = NewLocation,
    responses((status = 201, body = Location), (status = 404, description = "`warehouse_not_found`"),
              (status = 409, description = "`location_code_taken`"),
              (status = 422, description = "validation_failed")))]
pub async fn create_location(
    auth: Authorized<MasterDataWrite>,
    id: web::Path<Uuid>,
    body: Body<NewLocation>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let location = warehouses::create_location(&transaction, &actor, *id, &body).await?;
    transaction.commit().await?;
    Ok(HttpResponse::Created().json(location))
}

#[utoipa::path(patch, path = "/api/v1/warehouses/{id}/locations/{location_id}", tag = "warehouses",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("location_id" = Uuid, Path)),
    request_body = LocationChanges,
    responses((status = 200, body = Location), (status = 404, description = "`location_not_found`"),
              (status = 422, description = "validation_failed")))]
pub async fn update_location(
    auth: Authorized<MasterDataWrite>,
    path: web::Path<(Uuid, Uuid)>,
    body: Body<LocationChanges>,
) -> ApiResult<web::Json<Location>> {
    let body = body.into_inner()?;
    let (warehouse, location) = path.into_inner();
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let location =
        warehouses::update_location(&transaction, &actor, warehouse, location, &body).await?;
    transaction.commit().await?;
    Ok(web::Json(location))
}
