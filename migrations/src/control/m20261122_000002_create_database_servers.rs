//! Control migration: `database_servers`, the registered Postgres servers that host tenant databases.

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
CREATE TABLE database_servers (
    id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name                 text        NOT NULL UNIQUE,
    host                 text        NOT NULL,
    admin_url_ciphertext bytea       NOT NULL,
    admin_url_key_id     text        NOT NULL,
    capacity             integer     NOT NULL CHECK (capacity >= 0),
    state                text        NOT NULL DEFAULT 'active'
                                     CHECK (state IN ('active', 'draining')),
    spare_target         integer     NOT NULL DEFAULT 0 CHECK (spare_target >= 0),
    connection_budget    integer     NOT NULL DEFAULT 40 CHECK (connection_budget > 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
"#;

const DOWN: &str = r#"
DROP TABLE database_servers;
"#;
