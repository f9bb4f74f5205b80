//! Control migration: the admin portal's sign-in sessions. The browser holds a random
//! token in a strict cookie; only its SHA-256 is stored, with the session's CSRF token,
//! whether the second factor is still to come, and when it lapses (idle and absolute).

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
CREATE TABLE portal_sessions (
    id uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    admin_id uuid NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    second_factor_pending boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX portal_sessions_admin ON portal_sessions (admin_id);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);
"#;

const DOWN: &str = r#"
DROP TABLE portal_sessions;
"#;
