//! Control migration: `webhook_wakeups`, the durable hint that a tenant has webhook
//! deliveries due at `due_at`. The outbox itself lives in each tenant's database; with
//! thousands of them the runtimes' delivery workers cannot poll them all, so they scan
//! this small table instead (claiming rows with `FOR UPDATE SKIP LOCKED` and moving
//! `due_at` a lease ahead). A lost in-process nudge or a restart only delays delivery.

use sea_orm_migration::prelude::*;

use crate::sql::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}

const UP: &str = r#"
CREATE TABLE webhook_wakeups (
    tenant_id uuid        PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    due_at    timestamptz NOT NULL
);
CREATE INDEX webhook_wakeups_due_idx ON webhook_wakeups (due_at);
"#;

const DOWN: &str = "DROP TABLE webhook_wakeups;";
