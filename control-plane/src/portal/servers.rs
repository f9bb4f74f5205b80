//! The database servers pages: every server with how full it is (live tenants against its
//! capacity), registering one, and a server's page to change its capacity and spare
//! target, drain or activate it (after a confirmation), and reach its tenants. Each calls
//! the admin API's own function.

use crate::api::meta::RequestMeta;
use crate::api::servers::{self as api, RegisterServer, ServerPatch, ServerView};
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
use common::web::badge::Badge;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use common::web::usage::{Unit, UsageBar};
use serde::Deserialize;
use uuid::Uuid;

/// Registers the servers pages (`/servers/new` before `/servers/{id}`).
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/servers", web::get().to(list))
        .route("/servers", web::post().to(register))
        .route("/servers/new", web::get().to(new_form))
        .route("/servers/{id}", web::get().to(show))
        .route("/servers/{id}", web::post().to(update))
        .route("/servers/{id}/{change}", web::get().to(confirm_form))
        .route("/servers/{id}/{change}", web::post().to(change));
}

/// A server with its fill level.
struct Row {
    server: ServerView,
    badge: Badge,
    fill: UsageBar,
}

impl Row {
    fn of(server: ServerView) -> Self {
        Self {
            badge: Badge::status(&server.state),
            fill: UsageBar::new(
                "Tenants",
                server.tenants,
                Some(i64::from(server.capacity)),
                Unit::Count,
            ),
            server,
        }
    }
}

#[derive(Template)]
#[template(path = "portal/servers/list.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    can_manage: bool,
}

/// `GET /servers`.
pub async fn list(state: web::Data<AppState>, signed: Signed) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let servers = api::list_servers(&state, &reader).await?.items;
    let page = ListPage {
        layout: nav::layout(&signed, "Database servers"),
        rows: servers.into_iter().map(Row::of).collect(),
        can_manage: signed.can(Action::ManageServers),
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

#[derive(Template)]
#[template(path = "portal/servers/new.html")]
struct NewPage {
    layout: Layout,
    form: RegisterForm,
    errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    name: String,
    /// Never shown again once sent (it holds a superuser password).
    #[serde(default)]
    admin_url: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    spare_target: String,
}

fn new_page(signed: &Signed, form: RegisterForm, errors: FormErrors) -> PageResult {
    let status = errors.status();
    let page = NewPage {
        layout: nav::layout(signed, "Register a server"),
        form: RegisterForm {
            admin_url: String::new(),
            ..form
        },
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// A whole number typed into `field` ("" is `None`); an error next to it otherwise.
fn number(text: &str, field: &str, errors: &mut FormErrors) -> Option<i32> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let parsed = text.parse().ok();
    if parsed.is_none() {
        errors.add(field, "must be a whole number");
    }
    parsed
}

/// `GET /servers/new`.
pub async fn new_form(signed: Signed) -> PageResult {
    signed.authorize::<perm::ManageServers>()?;
    let form = RegisterForm {
        spare_target: "2".into(),
        ..RegisterForm::default()
    };
    new_page(&signed, form, FormErrors::default())
}

/// `POST /servers`: connects to the server first (the API's own check).
pub async fn register(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    submitted: PortalForm<RegisterForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let admin = signed.authorize::<perm::ManageServers>()?;
    let mut errors = FormErrors::default();
    let capacity = number(&form.capacity, "capacity", &mut errors);
    let spare_target = number(&form.spare_target, "spare_target", &mut errors);
    if capacity.is_none() && errors.field("capacity").is_none() {
        errors.add("capacity", "is required");
    }
    let Some(capacity) = capacity.filter(|_| errors.is_empty()) else {
        return new_page(&signed, form, errors);
    };
    let body = RegisterServer {
        name: form.name.trim().to_owned(),
        admin_url: form.admin_url.trim().to_owned(),
        capacity,
        spare_target,
    };
    match api::register_server(&state, &admin, &meta, body).await {
        Ok(server) => Ok(render::redirect(
            &request,
            &format!("/servers/{}", server.id),
            Some(Flash::success(format!(
                "Server {} registered.",
                server.name
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(
                error,
                &[
                    ("server_name_taken", "name"),
                    ("server_unreachable", "admin_url"),
                ],
            )?;
            new_page(&signed, form, errors)
        }
    }
}

#[derive(Template)]
#[template(path = "portal/servers/show.html")]
struct ShowPage {
    layout: Layout,
    row: Row,
    capacity: String,
    spare_target: String,
    connection_budget: String,
    errors: FormErrors,
    can_manage: bool,
}

fn show_page(
    signed: &Signed,
    server: ServerView,
    form: Option<EditForm>,
    errors: FormErrors,
) -> PageResult {
    let status = errors.status();
    let form = form.unwrap_or_else(|| EditForm {
        capacity: server.capacity.to_string(),
        spare_target: server.spare_target.to_string(),
        connection_budget: server.connection_budget.to_string(),
    });
    let page = ShowPage {
        layout: nav::layout(signed, format!("Server {}", server.name)),
        row: Row::of(server),
        capacity: form.capacity,
        spare_target: form.spare_target,
        connection_budget: form.connection_budget,
        errors,
        can_manage: signed.can(Action::ManageServers),
    };
    Ok(render::page(status, &page.layout, &page))
}

/// A server id from the path; anything else is a server that does not exist.
fn server_id(raw: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(raw).map_err(|_| {
        PageError::Api(ApiError::not_found(
            "server_not_found",
            format!("There is no server {raw}."),
        ))
    })
}

/// `GET /servers/{id}`.
pub async fn show(state: web::Data<AppState>, signed: Signed, id: web::Path<String>) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let server = api::show_server(&state, &reader, server_id(&id)?).await?;
    show_page(&signed, server, None, FormErrors::default())
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    spare_target: String,
    #[serde(default)]
    connection_budget: String,
}

/// `POST /servers/{id}`: capacity, spare target and connection budget.
pub async fn update(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    id: web::Path<String>,
    submitted: PortalForm<EditForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let admin = signed.authorize::<perm::ManageServers>()?;
    let id = server_id(&id)?;
    let mut errors = FormErrors::default();
    let patch = ServerPatch {
        capacity: number(&form.capacity, "capacity", &mut errors),
        spare_target: number(&form.spare_target, "spare_target", &mut errors),
        connection_budget: number(&form.connection_budget, "connection_budget", &mut errors),
        admin_url: None,
    };
    if errors.is_empty() {
        match api::update_server(&state, &admin, &meta, id, patch).await {
            Ok(server) => {
                return Ok(render::redirect(
                    &request,
                    &format!("/servers/{id}"),
                    Some(Flash::success(format!("Server {} saved.", server.name))),
                ));
            }
            Err(error) => errors = FormErrors::from_api_error(error, &[])?,
        }
    }
    let reader = signed.authorize::<perm::Read>()?;
    let server = api::show_server(&state, &reader, id).await?;
    show_page(&signed, server, Some(form), errors)
}

/// Draining or activating, as a path segment.
fn draining(verb: &str) -> Result<bool, PageError> {
    match verb {
        "drain" => Ok(true),
        "activate" => Ok(false),
        _ => Err(PageError::Api(ApiError::not_found(
            "not_found",
            format!("There is no server action `{verb}`."),
        ))),
    }
}

#[derive(Template)]
#[template(path = "portal/servers/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    server: ServerView,
    verb: String,
}

/// `GET /servers/{id}/{drain|activate}`: the confirmation (a dialog with htmx).
pub async fn confirm_form(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
) -> PageResult {
    let (id, verb) = path.into_inner();
    draining(&verb)?;
    signed.authorize::<perm::ManageServers>()?;
    let reader = signed.authorize::<perm::Read>()?;
    let server = api::show_server(&state, &reader, server_id(&id)?).await?;
    let page = ConfirmPage {
        layout: nav::layout(&signed, format!("{verb} {}", server.name)),
        server,
        verb,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `POST /servers/{id}/{drain|activate}`.
pub async fn change(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    path: web::Path<(String, String)>,
    submitted: PortalForm<Vec<(String, String)>>,
) -> PageResult {
    let (id, verb) = path.into_inner();
    let drain = draining(&verb)?;
    let admin = submitted.signed.authorize::<perm::ManageServers>()?;
    let id = server_id(&id)?;
    let server = api::set_draining(&state, &admin, &meta, id, drain).await?;
    let done = if drain {
        "is draining: no new tenants are placed on it"
    } else {
        "is active again"
    };
    Ok(render::redirect(
        &request,
        &format!("/servers/{id}"),
        Some(Flash::success(format!("Server {} {done}.", server.name))),
    ))
}
