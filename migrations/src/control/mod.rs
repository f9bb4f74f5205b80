//! The control-database migrator: plans, database servers, tenants, jobs, admin users and
//! their refresh tokens, the append-only audit log, idempotency keys and usage counters;
//! the control database closed to `PUBLIC`; billing; the tenant schema ledger and fleet
//! migration runs; backups, database copies and write freezes; one queued fleet job per
//! kind and tenant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::time::Duration;

mod m20261122_000001_create_plans;
mod m20261122_000002_create_database_servers;
mod m20261122_000003_create_tenants;
mod m20261122_000004_create_jobs;
mod m20261122_000005_create_admin_users;
mod m20261122_000006_create_admin_refresh_tokens;
mod m20261122_000007_create_audit_log;
mod m20261123_000008_create_idempotency_and_usage;
mod m20261124_000009_close_control_database;
mod m20261203_000010_billing;
mod m20261203_000011_fleet_migrations;
mod m20261203_000012_backups_and_relocation;
mod m20261203_000013_fleet_jobs;
mod m20261203_000014_portal_sessions;
mod m20261204_000015_webhook_wakeups;
mod m20261205_000016_job_traceparent;
mod m20261205_000017_usage_flushes;

/// Name of the table recording applied control migrations.
pub const MIGRATION_TABLE: &str = "seaql_migrations";

/// Migrates the control database.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_plans::Migration),
            Box::new(m20261122_000002_create_database_servers::Migration),
            Box::new(m20261122_000003_create_tenants::Migration),
            Box::new(m20261122_000004_create_jobs::Migration),
            Box::new(m20261122_000005_create_admin_users::Migration),
            Box::new(m20261122_000006_create_admin_refresh_tokens::Migration),
            Box::new(m20261122_000007_create_audit_log::Migration),
            Box::new(m20261123_000008_create_idempotency_and_usage::Migration),
            Box::new(m20261124_000009_close_control_database::Migration),
            Box::new(m20261203_000010_billing::Migration),
            Box::new(m20261203_000011_fleet_migrations::Migration),
            Box::new(m20261203_000012_backups_and_relocation::Migration),
            Box::new(m20261203_000013_fleet_jobs::Migration),
            Box::new(m20261203_000014_portal_sessions::Migration),
            Box::new(m20261204_000015_webhook_wakeups::Migration),
            Box::new(m20261205_000016_job_traceparent::Migration),
            Box::new(m20261205_000017_usage_flushes::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        MIGRATION_TABLE.into_iden()
    }
}

/// How often [`ensure_closed_to_public`] applies the `REVOKE` before it gives up.
const CLOSE_ATTEMPTS: u32 = 5;

/// Closes the current (control) database to `PUBLIC`, as migration `000009` does, and
/// reads the ACL back in a later statement, applying it again until it holds: run at
/// every start, so a control database opened since (by hand, by a restore, or by a
/// catalogue update lost under concurrent changes to `pg_database`, which was seen under
/// load) is closed again. `false` when it is still open after every attempt: the role
/// running the platform is not the database's owner, and Postgres only warns.
///
/// Each `REVOKE` runs under the migration lock, committed before the ACL is read back:
/// replicas starting together would otherwise update the same `pg_database` row at once
/// ("tuple concurrently updated").
pub async fn ensure_closed_to_public(db: &DatabaseConnection) -> Result<bool, DbErr> {
    for attempt in 1..=CLOSE_ATTEMPTS {
        let txn = crate::locked(db).await?;
        txn.execute_unprepared(m20261124_000009_close_control_database::UP)
            .await?;
        txn.commit().await?;
        if !open_to_public(db).await? {
            return Ok(true);
        }
        tracing::warn!(
            attempt,
            "the control database is still open to PUBLIC; revoking again"
        );
        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
    }
    Ok(false)
}

/// Whether `PUBLIC` may connect to, or make temporary tables in, the current database.
pub async fn open_to_public(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT has_database_privilege('public', current_database(), 'CONNECT') \
                 OR has_database_privilege('public', current_database(), 'TEMPORARY') AS open",
        ))
        .await?;
    row.map_or(Ok(true), |row| row.try_get("", "open"))
}
