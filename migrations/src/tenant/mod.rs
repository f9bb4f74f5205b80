//! The tenant-database migrator: users, roles and permissions, settings, the append-only
//! audit log and refresh tokens of one tenant, `billing.manage` for admins of companies
//! made before billing, the ERP's tables (production's, and quality control with its
//! `quality.release`, included) and the web app's sessions. Every tenant database runs
//! the same list (existing ones through a fleet migration run).

use sea_orm_migration::prelude::*;

mod m20261122_000001_create_users;
mod m20261122_000002_create_roles_and_permissions;
mod m20261122_000003_create_settings;
mod m20261122_000004_create_audit_log;
mod m20261122_000005_create_refresh_tokens;
mod m20261203_000006_grant_billing_manage;
mod m20261204_000007_erp_master_data;
mod m20261204_000008_web_sessions;
mod m20261204_000009_stock_ledger;
mod m20261204_000010_webhooks;
mod m20261204_000011_purchasing_and_approvals;
mod m20261204_000012_sales;
mod m20261205_000013_production;
mod m20261205_000014_quality;
mod m20261205_000015_held_adjustments;
mod m20261206_000016_kanban;
mod m20261206_000017_planning;

/// Name of the table recording applied tenant migrations.
pub const MIGRATION_TABLE: &str = "tenant_schema_migrations";

/// Migrates one tenant database.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_users::Migration),
            Box::new(m20261122_000002_create_roles_and_permissions::Migration),
            Box::new(m20261122_000003_create_settings::Migration),
            Box::new(m20261122_000004_create_audit_log::Migration),
            Box::new(m20261122_000005_create_refresh_tokens::Migration),
            Box::new(m20261203_000006_grant_billing_manage::Migration),
            Box::new(m20261204_000007_erp_master_data::Migration),
            Box::new(m20261204_000008_web_sessions::Migration),
            Box::new(m20261204_000009_stock_ledger::Migration),
            Box::new(m20261204_000010_webhooks::Migration),
            Box::new(m20261204_000011_purchasing_and_approvals::Migration),
            Box::new(m20261204_000012_sales::Migration),
            Box::new(m20261205_000013_production::Migration),
            Box::new(m20261205_000014_quality::Migration),
            Box::new(m20261205_000015_held_adjustments::Migration),
            Box::new(m20261206_000016_kanban::Migration),
            Box::new(m20261206_000017_planning::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        MIGRATION_TABLE.into_iden()
    }
}
