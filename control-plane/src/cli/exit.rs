//! What a CLI command's exit status means, and how an API answer maps to one. The numbers
//! are a contract with scripts: never renumber, only add.

use serde_json::Value;
use std::fmt;

/// The exit statuses of `control-plane admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: the API or the server failed (5xx, unreachable, an answer that makes no sense).
    ApiError,
    /// 2: the command line or the request was wrong (clap's own status too; 400, 422).
    Usage,
    /// 3: not signed in, the session ended, bad credentials, or not allowed (401, 403).
    Auth,
    /// 4: what was named does not exist (404).
    NotFound,
    /// 5: a conflict or an invalid state for the request (409).
    Conflict,
    /// 6: the work watched with `--wait` failed, was halted or cancelled, or timed out.
    WorkFailed,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Self::Ok => 0,
            Self::ApiError => 1,
            Self::Usage => 2,
            Self::Auth => 3,
            Self::NotFound => 4,
            Self::Conflict => 5,
            Self::WorkFailed => 6,
        }
    }

    /// The status an API error answer means.
    pub fn of_status(status: u16) -> Self {
        match status {
            400 | 405 | 413 | 415 | 422 => Self::Usage,
            401 | 403 => Self::Auth,
            404 | 410 => Self::NotFound,
            409 | 412 => Self::Conflict,
            _ => Self::ApiError,
        }
    }
}

/// The text `--help` shows about exit statuses (also in the README).
pub const EXIT_STATUS_HELP: &str = "Exit status: 0 ok; 1 API or server error; 2 usage error \
(bad flags, or the API refused the request as invalid); 3 not signed in, session ended, bad \
credentials or not allowed; 4 not found; 5 conflict or invalid state; 6 the work watched with \
--wait failed, was halted or cancelled, or timed out.";

/// Why a command failed: the exit status and what to tell the person.
#[derive(Debug, Clone, PartialEq)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    /// The API's problem+json body, when the API answered one.
    pub problem: Option<Value>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            problem: None,
        }
    }

    pub fn not_signed_in() -> Self {
        Self::new(
            Exit::Auth,
            "not signed in: run `control-plane admin login --url URL --email EMAIL`",
        )
    }

    /// An error answer of the API: its status says the exit, its problem body the words.
    pub fn from_api(status: u16, body: Value) -> Self {
        let message = describe_problem(status, &body);
        Self {
            exit: Exit::of_status(status),
            message,
            problem: body.is_object().then_some(body),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `title: detail (code)` and one line per field error, from a problem+json body.
pub fn describe_problem(status: u16, body: &Value) -> String {
    let text = |key: &str| body[key].as_str().filter(|s| !s.is_empty());
    let mut message = match (text("title"), text("detail")) {
        (Some(title), Some(detail)) if title != detail => format!("{title}: {detail}"),
        (Some(title), _) => title.to_owned(),
        (None, Some(detail)) => detail.to_owned(),
        (None, None) => format!("the API answered {status}"),
    };
    if let Some(code) = text("code") {
        message.push_str(&format!(" ({code})"));
    }
    for error in body["errors"].as_array().into_iter().flatten() {
        let field = error["field"].as_str().unwrap_or("?");
        let problem = error["message"].as_str().unwrap_or("is invalid");
        message.push_str(&format!("\n  {field}: {problem}"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        assert_eq!(Exit::of_status(401).code(), 3);
        assert_eq!(Exit::of_status(403).code(), 3);
        assert_eq!(Exit::of_status(404).code(), 4);
        assert_eq!(Exit::of_status(409).code(), 5);
        assert_eq!(Exit::of_status(422).code(), 2);
        assert_eq!(Exit::of_status(500).code(), 1);
        assert_eq!(Exit::of_status(503).code(), 1);
        assert_eq!(Exit::WorkFailed.code(), 6);
    }

    #[test]
    fn a_problem_is_told_with_title_detail_code_and_fields() {
        let body = json!({
            "title": "Validation failed", "detail": "the request has invalid fields",
            "code": "validation_failed",
            "errors": [{"field": "slug", "message": "is taken"}]
        });
        let error = CliError::from_api(422, body);
        assert_eq!(error.exit, Exit::Usage);
        assert_eq!(
            error.message,
            "Validation failed: the request has invalid fields (validation_failed)\n  slug: is taken"
        );
    }

    #[test]
    fn an_answer_without_a_problem_still_says_its_status() {
        let error = CliError::from_api(502, Value::Null);
        assert_eq!(error.message, "the API answered 502");
        assert_eq!(error.exit, Exit::ApiError);
        assert!(error.problem.is_none());
    }
}
