//! Control migration: `tenants`, one row per tenant with its status, plan, placement and billing state.

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
CREATE TABLE tenants (
    id                     uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                   text        NOT NULL,
    name                   text        NOT NULL,
    status                 text        NOT NULL CHECK (status IN (
                               'pending', 'provisioning', 'active', 'suspended',
                               'deleting', 'deleted', 'failed')),
    status_reason          text        NULL,
    suspension_kind        text        NULL
                                       CHECK (suspension_kind IN ('admin', 'billing', 'trial_expired')),
    plan_code              text        NOT NULL REFERENCES plans (code),
    server_id              uuid        NULL REFERENCES database_servers (id),
    db_name                text        NULL,
    db_role                text        NULL,
    db_password_ciphertext bytea       NULL,
    db_password_key_id     text        NULL,
    schema_version         text        NULL,
    admin_email            text        NOT NULL,
    trial_ends_at          timestamptz NULL,
    stripe_customer_id     text        NULL,
    stripe_subscription_id text        NULL,
    billing_state          text        NOT NULL DEFAULT 'none',
    failure_reason         text        NULL,
    backup_path            text        NULL,
    backup_size_bytes      bigint      NULL CHECK (backup_size_bytes >= 0),
    backup_sha256          text        NULL,
    suspended_at           timestamptz NULL,
    deleted_at             timestamptz NULL,
    purge_after            timestamptz NULL,
    row_version            integer     NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_slug_lower_key ON tenants (lower(slug));
CREATE INDEX tenants_status_idx ON tenants (status);
CREATE INDEX tenants_plan_code_idx ON tenants (plan_code);
CREATE INDEX tenants_server_id_idx ON tenants (server_id);
CREATE UNIQUE INDEX tenants_server_db_name_key ON tenants (server_id, db_name)
    WHERE db_name IS NOT NULL;
"#;

const DOWN: &str = r#"
DROP TABLE tenants;
"#;
