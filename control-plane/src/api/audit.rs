//! `GET /api/v1/audit`: the control audit log, newest first, filtered by actor, action,
//! target and time.

use crate::api::pagination::{Page, PageQuery, page};
use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::web;
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::entities::{AuditActorKind, audit_log};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditFilter {
    /// The admin who acted.
    pub actor_id: Option<Uuid>,
    /// `admin`, `system`, `stripe` or `signup`.
    #[param(schema_with = actor_kind_schema)]
    pub actor_kind: Option<String>,
    /// Exact action (`tenant.suspended`) or a prefix ending in `.` (`tenant.`).
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

fn actor_kind_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(AuditActorKind::ALL.iter().map(|kind| kind.as_str()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl From<&audit_log::Model> for AuditEntry {
    fn from(row: &audit_log::Model) -> Self {
        Self {
            id: row.id,
            at: row.at.with_timezone(&Utc),
            actor_kind: row.actor_kind.as_str().to_owned(),
            actor_id: row.actor_id,
            actor_email: row.actor_email.clone(),
            action: row.action.clone(),
            target_kind: row.target_kind.clone(),
            target_id: row.target_id.clone(),
            before: row.before.clone(),
            after: row.after.clone(),
            reason: row.reason.clone(),
            request_id: row.request_id.clone(),
            ip: row.ip.clone(),
        }
    }
}

/// Audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditFilter, PageQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    filter: web::Query<AuditFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<AuditEntry>>> {
    Ok(web::Json(
        list_entries(&state, &admin, &filter, &paging).await?,
    ))
}

/// Audit entries matching `filter`, newest first.
pub async fn list_entries(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    filter: &AuditFilter,
    paging: &PageQuery,
) -> ApiResult<Page<AuditEntry>> {
    let limit = paging.limit()?;
    let mut query = audit_log::Entity::find()
        .order_by_desc(audit_log::Column::Id)
        .limit(limit + 1);
    if let Some(before) = paging.after(|key| key.parse::<i64>().ok())? {
        query = query.filter(audit_log::Column::Id.lt(before));
    }
    if let Some(actor) = filter.actor_id {
        query = query.filter(audit_log::Column::ActorId.eq(actor));
    }
    if let Some(kind) = &filter.actor_kind {
        let kind = AuditActorKind::from_str(kind).map_err(|_| {
            ApiError::invalid("actor_kind", "must be admin, system, stripe or signup")
        })?;
        query = query.filter(audit_log::Column::ActorKind.eq(kind));
    }
    if let Some(action) = &filter.action {
        query = match action.strip_suffix('.') {
            Some(prefix) => {
                query.filter(audit_log::Column::Action.starts_with(format!("{prefix}.")))
            }
            None => query.filter(audit_log::Column::Action.eq(action.clone())),
        };
    }
    if let Some(kind) = &filter.target_kind {
        query = query.filter(audit_log::Column::TargetKind.eq(kind.clone()));
    }
    if let Some(id) = &filter.target_id {
        query = query.filter(audit_log::Column::TargetId.eq(id.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_log::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_log::Column::At.lt(until));
    }
    let rows = query.all(&state.db).await?;
    Ok(page(
        rows,
        limit,
        |row| row.id.to_string(),
        |row| AuditEntry::from(row),
    ))
}
