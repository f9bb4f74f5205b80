//! Tenant migration: `users`, the staff accounts of one tenant (invited, active or disabled).

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
CREATE TABLE users (
    id                      uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email                   text        NOT NULL,
    display_name            text        NOT NULL DEFAULT '',
    password_hash           text        NULL,
    status                  text        NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    set_password_token_hash text        NULL,
    set_password_expires_at timestamptz NULL,
    failed_login_count      integer     NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until            timestamptz NULL,
    last_login_at           timestamptz NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE UNIQUE INDEX users_set_password_token_hash_key ON users (set_password_token_hash)
    WHERE set_password_token_hash IS NOT NULL;
"#;

const DOWN: &str = r#"
DROP TABLE users;
"#;
