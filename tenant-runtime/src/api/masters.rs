//! Units of measure and item categories (`/units`, `/categories`): thin handlers over
//! `crate::erp::masters`. Reads need `master_data.read`, writes `master_data.write`.

use crate::auth::Authorized;
use crate::auth::perm::{MasterDataRead, MasterDataWrite};
use crate::erp::masters::categories::{self, Category, CategoryChanges, NewCategory};
use crate::erp::masters::units::{self, NewUnit, Unit};
use actix_web::{HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/v1/units", tag = "master data", security(("bearer" = [])),
    responses((status = 200, body = [Unit])))]
pub async fn list_units(auth: Authorized<MasterDataRead>) -> ApiResult<web::Json<Vec<Unit>>> {
    Ok(web::Json(units::list(auth.current.db.client()).await?))
}

#[utoipa::path(post, path = "/api/v1/units", tag = "master data", security(("bearer" = [])),
    request_body = NewUnit,
    responses((status = 201, body = Unit), (status = 409, description = "`unit_taken`"),
              (status = 422, description = "validation_failed")))]
pub async fn create_unit(
    auth: Authorized<MasterDataWrite>,
    body: Body<NewUnit>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let unit = units::create(&transaction, &actor, &body).await?;
    transaction.commit().await?;
    Ok(HttpResponse::Created().json(unit))
}

#[utoipa::path(get, path = "/api/v1/categories", tag = "master data", security(("bearer" = [])),
    responses((status = 200, body = [Category])))]
pub async fn list_categories(
    auth: Authorized<MasterDataRead>,
) -> ApiResult<web::Json<Vec<Category>>> {
    Ok(web::Json(categories::list(auth.current.db.client()).await?))
}

#[utoipa::path(post, path = "/api/v1/categories", tag = "master data", security(("bearer" = [])),
    request_body = NewCategory,
    responses((status = 201, body = Category), (status = 409, description = "`category_name_taken`"),
              (status = 422, description = "validation_failed (an unknown `parent_id` too)")))]
pub async fn create_category(
    auth: Authorized<MasterDataWrite>,
    body: Body<NewCategory>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let category = categories::create(&transaction, &actor, &body).await?;
    transaction.commit().await?;
    Ok(HttpResponse::Created().json(category))
}

#[utoipa::path(patch, path = "/api/v1/categories/{id}", tag = "master data",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = CategoryChanges,
    responses((status = 200, body = Category), (status = 404, description = "`category_not_found`"),
              (status = 409, description = "`category_name_taken`"),
              (status = 422, description = "validation_failed (an unknown parent, or one below the category)")))]
pub async fn update_category(
    auth: Authorized<MasterDataWrite>,
    id: web::Path<Uuid>,
    body: Body<CategoryChanges>,
) -> ApiResult<web::Json<Category>> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let category = categories::update(&transaction, &actor, *id, &body).await?;
    transaction.commit().await?;
    Ok(web::Json(category))
}
