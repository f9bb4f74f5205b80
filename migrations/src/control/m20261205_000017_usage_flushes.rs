//! Control migration: `usage_flushes`, the ids of the usage batches already added to
//! `tenant_usage_daily`. A runtime whose flush failed cannot know whether its INSERT
//! committed (the connection can break after the statement was sent); it retries the same
//! batch under the same id, and a recorded id means the batch is in already, so a retry
//! never counts calls twice. Ids older than a week are pruned by the flushes themselves.

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
CREATE TABLE usage_flushes (
    id         uuid        PRIMARY KEY,
    flushed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_flushes_flushed_at_idx ON usage_flushes (flushed_at);
"#;

const DOWN: &str = "DROP TABLE usage_flushes;";
