//! Tenant migration: `web_sessions`, the ERP web app's signed-in browsers. The browser holds
//! a random token in a strict cookie; the row holds its SHA-256, the session's CSRF token,
//! the super-admin behind an impersonated session, and when it lapses (idle and absolute).

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
CREATE TABLE web_sessions (
    id           uuid        PRIMARY KEY,
    token_hash   text        NOT NULL UNIQUE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    impersonator text        NULL,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    idle_until   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX web_sessions_user_id_idx ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_at_idx ON web_sessions (expires_at);
"#;

const DOWN: &str = r#"
DROP TABLE web_sessions;
"#;
