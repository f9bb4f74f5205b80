//! CSRF tokens: a random token per session (per browser before sign-in), sent back by
//! every form as the hidden field [`FIELD`] and by htmx as header [`HEADER`] (`ui.js` adds
//! it from the page's `<meta name="csrf-token">`). `SameSite=Strict` cookies already stop
//! most cross-site posts; the token is the second lock.

use actix_web::HttpRequest;
use sha2::{Digest, Sha256};

/// The hidden form field carrying the token.
pub const FIELD: &str = "csrf";
/// The header htmx requests carry it in.
pub const HEADER: &str = "x-csrf-token";

/// A fresh random token (256 bits, base64url).
pub fn new_token() -> String {
    crate::tokens::new_opaque_token()
}

/// The token a request presents: the header, else the form field of its body.
pub fn presented(request: &HttpRequest, body: &[u8]) -> Option<String> {
    if let Some(value) = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
    {
        return Some(value.to_owned());
    }
    form_urlencoded::parse(body)
        .find(|(key, _)| key == FIELD)
        .map(|(_, value)| value.into_owned())
}

/// Whether `presented` is `expected`, compared through their hashes so the time taken
/// says nothing about how much of the token was right.
pub fn matches(expected: &str, presented: Option<&str>) -> bool {
    match presented {
        Some(presented) if !expected.is_empty() => {
            Sha256::digest(expected.as_bytes()) == Sha256::digest(presented.as_bytes())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn only_the_same_token_matches() {
        let token = new_token();
        assert!(matches(&token, Some(&token)));
        assert!(!matches(&token, Some("forged")));
        assert!(!matches(&token, None));
        assert!(!matches("", Some("")));
    }

    #[test]
    fn the_header_wins_over_the_form_field() {
        let request = TestRequest::default()
            .insert_header((HEADER, "from-header"))
            .to_http_request();
        assert_eq!(
            presented(&request, b"csrf=from-body").as_deref(),
            Some("from-header")
        );
        let request = TestRequest::default().to_http_request();
        assert_eq!(
            presented(&request, b"name=x&csrf=from%20body").as_deref(),
            Some("from body")
        );
    }
}
