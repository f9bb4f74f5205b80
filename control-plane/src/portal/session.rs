//! The signed-in admin of a portal request ([`Signed`]), from the session cookie, and
//! forms checked for the session's CSRF token before anything else ([`PortalForm`]).

use crate::auth::guard::{Authorized, CurrentAdmin, perm::Permission};
use crate::auth::portal_sessions::{self, Issued, PortalSession};
use crate::auth::roles::{Action, allows};
use crate::portal::errors::PageError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use common::api_error::ApiError;
use common::web::flash::Flash;
use common::web::{cookies, csrf, render};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// The session cookie (its token opens one `portal_sessions` row).
pub const COOKIE: &str = "__Host-portal";

/// A request from a signed-in admin (both factors passed).
#[derive(Debug)]
pub struct Signed {
    pub session: PortalSession,
    /// The path and query asked for (the navigation marks its section).
    pub path: String,
    /// htmx asked: answer with the page's content only.
    pub fragment: bool,
    pub flash: Option<Flash>,
}

impl Signed {
    pub fn admin(&self) -> &CurrentAdmin {
        &self.session.admin
    }

    /// Whether the admin's role allows `action` (to show its button or not).
    pub fn can(&self, action: Action) -> bool {
        allows(self.admin().role, action)
    }

    /// The proof of permission `P` the shared actions ask for; the 403 page if the role
    /// lacks it (a forged form from a `support` admin ends here).
    pub fn authorize<P: Permission>(&self) -> Result<Authorized<P>, PageError> {
        Authorized::check(self.admin().clone()).map_err(PageError::Api)
    }
}

impl FromRequest for Signed {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let token = cookies::read(request, COOKIE);
        let path = match request.uri().path_and_query() {
            Some(path) => path.as_str().to_owned(),
            None => request.path().to_owned(),
        };
        let htmx = render::is_htmx(request);
        let flash = Flash::from_request(request);
        let method_is_get = request.method() == actix_web::http::Method::GET;
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no state")))?;
            let session = match token {
                Some(token) => portal_sessions::find(&state, &token).await?,
                None => None,
            };
            match session {
                Some(session) if !session.second_factor_pending => Ok(Self {
                    session,
                    path,
                    fragment: htmx,
                    flash,
                }),
                // After signing in again, come back here (a form's target is no page:
                // go to the start instead).
                _ => Err(PageError::SignIn {
                    next: if method_is_get { path } else { "/".into() },
                    htmx,
                }),
            }
        })
    }
}

/// A submitted form of a signed-in admin, its CSRF token checked (header `X-CSRF-Token`
/// or field `csrf`) before the fields are read. `raw` keeps the body for fields given
/// more than once (checkbox groups).
#[derive(Debug)]
pub struct PortalForm<T> {
    pub signed: Signed,
    pub form: T,
    pub raw: web::Bytes,
}

impl<T: DeserializeOwned + 'static> FromRequest for PortalForm<T> {
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
