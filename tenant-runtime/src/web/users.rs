//! Users and roles of the company, for its admins: the users list with an invitation form,
//! a user's page to change name, status and roles, and the roles with their permissions.
//! Every change goes through the API's own functions (`api::users`: seats, the grant rule,
//! the last-admin rule, the audit entry), so a page can do nothing the API would refuse.

use crate::api::roles::{Role, list_roles};
use crate::api::users::{InviteUser, UpdateUser, invite_user, update_user};
use crate::auth::perm::{RolesRead, UsersManage, UsersRead};
use crate::auth::{UserRecord, load_user, load_users};
use crate::state::AppState;
use crate::web::errors::{PageError, PageResult};
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::ApiError;
use common::web::badge::Badge;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "app/users/list.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRecord>,
    may_manage: bool,
    roles: Vec<(String, String)>,
    form: InviteForm,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "app/users/show.html")]
struct UserPage {
    layout: Layout,
    user: UserRecord,
    may_manage: bool,
    roles: Vec<String>,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "app/users/roles.html")]
struct RolesPage {
    layout: Layout,
    roles: Vec<Role>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    status: String,
}

fn badge(status: &str) -> Badge {
    Badge::status(status)
}

/// `GET /users`.
pub async fn list(signed: Signed) -> PageResult {
    // The least surprising role to hand out by default: not admin.
    let form = InviteForm {
        role: "staff".into(),
        ..InviteForm::default()
    };
    users_page(signed, form, FormErrors::default(), StatusCode::OK).await
}

async fn users_page(
    signed: Signed,
    form: InviteForm,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_manage = signed.can("users.manage");
    let layout = nav::layout(&signed, "Users");
    let roles = role_names(&signed).await?;
    let auth = signed.authorize::<UsersRead>()?;
    let users = load_users(auth.current.db.client())
        .await
        .map_err(ApiError::from)?;
    let page = UsersPage {
        layout,
        users,
        may_manage,
        roles: roles.into_iter().map(|name| (name.clone(), name)).collect(),
        form,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

async fn role_names(signed: &Signed) -> Result<Vec<String>, PageError> {
    let rows = signed
        .current
        .db
        .query("SELECT name FROM roles ORDER BY name", &[])
        .await
        .map_err(ApiError::from)?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// `POST /users`: invites a user with one role.
pub async fn invite(
    state: web::Data<AppState>,
    request: HttpRequest,
    submitted: AppForm<InviteForm>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let body = InviteUser {
        email: form.email.clone(),
        display_name: form.display_name.clone(),
        roles: vec![form.role.clone()],
    };
    let auth = signed.authorize::<UsersManage>()?;
    match invite_user(&state, auth, body).await {
        Ok(user) => Ok(render::redirect(
            &request,
            "/users",
            Some(Flash::success(format!(
                "Invitation sent to {}.",
                user.email
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("email_taken", "email")])?;
            let signed = Signed::again(&request).await?;
            users_page(signed, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `GET /users/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    user_page(signed, *id, FormErrors::default(), StatusCode::OK).await
}

async fn user_page(signed: Signed, id: Uuid, errors: FormErrors, status: StatusCode) -> PageResult {
    let may_manage = signed.can("users.manage");
    let roles = role_names(&signed).await?;
    let layout = nav::layout(&signed, "User");
    let auth = signed.authorize::<UsersRead>()?;
    let user = load_user(auth.current.db.client(), id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no user has this id"))?;
    let page = UserPage {
        layout: Layout {
            title: user.email.clone(),
            ..layout
        },
        user,
        may_manage,
        roles,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /users/{id}`: name, status and roles (checkboxes, so read from the raw body).
pub async fn update(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<UserForm>,
) -> PageResult {
    let AppForm { signed, form, raw } = submitted;
    let roles: Vec<String> = form_urlencoded::parse(&raw)
        .filter(|(key, _)| key == "roles")
        .map(|(_, value)| value.into_owned())
        .collect();
    let body = UpdateUser {
        display_name: Some(form.display_name),
        status: Some(form.status),
        roles: Some(roles),
    };
    let auth = signed.authorize::<UsersManage>()?;
    match update_user(auth, *id, body).await {
        Ok(user) => Ok(render::redirect(
            &request,
            &format!("/users/{}", user.id),
            Some(Flash::success("Saved.")),
        )),
        Err(error) => {
            let status = actix_web::ResponseError::status_code(&error);
            let errors = FormErrors::from_api_error(error, &[("last_admin", "status")])?;
            let signed = Signed::again(&request).await?;
            user_page(signed, *id, errors, status).await
        }
    }
}

/// `GET /roles`.
pub async fn roles(signed: Signed) -> PageResult {
    let layout = nav::layout(&signed, "Roles");
    let auth = signed.authorize::<RolesRead>()?;
    let roles = list_roles(&auth).await?;
    let page = RolesPage { layout, roles };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}
