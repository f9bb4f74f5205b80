//! Control migration: `idempotency_keys` (replayable admin POSTs), `tenant_usage_daily` (API calls per tenant per day) and the sampled size and user count on `tenants`; `admin_users.totp_last_step` (a TOTP code works once).

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
CREATE TABLE idempotency_keys (
    scope           text        NOT NULL,
    key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256  text        NOT NULL,
    response_status integer     NOT NULL,
    response_body   jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

CREATE TABLE tenant_usage_daily (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    day        date        NOT NULL,
    api_calls  bigint      NOT NULL DEFAULT 0 CHECK (api_calls >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);

ALTER TABLE tenants
    ADD COLUMN storage_bytes    bigint      NULL CHECK (storage_bytes >= 0),
    ADD COLUMN user_count       integer     NULL CHECK (user_count >= 0),
    ADD COLUMN usage_sampled_at timestamptz NULL;

ALTER TABLE admin_users ADD COLUMN totp_last_step bigint NULL;
"#;

const DOWN: &str = r#"
ALTER TABLE admin_users DROP COLUMN totp_last_step;
ALTER TABLE tenants
    DROP COLUMN storage_bytes,
    DROP COLUMN user_count,
    DROP COLUMN usage_sampled_at;
DROP TABLE tenant_usage_daily;
DROP TABLE idempotency_keys;
"#;
