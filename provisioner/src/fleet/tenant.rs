//! One tenant's migration in a fleet run: every pending migration and the tenant role's
//! grants on what they made, in one transaction on the tenant's database, under the
//! migration lock and a `lock_timeout`. A tenant is never seen half-migrated: the runtime
//! sees the old schema until the commit and the new one after. What went wrong is sorted
//! into "wait and try again later in the run" (a lock held by a long transaction, the
//! server unreachable) and "failed" (the migration itself does not apply to this data).

use super::TenantSchema;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, RuntimeErr};
use std::time::Duration;

/// How long connecting to a tenant database may take before the tenant waits its turn.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLSTATEs that mean "later": a lock not granted in time, serialization or deadlock,
/// too many connections, the server shutting down or starting.
const WAIT_STATES: &[&str] = &[
    "55P03", "40001", "40P01", "53300", "57P01", "57P02", "57P03",
];

/// Where one tenant's database is, and the role its grants go to.
pub(super) struct Target {
    /// The tenant database's URL with the server's admin credentials.
    pub url: String,
    pub database: String,
    pub role: String,
}

/// How one attempt ended.
#[derive(Debug)]
pub(super) enum Attempt {
    /// Committed: the database went from `from` (its newest migration before) to `to`.
    Migrated { from: Option<String>, to: String },
    /// Not now: try again later in the run.
    Wait(String),
    /// The migration failed on this tenant; its schema is as it was.
    Failed(String),
}

/// Migrates one tenant database to `schema`'s newest version.
pub(super) async fn migrate(
    schema: &TenantSchema,
    target: &Target,
    lock_timeout: Duration,
) -> Attempt {
    let options = ConnectOptions::new(target.url.clone())
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(CONNECT_TIMEOUT)
        .sqlx_logging(false)
        .to_owned();
    let db = match Database::connect(options).await {
        Ok(db) => db,
        Err(error) => return Attempt::Wait(format!("connecting: {error}")),
    };
    let applied = apply(schema, &db, target, lock_timeout).await;
    let _ = db.close().await;
    match applied {
        Ok(from) => Attempt::Migrated {
            from,
            to: schema.latest(),
        },
        Err(error) if waits(&error) => Attempt::Wait(describe(&error)),
        Err(error) => Attempt::Failed(describe(&error)),
    }
}

/// The migrations and grants in one transaction; returns the version it started from.
async fn apply(
    schema: &TenantSchema,
    db: &DatabaseConnection,
    target: &Target,
    lock_timeout: Duration,
) -> Result<Option<String>, DbErr> {
    let txn = migrations::locked_within(db, Some(lock_timeout)).await?;
    let from = txn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT max(version) AS version FROM {}",
                migrations::tenant::MIGRATION_TABLE
            ),
        ))
        .await?
        .and_then(|row| row.try_get::<Option<String>>("", "version").ok())
        .flatten();
    schema.up(&txn).await?;
    txn.execute_unprepared(&crate::provision::grant_statements(
        &target.database,
        &target.role,
    ))
    .await?;
    txn.commit().await?;
    Ok(from)
}

/// The SQLSTATE of a database error, if the server sent one.
fn sqlstate(error: &DbErr) -> Option<String> {
    let runtime = match error {
        DbErr::Exec(runtime) | DbErr::Query(runtime) | DbErr::Conn(runtime) => runtime,
        _ => return None,
    };
    match runtime {
        RuntimeErr::SqlxError(sqlx) => sqlx
            .as_database_error()
            .and_then(|db| db.code())
            .map(|code| code.into_owned()),
        _ => None,
    }
}

/// Whether the error says "later" rather than "this migration fails here": a listed
/// SQLSTATE, or no SQLSTATE at all from a connection that broke or could not be had.
fn waits(error: &DbErr) -> bool {
    match sqlstate(error) {
        Some(state) => WAIT_STATES.contains(&state.as_str()) || state.starts_with("08"),
        None => matches!(
            error,
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) | DbErr::Exec(_) | DbErr::Query(_)
        ),
    }
}

/// The error with its SQLSTATE, as recorded on the tenant's line of the run.
fn describe(error: &DbErr) -> String {
    match sqlstate(error) {
        Some(state) => format!("{error} (SQLSTATE {state})"),
        None => error.to_string(),
    }
}
