//! The control-database migrator: plans, database servers, tenants, jobs, admin users and
//! their refresh tokens, the append-only audit log, idempotency keys and usage counters;
//! and the control database closed to `PUBLIC`.

use sea_orm_migration::prelude::*;

mod m20261122_000001_create_plans;
mod m20261122_000002_create_database_servers;
mod m20261122_000003_create_tenants;
mod m20261122_000004_create_jobs;
mod m20261122_000005_create_admin_users;
mod m20261122_000006_create_admin_refresh_tokens;
mod m20261122_000007_create_audit_log;
mod m20261123_000008_create_idempotency_and_usage;
mod m20261124_000009_close_control_database;

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
        ]
    }

    fn migration_table_name() -> DynIden {
        MIGRATION_TABLE.into_iden()
    }
}
