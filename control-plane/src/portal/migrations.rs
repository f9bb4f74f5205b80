//! The fleet migration pages: the runs, newest first; starting one, always previewed
//! first (the dry run's plan, then "Start" with the same settings); a run's page whose
//! progress panel htmx re-fetches every two seconds until the run is no longer queued or
//! running (the panel then answers status 286, which stops htmx polling); resume and
//! cancel. Each calls the admin API's own function.

use crate::api::meta::RequestMeta;
use crate::api::migrations::{self as api, RunChange, StartRun, TenantFilter};
use crate::api::pagination::PageQuery;
use crate::auth::guard::perm;
use crate::auth::roles::Action;
use crate::portal::errors::{PageError, PageResult};
use crate::portal::nav;
use crate::portal::session::{PortalForm, Signed};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::ApiError;
use common::fleet::{DryRunView, RunDetail, RunTenantView, RunView};
use common::web::badge::Badge;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::paging::Pager;
use common::web::render;
use common::web::usage::{Unit, UsageBar};
use serde::Deserialize;
use uuid::Uuid;

/// htmx stops polling an element whose request answers 286.
const STOP_POLLING: u16 = 286;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/migrations", web::get().to(list))
        .route("/migrations", web::post().to(start))
        .route("/migrations/preview", web::post().to(preview))
        .route("/migrations/{id}", web::get().to(show))
        .route("/migrations/{id}/progress", web::get().to(progress))
        .route("/migrations/{id}/{change}", web::post().to(change));
}

/// The start form's settings, as typed (empty: the API's default).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    canary_percent: String,
    #[serde(default)]
    max_per_server: String,
    #[serde(default)]
    max_failure_ratio: String,
    #[serde(default)]
    lock_timeout_ms: String,
}

impl StartForm {
    /// The API's request; a field that is not a number is an error next to it.
    fn request(&self) -> Result<StartRun, FormErrors> {
        let mut errors = FormErrors::default();
        let mut whole = |text: &str, field: &str| -> Option<u32> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            let parsed = text.parse().ok();
            if parsed.is_none() {
                errors.add(field, "must be a whole number");
            }
            parsed
        };
        let canary_percent = whole(&self.canary_percent, "canary_percent");
        let max_per_server = whole(&self.max_per_server, "max_per_server");
        let lock_timeout_ms = whole(&self.lock_timeout_ms, "lock_timeout_ms");
        let ratio = self.max_failure_ratio.trim();
        let max_failure_ratio = if ratio.is_empty() {
            None
        } else {
            let parsed = ratio.parse().ok();
            if parsed.is_none() {
                errors.add("max_failure_ratio", "must be a number from 0 to 1");
            }
            parsed
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(StartRun {
            tenant_ids: None,
            plan_codes: None,
            server_ids: None,
            dry_run: false,
            canary_count: None,
            canary_percent,
            max_per_server,
            max_failures: None,
            max_failure_ratio,
            lock_timeout_ms,
        })
    }
}

struct Row {
    run: RunView,
    badge: Badge,
}

#[derive(Template)]
#[template(path = "portal/migrations/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    pager: Pager,
    form: StartForm,
    errors: FormErrors,
    /// The dry run's answer, once previewed: the start button appears with it.
    plan: Option<DryRunView>,
    can_manage: bool,
}

async fn list_page(
    state: &AppState,
    signed: &Signed,
    paging: &PageQuery,
    form: StartForm,
    errors: FormErrors,
    plan: Option<DryRunView>,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let page = api::list_runs(state, &reader, paging).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page_html = ListPage {
        layout: nav::layout(signed, "Migrations"),
        rows: page
            .items
            .into_iter()
            .map(|run| Row {
                badge: Badge::status(&run.state),
                run,
            })
            .collect(),
        pager: Pager::new("/migrations", &[], page.next_cursor.as_deref()),
        form,
        errors,
        plan,
        can_manage: signed.can(Action::ManageServers),
    };
    Ok(render::page(status, &page_html.layout, &page_html))
}

/// `GET /migrations`.
pub async fn list(
    state: web::Data<AppState>,
    signed: Signed,
    paging: web::Query<PageQuery>,
) -> PageResult {
    list_page(
        &state,
        &signed,
        &paging,
        StartForm::default(),
        FormErrors::default(),
        None,
    )
    .await
}

fn first_page() -> PageQuery {
    PageQuery {
        limit: None,
        cursor: None,
    }
}

/// `POST /migrations/preview`: the dry run, with the start button.
pub async fn preview(state: web::Data<AppState>, submitted: PortalForm<StartForm>) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let operator = signed.authorize::<perm::ManageServers>()?;
    let (plan, errors) = match form.request() {
        Ok(request) => match api::plan_run(&state, &operator, &request).await {
            Ok(plan) => (Some(plan), FormErrors::default()),
            Err(error) => (None, FormErrors::from_api_error(error, &[])?),
        },
        Err(errors) => (None, errors),
    };
    list_page(&state, &signed, &first_page(), form, errors, plan).await
}

/// `POST /migrations`: start the run previewed.
pub async fn start(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    submitted: PortalForm<StartForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let operator = signed.authorize::<perm::ManageServers>()?;
    let outcome = match form.request() {
        Ok(body) => api::start_run(&state, &operator, &meta, &body)
            .await
            .map_err(|error| FormErrors::from_api_error(error, &[])),
        Err(errors) => Err(Ok(errors)),
    };
    match outcome {
        Ok(run) => Ok(render::redirect(
            &request,
            &format!("/migrations/{}", run.id),
            Some(Flash::success(format!(
                "Run started: {} tenants to {}.",
                run.counts.total, run.target_version
            ))),
        )),
        Err(errors) => {
            let errors = errors?;
            list_page(&state, &signed, &first_page(), form, errors, None).await
        }
    }
}

fn run_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| {
        PageError::Api(ApiError::not_found(
            "migration_run_not_found",
            format!("There is no migration run {raw}."),
        ))
    })
}

/// A run's counts and state: the part of its page that follows it.
#[derive(Template)]
#[template(path = "portal/migrations/progress.html")]
struct Progress {
    run: RunView,
    badge: Badge,
    done: UsageBar,
    /// Queued or running: htmx polls again.
    active: bool,
    can_resume: bool,
    can_cancel: bool,
    csrf: String,
}

impl Progress {
    fn new(signed: &Signed, run: RunView) -> Self {
        let manage = signed.can(Action::ManageServers);
        let state = run.state.as_str();
        Self {
            badge: Badge::status(state),
            done: UsageBar::new(
                "Tenants done",
                run.counts.succeeded + run.counts.failed + run.counts.skipped,
                Some(run.counts.total),
                Unit::Count,
            ),
            active: matches!(state, "queued" | "running"),
            can_resume: manage && matches!(state, "halted" | "cancelled" | "failed"),
            can_cancel: manage && matches!(state, "queued" | "running" | "halted"),
            csrf: signed.session.csrf.clone(),
            run,
        }
    }

    fn html(&self) -> String {
        self.render().unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "portal/migrations/show.html")]
struct ShowPage {
    layout: Layout,
    run: RunView,
    panel: String,
    tenants: Vec<(RunTenantView, Badge)>,
    pager: Pager,
}

async fn detail(
    state: &AppState,
    signed: &Signed,
    id: &str,
    paging: &PageQuery,
) -> Result<RunDetail, PageError> {
    let reader = signed.authorize::<perm::Read>()?;
    let filter = TenantFilter { state: None };
    Ok(api::show_run(state, &reader, run_id(id)?, &filter, paging).await?)
}

/// `GET /migrations/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    signed: Signed,
    id: web::Path<String>,
    paging: web::Query<PageQuery>,
) -> PageResult {
    let detail = detail(&state, &signed, &id, &paging).await?;
    let page = ShowPage {
        layout: nav::layout(&signed, "Migration run"),
        panel: Progress::new(&signed, detail.run.clone()).html(),
        pager: Pager::new(
            &format!("/migrations/{}", detail.run.id),
            &[],
            detail.next_cursor.as_deref(),
        ),
        tenants: detail
            .tenants
            .into_iter()
            .map(|tenant| {
                let badge = Badge::status(&tenant.state);
                (tenant, badge)
            })
            .collect(),
        run: detail.run,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `GET /migrations/{id}/progress`: the panel alone; 286 once the run has ended, so the
/// page stops asking.
pub async fn progress(
    state: web::Data<AppState>,
    signed: Signed,
    id: web::Path<String>,
) -> PageResult {
    let one = PageQuery {
        limit: Some(1),
        cursor: None,
    };
    let detail = detail(&state, &signed, &id, &one).await?;
    let panel = Progress::new(&signed, detail.run);
    let status = if panel.active {
        StatusCode::OK
    } else {
        StatusCode::from_u16(STOP_POLLING).unwrap_or(StatusCode::OK)
    };
    Ok(render::html(status).body(panel.html()))
}

/// `POST /migrations/{id}/{resume|cancel}`.
pub async fn change(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    path: web::Path<(String, String)>,
    submitted: PortalForm<Vec<(String, String)>>,
) -> PageResult {
    let (id, verb) = path.into_inner();
    let change = match verb.as_str() {
        "resume" => RunChange::Resume,
        "cancel" => RunChange::Cancel,
        _ => {
            return Err(PageError::Api(ApiError::not_found(
                "not_found",
                format!("There is no run action `{verb}`."),
            )));
        }
    };
    let operator = submitted.signed.authorize::<perm::ManageServers>()?;
    let id = run_id(&id)?;
    let flash = match api::change_run(&state, &operator, &meta, id, change).await {
        Ok(run) => Flash::success(format!("The run is {}.", run.state)),
        Err(ApiError::Client(problem)) if problem.status == 409 => {
            Flash::error(problem.detail.clone())
        }
        Err(error) => return Err(error.into()),
    };
    Ok(render::redirect(
        &request,
        &format!("/migrations/{id}"),
        Some(flash),
    ))
}
