//! The admin API's error type. Client errors are a [`Problem`] built where the error is
//! found; everything else is `Internal`: logged here with its cause chain and answered with
//! an opaque 500 (see the policy in `common::problem`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use common::problem::{FieldError, Problem};
use provisioner::ProvisionError;
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

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422 `validation_failed` for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::problem(Problem::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }]))
    }

    /// 429 with `Retry-After`.
    pub fn too_many(code: &str, detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::problem(
            Problem::new(StatusCode::TOO_MANY_REQUESTS, code, detail)
                .with_retry_after(retry_after_secs.max(1)),
        )
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

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::internal(error)
    }
}

impl From<ProvisionError> for ApiError {
    fn from(error: ProvisionError) -> Self {
        let detail = error.to_string();
        let status = match &error {
            ProvisionError::InvalidSlug(_) => return Self::invalid("slug", detail),
            ProvisionError::Invalid { field, message } => return Self::invalid(field, message),
            ProvisionError::Crypto(_) | ProvisionError::Db(_) => {
                return Self::internal(error);
            }
            ProvisionError::SlugTaken(_)
            | ProvisionError::InvalidTransition(_)
            | ProvisionError::ServerNameTaken(_) => StatusCode::CONFLICT,
            ProvisionError::UnknownPlan(_) | ProvisionError::ServerUnreachable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ProvisionError::NoCapacity => StatusCode::SERVICE_UNAVAILABLE,
            ProvisionError::TenantNotFound(_) | ProvisionError::ServerNotFound(_) => {
                StatusCode::NOT_FOUND
            }
        };
        Self::new(status, error.code(), detail)
    }
}
