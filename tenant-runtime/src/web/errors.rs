//! Every way a web app request can fail, answered as a page: not signed in (to the sign-in
//! page, which comes back to the page asked for), a form without its CSRF token (403,
//! nothing done), a module the plan lacks (a page saying so, not a bare 403), and any
//! API error as the error page with the API's own status, title and detail (a 500's cause
//! is logged, never shown).

use crate::web::nav;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use common::api_error::ApiError;
use common::web::render;
use std::fmt;

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// No live session: sign in, then come back to `next`.
    SignIn { next: String, htmx: bool },
    /// The form's CSRF token is missing or wrong: refused before anything happened.
    Csrf,
    /// What the shared action said.
    Api(ApiError),
}

pub type PageResult = Result<HttpResponse, PageError>;

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignIn { .. } => f.write_str("not signed in"),
            Self::Csrf => f.write_str("CSRF token missing or wrong"),
            Self::Api(error) => write!(f, "{error}"),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::Api(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn { next, htmx } => sign_in_redirect(next, *htmx),
            Self::Csrf => page(&ApiError::forbidden(
                "csrf_failed",
                "This form had expired or did not come from this app, so nothing was \
                 changed. Reload the page and try again.",
            )),
            Self::Api(error) => page(error),
        }
    }
}

/// The error page of `error`, outside any session's frame.
pub fn page(error: &ApiError) -> HttpResponse {
    render::error_page(nav::bare("Error"), error, "/")
}

fn sign_in_redirect(next: &str, htmx: bool) -> HttpResponse {
    let location = common::web::paging::href("/sign-in", &[("next", next)]);
    if htmx {
        // htmx would swap the sign-in page into a fragment; make it load the whole page.
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", location))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    }
}
