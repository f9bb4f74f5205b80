//! `POST /api/v1/tenants/{id}/impersonate`: a support or owner admin obtains a tenant
//! token for one named user of an active tenant, for at most 15 minutes, only with a
//! written reason. The token carries `imp` (the admin's id); the event is written to the
//! tenant's own audit log first (so the tenant can always see it), by the admin's id as
//! the runtime writes every change made with the token, then to ours. The tenant's
//! database is reached only through the provisioner ([`TenantDatabase`]).

use crate::api::error::provision_error;
use crate::api::meta::RequestMeta;
use crate::api::validate;
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, CurrentAdmin, perm};
use crate::state::AppState;
use actix_web::web;
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult, Validator};
use common::http::Body;
use common::tenant_audit::{Actor, Entry as TenantEntry};
use common::tokens::Claims;
use provisioner::{TenantDatabase, TenantUser};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest an impersonation token lives.
pub const MAX_MINUTES: u64 = 15;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ImpersonationRequest {
    /// The tenant user to act as.
    #[schema(schema_with = common::openapi::email)]
    pub user_email: String,
    /// Why (required): written to both audit logs.
    #[schema(schema_with = common::openapi::reason)]
    pub reason: String,
    /// 1 to 15 (default 15).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 15)]
    pub minutes: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImpersonationToken {
    /// A tenant-runtime access token (`aud=tenant-runtime`, `tid`, `imp`).
    pub access_token: String,
    pub expires_in: u64,
    pub expires_at: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub roles: Vec<String>,
}

/// Act as a tenant user for a few minutes.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/impersonate", tag = "tenants", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ImpersonationRequest,
    responses((status = 200, body = ImpersonationToken),
        (status = 403, body = crate::api::openapi::ProblemDoc),
        (status = 404, description = "`tenant_not_found`, `user_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`tenant_not_active`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc),
        (status = 503, description = "`tenant_database_unreachable`", body = crate::api::openapi::ProblemDoc)))]
pub async fn impersonate(
    state: web::Data<AppState>,
    admin: Authorized<perm::Impersonate>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<ImpersonationRequest>,
) -> ApiResult<web::Json<ImpersonationToken>> {
    let body = body.into_inner()?;
    let tenant_id = path.into_inner();
    Ok(web::Json(
        impersonate_user(&state, &admin, &meta, tenant_id, body).await?,
    ))
}

/// Issues the impersonation token after recording it in both audit logs, for the API and
/// the portal alike.
pub async fn impersonate_user(
    state: &AppState,
    admin: &Authorized<perm::Impersonate>,
    meta: &RequestMeta,
    tenant_id: Uuid,
    body: ImpersonationRequest,
) -> ApiResult<ImpersonationToken> {
    let minutes = body.minutes.unwrap_or(MAX_MINUTES);
    Validator::default()
        .check("reason", validate::reason(&body.reason))
        .check("user_email", validate::email(body.user_email.trim()))
        .check("minutes", within_limit(minutes))
        .finish()?;
    let ttl = minutes * 60;
    let expires_at = Utc::now() + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(900));
    let tenant_db = TenantDatabase::open(&state.db, &state.keyring, tenant_id)
        .await
        .map_err(provision_error)?;
    let user = tenant_db
        .active_user(&body.user_email)
        .await
        .map_err(provision_error)?
        .ok_or_else(|| {
            ApiError::not_found(
                "user_not_found",
                "the tenant has no active user with that email",
            )
        })?;
    let (actor, entry) = tenant_entry(admin, meta, &user, &body.reason, expires_at);
    tenant_db
        .record_audit(&actor, entry)
        .await
        .map_err(provision_error)?;
    let txn = state.db.begin().await?;
    let entry = Entry::new(admin, "tenant.impersonated", "tenant", tenant_id)
        .after(
            json!({ "user_id": user.id, "user_email": body.user_email.trim().to_lowercase(),
                       "expires_at": expires_at }),
        )
        .reason(body.reason.trim());
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    let claims =
        Claims::tenant_user(tenant_id, user.id, user.roles.clone(), ttl).impersonated_by(admin.id);
    let access_token = state.tokens.sign(&claims).map_err(ApiError::internal)?;
    Ok(ImpersonationToken {
        access_token,
        expires_in: ttl,
        expires_at,
        tenant_id,
        user_id: user.id,
        roles: user.roles,
    })
}

fn within_limit(minutes: u64) -> Result<(), String> {
    if (1..=MAX_MINUTES).contains(&minutes) {
        Ok(())
    } else {
        Err(format!("must be 1 to {MAX_MINUTES}"))
    }
}

/// The tenant's own record of the impersonation: the user acted as, by the admin's id (as
/// the runtime records every change made with the token).
fn tenant_entry(
    admin: &CurrentAdmin,
    meta: &RequestMeta,
    user: &TenantUser,
    reason: &str,
    expires_at: DateTime<Utc>,
) -> (Actor, TenantEntry<'static>) {
    let actor = Actor {
        user_id: Some(user.id),
        impersonator: Some(admin.id.to_string()),
        request_id: meta.request_id.clone(),
        ip: meta.ip_text(),
    };
    let entry = TenantEntry {
        action: "impersonation.started",
        target_kind: "user",
        target_id: user.id.to_string(),
        before: None,
        after: Some(json!({ "reason": reason.trim(), "expires_at": expires_at })),
    };
    (actor, entry)
}
