//! Control migration: backups, restores and relocation. Per-plan backup schedule and
//! retention (`plans.backup_interval_hours`, `plans.backup_retention_count`); a server
//! being emptied (`database_servers.evacuation_concurrency`: how many of its tenants are
//! relocated at once); a tenant's write freeze (`tenants.frozen_at`,
//! `tenants.freeze_reason`: while set, the runtime answers 503 `tenant_maintenance`);
//! every backup taken (`tenant_backups`: where it is stored, its size, SHA-256, schema
//! version and the row count of each table, counted in the dump's own snapshot); and the
//! databases of a tenant that are not (or not yet) its live one (`tenant_db_copies`: a
//! restore's or relocation's target while it is built, the old database after a switch
//! until it is dropped), so the reconciler never takes them for orphans and a sweep drops
//! retired ones when their time is up.

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
ALTER TABLE plans
    ADD COLUMN backup_interval_hours  integer NOT NULL DEFAULT 0
        CHECK (backup_interval_hours BETWEEN 0 AND 8760),
    ADD COLUMN backup_retention_count integer NOT NULL DEFAULT 7
        CHECK (backup_retention_count BETWEEN 1 AND 1000);

ALTER TABLE tenants
    ADD COLUMN frozen_at     timestamptz NULL,
    ADD COLUMN freeze_reason text        NULL
        CHECK (freeze_reason IS NULL OR freeze_reason IN ('restore', 'relocation')),
    ADD CONSTRAINT tenants_freeze_check CHECK ((frozen_at IS NULL) = (freeze_reason IS NULL));

ALTER TABLE database_servers
    ADD COLUMN evacuation_concurrency integer NULL CHECK (evacuation_concurrency BETWEEN 1 AND 16);

CREATE TABLE tenant_backups (
    id             uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL REFERENCES tenants (id),
    kind           text        NOT NULL CHECK (kind IN ('manual', 'scheduled', 'final')),
    state          text        NOT NULL DEFAULT 'pending'
                               CHECK (state IN ('pending', 'completed', 'failed', 'pruned')),
    job_id         uuid        NULL REFERENCES jobs (id),
    storage_key    text        NULL,
    size_bytes     bigint      NULL CHECK (size_bytes >= 0),
    sha256         text        NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    schema_version text        NULL,
    row_counts     jsonb       NULL CHECK (row_counts IS NULL OR jsonb_typeof(row_counts) = 'object'),
    server_id      uuid        NULL REFERENCES database_servers (id),
    db_name        text        NULL,
    error          text        NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz NULL,
    CHECK (state <> 'completed'
           OR (storage_key IS NOT NULL AND size_bytes IS NOT NULL AND sha256 IS NOT NULL
               AND row_counts IS NOT NULL AND completed_at IS NOT NULL))
);
CREATE INDEX tenant_backups_tenant_idx ON tenant_backups (tenant_id, created_at);
CREATE INDEX tenant_backups_completed_idx ON tenant_backups (completed_at) WHERE state = 'completed';

CREATE TABLE tenant_db_copies (
    id         uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    server_id  uuid        NOT NULL REFERENCES database_servers (id),
    db_name    text        NOT NULL CHECK (db_name ~ '^t_[0-9a-f]{32}(_[0-9a-f]{12})?$'),
    state      text        NOT NULL CHECK (state IN ('building', 'retired')),
    purpose    text        NOT NULL CHECK (purpose IN ('restore', 'relocation')),
    job_id     uuid        NULL REFERENCES jobs (id),
    drop_after timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'retired') = (drop_after IS NOT NULL)),
    UNIQUE (server_id, db_name)
);
CREATE INDEX tenant_db_copies_tenant_idx ON tenant_db_copies (tenant_id);
"#;

const DOWN: &str = r#"
DROP TABLE tenant_db_copies;
DROP TABLE tenant_backups;
ALTER TABLE tenants DROP CONSTRAINT tenants_freeze_check,
    DROP COLUMN freeze_reason, DROP COLUMN frozen_at;
ALTER TABLE database_servers DROP COLUMN evacuation_concurrency;
ALTER TABLE plans DROP COLUMN backup_retention_count, DROP COLUMN backup_interval_hours;
"#;
