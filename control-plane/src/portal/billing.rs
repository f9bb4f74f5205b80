//! The billing page: Stripe's event ledger, newest first, filtered by state, type and
//! tenant a page at a time, a failed event marked in red with its error and a retry
//! button (for roles that manage billing); and [`tenant_box`], a tenant's billing state
//! for the tenant page to include.

use crate::api::billing;
use crate::api::billing_events::{self as api, EventFilter, EventView};
use crate::api::meta::RequestMeta;
use crate::api::pagination::PageQuery;
use crate::auth::guard::{Authorized, perm};
use crate::auth::roles::Action;
use crate::portal::errors::PageResult;
use crate::portal::nav;
use crate::portal::session::{PortalForm, Signed};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::{ApiError, ApiResult};
use common::billing::BillingView;
use common::web::badge::Badge;
use common::web::flash::Flash;
use common::web::layout::Layout;
use common::web::paging::Pager;
use common::web::render;
use serde::Deserialize;
use uuid::Uuid;

const STATES: [&str; 4] = ["pending", "processed", "ignored", "failed"];

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/billing", web::get().to(list))
        .route("/billing/events/{id}/retry", web::post().to(retry));
}

/// The filter form as typed (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    r#type: String,
    #[serde(default)]
    tenant: String,
}

impl FilterForm {
    fn filter(&self) -> ApiResult<EventFilter> {
        let some = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
        let tenant = match some(&self.tenant) {
            Some(text) => Some(
                text.parse::<Uuid>()
                    .map_err(|_| ApiError::invalid("tenant", "must be a tenant id"))?,
            ),
            None => None,
        };
        Ok(EventFilter {
            state: some(&self.state),
            tenant,
            r#type: some(&self.r#type),
        })
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("state", self.state.clone()),
            ("type", self.r#type.clone()),
            ("tenant", self.tenant.clone()),
        ]
    }
}

struct Row {
    event: EventView,
    badge: Badge,
}

#[derive(Template)]
#[template(path = "portal/billing/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    form: FilterForm,
    states: Vec<(String, String)>,
    pager: Pager,
    can_retry: bool,
}

/// `GET /billing`.
pub async fn list(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Query<FilterForm>,
    paging: web::Query<PageQuery>,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let form = form.into_inner();
    let page = api::list_events(&state, &reader, &form.filter()?, &paging).await?;
    let page_html = ListPage {
        layout: nav::layout(&signed, "Billing events"),
        rows: page
            .items
            .into_iter()
            .map(|event| Row {
                badge: Badge::status(&event.state),
                event,
            })
            .collect(),
        pager: Pager::new("/billing", &form.params(), page.next_cursor.as_deref()),
        states: std::iter::once((String::new(), "Any state".to_owned()))
            .chain(STATES.iter().map(|s| ((*s).to_owned(), (*s).to_owned())))
            .collect(),
        can_retry: signed.can(Action::ManageBilling),
        form,
    };
    Ok(render::page(StatusCode::OK, &page_html.layout, &page_html))
}

/// `POST /billing/events/{id}/retry`.
pub async fn retry(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    id: web::Path<String>,
    submitted: PortalForm<Vec<(String, String)>>,
) -> PageResult {
    let admin = submitted.signed.authorize::<perm::ManageBilling>()?;
    let flash = match api::retry_event(&state, &admin, &meta, &id).await {
        Ok(event) => Flash::success(format!("Event {} is queued again.", event.id)),
        Err(ApiError::Client(problem)) if problem.status == 409 => {
            Flash::error(problem.detail.clone())
        }
        Err(error) => return Err(error.into()),
    };
    Ok(render::redirect(
        &request,
        "/billing?state=failed",
        Some(flash),
    ))
}

/// A tenant's billing, for the tenant page: its plan, subscription state and period, or
/// why there is none to show.
#[derive(Template)]
#[template(path = "portal/billing/tenant_box.html")]
pub struct TenantBox {
    view: Option<BillingView>,
    badge: Badge,
    /// Said instead when billing is off or the tenant has none.
    note: Option<String>,
}

/// The billing box of tenant `id` as HTML (billing disabled is a note, not an error).
pub async fn tenant_box(
    state: &AppState,
    reader: &Authorized<perm::Read>,
    id: Uuid,
) -> ApiResult<String> {
    let rendered = match billing::show_billing(state, reader, id).await {
        Ok(view) => TenantBox {
            badge: Badge::status(&view.state),
            view: Some(view),
            note: None,
        },
        Err(ApiError::Client(problem)) if problem.code == "billing_disabled" => TenantBox {
            view: None,
            badge: Badge::status("disabled"),
            note: Some("Billing is not configured on this platform.".into()),
        },
        Err(error) => return Err(error),
    };
    rendered.render().map_err(ApiError::internal)
}
