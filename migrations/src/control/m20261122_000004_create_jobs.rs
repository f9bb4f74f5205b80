//! Control migration: `jobs`, the provisioning and fleet job queue claimed with `FOR UPDATE SKIP LOCKED`.

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
CREATE TABLE jobs (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid        NULL REFERENCES tenants (id),
    kind             text        NOT NULL,
    state            text        NOT NULL DEFAULT 'queued' CHECK (state IN (
                         'queued', 'running', 'succeeded', 'failed', 'cancelled')),
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    current_step     text        NULL,
    completed_steps  jsonb       NOT NULL DEFAULT '[]'::jsonb
                                 CHECK (jsonb_typeof(completed_steps) = 'array'),
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer     NOT NULL DEFAULT 10 CHECK (max_attempts > 0),
    run_after        timestamptz NOT NULL DEFAULT now(),
    lease_owner      text        NULL,
    lease_expires_at timestamptz NULL,
    last_error       text        NULL,
    idempotency_key  text        NULL UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz NULL
);
CREATE INDEX jobs_claim_idx ON jobs (run_after) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_tenant_id_idx ON jobs (tenant_id);
"#;

const DOWN: &str = r#"
DROP TABLE jobs;
"#;
