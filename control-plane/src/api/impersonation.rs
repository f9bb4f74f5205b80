//! `POST /api/v1/tenants/{id}/impersonate`: a support or owner admin obtains a tenant
//! token for one named user of an active tenant, for at most 15 minutes, only with a
//! written reason. The token carries `imp` (the admin's id); the event is written to the
//! tenant's own audit log first (so the tenant can always see it), then to ours.

use crate::api::body::Body;
use crate::api::error::{ApiError, ApiResult, Validator};
use crate::api::meta::RequestMeta;
use crate::api::validate;
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, CurrentAdmin, perm};
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::web;
use chrono::{DateTime, Utc};
use common::entities::{TenantStatus, tenants};
use common::tokens::{Claims, TENANT_RUNTIME_AUDIENCE};
use provisioner::servers;
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

/// The tenant user being impersonated.
struct TenantUser {
    id: Uuid,
    roles: Vec<String>,
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
    let minutes = body.minutes.unwrap_or(MAX_MINUTES);
    Validator::default()
        .check("reason", validate::reason(&body.reason))
        .check("user_email", validate::email(body.user_email.trim()))
        .check("minutes", within_limit(minutes))
        .finish()?;
    let tenant = provisioner::tenants::find(&state.db, path.into_inner()).await?;
    if tenant.status != TenantStatus::Active {
        return Err(ApiError::conflict(
            "tenant_not_active",
            format!(
                "the tenant is {}; only active tenants can be entered",
                tenant.status
            ),
        ));
    }
    let ttl = minutes * 60;
    let expires_at = Utc::now() + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(900));
    let mut tenant_db = connect_tenant(&state, &tenant).await?;
    let user = find_user(&tenant_db, &body.user_email).await?;
    record_in_tenant(
        &mut tenant_db,
        &admin,
        &meta,
        &user,
        &body.reason,
        expires_at,
    )
    .await?;
    let txn = state.db.begin().await?;
    let entry = Entry::new(&admin, "tenant.impersonated", "tenant", tenant.id)
        .after(
            json!({ "user_id": user.id, "user_email": body.user_email.trim().to_lowercase(),
                       "expires_at": expires_at }),
        )
        .reason(body.reason.trim());
    audit::record(&txn, &meta, entry).await?;
    txn.commit().await?;
    let mut claims = Claims::new(TENANT_RUNTIME_AUDIENCE, &user.id.to_string(), ttl);
    claims.tid = Some(tenant.id.to_string());
    claims.roles = user.roles.clone();
    claims.imp = Some(admin.id.to_string());
    let access_token = state.tokens.sign(&claims).map_err(ApiError::internal)?;
    Ok(web::Json(ImpersonationToken {
        access_token,
        expires_in: ttl,
        expires_at,
        tenant_id: tenant.id,
        user_id: user.id,
        roles: user.roles,
    }))
}

fn within_limit(minutes: u64) -> Result<(), String> {
    if (1..=MAX_MINUTES).contains(&minutes) {
        Ok(())
    } else {
        Err(format!("must be 1 to {MAX_MINUTES}"))
    }
}

/// The tenant's database, as its server's admin (who may append to its audit log).
async fn connect_tenant(
    state: &AppState,
    tenant: &tenants::Model,
) -> ApiResult<tokio_postgres::Client> {
    let (Some(server_id), Some(database)) = (tenant.server_id, &tenant.db_name) else {
        return Err(ApiError::conflict(
            "tenant_not_active",
            "the tenant has no database",
        ));
    };
    let server = servers::find(&state.db, server_id).await?;
    let url = servers::admin_url(&state.keyring, &server)?;
    servers::connect_admin(&servers::url_for_database(url.expose(), database))
        .await
        .map_err(|error| {
            tracing::warn!(tenant = %tenant.id, "tenant database unreachable: {error}");
            ApiError::problem(
                common::problem::Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tenant_database_unreachable",
                    "the tenant's database server does not answer; try again shortly",
                )
                .with_retry_after(30),
            )
        })
}

async fn find_user(db: &tokio_postgres::Client, email: &str) -> ApiResult<TenantUser> {
    let row = db
        .query_opt(
            "SELECT u.id, coalesce(array_agg(r.name ORDER BY r.name) \
                      FILTER (WHERE r.name IS NOT NULL), '{}') AS roles \
             FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id \
             LEFT JOIN roles r ON r.id = ur.role_id \
             WHERE lower(u.email) = lower($1) AND u.status = 'active' GROUP BY u.id",
            &[&email.trim()],
        )
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(
                "user_not_found",
                "the tenant has no active user with that email",
            )
        })?;
    Ok(TenantUser {
        id: row.get("id"),
        roles: row.get("roles"),
    })
}

async fn record_in_tenant(
    db: &mut tokio_postgres::Client,
    admin: &CurrentAdmin,
    meta: &RequestMeta,
    user: &TenantUser,
    reason: &str,
    expires_at: DateTime<Utc>,
) -> ApiResult<()> {
    let after = json!({ "reason": reason.trim(), "admin_id": admin.id, "expires_at": expires_at });
    db.execute(
        "INSERT INTO audit_log (actor_user_id, actor_kind, impersonator, action, target_kind, \
           target_id, after, request_id, ip) \
         VALUES ($1, 'admin_impersonation', $2, 'impersonation.started', 'user', $3, $4, $5, $6)",
        &[
            &user.id,
            &admin.email,
            &user.id.to_string(),
            &after,
            &meta.request_id,
            &meta.ip_text(),
        ],
    )
    .await
    .map_err(ApiError::internal)?;
    Ok(())
}
