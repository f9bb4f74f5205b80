//! The control-database connection: opened lazily (a service starts even when Postgres is
//! down), pinged for readiness, and awaited with capped exponential backoff, as is its
//! schema (which one process migrates while the others wait).

use crate::config::DatabaseSettings;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long readiness waits for a ping before calling the database unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_RETRY: Duration = Duration::from_secs(15);
/// A waiting process should notice a finished migration within a fraction of a second.
const SCHEMA_FIRST_RETRY: Duration = Duration::from_millis(25);
const SCHEMA_LONGEST_RETRY: Duration = Duration::from_millis(500);

/// Opens a pool that connects on first use, so a database that is down at start delays
/// readiness instead of aborting the process.
pub async fn connect_lazy(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.url.expose().to_owned());
    options
        .max_connections(settings.max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false)
        .connect_lazy(true);
    Database::connect(options).await
}

/// `Ok` when a trivial query answers within [`PING_TIMEOUT`].
pub async fn ping(db: &DatabaseConnection) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {PING_TIMEOUT:?}")),
    }
}

/// Pings until the database answers, logging each failure with the next delay. Returns
/// `false` only when cancelled first.
pub async fn wait_until_reachable(
    db: &DatabaseConnection,
    label: &str,
    cancel: &CancellationToken,
) -> bool {
    let mut delay = FIRST_RETRY;
    loop {
        match ping(db).await {
            Ok(()) => return true,
            Err(error) => tracing::warn!(
                database = label,
                retry_in_ms = delay.as_millis() as u64,
                "database unreachable: {error}; retrying"
            ),
        }
        tokio::select! {
            () = cancel.cancelled() => return false,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(LONGEST_RETRY);
    }
}

/// Waits until the control schema is at the newest migration this binary knows (another
/// process, or the all-in-one bootstrap, migrates it), checking read-only so as never to
/// race the migrator. Returns `false` only when cancelled first.
pub async fn wait_for_control_schema(db: &DatabaseConnection, cancel: &CancellationToken) -> bool {
    use migrations::control::Migrator;
    let mut delay = SCHEMA_FIRST_RETRY;
    let mut told = false;
    loop {
        match migrations::is_current::<Migrator>(db).await {
            Ok(true) => return true,
            Ok(false) if !told => tracing::info!("waiting for the control database to be migrated"),
            Err(error) if !told => {
                tracing::info!("waiting for the control database schema: {error}")
            }
            _ => {}
        }
        told = true;
        tokio::select! {
            () = cancel.cancelled() => return false,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(SCHEMA_LONGEST_RETRY);
    }
}

/// Whether a control-database error is a unique-constraint violation.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// `host:port/database` of a Postgres URL: safe to log (no user, no password).
pub fn describe_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describing_a_url_drops_the_credentials_and_options() {
        assert_eq!(
            describe_url("postgres://user:p%40ss@db.local:5433/erp?sslmode=require"),
            "db.local:5433/erp"
        );
        assert_eq!(describe_url("postgres://h/db"), "h/db");
    }
}
