//! The door a super-admin's impersonation opens: `POST /impersonate` takes the token the
//! admin portal issued (in the form body, never in a URL, so no log or history keeps it),
//! checks it like any bearer token (signature, `aud=tenant-runtime`, this tenant's `tid`,
//! an active user) and that it *is* an impersonation (`imp`), and starts a web session as
//! that user, marked with the admin behind it and ending when the token would have. Every
//! page of that session wears a banner saying so, and the audit log records the admin.
//!
//! The answer is a page that moves on to the dashboard by itself: the session cookie is
//! `SameSite=Strict`, which a browser does not send on a redirect that a cross-site form
//! (the portal's) started, but does on the page's own navigation.

use crate::auth::CurrentUser;
use crate::auth::web_sessions::{self, Lifetimes};
use crate::gate::Tenant;
use crate::state::AppState;
use crate::web::errors;
use crate::web::nav;
use crate::web::session::session_cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use common::api_error::ApiError;
use common::bearer;
use common::tokens::TENANT_RUNTIME_AUDIENCE;
use common::web::layout::Layout;
use common::web::{cookies, render};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ImpersonationForm {
    #[serde(default)]
    access_token: String,
}

#[derive(Template)]
#[template(path = "app/impersonating.html")]
struct OpeningPage {
    layout: Layout,
    company: String,
}

/// `POST /impersonate` (behind the gate: the tenant is resolved and admitted first).
pub async fn impersonate(
    request: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    form: web::Form<ImpersonationForm>,
) -> HttpResponse {
    match open_session(request, tenant, &state, &form.access_token).await {
        Ok(response) => response,
        Err(error) => errors::page(&error),
    }
}

async fn open_session(
    request: HttpRequest,
    tenant: Tenant,
    state: &AppState,
    token: &str,
) -> Result<HttpResponse, ApiError> {
    let claims = state
        .tokens
        .verify(token, TENANT_RUNTIME_AUDIENCE)
        .map_err(|_| bearer::invalid_token())?;
    let Some(admin) = claims.imp.clone() else {
        return Err(ApiError::forbidden(
            "not_impersonation",
            "this door only takes an impersonation token from the admin portal",
        ));
    };
    let remaining = u64::try_from(claims.exp - chrono::Utc::now().timestamp()).unwrap_or(0);
    let expires_at = claims.exp;
    let current = CurrentUser::with_claims(request.clone(), tenant, claims).await?;
    let lifetimes = Lifetimes {
        idle_secs: state.config.web_idle_timeout_secs.min(remaining),
        max_secs: remaining,
    };
    let issued = web_sessions::start(
        current.db.client(),
        lifetimes,
        current.user.id,
        Some(&admin),
    )
    .await?;
    let layout = Layout {
        banners: vec![nav::impersonation_banner(
            &current.user.email,
            expires_at,
            &current.tenant.0.name,
        )],
        ..nav::bare(format!(
            "{} as {}",
            current.tenant.0.name, current.user.email
        ))
    };
    let page = OpeningPage {
        layout,
        company: current.tenant.0.name.clone(),
    };
    let mut response = render::page(StatusCode::OK, &page.layout, &page);
    cookies::append(&mut response, &session_cookie(&issued, remaining));
    Ok(response)
}
