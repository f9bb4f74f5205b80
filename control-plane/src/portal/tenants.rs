//! The tenants pages: the list (search, filters, sort, keyset paging), a tenant's page
//! (placement, schema, usage against its plan's limits, billing), and its status panel,
//! which htmx re-fetches every two seconds while the tenant is in transition, so a tenant
//! being created is seen to become active without a reload. The actions live in
//! [`crate::portal::tenant_actions`].

use crate::api::pagination::PageQuery;
use crate::api::plans::PlanView;
use crate::api::servers::ServerView;
use crate::api::tenants::{self as api, TenantFilter, TenantSummary, TenantView};
use crate::auth::guard::{Authorized, perm};
use crate::auth::roles::Action;
use crate::portal::errors::{PageError, PageResult};
use crate::portal::nav;
use crate::portal::session::Signed;
use crate::portal::tenant_actions;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::api_error::{ApiError, ApiResult};
use common::entities::BillingState;
use common::web::badge::Badge;
use common::web::layout::Layout;
use common::web::paging::{Pager, SortLink, sort_link};
use common::web::render;
use common::web::usage::{Unit, UsageBar};
use uuid::Uuid;

/// Registers the tenants pages and their actions, fixed paths before the patterns that
/// would swallow them (`/tenants/new` before `/tenants/{id}`).
pub fn configure(config: &mut web::ServiceConfig) {
    use tenant_actions as actions;
    config
        .route("/tenants", web::get().to(list))
        .route("/tenants", web::post().to(actions::create))
        .route("/tenants/new", web::get().to(actions::new_form))
        .route("/tenants/{id}", web::get().to(show))
        .route("/tenants/{id}/status", web::get().to(status_panel))
        .route("/tenants/{id}/edit", web::get().to(actions::edit_form))
        .route("/tenants/{id}/edit", web::post().to(actions::edit))
        .route(
            "/tenants/{id}/impersonate",
            web::get().to(actions::impersonate_form),
        )
        .route(
            "/tenants/{id}/impersonate",
            web::post().to(actions::impersonate),
        )
        .route(
            "/tenants/{id}/{change}",
            web::get().to(actions::confirm_form),
        )
        .route("/tenants/{id}/{change}", web::post().to(actions::change));
}

#[derive(Template)]
#[template(path = "portal/tenants/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    filter: TenantFilter,
    search: String,
    server_filter: String,
    statuses: Vec<(String, String)>,
    plans: Vec<(String, String)>,
    servers: Vec<(String, String)>,
    billing_states: Vec<(String, String)>,
    headers: Vec<SortLink>,
    pager: Pager,
    can_create: bool,
}

struct Row {
    tenant: TenantSummary,
    badge: Badge,
    server: String,
}

/// `GET /tenants`.
pub async fn list(
    state: web::Data<AppState>,
    signed: Signed,
    filter: web::Query<TenantFilter>,
    paging: web::Query<PageQuery>,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let mut filter = filter.into_inner();
    // Newest first unless asked otherwise: the tenants people look for are the recent ones.
    if filter.sort.is_none() {
        filter.sort = Some("created".into());
        filter.dir = Some("desc".into());
    }
    let page = api::list_tenants(&state.db, &reader, &filter, &paging).await?;
    let servers = servers(&state, &reader).await?;
    let params = list_params(&filter);
    let current = (
        filter.sort.as_deref().unwrap_or("created"),
        filter.dir.as_deref() == Some("desc"),
    );
    let page_html = ListPage {
        layout: nav::layout(&signed, "Tenants"),
        rows: rows(page.items, &servers),
        pager: Pager::new("/tenants", &params, page.next_cursor.as_deref()),
        headers: vec![
            sort_link("/tenants", &params, "Slug", "slug", current),
            sort_link("/tenants", &params, "Name", "name", current),
            sort_link("/tenants", &params, "Created", "created", current),
        ],
        search: filter.search.clone().unwrap_or_default(),
        server_filter: filter.server.map(|id| id.to_string()).unwrap_or_default(),
        statuses: choices(
            "Any status",
            common::entities::TenantStatus::ALL
                .iter()
                .map(|status| status.as_str()),
        ),
        plans: with_any(
            "Any plan",
            plans(&state, &reader)
                .await?
                .into_iter()
                .map(|plan| (plan.code, plan.name)),
        ),
        servers: with_any(
            "Any server",
            servers
                .iter()
                .map(|server| (server.id.to_string(), server.name.clone())),
        ),
        billing_states: choices(
            "Any billing state",
            BillingState::ALL.iter().map(|state| state.as_str()),
        ),
        can_create: signed.can(Action::ManageTenants),
        filter,
    };
    Ok(render::page(StatusCode::OK, &page_html.layout, &page_html))
}

fn list_params(filter: &TenantFilter) -> Vec<(&'static str, String)> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    vec![
        ("search", text(&filter.search)),
        ("status", text(&filter.status)),
        ("plan", text(&filter.plan)),
        (
            "server",
            filter.server.map(|id| id.to_string()).unwrap_or_default(),
        ),
        ("billing", text(&filter.billing)),
        ("sort", text(&filter.sort)),
        ("dir", text(&filter.dir)),
    ]
}

fn rows(tenants: Vec<TenantSummary>, servers: &[ServerView]) -> Vec<Row> {
    tenants
        .into_iter()
        .map(|tenant| Row {
            badge: Badge::status(&tenant.status),
            server: server_name(servers, tenant.server_id),
            tenant,
        })
        .collect()
}

fn server_name(servers: &[ServerView], id: Option<Uuid>) -> String {
    servers
        .iter()
        .find(|server| Some(server.id) == id)
        .map_or_else(|| "—".to_owned(), |server| server.name.clone())
}

/// `(value, label)` options for a filter, the first meaning "any".
fn choices<'a>(any: &str, values: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    with_any(
        any,
        values.map(|value| (value.to_owned(), value.replace('_', " "))),
    )
}

fn with_any(any: &str, values: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    std::iter::once((String::new(), any.to_owned()))
        .chain(values)
        .collect()
}

/// Every database server (for names and the server filter).
pub async fn servers(
    state: &web::Data<AppState>,
    reader: &Authorized<perm::Read>,
) -> ApiResult<Vec<ServerView>> {
    Ok(crate::api::servers::list_servers(state, reader)
        .await?
        .items)
}

/// Every plan (for the plan filter and the create and edit forms).
pub async fn plans(
    state: &web::Data<AppState>,
    reader: &Authorized<perm::Read>,
) -> ApiResult<Vec<PlanView>> {
    Ok(crate::api::plans::list_plans(state, reader).await?.items)
}

#[derive(Template)]
#[template(path = "portal/tenants/show.html")]
struct ShowPage {
    layout: Layout,
    tenant: TenantView,
    panel: String,
    usage: Vec<UsageBar>,
    billing: Badge,
    plan_name: String,
}

/// `GET /tenants/{id}`.
pub async fn show(state: web::Data<AppState>, signed: Signed, id: web::Path<String>) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let tenant = api::show_tenant(&state.db, &reader, tenant_id(&id)?).await?;
    let plan = plans(&state, &reader)
        .await?
        .into_iter()
        .find(|plan| plan.code == tenant.plan);
    let page = ShowPage {
        layout: nav::layout(&signed, tenant.name.clone()),
        panel: StatusPanel::new(&signed, &tenant).render_html(),
        usage: usage_bars(&tenant, plan.as_ref()),
        billing: Badge::status(&tenant.billing.state),
        plan_name: plan.map_or_else(|| tenant.plan.clone(), |plan| plan.name),
        tenant,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// A tenant id from the path; anything else is a tenant that does not exist.
pub fn tenant_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| {
        PageError::Api(ApiError::not_found(
            "tenant_not_found",
            format!("There is no tenant {raw}."),
        ))
    })
}

fn usage_bars(tenant: &TenantView, plan: Option<&PlanView>) -> Vec<UsageBar> {
    // A limit of 0 means "none set" for these three.
    let limit = |pick: fn(&PlanView) -> i64| plan.map(pick).filter(|limit| *limit > 0);
    vec![
        UsageBar::new(
            "Users",
            i64::from(tenant.usage.user_count.unwrap_or(0)),
            limit(|plan| plan.limits.max_users),
            Unit::Count,
        ),
        UsageBar::new(
            "Storage",
            tenant.usage.storage_bytes.unwrap_or(0),
            limit(|plan| plan.limits.max_storage_mb).map(|mb| mb * 1024 * 1024),
            Unit::Bytes,
        ),
        UsageBar::new(
            "API calls this month",
            tenant.usage.api_calls_this_month,
            limit(|plan| plan.limits.api_calls_per_month),
            Unit::Count,
        ),
    ]
}

/// The part of a tenant's page that follows its status: badge, progress of its last job,
/// and the actions its status and the admin's role allow.
#[derive(Template)]
#[template(path = "portal/tenants/status.html")]
pub struct StatusPanel {
    id: Uuid,
    slug: String,
    badge: Badge,
    reason: Option<String>,
    job: Option<JobProgress>,
    /// Still changing: htmx polls again.
    transitional: bool,
    actions: Vec<(&'static str, &'static str)>,
}

impl StatusPanel {
    fn new(signed: &Signed, tenant: &TenantView) -> Self {
        let transitional = matches!(
            tenant.status.as_str(),
            "pending" | "provisioning" | "deleting"
        ) || tenant.frozen_since.is_some();
        Self {
            id: tenant.id,
            slug: tenant.slug.clone(),
            badge: Badge::status(&tenant.status),
            reason: tenant
                .failure_reason
                .clone()
                .or_else(|| tenant.status_reason.clone()),
            job: tenant.last_job.as_ref().map(JobProgress::of),
            transitional,
            actions: tenant_actions::available(signed, tenant),
        }
    }

    fn render_html(&self) -> String {
        self.render().unwrap_or_default()
    }
}

/// How far the tenant's last job got.
struct JobProgress {
    id: Uuid,
    kind: String,
    badge: Badge,
    current_step: Option<String>,
    steps_done: usize,
    attempts: i32,
    max_attempts: i32,
    last_error: Option<String>,
}

impl JobProgress {
    fn of(job: &crate::api::jobs::JobView) -> Self {
        Self {
            id: job.id,
            kind: job.kind.clone(),
            badge: Badge::status(&job.state),
            current_step: job
                .current_step
                .clone()
                .filter(|_| matches!(job.state.as_str(), "queued" | "running")),
            steps_done: job.completed_steps.len(),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            last_error: job.last_error.clone(),
        }
    }
}

/// `GET /tenants/{id}/status`: the status panel alone (htmx polls it).
pub async fn status_panel(
    state: web::Data<AppState>,
    signed: Signed,
    id: web::Path<String>,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let tenant = api::show_tenant(&state.db, &reader, tenant_id(&id)?).await?;
    let panel = StatusPanel::new(&signed, &tenant).render_html();
    Ok(render::html(StatusCode::OK).body(panel))
}
