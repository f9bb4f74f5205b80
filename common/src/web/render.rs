//! The one way a web page answers: HTML with the security headers every page carries
//! (a Content-Security-Policy without inline script or style, no framing, no caching of
//! signed-in pages), redirects that htmx follows too, and the error page.

use crate::api_error::ApiError;
use crate::problem::Problem;
use crate::web::flash::Flash;
use crate::web::layout::Layout;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;

/// Only our own files: no inline script or style, no plugins, no framing, forms post home.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Answers with `template` rendered, status `status`, and the page headers. A layout
/// that showed a flash message clears its cookie.
pub fn page<T: Template>(status: StatusCode, layout: &Layout, template: &T) -> HttpResponse {
    match template.render() {
        Ok(body) => {
            let mut response = html(status);
            if layout.flash.is_some() {
                response.append_header((
                    header::SET_COOKIE,
                    crate::web::cookies::removal(crate::web::flash::COOKIE),
                ));
            }
            response.body(body)
        }
        Err(error) => {
            tracing::error!(error = %error, "a page failed to render");
            html(StatusCode::INTERNAL_SERVER_ERROR)
                .body("Something went wrong; it has been logged.")
        }
    }
}

/// Lets the page's forms post to `origin` as well (the portal's impersonation form opens
/// the tenant's app on its own host): the one widening of the policy, for one response.
pub fn allow_form_target(response: &mut HttpResponse, origin: &str) {
    let widened = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&widened) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// A response builder with the page headers set.
pub fn html(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// Whether htmx made the request (it wants a fragment, and redirects as `HX-Redirect`).
pub fn is_htmx(request: &HttpRequest) -> bool {
    request.headers().contains_key("hx-request")
}

/// 303 to `location` (after a POST, the browser GETs it); for htmx, `HX-Redirect`, which
/// it follows with a full page load. `flash` is shown there.
pub fn redirect(request: &HttpRequest, location: &str, flash: Option<Flash>) -> HttpResponse {
    let mut response = if is_htmx(request) {
        let mut response = HttpResponse::Ok();
        response.insert_header(("HX-Redirect", location.to_owned()));
        response
    } else {
        let mut response = HttpResponse::SeeOther();
        response.insert_header((header::LOCATION, location.to_owned()));
        response
    };
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(flash) = flash {
        response.append_header((header::SET_COOKIE, flash.cookie()));
    }
    response.finish()
}

/// Where to go after signing in: `next` when it is a path on this site, else the start.
pub fn safe_next(next: Option<&str>) -> String {
    next.filter(|next| is_local_path(next))
        .unwrap_or("/")
        .to_owned()
}

/// Whether `next` is a path on this site (so a sign-in link cannot send people away).
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control)
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    layout: &'a Layout,
    problem: &'a Problem,
    home: &'a str,
}

/// The error page of an API error: its status, title and detail (a 500's cause is logged
/// here and never shown).
pub fn error_page(layout: Layout, error: &ApiError, home: &str) -> HttpResponse {
    let problem = problem_of(error);
    let layout = Layout {
        title: problem.title.clone(),
        ..layout
    };
    let page_html = ErrorPage {
        layout: &layout,
        problem: &problem,
        home,
    };
    let mut response = page(problem.status_code(), &layout, &page_html);
    // A 429 or 503 page says when to come back, as the problem JSON does: browsers and
    // crawlers honour `Retry-After`, and the load tests check every refusal for it.
    if let Some(seconds) = problem.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

/// The problem an error stands for, logging an internal error's cause chain.
pub fn problem_of(error: &ApiError) -> Problem {
    match error {
        ApiError::Client(problem) => (**problem).clone(),
        ApiError::Rejected(rejected) => Problem::new(
            rejected.as_response_error().status_code(),
            "bad_request",
            rejected.to_string(),
        ),
        ApiError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "page request failed");
            Problem::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert!(is_local_path("/tenants?status=active"));
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "tenants",
            "/a\nb",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }

    #[test]
    fn pages_forbid_inline_script_and_framing() {
        let response = html(StatusCode::OK).finish();
        let csp = response.headers().get(header::CONTENT_SECURITY_POLICY);
        let csp = csp.and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert_eq!(
            response
                .headers()
                .get(header::X_FRAME_OPTIONS)
                .map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
    }

    fn a_layout() -> Layout {
        Layout {
            product: "Test",
            title: String::new(),
            nav: Vec::new(),
            user: None,
            csrf: String::new(),
            flash: None,
            sign_out: "/sign-out",
            fragment: false,
            banners: Vec::new(),
        }
    }

    #[test]
    fn an_error_page_that_says_retry_later_carries_retry_after() {
        let limited = ApiError::retry_later(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "x", 7);
        let response = error_page(a_layout(), &limited, "/");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after = response.headers().get(header::RETRY_AFTER);
        assert_eq!(retry_after.map(|v| v.as_bytes()), Some(&b"7"[..]));
        let refused = ApiError::forbidden("tenant_suspended", "x");
        let response = error_page(a_layout(), &refused, "/");
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}
