//! How a job step fails, and how errors from Postgres are sorted into "retry later"
//! (the server is down, a template is busy) and "give up and compensate".

use sea_orm::DbErr;

/// The outcome of a step that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Worth retrying with backoff: the job goes back to the queue.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help: undo what the job made and mark the tenant failed.
    #[error("{0}")]
    Permanent(String),
    /// The tenant was deleted meanwhile: stop; the delete job cleans up.
    #[error("the tenant is being deleted")]
    Cancelled,
    /// Another worker holds the job now (our lease expired): stop touching it.
    #[error("the job's lease was lost")]
    LostLease,
    /// A test fail point fired: behave as if the process died here.
    #[error("fail point `{0}` fired")]
    Crash(String),
}

impl From<DbErr> for StepError {
    /// The control database failing is never the job's fault: retry.
    fn from(error: DbErr) -> Self {
        Self::Transient(format!("control database: {error}"))
    }
}

impl From<tokio_postgres::Error> for StepError {
    fn from(error: tokio_postgres::Error) -> Self {
        classify(&error)
    }
}

impl From<crate::servers::ConnectError> for StepError {
    /// A server that cannot be reached may come back: retry.
    fn from(error: crate::servers::ConnectError) -> Self {
        match error {
            crate::servers::ConnectError::Postgres(error) => classify(&error),
            timed_out @ crate::servers::ConnectError::TimedOut(_) => {
                Self::Transient(format!("server unreachable: {timed_out}"))
            }
        }
    }
}

impl From<crate::error::ProvisionError> for StepError {
    fn from(error: crate::error::ProvisionError) -> Self {
        use crate::error::ProvisionError as E;
        match error {
            E::Db(error) => error.into(),
            E::TenantDb(error) => classify(&error),
            E::ServerUnreachable { .. } => Self::Transient(error.to_string()),
            other => Self::Permanent(other.to_string()),
        }
    }
}

/// SQLSTATEs that mean "try again": the object is in use (a template being cloned),
/// serialization or deadlock, too many connections, the server starting or stopping.
const TRANSIENT_STATES: &[&str] = &[
    "55006", "40001", "40P01", "53300", "57P01", "57P02", "57P03",
];

/// No SQLSTATE means the connection itself failed: the server is down or unreachable.
pub fn classify(error: &tokio_postgres::Error) -> StepError {
    match error.code() {
        Some(state) if !TRANSIENT_STATES.contains(&state.code()) => {
            StepError::Permanent(describe(error))
        }
        _ => StepError::Transient(describe(error)),
    }
}

/// The server's own message and SQLSTATE when there is one (tokio-postgres displays only
/// "db error"), else the cause of the connection failure.
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_database_errors_are_retried() {
        let error: StepError = DbErr::Custom("connection refused".into()).into();
        assert!(matches!(error, StepError::Transient(_)));
    }
}
