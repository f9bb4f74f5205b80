//! `/api/v1/tenants/{id}/backups`, `.../restores`, `.../relocate` and
//! `/api/v1/servers/{id}/evacuate`: a tenant's backups (take one now, list them), restoring
//! one into a new database, moving a tenant to another server, and emptying a server. Each
//! is work for the provisioner's jobs: the answer is 202 with the backup or the job, whose
//! progress `GET /api/v1/jobs/{id}` shows. Every request is audited in its transaction.

use crate::api::error::provision_error;
use crate::api::jobs::JobView;
use crate::api::meta::RequestMeta;
use crate::api::pagination::Page;
use crate::api::servers::{ServerView, load_one};
use crate::api::validate;
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use common::api_error::{ApiResult, Validator};
use common::entities::{jobs, tenant_backups};
use common::http::Body;
use provisioner::{backups, relocation, restore};
use sea_orm::{EntityTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// One backup of a tenant's database.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `manual`, `scheduled` or `final` (taken before a deletion).
    pub kind: String,
    /// `pending`, `completed`, `failed` or `pruned` (removed by retention).
    pub state: String,
    /// The job that takes it.
    pub job_id: Option<Uuid>,
    pub size_bytes: Option<i64>,
    /// SHA-256 of the dump, checked before a restore.
    pub sha256: Option<String>,
    /// The newest tenant migration applied to the dumped database.
    pub schema_version: Option<String>,
    /// Rows of each table (`schema.table`) in the dump's snapshot; a restore must match them.
    pub row_counts: Option<BTreeMap<String, i64>>,
    pub server_id: Option<Uuid>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<&tenant_backups::Model> for BackupView {
    fn from(backup: &tenant_backups::Model) -> Self {
        Self {
            id: backup.id,
            tenant_id: backup.tenant_id,
            kind: backup.kind.as_str().to_owned(),
            state: backup.state.as_str().to_owned(),
            job_id: backup.job_id,
            size_bytes: backup.size_bytes,
            sha256: backup.sha256.clone(),
            schema_version: backup.schema_version.clone(),
            row_counts: backup
                .row_counts
                .clone()
                .and_then(|counts| serde_json::from_value(counts).ok()),
            server_id: backup.server_id,
            error: backup.error.clone(),
            created_at: backup.created_at.with_timezone(&Utc),
            completed_at: backup.completed_at.map(|at| at.with_timezone(&Utc)),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestoreRequest {
    /// A completed backup of this tenant.
    #[schema(schema_with = common::openapi::uuid)]
    pub backup_id: Uuid,
    /// Why: kept in the audit log (required).
    #[schema(schema_with = common::openapi::reason)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RelocateRequest {
    /// The server to move to; `null` or absent: the active server with the most room.
    #[serde(default)]
    #[schema(schema_with = common::openapi::uuid_or_null)]
    pub server_id: Option<Uuid>,
    /// Why: kept in the audit log (required).
    #[schema(schema_with = common::openapi::reason)]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvacuateRequest {
    /// How many of the server's tenants are relocated at once.
    #[schema(minimum = 1, maximum = 16)]
    pub concurrency: i32,
}

/// Take a backup of the tenant now: 202 with the `pending` backup and its job.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/backups", tag = "backups", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = BackupView),
        (status = 404, description = "`tenant_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`tenant_not_active` (only an active or suspended tenant has a database to back up)", body = crate::api::openapi::ProblemDoc)))]
pub async fn create(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageTenants>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let view = request_backup(&state, &admin, &meta, path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(view))
}

/// Queue a backup of the tenant now (audited): the `pending` backup and its job.
pub async fn request_backup(
    state: &AppState,
    admin: &Authorized<perm::ManageTenants>,
    meta: &RequestMeta,
    tenant_id: Uuid,
) -> ApiResult<BackupView> {
    let txn = state.db.begin().await?;
    let backup = backups::request(&txn, tenant_id)
        .await
        .map_err(provision_error)?;
    let view = BackupView::from(&backup);
    let entry = Entry::new(admin, "tenant.backup_requested", "tenant", tenant_id)
        .after(json!({ "backup_id": view.id, "job_id": view.job_id }));
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    Ok(view)
}

/// The tenant's backups, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/backups", tag = "backups", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Page<BackupView>),
        (status = 404, description = "`tenant_not_found`", body = crate::api::openapi::ProblemDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<Page<BackupView>>> {
    Ok(web::Json(
        list_backups(&state, &admin, path.into_inner()).await?,
    ))
}

/// The tenant's backups, newest first.
pub async fn list_backups(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    tenant_id: Uuid,
) -> ApiResult<Page<BackupView>> {
    let rows = backups::list(&state.db, tenant_id)
        .await
        .map_err(provision_error)?;
    Ok(Page {
        items: rows.iter().map(BackupView::from).collect(),
        next_cursor: None,
    })
}

/// Restore a backup into a new database, verified, then switched in under a short write
/// freeze (the replaced database is kept for a while). 202 with the job.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/restores", tag = "backups", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RestoreRequest,
    responses((status = 202, body = JobView),
        (status = 404, description = "`tenant_not_found`, `backup_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`tenant_not_active`, `tenant_busy` (a restore or relocation is in progress), `backup_not_restorable`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn restore(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageTenants>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<RestoreRequest>,
) -> ApiResult<HttpResponse> {
    let job = restore_backup(&state, &admin, &meta, path.into_inner(), body.into_inner()?).await?;
    Ok(HttpResponse::Accepted().json(job))
}

/// Queue the restore of one of the tenant's backups (audited with the reason): the job.
pub async fn restore_backup(
    state: &AppState,
    admin: &Authorized<perm::ManageTenants>,
    meta: &RequestMeta,
    tenant_id: Uuid,
    body: RestoreRequest,
) -> ApiResult<JobView> {
    check_reason(&body.reason)?;
    let txn = state.db.begin().await?;
    let job_id = restore::request(&txn, tenant_id, body.backup_id)
        .await
        .map_err(provision_error)?;
    let entry = Entry::new(admin, "tenant.restore_requested", "tenant", tenant_id)
        .after(json!({ "backup_id": body.backup_id, "job_id": job_id }))
        .reason(body.reason.trim());
    audit::record(&txn, meta, entry).await?;
    let view = job_view(&txn, job_id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Move the tenant to another server: copied under a short write freeze (the runtime
/// answers 503 `tenant_maintenance` meanwhile), verified, switched; the source is dropped
/// later. 202 with the job.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/relocate", tag = "backups", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RelocateRequest,
    responses((status = 202, body = JobView),
        (status = 404, description = "`tenant_not_found`, `server_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`tenant_not_active`, `tenant_busy`, `target_draining`, `target_full`, `same_server`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc),
        (status = 503, description = "`no_capacity` (no target given and no other server has room)", body = crate::api::openapi::ProblemDoc)))]
pub async fn relocate(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<RelocateRequest>,
) -> ApiResult<HttpResponse> {
    let job = relocate_tenant(&state, &admin, &meta, path.into_inner(), body.into_inner()?).await?;
    Ok(HttpResponse::Accepted().json(job))
}

/// Queue the tenant's move to another server (audited with the reason): the job.
pub async fn relocate_tenant(
    state: &AppState,
    admin: &Authorized<perm::ManageServers>,
    meta: &RequestMeta,
    tenant_id: Uuid,
    body: RelocateRequest,
) -> ApiResult<JobView> {
    check_reason(&body.reason)?;
    let txn = state.db.begin().await?;
    let before = provisioner::tenants::find(&txn, tenant_id)
        .await
        .map_err(provision_error)?;
    let job_id = relocation::request(&txn, tenant_id, body.server_id)
        .await
        .map_err(provision_error)?;
    let view = job_view(&txn, job_id).await?;
    let entry = Entry::new(admin, "tenant.relocation_requested", "tenant", tenant_id)
        .before(json!({ "server_id": before.server_id }))
        .after(json!({ "server_id": body.server_id, "job_id": job_id }))
        .reason(body.reason.trim());
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    Ok(view)
}

/// Empty a server: it takes no new tenants, and its tenants are relocated, `concurrency` at
/// a time, to the active servers with the most room (`evacuation_concurrency` shows it
/// under way; it clears when nothing lives there). 202 with the server.
#[utoipa::path(post, path = "/api/v1/servers/{id}/evacuate", tag = "servers", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = EvacuateRequest,
    responses((status = 202, body = ServerView),
        (status = 404, description = "`server_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn evacuate(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<EvacuateRequest>,
) -> ApiResult<HttpResponse> {
    let view =
        evacuate_server(&state, &admin, &meta, path.into_inner(), body.into_inner()?).await?;
    Ok(HttpResponse::Accepted().json(view))
}

/// Start emptying a server, `concurrency` relocations at a time (audited).
pub async fn evacuate_server(
    state: &AppState,
    admin: &Authorized<perm::ManageServers>,
    meta: &RequestMeta,
    id: Uuid,
    body: EvacuateRequest,
) -> ApiResult<ServerView> {
    let txn = state.db.begin().await?;
    let before = load_one(&txn, id).await?;
    relocation::evacuate(&txn, id, body.concurrency)
        .await
        .map_err(provision_error)?;
    let view = load_one(&txn, id).await?;
    let entry = Entry::new(admin, "server.evacuating", "server", id)
        .before(json!({ "state": before.state }))
        .after(json!({ "state": view.state, "concurrency": body.concurrency }));
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    Ok(view)
}

fn check_reason(reason: &str) -> ApiResult<()> {
    Validator::default()
        .check("reason", validate::reason(reason))
        .finish()
}

async fn job_view(db: &impl sea_orm::ConnectionTrait, id: Uuid) -> ApiResult<JobView> {
    let job = jobs::Entity::find_by_id(id).one(db).await?.ok_or_else(|| {
        common::api_error::ApiError::internal(anyhow::anyhow!("job {id} vanished"))
    })?;
    Ok(JobView::from(&job))
}
