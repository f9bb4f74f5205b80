//! `GET /api/v1/jobs` and `GET /api/v1/jobs/{id}`: provisioning and fleet jobs, newest
//! first with filters, and one job's progress. The payload is never shown (it holds sealed
//! invitations and password hashes).

use crate::api::pagination::{Page, PageQuery, page};
use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::web;
use chrono::{DateTime, FixedOffset, Utc};
use common::api_error::{ApiError, ApiResult};
use common::entities::{JobState, jobs};
use provisioner::JobKind;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `?status=&kind=&tenant=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct JobFilter {
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[param(schema_with = status_schema)]
    pub status: Option<String>,
    /// `provision`, `delete`, `backup`, ...
    #[param(schema_with = kind_schema)]
    pub kind: Option<String>,
    /// Jobs of this tenant.
    pub tenant: Option<Uuid>,
}

fn status_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(JobState::ALL.iter().map(|state| state.as_str()))
}

fn kind_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(JobKind::ALL.iter().map(|kind| kind.as_str()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    /// `provision`, `delete`, ...
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    pub current_step: Option<String>,
    pub completed_steps: Vec<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub run_after: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<&jobs::Model> for JobView {
    fn from(job: &jobs::Model) -> Self {
        let completed_steps = job
            .completed_steps
            .as_array()
            .map(|steps| {
                steps
                    .iter()
                    .filter_map(|step| step.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: job.id,
            tenant_id: job.tenant_id,
            kind: job.kind.clone(),
            state: job.state.as_str().to_owned(),
            current_step: job.current_step.clone(),
            completed_steps,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            last_error: job.last_error.clone(),
            run_after: job.run_after.with_timezone(&Utc),
            created_at: job.created_at.with_timezone(&Utc),
            updated_at: job.updated_at.with_timezone(&Utc),
            finished_at: job.finished_at.map(|at| at.with_timezone(&Utc)),
        }
    }
}

/// Jobs, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(JobFilter, PageQuery),
    responses((status = 200, body = Page<JobView>), (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    filter: web::Query<JobFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<JobView>>> {
    Ok(web::Json(
        list_jobs(&state, &admin, &filter, &paging).await?,
    ))
}

/// Jobs matching `filter`, newest first (keyset on creation time, then id).
pub async fn list_jobs(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    filter: &JobFilter,
    paging: &PageQuery,
) -> ApiResult<Page<JobView>> {
    let limit = paging.limit()?;
    let mut query = jobs::Entity::find()
        .order_by_desc(jobs::Column::CreatedAt)
        .order_by_desc(jobs::Column::Id)
        .limit(limit + 1);
    if let Some((at, id)) = paging.after(parse_cursor)? {
        query = query.filter(Expr::cust_with_values(
            "(created_at, id) < ($1, $2)",
            [sea_orm::Value::from(at), id.into()],
        ));
    }
    if let Some(status) = &filter.status {
        let status = JobState::from_str(status).map_err(|_| {
            ApiError::invalid(
                "status",
                "must be queued, running, succeeded, failed or cancelled",
            )
        })?;
        query = query.filter(jobs::Column::State.eq(status));
    }
    if let Some(kind) = &filter.kind {
        let kind =
            JobKind::parse(kind).ok_or_else(|| ApiError::invalid("kind", "is not a job kind"))?;
        query = query.filter(jobs::Column::Kind.eq(kind.as_str()));
    }
    if let Some(tenant) = filter.tenant {
        query = query.filter(jobs::Column::TenantId.eq(tenant));
    }
    let rows = query.all(&state.db).await?;
    Ok(page(rows, limit, cursor_of, |job| JobView::from(job)))
}

/// A cursor is `{created_at as RFC 3339}|{id}` (then base64url, by `pagination`).
fn cursor_of(job: &jobs::Model) -> String {
    format!("{}|{}", job.created_at.to_rfc3339(), job.id)
}

fn parse_cursor(key: &str) -> Option<(DateTime<FixedOffset>, Uuid)> {
    let (at, id) = key.split_once('|')?;
    Some((DateTime::parse_from_rfc3339(at).ok()?, id.parse().ok()?))
}

/// One job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = JobView), (status = 404, description = "`job_not_found`", body = crate::api::openapi::ProblemDoc)))]
pub async fn show(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<JobView>> {
    Ok(web::Json(
        show_job(&state, &admin, path.into_inner()).await?,
    ))
}

/// One job (404 `job_not_found`).
pub async fn show_job(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    id: Uuid,
) -> ApiResult<JobView> {
    let job = jobs::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("job_not_found", format!("no job {id}")))?;
    Ok(JobView::from(&job))
}
