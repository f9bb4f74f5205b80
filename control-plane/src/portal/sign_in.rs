//! Signing in and out of the portal. The password step runs the API's own credential
//! check (`auth::login`: the same argon2 cost, lock-out and messages); an admin with 2FA
//! gets a session that is only *pending* until the code step passes, and then a new
//! token. Before sign-in, forms carry a CSRF token bound to a cookie of their own (double
//! submit); after, the session's.

use crate::auth::login::{self, Credentials};
use crate::auth::portal_sessions;
use crate::portal::errors::{PageError, PageResult};
use crate::portal::nav;
use crate::portal::session::{COOKIE, PortalForm, session_cookie};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use common::api_error::ApiError;
use common::entities::admin_users;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::{cookies, csrf, render};
use sea_orm::EntityTrait;
use serde::Deserialize;

/// The cookie holding the sign-in form's CSRF token (there is no session yet).
const CSRF_COOKIE: &str = "__Host-portal-csrf";

#[derive(Template)]
#[template(path = "portal/sign_in.html")]
struct SignInPage {
    layout: Layout,
    /// `password` or `code`.
    step: &'static str,
    email: String,
    next: String,
    errors: FormErrors,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
    csrf: Option<String>,
}

/// `GET /sign-in`: the password form, or the code form when a sign-in awaits its second
/// factor; straight on to `next` when already signed in.
pub async fn form(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<NextQuery>,
) -> PageResult {
    let next = render::safe_next(query.next.as_deref());
    match current_session(&state, &request).await? {
        Some(session) if !session.second_factor_pending => {
            Ok(render::redirect(&request, &next, None))
        }
        Some(session) => Ok(code_page(
            session.csrf,
            next,
            FormErrors::default(),
            StatusCode::OK,
        )),
        None => Ok(password_page(
            &request,
            String::new(),
            next,
            FormErrors::default(),
            StatusCode::OK,
        )),
    }
}

/// `POST /sign-in`: email and password.
pub async fn submit(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<PasswordForm>,
) -> PageResult {
    let form = form.into_inner();
    let next = render::safe_next(form.next.as_deref());
    let expected = cookies::read(&request, CSRF_COOKIE).unwrap_or_default();
    if !csrf::matches(&expected, form.csrf.as_deref()) {
        return Err(PageError::Csrf);
    }
    let credentials = Credentials {
        email: form.email.clone(),
        password: form.password,
        totp: None,
    };
    let ip = common::http::client_ip(&request, state.config.trust_forwarded_for);
    let checked = match state.sign_in_limiter.check(ip).await {
        Ok(()) => login::check(&state, &credentials).await,
        Err(refused) => Err(refused),
    };
    match checked {
        Ok(admin) => start(&state, &request, admin.id, false, &next).await,
        Err(ApiError::Client(problem)) if problem.code == "totp_required" => {
            let admin = login::find_by_email(&state, &form.email)
                .await?
                .ok_or_else(|| ApiError::unauthorized("invalid_credentials", "try again"))?;
            start(&state, &request, admin.id, true, &next).await
        }
        Err(error) => {
            let status = ResponseError::status_code(&error);
            let errors = FormErrors::from_api_error(error, &[]).or_else(credential_error)?;
            Ok(password_page(&request, form.email, next, errors, status))
        }
    }
}

/// `POST /sign-in/code`: the TOTP code (or a recovery code) of a pending sign-in.
pub async fn submit_code(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<CodeForm>,
) -> PageResult {
    let form = form.into_inner();
    let next = render::safe_next(form.next.as_deref());
    let Some(session) = current_session(&state, &request)
        .await?
        .filter(|session| session.second_factor_pending)
    else {
        return Ok(render::redirect(&request, "/sign-in", None));
    };
    if !csrf::matches(&session.csrf, form.csrf.as_deref()) {
        return Err(PageError::Csrf);
    }
    let admin = admin_users::Entity::find_by_id(session.admin.id)
        .one(&state.db)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::unauthorized("invalid_credentials", "sign in again"))?;
    match login::check_second_step(&state, &admin, form.code.trim()).await {
        Ok(()) => {
            let issued = portal_sessions::complete_second_factor(&state, session.id).await?;
            Ok(signed_in(&request, &state, &issued, &next))
        }
        Err(error) => {
            let status = ResponseError::status_code(&error);
            let errors = FormErrors::from_api_error(error, &[]).or_else(credential_error)?;
            Ok(code_page(session.csrf, next, errors, status))
        }
    }
}

/// `POST /sign-out`: ends the session and forgets the cookie.
pub async fn sign_out(
    state: web::Data<AppState>,
    request: HttpRequest,
    _form: PortalForm<NoFields>,
) -> PageResult {
    if let Some(token) = cookies::read(&request, COOKIE) {
        portal_sessions::end(&state.db, &token).await?;
    }
    let mut response = render::redirect(
        &request,
        "/sign-in",
        Some(Flash::info("You are signed out.")),
    );
    cookies::append(&mut response, &cookies::removal(COOKIE));
    Ok(response)
}

/// A form with no fields of its own (only the CSRF token).
#[derive(Debug, Deserialize)]
pub struct NoFields {}

async fn start(
    state: &AppState,
    request: &HttpRequest,
    admin_id: uuid::Uuid,
    second_factor_pending: bool,
    next: &str,
) -> PageResult {
    let issued = portal_sessions::start(state, admin_id, second_factor_pending).await?;
    if second_factor_pending {
        let mut response = code_page(
            issued.csrf.clone(),
            next.to_owned(),
            FormErrors::default(),
            StatusCode::OK,
        );
        cookies::append(
            &mut response,
            &session_cookie(&issued, state.config.portal_session_max_secs),
        );
        return Ok(response);
    }
    Ok(signed_in(request, state, &issued, next))
}

fn signed_in(
    request: &HttpRequest,
    state: &AppState,
    issued: &portal_sessions::Issued,
    next: &str,
) -> HttpResponse {
    let mut response = render::redirect(request, next, None);
    cookies::append(
        &mut response,
        &session_cookie(issued, state.config.portal_session_max_secs),
    );
    cookies::append(&mut response, &cookies::removal(CSRF_COOKIE));
    response
}

/// The session the cookie opens, pending or not.
async fn current_session(
    state: &AppState,
    request: &HttpRequest,
) -> Result<Option<portal_sessions::PortalSession>, PageError> {
    match cookies::read(request, COOKIE) {
        Some(token) => Ok(portal_sessions::find(state, &token).await?),
        None => Ok(None),
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

fn password_page(
    request: &HttpRequest,
    email: String,
    next: String,
    errors: FormErrors,
    status: StatusCode,
) -> HttpResponse {
    let token = cookies::read(request, CSRF_COOKIE).unwrap_or_else(common::web::csrf::new_token);
    let page = SignInPage {
        layout: Layout {
            csrf: token.clone(),
            flash: Flash::from_request(request),
            ..nav::bare("Sign in")
        },
        step: "password",
        email,
        next,
        errors,
    };
    let mut response = render::page(status, &page.layout, &page);
    cookies::append(&mut response, &cookies::strict(CSRF_COOKIE, &token, None));
    response
}

fn code_page(csrf: String, next: String, errors: FormErrors, status: StatusCode) -> HttpResponse {
    let page = SignInPage {
        layout: Layout {
            csrf,
            ..nav::bare("Two-factor code")
        },
        step: "code",
        email: String::new(),
        next,
        errors,
    };
    render::page(status, &page.layout, &page)
}
