//! Signing in and out of the app, and the password pages reached without a session: the
//! emailed link to set a password (an invitation or a reset) and the form that asks for
//! one. Each runs the API's own function (`api::auth`: the same lock-out, messages and
//! token rules). Before sign-in, forms carry a CSRF token bound to a cookie of their own
//! (double submit); after, the session's.

use crate::api::auth::{check_credentials, send_reset_link, set_password_with_token};
use crate::auth::web_sessions;
use crate::db;
use crate::gate::Tenant;
use crate::state::AppState;
use crate::web::errors::{PageError, PageResult};
use crate::web::nav;
use crate::web::session::{self, AppForm, COOKIE, session_cookie};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use common::api_error::ApiError;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::{cookies, csrf, render};
use serde::Deserialize;

/// The cookie holding the CSRF token of the forms shown before sign-in.
const CSRF_COOKIE: &str = "__Host-erp-csrf";

#[derive(Template)]
#[template(path = "app/sign_in.html")]
struct SignInPage {
    layout: Layout,
    company: String,
    email: String,
    next: String,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "app/password.html")]
struct PasswordPage {
    layout: Layout,
    /// `forgot` (ask for a link) or `set` (choose a password with the link's token).
    step: &'static str,
    company: String,
    token: String,
    sent: bool,
    errors: FormErrors,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SetPasswordForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    csrf: Option<String>,
}

/// A form with no fields of its own (only the CSRF token).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// `GET /sign-in`.
pub async fn form(
    request: HttpRequest,
    tenant: Tenant,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let next = render::safe_next(query.next.as_deref());
    sign_in_page(
        &request,
        &tenant,
        String::new(),
        next,
        FormErrors::default(),
        StatusCode::OK,
    )
}

/// `POST /sign-in`: email and password; on success a new session (never the cookie the
/// browser came with: no fixation) and on to `next`.
pub async fn submit(
    state: web::Data<AppState>,
    request: HttpRequest,
    tenant: Tenant,
    form: web::Form<SignInForm>,
) -> PageResult {
    let form = form.into_inner();
    let next = render::safe_next(form.next.as_deref());
    check_pre_session_csrf(&request, form.csrf.as_deref())?;
    let user = match check_credentials(&state, &request, &tenant, &form.email, form.password).await
    {
        Ok(user) => user,
        Err(error) => {
            let status = ResponseError::status_code(&error);
            let errors = credential_error(error)?;
            return Ok(sign_in_page(
                &request, &tenant, form.email, next, errors, status,
            ));
        }
    };
    let db = db::connect(&tenant).await?;
    let issued = web_sessions::start(db.client(), session::lifetimes(&state), user, None).await?;
    let next = if unpaid(&tenant) {
        "/billing".into()
    } else {
        next
    };
    let mut response = render::redirect(&request, &next, None);
    cookies::append(
        &mut response,
        &session_cookie(&issued, state.config.web_session_max_secs),
    );
    cookies::append(&mut response, &cookies::removal(CSRF_COOKIE));
    Ok(response)
}

/// A company suspended for billing opens only its billing page.
fn unpaid(tenant: &Tenant) -> bool {
    tenant.0.suspended_for_billing()
}

/// `POST /sign-out`: ends the session and forgets the cookie.
pub async fn sign_out(request: HttpRequest, form: AppForm<NoFields>) -> PageResult {
    let signed = form.signed;
    web_sessions::end(signed.current.db.client(), signed.session.id).await?;
    let mut response = render::redirect(
        &request,
        "/sign-in",
        Some(Flash::info("You are signed out.")),
    );
    cookies::append(&mut response, &cookies::removal(COOKIE));
    Ok(response)
}

/// `GET /forgot-password`.
pub async fn forgot_form(request: HttpRequest, tenant: Tenant) -> HttpResponse {
    password_page(
        &request,
        &tenant,
        "forgot",
        String::new(),
        false,
        FormErrors::default(),
        StatusCode::OK,
    )
}

/// `POST /forgot-password`: emails a link if the address belongs to a user; the page says
/// the same either way.
pub async fn forgot_submit(
    state: web::Data<AppState>,
    request: HttpRequest,
    tenant: Tenant,
    form: web::Form<ForgotForm>,
) -> PageResult {
    check_pre_session_csrf(&request, form.csrf.as_deref())?;
    if form.email.trim().is_empty() {
        let mut errors = FormErrors::default();
        errors.add("email", "Type the email you sign in with.");
        return Ok(password_page(
            &request,
            &tenant,
            "forgot",
            String::new(),
            false,
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    send_reset_link(&state, &tenant, &form.email).await?;
    Ok(password_page(
        &request,
        &tenant,
        "forgot",
        String::new(),
        true,
        FormErrors::default(),
        StatusCode::OK,
    ))
}

/// `GET /set-password?token=...`: the page an invitation or reset email links to.
pub async fn set_form(
    request: HttpRequest,
    tenant: Tenant,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    password_page(
        &request,
        &tenant,
        "set",
        query.into_inner().token,
        false,
        FormErrors::default(),
        StatusCode::OK,
    )
}

/// `POST /set-password`: sets the password, then on to sign in with it.
pub async fn set_submit(
    request: HttpRequest,
    tenant: Tenant,
    form: web::Form<SetPasswordForm>,
) -> PageResult {
    let form = form.into_inner();
    check_pre_session_csrf(&request, form.csrf.as_deref())?;
    match set_password_with_token(&request, &tenant, &form.token, form.password).await {
        Ok(_) => Ok(render::redirect(
            &request,
            "/sign-in",
            Some(Flash::success("Your password is set. Sign in with it.")),
        )),
        Err(error) => {
            let status = ResponseError::status_code(&error);
            let errors = FormErrors::from_api_error(error, &[])?;
            Ok(password_page(
                &request, &tenant, "set", form.token, false, errors, status,
            ))
        }
    }
}

/// The double-submit check of a form shown before sign-in.
fn check_pre_session_csrf(request: &HttpRequest, presented: Option<&str>) -> Result<(), PageError> {
    let expected = cookies::read(request, CSRF_COOKIE).unwrap_or_default();
    if csrf::matches(&expected, presented) {
        Ok(())
    } else {
        Err(PageError::Csrf)
    }
}

/// A wrong password and a lock-out are messages on the form, not error pages.
fn credential_error(error: ApiError) -> Result<FormErrors, PageError> {
    match error {
        ApiError::Client(problem) if matches!(problem.status, 401 | 429) => {
            Ok(FormErrors::message(problem.detail.clone()))
        }
        other => Err(PageError::Api(other)),
    }
}

/// The layout of a page before sign-in, with its CSRF token (reusing the cookie's).
fn pre_session_layout(request: &HttpRequest, title: &str) -> (Layout, String) {
    let token = cookies::read(request, CSRF_COOKIE).unwrap_or_else(csrf::new_token);
    let layout = Layout {
        csrf: token.clone(),
        flash: Flash::from_request(request),
        ..nav::bare(title)
    };
    (layout, token)
}

fn with_csrf_cookie(mut response: HttpResponse, token: &str) -> HttpResponse {
    cookies::append(&mut response, &cookies::strict(CSRF_COOKIE, token, None));
    response
}

fn sign_in_page(
    request: &HttpRequest,
    tenant: &Tenant,
    email: String,
    next: String,
    errors: FormErrors,
    status: StatusCode,
) -> HttpResponse {
    let (layout, token) = pre_session_layout(request, "Sign in");
    let page = SignInPage {
        layout,
        company: tenant.0.name.clone(),
        email,
        next,
        errors,
    };
    with_csrf_cookie(render::page(status, &page.layout, &page), &token)
}

fn password_page(
    request: &HttpRequest,
    tenant: &Tenant,
    step: &'static str,
    token: String,
    sent: bool,
    errors: FormErrors,
    status: StatusCode,
) -> HttpResponse {
    let title = if step == "set" {
        "Choose a password"
    } else {
        "Forgot password"
    };
    let (layout, csrf_token) = pre_session_layout(request, title);
    let page = PasswordPage {
        layout,
        step,
        company: tenant.0.name.clone(),
        token,
        sent,
        errors,
    };
    with_csrf_cookie(render::page(status, &page.layout, &page), &csrf_token)
}
