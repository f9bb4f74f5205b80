//! Schema migrators for the platform: `control` (the control database) and `tenant`
//! (every tenant database), plus the `migrations` command-line interface.
//!
//! This crate depends on no other workspace crate, so any service can link it to migrate
//! a database or to learn the newest schema version.

pub mod cli;
pub mod control;
pub mod tenant;

mod sql;

use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};

/// An arbitrary constant: the advisory lock key every migrator of a database takes.
/// Postgres scopes advisory locks to the current database, so one key serves all.
const MIGRATION_LOCK: i64 = 0x6572_705f_6d69_6772;

/// Applies `M`'s pending migrations (at most `steps`) under a transaction-level advisory
/// lock, all in that one transaction: however many processes start together, one migrates
/// and the others wait, then find nothing pending. A failure leaves the schema as it was.
/// (Without the lock, two first starts race in `CREATE TABLE IF NOT EXISTS
/// seaql_migrations` and one fails on `pg_type_typname_nsp_index`.)
pub async fn up_exclusively<M: MigratorTrait>(
    db: &DatabaseConnection,
    steps: Option<u32>,
) -> Result<(), DbErr> {
    let txn = locked(db).await?;
    M::up(&txn, steps).await?;
    txn.commit().await
}

/// A transaction holding the migration lock: schema and catalogue changes to this
/// database wait for each other.
pub(crate) async fn locked(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    locked_within(db, None).await
}

/// A transaction holding the migration lock, in which no lock (the migration lock
/// included) is waited for longer than `lock_timeout`: a migration blocked by a long
/// transaction fails with SQLSTATE `55P03` instead of queueing every later query of that
/// database behind its own lock request. The fleet's tenant migrations run in it.
pub async fn locked_within(
    db: &DatabaseConnection,
    lock_timeout: Option<std::time::Duration>,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if let Some(timeout) = lock_timeout {
        txn.execute_unprepared(&format!(
            "SET LOCAL lock_timeout = '{}ms'",
            timeout.as_millis().max(1)
        ))
        .await?;
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [MIGRATION_LOCK.into()],
    ))
    .await?;
    Ok(txn)
}

/// Whether `M`'s every migration is applied, without creating anything (a process that
/// waits for another to migrate must not race it in DDL).
pub async fn is_current<M: MigratorTrait>(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(M::get_pending_migrations_read_only(db).await?.is_empty())
}

/// Name of the newest tenant migration; recorded as a tenant's `schema_version`.
pub fn latest_tenant_version() -> String {
    latest_version::<tenant::Migrator>()
}

/// Whether a tenant database at `version` (its newest applied migration; `None` when
/// unknown) lacks migrations that `required` includes. Migration names sort in the order
/// they apply (a test keeps them so), so the comparison is on the names.
pub fn is_behind(version: Option<&str>, required: &str) -> bool {
    version.is_none_or(|version| version < required)
}

/// The tenant migrations a database at `version` has not applied yet, oldest first.
pub fn pending_tenant_migrations(version: Option<&str>) -> Vec<String> {
    tenant::Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .filter(|name| is_behind(version, name))
        .collect()
}

/// Name of the newest control-database migration.
pub fn latest_control_version() -> String {
    latest_version::<control::Migrator>()
}

fn latest_version<M: MigratorTrait>() -> String {
    M::migrations()
        .last()
        .map(|migration| migration.name().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
