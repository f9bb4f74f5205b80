//! The audit log page: the API's filters (actor, actor kind, action or `prefix.`, target,
//! time range), newest first a page at a time, each entry's before and after shown as
//! indented JSON.

use crate::api::audit::{self as api, AuditEntry, AuditFilter};
use crate::api::pagination::PageQuery;
use crate::auth::guard::perm;
use crate::portal::errors::PageResult;
use crate::portal::nav;
use crate::portal::session::Signed;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::entities::AuditActorKind;
use common::web::layout::Layout;
use common::web::paging::Pager;
use common::web::render;
use serde::Deserialize;

pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/audit", web::get().to(list));
}

/// The filter form as typed (empty fields mean "any"; times as the browser's
/// `datetime-local`, read as UTC).
#[derive(Debug, Default, Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    actor_id: String,
    #[serde(default)]
    actor_kind: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target_kind: String,
    #[serde(default)]
    target_id: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|text| !text.is_empty())
}

/// A time typed as RFC 3339 or `YYYY-MM-DDTHH:MM` (UTC).
fn time(text: &str, field: &str) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(text) = some(text) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.to_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M").map(|at| at.and_utc()))
        .map(Some)
        .map_err(|_| ApiError::invalid(field, "must be a date and time"))
}

impl FilterForm {
    fn filter(&self) -> ApiResult<AuditFilter> {
        let actor_id = match some(&self.actor_id) {
            Some(id) => Some(
                id.parse()
                    .map_err(|_| ApiError::invalid("actor_id", "must be an admin id"))?,
            ),
            None => None,
        };
        Ok(AuditFilter {
            actor_id,
            actor_kind: some(&self.actor_kind),
            action: some(&self.action),
            target_kind: some(&self.target_kind),
            target_id: some(&self.target_id),
            since: time(&self.since, "since")?,
            until: time(&self.until, "until")?,
        })
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("actor_id", self.actor_id.clone()),
            ("actor_kind", self.actor_kind.clone()),
            ("action", self.action.clone()),
            ("target_kind", self.target_kind.clone()),
            ("target_id", self.target_id.clone()),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
        ]
    }
}

/// An entry with its before and after as indented JSON.
struct Row {
    entry: AuditEntry,
    before: Option<String>,
    after: Option<String>,
}

fn pretty(value: &Option<serde_json::Value>) -> Option<String> {
    value
        .as_ref()
        .filter(|value| !value.is_null())
        .map(|value| serde_json::to_string_pretty(value).unwrap_or_default())
}

#[derive(Template)]
#[template(path = "portal/audit/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    form: FilterForm,
    actor_kinds: Vec<(String, String)>,
    pager: Pager,
}

/// `GET /audit`.
pub async fn list(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Query<FilterForm>,
    paging: web::Query<PageQuery>,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let form = form.into_inner();
    let page = api::list_entries(&state, &reader, &form.filter()?, &paging).await?;
    let page_html = ListPage {
        layout: nav::layout(&signed, "Audit log"),
        rows: page
            .items
            .into_iter()
            .map(|entry| Row {
                before: pretty(&entry.before),
                after: pretty(&entry.after),
                entry,
            })
            .collect(),
        pager: Pager::new("/audit", &form.params(), page.next_cursor.as_deref()),
        actor_kinds: std::iter::once((String::new(), "Anyone".to_owned()))
            .chain(
                AuditActorKind::ALL
                    .iter()
                    .map(|kind| (kind.as_str().to_owned(), kind.as_str().to_owned())),
            )
            .collect(),
        form,
    };
    Ok(render::page(StatusCode::OK, &page_html.layout, &page_html))
}
