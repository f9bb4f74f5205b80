//! The admins page (owners only: every handler asks for `manage admins`, so other roles
//! get the 403 page and the navigation hides the link): the list, creating an admin, and
//! changing one's role or disabling / enabling them, through the admin API's own
//! functions (which keep one enabled owner).

use crate::api::admins::{self as api, AdminPatch, NewAdmin};
use crate::api::auth::AdminView;
use crate::api::meta::RequestMeta;
use crate::auth::guard::perm;
use crate::portal::errors::{PageError, PageResult};
use crate::portal::nav;
use crate::portal::session::{PortalForm, Signed};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::ApiError;
use common::entities::AdminRole;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use serde::Deserialize;
use uuid::Uuid;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/admins", web::get().to(list))
        .route("/admins", web::post().to(create))
        .route("/admins/{id}", web::post().to(update));
}

#[derive(Template)]
#[template(path = "portal/admins/list.html")]
struct ListPage {
    layout: Layout,
    admins: Vec<AdminView>,
    roles: Vec<(String, String)>,
    form: CreateForm,
    errors: FormErrors,
    me: Uuid,
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

async fn list_page(
    state: &AppState,
    signed: &Signed,
    form: CreateForm,
    errors: FormErrors,
) -> PageResult {
    let owner = signed.authorize::<perm::ManageAdmins>()?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ListPage {
        layout: nav::layout(signed, "Admins"),
        admins: api::list_admins(state, &owner).await?.items,
        roles: AdminRole::ALL
            .iter()
            .map(|role| (role.as_str().to_owned(), role.as_str().to_owned()))
            .collect(),
        form: CreateForm {
            password: String::new(),
            ..form
        },
        errors,
        me: signed.admin().id,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `GET /admins`.
pub async fn list(state: web::Data<AppState>, signed: Signed) -> PageResult {
    let form = CreateForm {
        role: "support".into(),
        ..CreateForm::default()
    };
    list_page(&state, &signed, form, FormErrors::default()).await
}

/// `POST /admins`.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    submitted: PortalForm<CreateForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let owner = signed.authorize::<perm::ManageAdmins>()?;
    let body = NewAdmin {
        email: form.email.clone(),
        password: form.password.clone(),
        role: form.role.clone(),
    };
    match api::create_admin(&state, &owner, &meta, body).await {
        Ok(admin) => Ok(render::redirect(
            &request,
            "/admins",
            Some(Flash::success(format!("Admin {} created.", admin.email))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("email_taken", "email")])?;
            list_page(&state, &signed, form, errors).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    role: Option<String>,
    /// `true` or `false`: disable or enable.
    disabled: Option<String>,
}

/// `POST /admins/{id}`: a new role, or disabled / enabled.
pub async fn update(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    id: web::Path<String>,
    submitted: PortalForm<UpdateForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let owner = signed.authorize::<perm::ManageAdmins>()?;
    let id = Uuid::parse_str(&id).map_err(|_| {
        PageError::Api(ApiError::not_found(
            "admin_not_found",
            format!("There is no admin {id}."),
        ))
    })?;
    let patch = AdminPatch {
        role: form.role.filter(|role| !role.is_empty()),
        disabled: form.disabled.map(|value| value == "true"),
    };
    let flash = match api::update_admin(&state, &owner, &meta, id, patch).await {
        Ok(admin) => Flash::success(format!(
            "Admin {} is now {}{}.",
            admin.email,
            admin.role,
            if admin.disabled { " (disabled)" } else { "" }
        )),
        // A refusal (the last owner, a bad role) is said on the list, not a page of its own.
        Err(ApiError::Client(problem)) if problem.status < 500 && problem.status != 403 => {
            Flash::error(problem.detail.clone())
        }
        Err(error) => return Err(error.into()),
    };
    Ok(render::redirect(&request, "/admins", Some(flash)))
}
