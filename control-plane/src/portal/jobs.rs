//! The jobs pages: every provisioning and fleet job, newest first, filtered by status,
//! kind and tenant a page at a time; a job's page with its steps done, attempts and last
//! error, where a failed provisioning says plainly what it means.

use crate::api::jobs::{self as api, JobFilter, JobView};
use crate::api::pagination::PageQuery;
use crate::auth::guard::perm;
use crate::portal::errors::{PageError, PageResult};
use crate::portal::nav;
use crate::portal::session::Signed;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::api_error::ApiError;
use common::entities::JobState;
use common::web::badge::Badge;
use common::web::layout::Layout;
use common::web::paging::Pager;
use common::web::render;
use provisioner::JobKind;
use serde::Deserialize;
use uuid::Uuid;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/jobs", web::get().to(list))
        .route("/jobs/{id}", web::get().to(show));
}

/// The filter form as typed (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    tenant: String,
}

impl FilterForm {
    fn filter(&self) -> Result<JobFilter, ApiError> {
        let some = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
        let tenant = match some(&self.tenant) {
            Some(text) => Some(
                text.parse()
                    .map_err(|_| ApiError::invalid("tenant", "must be a tenant id"))?,
            ),
            None => None,
        };
        Ok(JobFilter {
            status: some(&self.status),
            kind: some(&self.kind),
            tenant,
        })
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("status", self.status.clone()),
            ("kind", self.kind.clone()),
            ("tenant", self.tenant.clone()),
        ]
    }
}

struct Row {
    job: JobView,
    badge: Badge,
}

#[derive(Template)]
#[template(path = "portal/jobs/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    form: FilterForm,
    statuses: Vec<(String, String)>,
    kinds: Vec<(String, String)>,
    pager: Pager,
}

fn options<'a>(any: &str, values: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    std::iter::once((String::new(), any.to_owned()))
        .chain(values.map(|value| (value.to_owned(), value.replace('_', " "))))
        .collect()
}

/// `GET /jobs`.
pub async fn list(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Query<FilterForm>,
    paging: web::Query<PageQuery>,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let form = form.into_inner();
    let page = api::list_jobs(&state, &reader, &form.filter()?, &paging).await?;
    let page_html = ListPage {
        layout: nav::layout(&signed, "Jobs"),
        rows: page
            .items
            .into_iter()
            .map(|job| Row {
                badge: Badge::status(&job.state),
                job,
            })
            .collect(),
        pager: Pager::new("/jobs", &form.params(), page.next_cursor.as_deref()),
        statuses: options("Any status", JobState::ALL.iter().map(|s| s.as_str())),
        kinds: options("Any kind", JobKind::ALL.iter().map(|kind| kind.as_str())),
        form,
    };
    Ok(render::page(StatusCode::OK, &page_html.layout, &page_html))
}

#[derive(Template)]
#[template(path = "portal/jobs/show.html")]
struct ShowPage {
    layout: Layout,
    job: JobView,
    badge: Badge,
    /// What a failure means to an operator, beside the raw error.
    explanation: Option<&'static str>,
}

/// What a failed job of `kind` leaves behind, in words.
fn explain(job: &JobView) -> Option<&'static str> {
    if job.state != "failed" {
        return None;
    }
    Some(match job.kind.as_str() {
        "provision" => {
            "The tenant could not be provisioned: it is marked failed and has no working \
             database. Fix the cause below (often a server that did not answer or ran out of \
             room), then delete the tenant and create it again."
        }
        "delete" => "The tenant's deletion stopped part way; its database may still exist.",
        "backup" => "The backup was not taken; older backups are untouched.",
        "restore" | "relocate" => {
            "The tenant stayed on its previous database; nothing was switched."
        }
        "migration_run" => "The fleet migration run stopped; see the migrations page.",
        _ => "The job gave up after its attempts; the error below says why.",
    })
}

/// `GET /jobs/{id}`.
pub async fn show(state: web::Data<AppState>, signed: Signed, id: web::Path<String>) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let id = Uuid::parse_str(&id).map_err(|_| {
        PageError::Api(ApiError::not_found(
            "job_not_found",
            format!("There is no job {id}."),
        ))
    })?;
    let job = api::show_job(&state, &reader, id).await?;
    let page = ShowPage {
        layout: nav::layout(&signed, format!("Job {}", job.kind)),
        badge: Badge::status(&job.state),
        explanation: explain(&job),
        job,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}
