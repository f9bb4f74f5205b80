//! `GET /api/v1/jobs/{id}`: a provisioning or fleet job's progress. The payload is never
//! shown (it holds sealed invitations and password hashes).

use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::web;
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::entities::jobs;
use sea_orm::EntityTrait;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

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

/// One job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = JobView), (status = 404, description = "`job_not_found`", body = crate::api::openapi::ProblemDoc)))]
pub async fn show(
    state: web::Data<AppState>,
    _admin: Authorized<perm::Read>,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<JobView>> {
    let id = path.into_inner();
    let job = jobs::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("job_not_found", format!("no job {id}")))?;
    Ok(web::Json(JobView::from(&job)))
}
