//! Cookies of the web interfaces, one policy for all: `Secure; HttpOnly; SameSite=Strict;
//! Path=/`, no `Domain` (so a tenant's subdomain never sees the portal's cookies, and the
//! `__Host-` prefix holds). Browsers treat `http://localhost` and `127.0.0.1` as secure
//! contexts, so `scripts/up` over plain HTTP keeps working.

use actix_web::HttpRequest;
use actix_web::http::header;
use cookie::{Cookie, SameSite};

/// The value of cookie `name` on the request, if sent.
pub fn read(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// A `Set-Cookie` value for a strict cookie; `max_age_secs` `None` ends with the browser
/// session.
pub fn strict(name: &str, value: &str, max_age_secs: Option<i64>) -> String {
    let mut cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .build();
    if let Some(secs) = max_age_secs {
        cookie.set_max_age(cookie::time::Duration::seconds(secs));
    }
    cookie.to_string()
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn removal(name: &str) -> String {
    strict(name, "", Some(0))
}

/// Adds a `Set-Cookie` header (built by [`strict`] or [`removal`]) to a response.
pub fn append(response: &mut actix_web::HttpResponse, cookie: &str) {
    if let Ok(value) = header::HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn strict_cookies_carry_every_attribute() {
        let value = strict("__Host-s", "abc", Some(60));
        for part in [
            "__Host-s=abc",
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
        ] {
            assert!(value.contains(part), "{value} lacks {part}");
        }
        assert!(!value.contains("Domain"));
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let request = TestRequest::default()
            .insert_header((header::COOKIE, "a=1; __Host-s=xyz; b=2"))
            .to_http_request();
        assert_eq!(read(&request, "__Host-s").as_deref(), Some("xyz"));
        assert_eq!(read(&request, "missing"), None);
    }
}
