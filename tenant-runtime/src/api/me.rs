//! `GET /api/v1/me`: who the caller is, in which company, with what rights and limits.

use crate::auth::{CurrentUser, UserRecord};
use common::api_error::ApiResult;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: UserRecord,
    pub tenant: TenantSummary,
    /// Present when a super-admin acts as this user.
    pub impersonated_by: Option<String>,
    pub limits: Limits,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub features: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Limits {
    pub max_users: i32,
    pub max_storage_mb: i32,
    pub requests_per_minute: u32,
    pub max_concurrent_requests: u32,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, description = "not signed in")))]
pub async fn me(current: CurrentUser) -> ApiResult<actix_web::web::Json<Me>> {
    Ok(actix_web::web::Json(describe(current)))
}

/// The `/me` body for a loaded user.
pub fn describe(current: CurrentUser) -> Me {
    let handle = &current.tenant.0;
    let plan = &handle.plan;
    Me {
        tenant: TenantSummary {
            id: handle.id,
            slug: handle.slug.clone(),
            name: handle.name.clone(),
            plan: plan.code.clone(),
            features: plan.features.clone(),
        },
        limits: Limits {
            max_users: plan.max_users,
            max_storage_mb: plan.max_storage_mb,
            requests_per_minute: plan.requests_per_minute,
            max_concurrent_requests: plan.max_concurrent_requests,
        },
        impersonated_by: current.claims.imp,
        user: current.user,
    }
}
