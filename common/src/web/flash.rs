//! Flash messages: one line shown on the next page after a redirect ("Tenant acme
//! suspended"). Kept in a short-lived strict cookie and cleared by the page that shows it;
//! the text is escaped like any other value when shown.

use crate::web::cookies;
use actix_web::HttpRequest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The cookie carrying a flash message to the next page.
pub const COOKIE: &str = "__Host-flash";

/// A message for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// `success`, `error` or `info` (the CSS class `flash-<kind>`).
    pub kind: String,
    pub text: String,
}

impl Flash {
    pub fn success(text: impl Into<String>) -> Self {
        Self::new("success", text)
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self::new("error", text)
    }

    pub fn info(text: impl Into<String>) -> Self {
        Self::new("info", text)
    }

    fn new(kind: &str, text: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            text: text.into(),
        }
    }

    /// The flash the request carries, if any (unknown kinds are dropped).
    pub fn from_request(request: &HttpRequest) -> Option<Self> {
        let raw = cookies::read(request, COOKIE)?;
        let json = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let flash: Self = serde_json::from_slice(&json).ok()?;
        matches!(flash.kind.as_str(), "success" | "error" | "info").then_some(flash)
    }

    /// The `Set-Cookie` value carrying this flash to the next page (one minute at most).
    pub fn cookie(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        cookies::strict(COOKIE, &URL_SAFE_NO_PAD.encode(json), Some(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header;
    use actix_web::test::TestRequest;

    #[test]
    fn a_flash_survives_the_round_trip_through_its_cookie() {
        let flash = Flash::success("Tenant <b>acme</b> suspended");
        let set_cookie = flash.cookie();
        let value = set_cookie
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value)
            .expect("a value");
        let request = TestRequest::default()
            .insert_header((header::COOKIE, format!("{COOKIE}={value}")))
            .to_http_request();
        assert_eq!(Flash::from_request(&request), Some(flash));
    }

    #[test]
    fn a_garbled_flash_is_ignored() {
        let request = TestRequest::default()
            .insert_header((header::COOKIE, format!("{COOKIE}=%%%")))
            .to_http_request();
        assert_eq!(Flash::from_request(&request), None);
    }
}
