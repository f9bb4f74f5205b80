//! The runtime's error type: a client [`Problem`] built where the error is found, a JSON
//! extractor's own rejection, or an internal error that is logged here and answered with an
//! opaque 500 (the policy in `common::problem`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use common::problem::{FieldError, Problem};
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
        Self::Client(Box::new(Problem::new(status, code, detail)))
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

    /// A status answered with `Retry-After` (429 and 503).
    pub fn retry_later(
        status: StatusCode,
        code: &str,
        detail: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        Self::Client(Box::new(
            Problem::new(status, code, detail).with_retry_after(retry_after_secs.max(1)),
        ))
    }

    /// 422 `validation_failed` for the given fields.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Self::Client(Box::new(Problem::validation(errors)))
    }

    /// 422 for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
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
        if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            return Self::conflict("conflict", "this conflicts with an existing record");
        }
        Self::internal(error)
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

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::internal(error)
    }
}

impl From<actix_web::Error> for ApiError {
    fn from(error: actix_web::Error) -> Self {
        Self::Rejected(error)
    }
}
