//! Control migration: `admin_users`, the super-admin accounts of the control plane.

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
CREATE TABLE admin_users (
    id                     uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email                  text        NOT NULL,
    password_hash          text        NOT NULL,
    role                   text        NOT NULL
                                       CHECK (role IN ('owner', 'operator', 'billing', 'support')),
    totp_secret_ciphertext bytea       NULL,
    totp_key_id            text        NULL,
    totp_enabled           boolean     NOT NULL DEFAULT false,
    recovery_code_hashes   jsonb       NOT NULL DEFAULT '[]'::jsonb
                                       CHECK (jsonb_typeof(recovery_code_hashes) = 'array'),
    failed_login_count     integer     NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until           timestamptz NULL,
    last_login_at          timestamptz NULL,
    disabled               boolean     NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX admin_users_email_lower_key ON admin_users (lower(email));
"#;

const DOWN: &str = r#"
DROP TABLE admin_users;
"#;
