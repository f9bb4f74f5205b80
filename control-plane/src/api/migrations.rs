//! `/api/v1/migrations/runs`: fleet migration runs (through `provisioner::fleet`). Start
//! one (or ask what it would do with `dry_run`), list them, read one with its tenants'
//! results, resume a halted, cancelled or failed run, cancel an active one. Starting,
//! resuming and cancelling are audited and need the `manage servers` permission: they
//! operate the fleet.

use crate::api::meta::RequestMeta;
use crate::api::pagination::{Page, PageQuery, page};
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use common::api_error::{ApiError, ApiResult, Validator};
use common::fleet::{DryRunView, RunDetail, RunTenantView, RunView};
use common::http::Body;
use provisioner::fleet::{self, Canary, FleetError, RunRequest};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most tenants a run may name one by one.
const MAX_NAMED: usize = 1000;
const TENANT_STATES: [&str; 5] = ["pending", "running", "succeeded", "failed", "skipped"];

/// What to migrate and how carefully; every field is optional.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StartRun {
    /// Only these tenants.
    #[schema(max_items = 1000)]
    pub tenant_ids: Option<Vec<Uuid>>,
    /// Only tenants on these plans.
    #[schema(max_items = 100)]
    pub plan_codes: Option<Vec<String>>,
    /// Only tenants on these database servers.
    #[schema(max_items = 100)]
    pub server_ids: Option<Vec<Uuid>>,
    /// Answer what the run would do (200, `DryRunView`) without starting it.
    #[serde(default)]
    pub dry_run: bool,
    /// The canary wave: this many tenants (wins over `canary_percent`).
    #[schema(minimum = 0, maximum = 10000)]
    pub canary_count: Option<u32>,
    /// The canary wave: this share of the run's tenants, rounded up (default 5).
    #[schema(minimum = 0, maximum = 100)]
    pub canary_percent: Option<u32>,
    /// At most this many migrations at once on one database server (default 4).
    #[schema(minimum = 1, maximum = 64)]
    pub max_per_server: Option<u32>,
    /// Halt when more tenants than this have failed.
    #[schema(minimum = 0, maximum = 1000000)]
    pub max_failures: Option<u32>,
    /// Halt when more than this share of the run's tenants have failed (default 0.1).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub max_failure_ratio: Option<f64>,
    /// How long one tenant's migration waits for a lock before it is retried later in the
    /// run (default 2000).
    #[schema(minimum = 1, maximum = 600000)]
    pub lock_timeout_ms: Option<u32>,
}

impl StartRun {
    fn validate(&self) -> ApiResult<()> {
        let within = |value: Option<u32>, min: u32, max: u32| match value {
            Some(value) if !(min..=max).contains(&value) => Err(format!("must be {min} to {max}")),
            _ => Ok(()),
        };
        Validator::default()
            .check(
                "tenant_ids",
                at_most(self.tenant_ids.as_ref().map(Vec::len), MAX_NAMED),
            )
            .check(
                "plan_codes",
                at_most(self.plan_codes.as_ref().map(Vec::len), 100),
            )
            .check(
                "server_ids",
                at_most(self.server_ids.as_ref().map(Vec::len), 100),
            )
            .check("canary_count", within(self.canary_count, 0, 10_000))
            .check("canary_percent", within(self.canary_percent, 0, 100))
            .check("max_per_server", within(self.max_per_server, 1, 64))
            .check("max_failures", within(self.max_failures, 0, 1_000_000))
            .check("lock_timeout_ms", within(self.lock_timeout_ms, 1, 600_000))
            .check(
                "max_failure_ratio",
                match self.max_failure_ratio {
                    Some(ratio) if !(0.0..=1.0).contains(&ratio) => Err("must be 0 to 1".into()),
                    _ => Ok(()),
                },
            )
            .finish()
    }

    /// The request with the defaults filled in.
    fn request(&self) -> RunRequest {
        let defaults = RunRequest::default();
        let canary = match (self.canary_count, self.canary_percent) {
            (Some(count), _) => Canary::Count(count),
            (None, Some(percent)) => Canary::Percent(percent),
            (None, None) => defaults.canary,
        };
        RunRequest {
            tenant_ids: self.tenant_ids.clone(),
            plan_codes: self.plan_codes.clone(),
            server_ids: self.server_ids.clone(),
            canary,
            max_per_server: self.max_per_server.unwrap_or(defaults.max_per_server),
            max_failures: self.max_failures.or(defaults.max_failures),
            max_failure_ratio: self.max_failure_ratio.or(defaults.max_failure_ratio),
            lock_timeout: self.lock_timeout_ms.map_or(defaults.lock_timeout, |ms| {
                Duration::from_millis(u64::from(ms))
            }),
        }
    }
}

fn at_most(len: Option<usize>, max: usize) -> Result<(), String> {
    match len {
        Some(len) if len > max => Err(format!("may hold at most {max} items")),
        _ => Ok(()),
    }
}

/// Start a fleet migration run over the tenants behind the newest schema (202), or with
/// `dry_run` see what it would do (200).
#[utoipa::path(post, path = "/api/v1/migrations/runs", tag = "migrations", security(("bearer" = [])),
    request_body = StartRun,
    responses((status = 202, description = "The run, queued", body = RunView),
        (status = 200, description = "With `dry_run`: what the run would do", body = DryRunView),
        (status = 409, description = "`migration_run_active`: another run is queued or running", body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`validation_failed`", body = crate::api::openapi::ProblemDoc)))]
pub async fn start(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    body: Body<StartRun>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    if body.dry_run {
        return Ok(HttpResponse::Ok().json(plan_run(&state, &admin, &body).await?));
    }
    Ok(HttpResponse::Accepted().json(start_run(&state, &admin, &meta, &body).await?))
}

/// What a run with these settings would do, without starting it (`dry_run` is ignored).
pub async fn plan_run(
    state: &AppState,
    _admin: &Authorized<perm::ManageServers>,
    body: &StartRun,
) -> ApiResult<DryRunView> {
    body.validate()?;
    fleet::plan(&state.db, &fleet::TenantSchema::current(), &body.request())
        .await
        .map_err(fleet_error)
}

/// Queue a run with these settings (audited; `dry_run` is ignored: see [`plan_run`]).
pub async fn start_run(
    state: &AppState,
    admin: &Authorized<perm::ManageServers>,
    meta: &RequestMeta,
    body: &StartRun,
) -> ApiResult<RunView> {
    body.validate()?;
    let request = body.request();
    let schema = fleet::TenantSchema::current();
    let txn = state.db.begin().await?;
    let run = fleet::start(&txn, &schema, &request, &format!("admin:{}", admin.id))
        .await
        .map_err(fleet_error)?;
    let after = json!({ "target_version": run.target_version, "tenants": run.counts.total,
                        "canary_size": run.canary_size, "filter": run.filter });
    audit::record(
        &txn,
        meta,
        Entry::new(admin, "migration_run.started", "migration_run", run.id).after(after),
    )
    .await?;
    txn.commit().await?;
    Ok(run)
}

/// Migration runs, newest first.
#[utoipa::path(get, path = "/api/v1/migrations/runs", tag = "migrations", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<RunView>), (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<RunView>>> {
    Ok(web::Json(list_runs(&state, &admin, &paging).await?))
}

/// Migration runs, newest first.
pub async fn list_runs(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    paging: &PageQuery,
) -> ApiResult<Page<RunView>> {
    let limit = paging.limit()?;
    let after = paging.after(|key| key.parse::<Uuid>().ok())?;
    let runs = fleet::list(&state.db, after, limit + 1)
        .await
        .map_err(fleet_error)?;
    Ok(page(runs, limit, |run| run.id.to_string(), Clone::clone))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TenantFilter {
    /// Only tenants in this state: `pending`, `running`, `succeeded`, `failed`, `skipped`.
    #[param(schema_with = tenant_state_schema)]
    pub state: Option<String>,
}

fn tenant_state_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(TENANT_STATES)
}

/// One run with its counts and a page of its tenants' results (`limit`/`cursor` page
/// the tenants).
#[utoipa::path(get, path = "/api/v1/migrations/runs/{id}", tag = "migrations", security(("bearer" = [])),
    params(("id" = Uuid, Path), TenantFilter, PageQuery),
    responses((status = 200, body = RunDetail),
        (status = 404, description = "`migration_run_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn show(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    path: web::Path<Uuid>,
    filter: web::Query<TenantFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<RunDetail>> {
    let run = show_run(&state, &admin, path.into_inner(), &filter, &paging).await?;
    Ok(web::Json(run))
}

/// One run with its counts and a page of its tenants' results.
pub async fn show_run(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    id: Uuid,
    filter: &TenantFilter,
    paging: &PageQuery,
) -> ApiResult<RunDetail> {
    let limit = paging.limit()?;
    let after = paging.after(|key| key.parse::<Uuid>().ok())?;
    if let Some(wanted) = &filter.state
        && !TENANT_STATES.contains(&wanted.as_str())
    {
        return Err(ApiError::invalid("state", "is not a tenant state of a run"));
    }
    let run = fleet::get(&state.db, id).await.map_err(fleet_error)?;
    let rows = fleet::run_tenants(&state.db, id, filter.state.as_deref(), after, limit + 1)
        .await
        .map_err(fleet_error)?;
    let tenants: Page<RunTenantView> =
        page(rows, limit, |row| row.tenant_id.to_string(), Clone::clone);
    Ok(RunDetail {
        run,
        tenants: tenants.items,
        next_cursor: tenants.next_cursor,
    })
}

/// Resume a halted, cancelled or failed run where it stopped (its failed tenants are
/// tried again).
#[utoipa::path(post, path = "/api/v1/migrations/runs/{id}/resume", tag = "migrations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = RunView),
        (status = 404, description = "`migration_run_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`migration_run_not_resumable`, `migration_run_active`", body = crate::api::openapi::ProblemDoc)))]
pub async fn resume(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let run = change_run(&state, &admin, &meta, path.into_inner(), RunChange::Resume).await?;
    Ok(HttpResponse::Accepted().json(run))
}

/// Cancel a queued, running or halted run: no further tenant starts; those migrating
/// finish their transaction.
#[utoipa::path(post, path = "/api/v1/migrations/runs/{id}/cancel", tag = "migrations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = RunView),
        (status = 404, description = "`migration_run_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`migration_run_not_cancellable`", body = crate::api::openapi::ProblemDoc)))]
pub async fn cancel(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageServers>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let run = change_run(&state, &admin, &meta, path.into_inner(), RunChange::Cancel).await?;
    Ok(HttpResponse::Accepted().json(run))
}

/// What an admin does to an existing run.
#[derive(Debug, Clone, Copy)]
pub enum RunChange {
    Resume,
    Cancel,
}

/// Resume or cancel a run: the change and its audit entry in one transaction.
pub async fn change_run(
    state: &AppState,
    admin: &Authorized<perm::ManageServers>,
    meta: &RequestMeta,
    id: Uuid,
    change: RunChange,
) -> ApiResult<RunView> {
    let txn = state.db.begin().await?;
    let (changed, action) = match change {
        RunChange::Resume => (fleet::resume(&txn, id).await, "migration_run.resumed"),
        RunChange::Cancel => (fleet::cancel(&txn, id).await, "migration_run.cancelled"),
    };
    let run = changed.map_err(fleet_error)?;
    audit::record(&txn, meta, Entry::new(admin, action, "migration_run", id)).await?;
    txn.commit().await?;
    Ok(run)
}

fn fleet_error(error: FleetError) -> ApiError {
    let detail = error.to_string();
    match error {
        FleetError::NotFound(_) => ApiError::not_found("migration_run_not_found", detail),
        FleetError::AnotherRunActive(_) => ApiError::conflict("migration_run_active", detail),
        FleetError::InvalidState {
            action: "resumed", ..
        } => ApiError::conflict("migration_run_not_resumable", detail),
        FleetError::InvalidState { .. } => {
            ApiError::conflict("migration_run_not_cancellable", detail)
        }
        FleetError::Db(error) => error.into(),
    }
}
