//! The signed-in admin's own account: their password (the current one checked under the
//! sign-in lock-out) and two-factor authentication: enrolment with the secret as a QR
//! code drawn on the server as SVG (no script, no third party sees the secret), confirmed
//! with a code, the recovery codes shown once; and turning it off. Changing the password
//! or turning 2FA off ends every session of the admin, so this browser is handed a fresh
//! one (the others stay signed out).

use crate::api::auth::{self as api, AdminView, DisableTotp, PasswordChange, TotpCode};
use crate::api::meta::RequestMeta;
use crate::auth::portal_sessions;
use crate::portal::errors::PageResult;
use crate::portal::nav;
use crate::portal::session::{PortalForm, Signed, session_cookie};
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use common::api_error::ApiError;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use serde::Deserialize;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/account", web::get().to(show))
        .route("/account/password", web::post().to(change_password))
        .route("/account/2fa/enroll", web::post().to(enroll))
        .route("/account/2fa/confirm", web::post().to(confirm))
        .route("/account/2fa/disable", web::post().to(disable));
}

/// Which form of the page a submission's errors belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Password,
    Disable,
}

#[derive(Template)]
#[template(path = "portal/account/show.html")]
struct AccountPage {
    layout: Layout,
    me: AdminView,
    password_errors: FormErrors,
    disable_errors: FormErrors,
}

async fn account_page(
    state: &AppState,
    signed: &Signed,
    section: Section,
    errors: FormErrors,
) -> PageResult {
    let status = errors.status();
    let (password_errors, disable_errors) = match section {
        Section::Password => (errors, FormErrors::default()),
        Section::Disable => (FormErrors::default(), errors),
        Section::None => (FormErrors::default(), FormErrors::default()),
    };
    let page = AccountPage {
        layout: nav::layout(signed, "Your account"),
        me: api::show_me(state, signed.admin()).await?,
        password_errors,
        disable_errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `GET /account`.
pub async fn show(state: web::Data<AppState>, signed: Signed) -> PageResult {
    account_page(&state, &signed, Section::None, FormErrors::default()).await
}

/// After every session of the admin ended: a new one for this browser, and on to
/// `/account` with `flash`.
async fn fresh_session(
    state: &AppState,
    request: &HttpRequest,
    signed: &Signed,
    flash: Flash,
) -> PageResult {
    let issued = portal_sessions::start(state, signed.admin().id, false).await?;
    let mut response: HttpResponse = render::redirect(request, "/account", Some(flash));
    let cookie = session_cookie(&issued, state.config.portal_session_max_secs);
    if let Ok(value) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /account/password`.
pub async fn change_password(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    submitted: PortalForm<PasswordForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let change = PasswordChange {
        current_password: form.current_password,
        new_password: form.new_password,
    };
    match api::change_own_password(&state, signed.admin(), &meta, change).await {
        Ok(()) => {
            let flash =
                Flash::success("Password changed. Your other sessions are signed out.".to_owned());
            fresh_session(&state, &request, &signed, flash).await
        }
        Err(error) => {
            let errors = form_errors(
                error,
                &[
                    ("account_locked", "current_password"),
                    ("wrong_password", "current_password"),
                ],
            )?;
            account_page(&state, &signed, Section::Password, errors).await
        }
    }
}

/// The form errors of a refusal, 401 and 429 (wrong credentials, lock-out) included:
/// they are about what was typed.
fn form_errors(error: ApiError, fields: &[(&str, &str)]) -> Result<FormErrors, ApiError> {
    FormErrors::from_api_error(error, fields)
}

#[derive(Template)]
#[template(path = "portal/account/enroll.html")]
struct EnrollPage {
    layout: Layout,
    /// The QR code of the `otpauth://` URI, as an SVG element.
    qr_svg: String,
    secret: String,
    errors: FormErrors,
}

/// The `otpauth://` URI as an inline SVG QR code (drawn here: the secret goes nowhere).
fn qr_svg(uri: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(ApiError::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .build();
    // Inline in HTML: without the XML declaration.
    Ok(svg
        .find("<svg")
        .map_or(svg.clone(), |start| svg[start..].to_owned()))
}

/// `POST /account/2fa/enroll`: a new secret, shown as a QR code with the confirm form.
pub async fn enroll(
    state: web::Data<AppState>,
    submitted: PortalForm<Vec<(String, String)>>,
) -> PageResult {
    let signed = submitted.signed;
    let enrolment = match api::start_totp_enrolment(&state, signed.admin()).await {
        Ok(enrolment) => enrolment,
        Err(error) => {
            let errors = form_errors(error, &[])?;
            return account_page(&state, &signed, Section::Disable, errors).await;
        }
    };
    let page = EnrollPage {
        layout: nav::layout(&signed, "Set up two-factor authentication"),
        qr_svg: qr_svg(&enrolment.otpauth_uri)?,
        secret: enrolment.secret,
        errors: FormErrors::default(),
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

#[derive(Template)]
#[template(path = "portal/account/recovery.html")]
struct RecoveryPage {
    layout: Layout,
    codes: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /account/2fa/confirm`: 2FA in force; the recovery codes, shown this once.
pub async fn confirm(
    state: web::Data<AppState>,
    meta: RequestMeta,
    submitted: PortalForm<CodeForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let code = TotpCode {
        code: form.code.trim().to_owned(),
    };
    match api::confirm_totp_enrolment(&state, signed.admin(), &meta, code).await {
        Ok(codes) => {
            let page = RecoveryPage {
                layout: nav::layout(&signed, "Recovery codes"),
                codes: codes.recovery_codes,
            };
            Ok(render::page(StatusCode::OK, &page.layout, &page))
        }
        Err(error) => {
            // The secret is not shown twice: a wrong code means starting over.
            let errors = form_errors(error, &[])?;
            let page = EnrollPage {
                layout: nav::layout(&signed, "Set up two-factor authentication"),
                qr_svg: String::new(),
                secret: String::new(),
                errors,
            };
            Ok(render::page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page.layout,
                &page,
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// `POST /account/2fa/disable`.
pub async fn disable(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    submitted: PortalForm<DisableForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let body = DisableTotp {
        password: form.password,
        code: form.code.trim().to_owned(),
    };
    match api::turn_totp_off(&state, signed.admin(), &meta, body).await {
        Ok(()) => {
            let flash = Flash::success(
                "Two-factor authentication is off. Your other sessions are signed out.".to_owned(),
            );
            fresh_session(&state, &request, &signed, flash).await
        }
        Err(error) => {
            let errors = form_errors(
                error,
                &[
                    ("invalid_credentials", "password"),
                    ("account_locked", "password"),
                    ("invalid_totp", "code"),
                    ("totp_required", "code"),
                ],
            )?;
            account_page(&state, &signed, Section::Disable, errors).await
        }
    }
}
