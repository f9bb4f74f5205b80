//! The signed-in user of a web app request ([`Signed`]), from the session cookie on the
//! company's own host, and forms checked for the session's CSRF token before anything
//! else ([`AppForm`]). The user is reloaded with roles and permissions on every request
//! (`CurrentUser`, the same door the API's bearer tokens use), so a disabled user or a
//! changed role takes effect on the next click.

use crate::auth::web_sessions::{self, Issued, Lifetimes, WebSession};
use crate::auth::{Authorized, CurrentUser, Permission};
use crate::db;
use crate::gate::Tenant;
use crate::state::AppState;
use crate::web::errors::PageError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use common::api_error::ApiError;
use common::tokens::{Claims, TENANT_RUNTIME_AUDIENCE};
use common::web::flash::Flash;
use common::web::{cookies, csrf, render};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// The session cookie (host-only: each company's host has its own).
pub const COOKIE: &str = "__Host-erp";

/// A request from a signed-in user of this company.
pub struct Signed {
    pub current: CurrentUser,
    pub session: WebSession,
    /// The path and query asked for (the navigation marks its section).
    pub path: String,
    /// htmx asked: answer with the page's content only.
    pub fragment: bool,
    pub flash: Option<Flash>,
}

impl Signed {
    /// Whether the user holds `permission` (to show a button or a section).
    pub fn can(&self, permission: &str) -> bool {
        self.current.can(permission)
    }

    /// Whether the company's plan includes the ERP `module`.
    pub fn has_module(&self, module: &str) -> bool {
        self.current
            .tenant
            .0
            .plan
            .features
            .iter()
            .any(|f| f == module)
    }

    /// The signed-in user of `request` once more: a library function takes the proof of
    /// permission by value, so a page that shows its refusal (a form with errors) signs the
    /// request in again to draw itself.
    pub async fn again(request: &HttpRequest) -> Result<Self, PageError> {
        Self::from_request(request, &mut Payload::None).await
    }

    /// The proof of permission `P` the shared library functions take; the 403 page when
    /// the user lacks it (a forged form ends here).
    pub fn authorize<P: Permission>(self) -> Result<Authorized<P>, PageError> {
        Authorized::check(self.current).map_err(PageError::Api)
    }
}

/// The session lifetimes configured for this runtime.
pub fn lifetimes(state: &AppState) -> Lifetimes {
    Lifetimes {
        idle_secs: state.config.web_idle_timeout_secs,
        max_secs: state.config.web_session_max_secs,
    }
}

impl FromRequest for Signed {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let tenant = Tenant::from_request(request, payload);
        let request = request.clone();
        Box::pin(async move {
            let tenant = tenant.await?;
            let path = match request.uri().path_and_query() {
                Some(path) => path.as_str().to_owned(),
                None => request.path().to_owned(),
            };
            let htmx = render::is_htmx(&request);
            // After signing in again, come back here (a form's target is no page: go to
            // the start instead).
            let next = if request.method() == actix_web::http::Method::GET {
                path.clone()
            } else {
                "/".into()
            };
            let sign_in = || PageError::SignIn {
                next: next.clone(),
                htmx,
            };
            let Some(token) = cookies::read(&request, COOKIE) else {
                return Err(sign_in());
            };
            let state = request
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no state")))?;
            let db = db::connect(&tenant).await?;
            let Some(session) = web_sessions::find(db.client(), lifetimes(&state), &token).await?
            else {
                return Err(sign_in());
            };
            let claims = session_claims(&tenant, &session);
            let flash = Flash::from_request(&request);
            let current = CurrentUser::on_connection(request, tenant, db, claims)
                .await
                .map_err(|_| sign_in())?;
            Ok(Self {
                current,
                session,
                path,
                fragment: htmx,
                flash,
            })
        })
    }
}

/// What a bearer token would have said of this session's user: the shared door
/// (`CurrentUser`) and the audit log read these (`imp` marks an impersonation).
fn session_claims(tenant: &Tenant, session: &WebSession) -> Claims {
    let mut claims = Claims::new(TENANT_RUNTIME_AUDIENCE, &session.user_id.to_string(), 0);
    claims.exp = session.expires_at;
    claims.jti = session.id.to_string();
    claims.tid = Some(tenant.0.id.to_string());
    claims.imp = session.impersonator.clone();
    claims
}

/// A submitted form of a signed-in user, its CSRF token checked (header `X-CSRF-Token` or
/// field `csrf`) before the fields are read. `raw` keeps the body for fields given more
/// than once (checkbox groups).
pub struct AppForm<T> {
    pub signed: Signed,
    pub form: T,
    pub raw: web::Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for AppForm<T> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed = Signed::from_request(request, payload);
        let body = web::Bytes::from_request(request, payload);
        let request = request.clone();
        Box::pin(async move {
            let signed = signed.await?;
            let raw = body.await.map_err(|error| PageError::Api(error.into()))?;
            let presented = csrf::presented(&request, &raw);
            if !csrf::matches(&signed.session.csrf, presented.as_deref()) {
                return Err(PageError::Csrf);
            }
            let form = serde_urlencoded::from_bytes(&raw).map_err(|error| {
                PageError::Api(ApiError::invalid(
                    "form",
                    format!("cannot be read: {error}"),
                ))
            })?;
            Ok(Self { signed, form, raw })
        })
    }
}

/// The `Set-Cookie` value that hands the browser a session.
pub fn session_cookie(issued: &Issued, max_age_secs: u64) -> String {
    cookies::strict(
        COOKIE,
        &issued.token,
        Some(i64::try_from(max_age_secs).unwrap_or(i64::MAX)),
    )
}
