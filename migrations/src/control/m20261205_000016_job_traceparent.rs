//! Control migration: `jobs.traceparent`, the W3C trace context of the request that queued
//! the job. The worker that runs the job continues that trace, so one trace spans the
//! admin's or signup's request and the saga it started, across processes.

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

// Bounded: a traceparent is 55 characters; a longer value is a bug, not a trace.
const UP: &str = r#"
ALTER TABLE jobs ADD COLUMN traceparent text
    CONSTRAINT jobs_traceparent_length CHECK (char_length(traceparent) <= 128);
"#;

const DOWN: &str = "ALTER TABLE jobs DROP COLUMN traceparent;";
