//! `/api/v1/tenants`: list, create (queues provisioning), show, rename or re-plan, suspend,
//! resume and delete. Every change goes through the provisioner's tenant API inside the
//! request's transaction, together with its audit entry.

use crate::api::error::provision_error;
use crate::api::idempotency::{Key, Replay};
use crate::api::jobs::JobView;
use crate::api::meta::RequestMeta;
use crate::api::pagination::{Page, PageQuery, page};
use crate::api::validate;
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, CurrentAdmin, perm};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult, Validator};
use common::entities::{
    BillingState, SuspensionKind, TenantStatus, database_servers, jobs, tenants,
};
use common::http::Body;
use provisioner::tenants::{self as lifecycle, NewTenant, TenantUpdate};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct TenantFilter {
    /// `provisioning`, `active`, `suspended`, `deleting`, `deleted`, `failed`.
    #[param(schema_with = status_schema)]
    pub status: Option<String>,
    /// A plan code.
    pub plan: Option<String>,
    /// A database server id.
    pub server: Option<Uuid>,
    /// Part of the slug or name, any case.
    pub search: Option<String>,
    /// A billing state: `none`, `trialing`, `active`, `past_due`, `unpaid`, `paused`,
    /// `incomplete`, `canceled`.
    #[param(schema_with = billing_state_schema)]
    pub billing: Option<String>,
    /// `created` (the default), `slug` or `name`.
    #[param(schema_with = sort_schema)]
    pub sort: Option<String>,
    /// `asc` (the default) or `desc`.
    #[param(schema_with = direction_schema)]
    pub dir: Option<String>,
}

fn billing_state_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(BillingState::ALL.iter().map(|state| state.as_str()))
}

fn sort_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(["created", "slug", "name"])
}

fn direction_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(["asc", "desc"])
}

/// The column a tenant list is sorted by; ties (equal names) are broken by id, so the
/// keyset cursor is always a single position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSort {
    Created,
    Slug,
    Name,
}

impl TenantSort {
    fn parse(sort: Option<&str>) -> ApiResult<Self> {
        match sort.unwrap_or("created") {
            "created" => Ok(Self::Created),
            "slug" => Ok(Self::Slug),
            "name" => Ok(Self::Name),
            _ => Err(ApiError::invalid("sort", "must be created, slug or name")),
        }
    }

    /// The SQL expression sorted on (ids are time-ordered v7 uuids: `created` is `id`).
    fn column(self) -> &'static str {
        match self {
            Self::Created => "id",
            Self::Slug => "slug",
            Self::Name => "lower(name)",
        }
    }

    /// The cursor's value as the column's type (cursors carry text).
    fn placeholder(self) -> &'static str {
        match self {
            Self::Created => "$1::uuid",
            Self::Slug | Self::Name => "$1",
        }
    }

    fn key(self, tenant: &tenants::Model) -> String {
        let value = match self {
            Self::Created => tenant.id.to_string(),
            Self::Slug => tenant.slug.clone(),
            Self::Name => tenant.name.to_lowercase(),
        };
        json!([value, tenant.id]).to_string()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub plan: String,
    pub server_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<&tenants::Model> for TenantSummary {
    fn from(tenant: &tenants::Model) -> Self {
        Self {
            id: tenant.id,
            slug: tenant.slug.clone(),
            name: tenant.name.clone(),
            status: tenant.status.as_str().to_owned(),
            plan: tenant.plan_code.clone(),
            server_id: tenant.server_id,
            created_at: tenant.created_at.with_timezone(&Utc),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewTenantRequest {
    #[schema(schema_with = common::openapi::slug)]
    pub slug: String,
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// The code of a plan that is not archived.
    pub plan: String,
    #[schema(schema_with = common::openapi::email)]
    pub admin_email: String,
}

fn status_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(TenantStatus::ALL.iter().map(|status| status.as_str()))
}

fn name_schema() -> utoipa::openapi::Object {
    common::openapi::name(200)
}

/// The answer to create and delete: the tenant and the job doing the work.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantJob {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub status: String,
    pub job_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub api_calls_today: i64,
    pub api_calls_this_month: i64,
    pub storage_bytes: Option<i64>,
    pub user_count: Option<i32>,
    pub sampled_at: Option<DateTime<Utc>>,
}

/// The tenant's mirror of its Stripe subscription (ids only: nothing here is a secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Billing {
    /// `none`, `trialing`, `active`, `past_due`, `unpaid`, `paused`, `incomplete`, `canceled`.
    pub state: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// When the paid period ends (renews, or ends for good when `cancel_at_period_end`).
    pub period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// When payments started failing (the grace period runs from here).
    pub past_due_since: Option<DateTime<Utc>>,
}

impl From<&tenants::Model> for Billing {
    fn from(tenant: &tenants::Model) -> Self {
        let utc = |at: Option<sea_orm::prelude::DateTimeWithTimeZone>| at.map(|at| at.to_utc());
        Self {
            state: tenant.billing_state.as_str().to_owned(),
            stripe_customer_id: tenant.stripe_customer_id.clone(),
            stripe_subscription_id: tenant.stripe_subscription_id.clone(),
            trial_ends_at: utc(tenant.trial_ends_at),
            period_end: utc(tenant.billing_period_end),
            cancel_at_period_end: tenant.billing_cancel_at_period_end,
            past_due_since: utc(tenant.billing_past_due_since),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// `admin`, `billing` or `trial_expired` when suspended.
    pub suspension_kind: Option<String>,
    pub failure_reason: Option<String>,
    pub plan: String,
    pub server: Option<ServerRef>,
    /// The newest tenant migration applied to its database.
    pub schema_version: Option<String>,
    /// Tenant migrations this build holds that its database lacks (a migration run brings
    /// it up to date; meanwhile the runtime answers 503 `tenant_migrating`).
    pub pending_migrations: Vec<String>,
    /// Since when its writes are frozen (a restore's or relocation's switch), if they are.
    pub frozen_since: Option<DateTime<Utc>>,
    pub admin_email: String,
    pub usage: Usage,
    pub billing: Billing,
    pub last_job: Option<JobView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantPatch {
    #[schema(schema_with = name_schema)]
    pub name: Option<String>,
    /// The code of a plan that is not archived.
    pub plan: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    /// Why: kept in the audit log (required).
    #[schema(schema_with = common::openapi::reason)]
    pub reason: String,
}

/// Tenants, filtered and sorted (oldest first by default), a page at a time.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    params(TenantFilter, PageQuery),
    responses((status = 200, body = Page<TenantSummary>), (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    filter: web::Query<TenantFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<TenantSummary>>> {
    Ok(web::Json(
        list_tenants(&state.db, &admin, &filter, &paging).await?,
    ))
}

/// The tenant list, for the API and the portal alike: keyset-paged on the sort column
/// and id, so any page costs the same however many tenants there are.
pub async fn list_tenants(
    db: &impl ConnectionTrait,
    _admin: &Authorized<perm::Read>,
    filter: &TenantFilter,
    paging: &PageQuery,
) -> ApiResult<Page<TenantSummary>> {
    let limit = paging.limit()?;
    let sort = TenantSort::parse(filter.sort.as_deref())?;
    let descending = match filter.dir.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        _ => return Err(ApiError::invalid("dir", "must be asc or desc")),
    };
    let mut query = tenants::Entity::find()
        .filter(list_conditions(filter)?)
        .order_by(
            Expr::cust(sort.column()),
            if descending { Order::Desc } else { Order::Asc },
        )
        .order_by(
            tenants::Column::Id,
            if descending { Order::Desc } else { Order::Asc },
        )
        .limit(limit + 1);
    if let Some((value, id)) = paging.after(parse_tenant_cursor)? {
        let comparison = if descending { "<" } else { ">" };
        query = query.filter(Expr::cust_with_values(
            format!(
                "({}, id) {comparison} ({}, $2)",
                sort.column(),
                sort.placeholder()
            ),
            [sea_orm::Value::from(value), sea_orm::Value::from(id)],
        ));
    }
    let rows = query.all(db).await?;
    Ok(page(
        rows,
        limit,
        |tenant| sort.key(tenant),
        |tenant| TenantSummary::from(tenant),
    ))
}

fn parse_tenant_cursor(key: &str) -> Option<(String, Uuid)> {
    let (value, id): (String, Uuid) = serde_json::from_str(key).ok()?;
    Some((value, id))
}

fn list_conditions(filter: &TenantFilter) -> ApiResult<Condition> {
    let mut condition = Condition::all();
    if let Some(status) = non_empty(&filter.status) {
        let status = TenantStatus::from_str(status)
            .map_err(|_| ApiError::invalid("status", "is not a tenant status"))?;
        condition = condition.add(tenants::Column::Status.eq(status));
    }
    if let Some(billing) = non_empty(&filter.billing) {
        let billing = BillingState::from_str(billing)
            .map_err(|_| ApiError::invalid("billing", "is not a billing state"))?;
        condition = condition.add(tenants::Column::BillingState.eq(billing));
    }
    if let Some(plan) = non_empty(&filter.plan) {
        condition = condition.add(tenants::Column::PlanCode.eq(plan.to_owned()));
    }
    if let Some(server) = filter.server {
        condition = condition.add(tenants::Column::ServerId.eq(server));
    }
    if let Some(search) = non_empty(&filter.search) {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        condition = condition.add(
            Condition::any()
                .add(Expr::cust_with_values(
                    "lower(slug) LIKE $1",
                    [pattern.clone()],
                ))
                .add(Expr::cust_with_values("lower(name) LIKE $1", [pattern])),
        );
    }
    Ok(condition)
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Create a tenant: 202 with its provisioning job. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    request_body = NewTenantRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first response for 24 h",
        min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    responses((status = 202, body = TenantJob),
        (status = 409, description = "`slug_taken`", body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`validation_failed`, `unknown_plan`, `idempotency_key_reused`", body = crate::api::openapi::ProblemDoc),
        (status = 503, description = "`no_capacity`", body = crate::api::openapi::ProblemDoc)))]
pub async fn create(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageTenants>,
    meta: RequestMeta,
    request: HttpRequest,
    body: Body<NewTenantRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let key = Key::from_request(&request, create_scope(&admin), &body)?;
    Ok(
        match create_tenant(&state, &admin, &meta, body, key).await? {
            Creation::Created(answer) => HttpResponse::Accepted().json(answer),
            Creation::Replayed(replay) => replay_response(&replay),
        },
    )
}

/// The idempotency scope of an admin's tenant creations (API and portal share it).
pub fn create_scope(admin: &CurrentAdmin) -> String {
    format!("admin:{}:create_tenant", admin.id)
}

/// What a create did: made the tenant, or replayed an earlier request with the same key.
#[derive(Debug)]
pub enum Creation {
    Created(TenantJob),
    Replayed(Replay),
}

/// Creates a tenant and queues its provisioning, for the API and the portal alike; with
/// `key`, a repeat of the same request replays the first answer instead.
pub async fn create_tenant(
    state: &AppState,
    admin: &Authorized<perm::ManageTenants>,
    meta: &RequestMeta,
    body: NewTenantRequest,
    key: Option<Key>,
) -> ApiResult<Creation> {
    let txn = state.db.begin().await?;
    if let Some(replay) = claim(&txn, key.as_ref()).await? {
        return Ok(Creation::Replayed(replay));
    }
    let created = lifecycle::create(
        &txn,
        NewTenant {
            slug: body.slug.clone(),
            name: body.name.clone(),
            plan: body.plan.clone(),
            admin_email: body.admin_email.clone(),
            admin_password_hash: None,
        },
    )
    .await
    .map_err(provision_error)?;
    let tenant = lifecycle::find(&txn, created.tenant_id)
        .await
        .map_err(provision_error)?;
    let answer = tenant_job(&tenant, created.job_id);
    let entry = Entry::new(admin, "tenant.created", "tenant", tenant.id).after(json!(body));
    audit::record(&txn, meta, entry).await?;
    if let Some(key) = &key {
        key.remember(&txn, 202, &json!(answer)).await?;
    }
    txn.commit().await?;
    Ok(Creation::Created(answer))
}

async fn claim(txn: &DatabaseTransaction, key: Option<&Key>) -> ApiResult<Option<Replay>> {
    match key {
        Some(key) => key.claim(txn).await,
        None => Ok(None),
    }
}

fn replay_response(replay: &Replay) -> HttpResponse {
    let status = StatusCode::from_u16(replay.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .insert_header(("Idempotent-Replayed", "true"))
        .json(&replay.body)
}

fn tenant_job(tenant: &tenants::Model, job_id: Uuid) -> TenantJob {
    TenantJob {
        id: tenant.id,
        slug: tenant.slug.clone(),
        name: tenant.name.clone(),
        plan: tenant.plan_code.clone(),
        status: tenant.status.as_str().to_owned(),
        job_id,
    }
}

/// One tenant with its placement, usage, billing state and last job.
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TenantView), (status = 404, description = "`tenant_not_found`", body = crate::api::openapi::ProblemDoc)))]
pub async fn show(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<TenantView>> {
    Ok(web::Json(
        show_tenant(&state.db, &admin, path.into_inner()).await?,
    ))
}

/// One tenant, for the API and the portal alike.
pub async fn show_tenant(
    db: &impl ConnectionTrait,
    _admin: &Authorized<perm::Read>,
    id: Uuid,
) -> ApiResult<TenantView> {
    view(db, id).await
}

/// Builds the full view of a tenant.
async fn view(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<TenantView> {
    let tenant = lifecycle::find(db, id).await.map_err(provision_error)?;
    let server = match tenant.server_id {
        Some(server_id) => database_servers::Entity::find_by_id(server_id)
            .one(db)
            .await?
            .map(|server| ServerRef {
                id: server.id,
                name: server.name,
            }),
        None => None,
    };
    let last_job = jobs::Entity::find()
        .filter(jobs::Column::TenantId.eq(id))
        .order_by_desc(jobs::Column::CreatedAt)
        .one(db)
        .await?;
    let (api_calls_today, api_calls_this_month) = api_calls(db, id).await?;
    Ok(TenantView {
        usage: Usage {
            api_calls_today,
            api_calls_this_month,
            storage_bytes: tenant.storage_bytes,
            user_count: tenant.user_count,
            sampled_at: tenant.usage_sampled_at.map(|at| at.with_timezone(&Utc)),
        },
        billing: Billing::from(&tenant),
        last_job: last_job.as_ref().map(JobView::from),
        server,
        id: tenant.id,
        slug: tenant.slug,
        name: tenant.name,
        status: tenant.status.as_str().to_owned(),
        status_reason: tenant.status_reason,
        suspension_kind: tenant.suspension_kind.map(|kind| kind.as_str().to_owned()),
        failure_reason: tenant.failure_reason,
        plan: tenant.plan_code,
        pending_migrations: if tenant.db_name.is_some() {
            migrations::pending_tenant_migrations(tenant.schema_version.as_deref())
        } else {
            Vec::new()
        },
        schema_version: tenant.schema_version,
        frozen_since: tenant.frozen_at.map(|at| at.with_timezone(&Utc)),
        admin_email: tenant.admin_email,
        created_at: tenant.created_at.with_timezone(&Utc),
        updated_at: tenant.updated_at.with_timezone(&Utc),
    })
}

async fn api_calls(db: &impl ConnectionTrait, id: Uuid) -> ApiResult<(i64, i64)> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT coalesce(sum(api_calls) FILTER (WHERE day = current_date), 0)::bigint AS today, \
                    coalesce(sum(api_calls), 0)::bigint AS month \
             FROM tenant_usage_daily \
             WHERE tenant_id = $1 AND day >= date_trunc('month', current_date)::date",
            [id.into()],
        ))
        .await?;
    match row {
        Some(row) => Ok((row.try_get("", "today")?, row.try_get("", "month")?)),
        None => Ok((0, 0)),
    }
}

/// Rename a tenant or move it to another plan (its runtimes hear of it at once).
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = TenantPatch,
    responses((status = 200, body = TenantView), (status = 404, body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`invalid_transition` (deleted tenants)", body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`validation_failed`, `unknown_plan`", body = crate::api::openapi::ProblemDoc)))]
pub async fn update(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageTenants>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<TenantPatch>,
) -> ApiResult<web::Json<TenantView>> {
    let body = body.into_inner()?;
    Ok(web::Json(
        update_tenant(&state, &admin, &meta, path.into_inner(), body).await?,
    ))
}

/// Renames a tenant or moves it to another plan, for the API and the portal alike.
pub async fn update_tenant(
    state: &AppState,
    admin: &Authorized<perm::ManageTenants>,
    meta: &RequestMeta,
    id: Uuid,
    body: TenantPatch,
) -> ApiResult<TenantView> {
    let txn = state.db.begin().await?;
    let change = TenantUpdate {
        name: body.name.clone(),
        plan: body.plan.clone(),
    };
    let before = lifecycle::update(&txn, id, change)
        .await
        .map_err(provision_error)?;
    let entry = Entry::new(admin, "tenant.updated", "tenant", id)
        .before(json!({ "name": before.name, "plan": before.plan_code }))
        .after(json!(body));
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    view(&state.db, id).await
}

/// Suspend an active tenant (its users are refused from the next request on).
#[utoipa::path(post, path = "/api/v1/tenants/{id}/suspend", tag = "tenants", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Reason,
    responses((status = 200, body = TenantView), (status = 404, body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`invalid_transition`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn suspend(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageTenants>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<Reason>,
) -> ApiResult<web::Json<TenantView>> {
    let body = body.into_inner()?;
    let change = StatusChange::Suspend;
    let id = path.into_inner();
    Ok(web::Json(
        change_status(&state, &admin, &meta, id, &body.reason, change).await?,
    ))
}

/// Resume a suspended tenant.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/resume", tag = "tenants", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Reason,
    responses((status = 200, body = TenantView), (status = 404, body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`invalid_transition`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn resume(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageTenants>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<Reason>,
) -> ApiResult<web::Json<TenantView>> {
    let body = body.into_inner()?;
    let change = StatusChange::Resume;
    let id = path.into_inner();
    Ok(web::Json(
        change_status(&state, &admin, &meta, id, &body.reason, change).await?,
    ))
}

/// What an admin does to a tenant's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Suspend,
    Resume,
}

/// Suspends or resumes a tenant with a reason, for the API and the portal alike.
pub async fn change_status(
    state: &AppState,
    admin: &Authorized<perm::ManageTenants>,
    meta: &RequestMeta,
    id: Uuid,
    reason: &str,
    change: StatusChange,
) -> ApiResult<TenantView> {
    Validator::default()
        .check("reason", validate::reason(reason))
        .finish()?;
    let txn = state.db.begin().await?;
    let before = lifecycle::find(&txn, id).await.map_err(provision_error)?;
    let action = match change {
        StatusChange::Suspend => {
            lifecycle::suspend(&txn, id, SuspensionKind::Admin, reason)
                .await
                .map_err(provision_error)?;
            "tenant.suspended"
        }
        StatusChange::Resume => {
            lifecycle::resume(&txn, id).await.map_err(provision_error)?;
            "tenant.resumed"
        }
    };
    let after = lifecycle::find(&txn, id).await.map_err(provision_error)?;
    let entry = Entry::new(admin, action, "tenant", id)
        .before(json!({ "status": before.status }))
        .after(json!({ "status": after.status }))
        .reason(reason.trim());
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    view(&state.db, id).await
}

/// Delete a tenant: 202 with the job that backs it up and drops its database.
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Reason,
    responses((status = 202, body = TenantJob), (status = 404, body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`invalid_transition`", body = crate::api::openapi::ProblemDoc),
        (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn delete(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageTenants>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<Reason>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let answer = delete_tenant(&state, &admin, &meta, path.into_inner(), &body.reason).await?;
    Ok(HttpResponse::Accepted().json(answer))
}

/// Deletes a tenant (a job backs it up and drops its database), for the API and the
/// portal alike.
pub async fn delete_tenant(
    state: &AppState,
    admin: &Authorized<perm::ManageTenants>,
    meta: &RequestMeta,
    id: Uuid,
    reason: &str,
) -> ApiResult<TenantJob> {
    Validator::default()
        .check("reason", validate::reason(reason))
        .finish()?;
    let txn = state.db.begin().await?;
    let before = lifecycle::find(&txn, id).await.map_err(provision_error)?;
    let job_id = lifecycle::delete(&txn, id, reason)
        .await
        .map_err(provision_error)?;
    let tenant = lifecycle::find(&txn, id).await.map_err(provision_error)?;
    let entry = Entry::new(admin, "tenant.deleted", "tenant", id)
        .before(json!({ "status": before.status }))
        .after(json!({ "status": tenant.status, "job_id": job_id }))
        .reason(reason.trim());
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    Ok(tenant_job(&tenant, job_id))
}
