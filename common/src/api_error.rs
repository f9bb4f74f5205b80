//! The one error type of both HTTP services (admin API and tenant runtime): a client
//! [`Problem`] built where the error is found, a JSON extractor's own rejection, or an
//! internal error that is logged here, with its cause chain, and answered with an opaque
//! 500 (the policy in [`crate::problem`]).
//!
//! Errors of other crates become an `ApiError` here when their meaning is the same in
//! every service (a control-database error is internal, a lost tenant-database
//! connection is a 503). An error whose HTTP meaning belongs to one service (the
//! provisioner's, in the control plane) is mapped by a function of that service.

use crate::problem::{FieldError, Problem};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use std::fmt;

#[derive(Debug)]
pub enum ApiError {
    Client(Box<Problem>),
    /// An extractor's own error response (a JSON body that did not parse).
    Rejected(actix_web::Error),
    Internal(anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self::problem(Problem::new(status, code, detail))
    }

    pub fn problem(problem: Problem) -> Self {
        Self::Client(Box::new(problem))
    }

    pub fn unauthorized(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// A 422 with its own stable `code` (`bom_cycle`, `supplier_required`...), for a
    /// refusal a client tells apart from a malformed field (that is [`Self::invalid`]).
    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 422 `validation_failed` for one field (several: [`Validator`]).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::problem(Problem::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }]))
    }

    /// A status answered with `Retry-After` (429 and 503), at least one second.
    pub fn retry_later(
        status: StatusCode,
        code: &str,
        detail: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        Self::problem(Problem::new(status, code, detail).with_retry_after(retry_after_secs.max(1)))
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }
}

/// Collects field errors and turns them into one 422, or nothing when all passed.
#[derive(Debug, Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    pub fn check(&mut self, field: &str, result: Result<(), String>) -> &mut Self {
        if let Err(message) = result {
            self.0.push(FieldError {
                field: field.to_owned(),
                message,
            });
        }
        self
    }

    pub fn finish(&mut self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::problem(Problem::validation(std::mem::take(
                &mut self.0,
            ))))
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Client(problem) => write!(f, "{problem}"),
            Self::Rejected(error) => write!(f, "{error}"),
            Self::Internal(error) => write!(f, "internal error: {error:#}"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Client(problem) => problem.status_code(),
            Self::Rejected(error) => error.as_response_error().status_code(),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Client(problem) => problem.to_response(),
            Self::Rejected(error) => error.error_response(),
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                Problem::internal().to_response()
            }
        }
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self::problem(problem)
    }
}

impl From<actix_web::Error> for ApiError {
    /// What `common::http::Body` kept from a body that did not parse.
    fn from(error: actix_web::Error) -> Self {
        Self::Rejected(error)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::internal(error)
    }
}

impl From<tokio_postgres::Error> for ApiError {
    /// A lost connection (server stopped, network cut, session terminated) is the tenant
    /// database being unavailable, not a bug: 503 with `Retry-After`.
    fn from(error: tokio_postgres::Error) -> Self {
        if connection_lost(&error) {
            tracing::warn!(%error, "tenant database connection lost");
            return Self::retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "tenant_database_unavailable",
                "this company's database cannot be reached; retry shortly",
                5,
            );
        }
        use tokio_postgres::error::SqlState;
        match error.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
                Self::conflict("conflict", "this conflicts with an existing record")
            }
            // A date or number the request carried that Postgres cannot store (a year
            // before 4713 BC, say): the caller's value, not a bug.
            Some(code)
                if *code == SqlState::DATETIME_FIELD_OVERFLOW
                    || *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE =>
            {
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "value_out_of_range",
                    "a date or number in the request is outside what can be stored",
                )
            }
            // Two writers crossed: nothing was applied, and the same request will pass.
            Some(code)
                if *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE =>
            {
                tracing::warn!(%error, "a transaction lost a race; the client retries");
                Self::retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "try_again",
                    "this change crossed another one and was not applied; retry it",
                    1,
                )
            }
            _ => Self::internal(error),
        }
    }
}

fn connection_lost(error: &tokio_postgres::Error) -> bool {
    let io = std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>());
    // Class 57: operator intervention (admin shutdown, terminated session, crash).
    let shutdown = error
        .code()
        .is_some_and(|code| code.code().starts_with("57"));
    error.is_closed() || io || shutdown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validator_with_two_bad_fields_answers_one_422_naming_both() {
        let error = Validator::default()
            .check("name", Err("too long".into()))
            .check("plan", Ok(()))
            .check("slug", Err("taken".into()))
            .finish()
            .unwrap_err();
        let ApiError::Client(problem) = error else {
            panic!("a client error")
        };
        assert_eq!(problem.status, 422);
        let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "slug"]);
    }

    #[test]
    fn retry_later_never_says_zero_seconds() {
        let error = ApiError::retry_later(StatusCode::TOO_MANY_REQUESTS, "busy", "later", 0);
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get("retry-after").expect("set"), "1");
    }

    #[test]
    fn an_internal_error_tells_the_client_nothing() {
        use actix_web::body::MessageBody;
        let error = ApiError::internal(anyhow::anyhow!("password=hunter2 in the DSN"));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().try_into_bytes().expect("bytes");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("internal_error"), "{body}");
        assert!(!body.contains("hunter2"), "{body}");
    }
}
