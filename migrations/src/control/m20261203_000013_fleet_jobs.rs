//! Control migration: fleet jobs that must not pile up. At most one *queued* job of each
//! deduplicated kind per tenant (`role_limits`), and one with no tenant (`reseal`), so a
//! thousand plan edits queue one job per tenant, not a thousand. A running job does not
//! count: a change made while it runs queues the next one, which sees the change.

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

// The nil uuid stands in for "no tenant": a plain unique index treats NULLs as distinct.
const UP: &str = r#"
CREATE UNIQUE INDEX jobs_one_queued_fleet_job ON jobs
    (kind, coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid))
    WHERE state = 'queued' AND kind IN ('role_limits', 'reseal');
"#;

const DOWN: &str = r#"
DROP INDEX jobs_one_queued_fleet_job;
"#;
