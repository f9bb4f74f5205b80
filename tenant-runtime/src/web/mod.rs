//! The ERP web app, served on each tenant's own host with the UI kit the admin portal
//! uses (`common::web`). Today it holds the door a super-admin's impersonation opens:
//! `POST /impersonate` takes the token the portal issued (in the form body, never in a
//! URL, so no log or history keeps it), checks it like any bearer token (signature,
//! `aud=tenant-runtime`, this tenant's `tid`, an active user) and that it *is* an
//! impersonation (`imp`), and shows who the admin now acts as, in which company, with what
//! rights and limits: the same facts `GET /api/v1/me` answers. The ERP screens themselves
//! come with the ERP issues and hang off this app.

use crate::api::me::{self, Me};
use crate::auth::CurrentUser;
use crate::gate::Tenant;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use common::api_error::ApiError;
use common::bearer;
use common::tokens::TENANT_RUNTIME_AUDIENCE;
use common::web::layout::Layout;
use common::web::render;
use serde::Deserialize;

/// The web app's name in the title bar.
pub const PRODUCT: &str = "ERP";

#[derive(Debug, Deserialize)]
pub struct ImpersonationForm {
    #[serde(default)]
    access_token: String,
}

#[derive(Template)]
#[template(path = "app/impersonating.html")]
struct ImpersonatingPage {
    layout: Layout,
    me: Me,
    expires_at: String,
}

/// `POST /impersonate` (behind the gate: the tenant is resolved and admitted first).
pub async fn impersonate(
    request: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    form: web::Form<ImpersonationForm>,
) -> HttpResponse {
    match acting_as(request, tenant, &state, &form.access_token).await {
        Ok(page) => render::page(StatusCode::OK, &page.layout, &page),
        Err(error) => render::error_page(layout("Impersonation"), &error, "/"),
    }
}

async fn acting_as(
    request: HttpRequest,
    tenant: Tenant,
    state: &AppState,
    token: &str,
) -> Result<ImpersonatingPage, ApiError> {
    let claims = state
        .tokens
        .verify(token, TENANT_RUNTIME_AUDIENCE)
        .map_err(|_| bearer::invalid_token())?;
    if claims.imp.is_none() {
        return Err(ApiError::forbidden(
            "not_impersonation",
            "this door only takes an impersonation token from the admin portal",
        ));
    }
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0)
        .map(|at| at.format("%H:%M UTC").to_string())
        .unwrap_or_default();
    let current = CurrentUser::with_claims(request, tenant, claims).await?;
    let me = me::describe(current, state.billing());
    Ok(ImpersonatingPage {
        layout: layout(&format!("{} as {}", me.tenant.name, me.user.email)),
        me,
        expires_at,
    })
}

/// The frame of the app's pages (no session of its own yet: nothing to sign out of).
fn layout(title: &str) -> Layout {
    Layout {
        product: PRODUCT,
        title: title.to_owned(),
        nav: Vec::new(),
        user: None,
        csrf: String::new(),
        flash: None,
        sign_out: "/",
        fragment: false,
    }
}
