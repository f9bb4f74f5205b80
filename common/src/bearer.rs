//! The one bearer-token extractor of both HTTP services: `Authorization: Bearer <token>`
//! (scheme in any case), verified for the service's audience, with the same 401 codes
//! everywhere: `unauthorized` (no token), `token_expired`, `invalid_token`.

use crate::api_error::{ApiError, ApiResult};
use crate::tokens::{Claims, TokenError, TokenKeys};
use actix_web::HttpRequest;
use actix_web::http::header;

/// The token of an `Authorization: Bearer` header, if the request has one.
pub fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The verified claims of the request's bearer token for `audience`.
pub fn verified_claims(
    request: &HttpRequest,
    keys: &TokenKeys,
    audience: &str,
) -> ApiResult<Claims> {
    let token = bearer_token(request).ok_or_else(|| {
        ApiError::unauthorized(
            "unauthorized",
            "send `Authorization: Bearer <access token>`",
        )
    })?;
    keys.verify(token, audience).map_err(|error| match error {
        TokenError::Expired => {
            ApiError::unauthorized("token_expired", "the access token has expired; refresh it")
        }
        other => {
            tracing::debug!("refused a token: {other}");
            invalid_token()
        }
    })
}

/// 401 `invalid_token`.
pub fn invalid_token() -> ApiError {
    ApiError::unauthorized("invalid_token", "the access token is not valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn token_of(header: &str) -> Option<String> {
        let request = TestRequest::default()
            .insert_header((header::AUTHORIZATION, header))
            .to_http_request();
        bearer_token(&request).map(str::to_owned)
    }

    #[test]
    fn the_scheme_is_read_in_any_case() {
        assert_eq!(token_of("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token_of("bearer  abc ").as_deref(), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_token() {
        assert_eq!(token_of("Basic abc"), None);
        assert_eq!(token_of("Bearer "), None);
        assert_eq!(token_of("Bearerabc"), None);
    }
}
