//! The error body every HTTP service returns: RFC 9457 `application/problem+json` with a
//! stable machine `code`.
//!
//! Policy: handlers of both services return [`crate::api_error::ApiError`]; a library's
//! error enum is mapped to a [`Problem`] in one exhaustive match. Client errors carry a
//! `detail` a person can act on. Server errors (5xx) are opaque to the client
//! (`internal_error`, no cause) and their cause chain is logged where they are answered.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A problem+json body. Build with [`Problem::new`], add field errors or `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(description = "An error (RFC 9457 `application/problem+json`) with a stable `code`.")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable and machine-readable: `validation_failed`, `invalid_token`, `rate_limited`, ...
    pub code: String,
    /// One entry per bad field (only on `validation_failed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://errors.erp.example/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// 500 with nothing about the cause: log the cause where the error is made.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; it has been logged",
        )
    }

    /// 422 `validation_failed` with one entry per bad field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        let detail = format!("invalid fields: {}", fields.join(", "));
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            )
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn to_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)));
        if let Some(seconds) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(self)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn a_problem_serializes_with_the_contract_field_names() {
        let problem = Problem::new(StatusCode::FORBIDDEN, "tenant_suspended", "suspended");
        let json = serde_json::to_value(&problem).expect("serializes");
        assert_eq!(json["type"], "https://errors.erp.example/tenant_suspended");
        assert_eq!(json["title"], "Forbidden");
        assert_eq!(json["status"], 403);
        assert_eq!(json["code"], "tenant_suspended");
        assert_eq!(json["detail"], "suspended");
        assert!(json.get("errors").is_none());
    }

    #[test]
    fn the_response_has_the_problem_content_type_and_retry_after() {
        let response = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "later")
            .with_retry_after(7)
            .to_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let headers = response.headers();
        assert_eq!(
            headers.get(header::CONTENT_TYPE).expect("set"),
            CONTENT_TYPE
        );
        assert_eq!(headers.get(header::RETRY_AFTER).expect("set"), "7");
        let body = response.into_body().try_into_bytes().expect("bytes");
        assert!(String::from_utf8_lossy(&body).contains("\"code\":\"busy\""));
    }

    #[test]
    fn validation_lists_each_field() {
        let problem = Problem::validation(vec![FieldError {
            field: "slug".into(),
            message: "too short".into(),
        }]);
        assert_eq!(problem.status, 422);
        assert_eq!(problem.code, "validation_failed");
        assert_eq!(problem.errors.len(), 1);
        assert!(problem.detail.contains("slug"));
    }
}
