//! Control migration: the tenant schema-version ledger and fleet migration runs.
//!
//! - `tenant_schema_ledger`: one row per tenant and applied tenant migration (which run
//!   applied it, when). `tenants.schema_version` stays the newest of them, the value the
//!   runtime compares with its code; the ledger is its history. Backfilled here from
//!   `schema_version` (migrations apply in order, so a version implies all before it).
//! - `database_servers.template_version`: the tenant schema of the server's template.
//! - `migration_runs` and `migration_run_tenants`: a fleet run (its settings, state and
//!   counts) and each tenant's part in it (wave, state, attempts, error, timing).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use crate::sql::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        backfill_ledger(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}

/// Every tenant with a recorded version gets a ledger row per tenant migration up to it.
async fn backfill_ledger(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    // Migration names are identifiers (letters, digits, `_`), so a comma joins them safely.
    let names = <crate::tenant::Migrator as MigratorTrait>::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect::<Vec<_>>()
        .join(",");
    manager
        .get_connection()
        .execute_raw(Statement::from_sql_and_values(
            manager.get_database_backend(),
            "INSERT INTO tenant_schema_ledger (tenant_id, version, applied_at) \
             SELECT t.id, v.name, t.updated_at FROM tenants t \
             CROSS JOIN unnest(string_to_array($1, ',')) AS v(name) \
             WHERE t.schema_version IS NOT NULL AND v.name <= t.schema_version \
             ON CONFLICT DO NOTHING",
            [names.into()],
        ))
        .await?;
    Ok(())
}

const UP: &str = r#"
CREATE TABLE migration_runs (
    id                uuid        PRIMARY KEY,
    state             text        NOT NULL DEFAULT 'queued' CHECK (state IN (
                          'queued', 'running', 'halted', 'cancelled', 'succeeded', 'failed')),
    target_version    text        NOT NULL,
    filter            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    canary_size       integer     NOT NULL CHECK (canary_size >= 0),
    max_per_server    integer     NOT NULL CHECK (max_per_server BETWEEN 1 AND 64),
    max_failures      integer     NULL CHECK (max_failures >= 0),
    max_failure_ratio float8      NULL CHECK (max_failure_ratio BETWEEN 0 AND 1),
    lock_timeout_ms   integer     NOT NULL CHECK (lock_timeout_ms BETWEEN 1 AND 600000),
    total             integer     NOT NULL DEFAULT 0,
    halted_reason     text        NULL,
    started_by        text        NOT NULL,
    job_id            uuid        NULL REFERENCES jobs (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz NULL,
    finished_at       timestamptz NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- One run at a time: two runs would race for the same tenants.
CREATE UNIQUE INDEX migration_runs_one_active ON migration_runs ((state IN ('queued', 'running')))
    WHERE state IN ('queued', 'running');
CREATE INDEX migration_runs_created_idx ON migration_runs (created_at DESC, id DESC);

CREATE TABLE migration_run_tenants (
    run_id        uuid        NOT NULL REFERENCES migration_runs (id) ON DELETE CASCADE,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id),
    server_id     uuid        NOT NULL REFERENCES database_servers (id),
    wave          smallint    NOT NULL CHECK (wave IN (0, 1)),
    state         text        NOT NULL DEFAULT 'pending' CHECK (state IN (
                      'pending', 'running', 'succeeded', 'failed', 'skipped')),
    attempts      integer     NOT NULL DEFAULT 0,
    waits         integer     NOT NULL DEFAULT 0,
    retry_after   timestamptz NOT NULL DEFAULT now(),
    from_version  text        NULL,
    to_version    text        NULL,
    error         text        NULL,
    started_at    timestamptz NULL,
    finished_at   timestamptz NULL,
    duration_ms   integer     NULL,
    PRIMARY KEY (run_id, tenant_id)
);
CREATE INDEX migration_run_tenants_state_idx ON migration_run_tenants (run_id, state, wave);

CREATE TABLE tenant_schema_ledger (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    version    text        NOT NULL,
    run_id     uuid        NULL REFERENCES migration_runs (id) ON DELETE SET NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);

ALTER TABLE database_servers
    ADD COLUMN template_version  text        NULL,
    ADD COLUMN template_built_at timestamptz NULL;
"#;

const DOWN: &str = r#"
ALTER TABLE database_servers DROP COLUMN template_version, DROP COLUMN template_built_at;
DROP TABLE tenant_schema_ledger;
DROP TABLE migration_run_tenants;
DROP TABLE migration_runs;
"#;
