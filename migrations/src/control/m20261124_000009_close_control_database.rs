//! Control migration: closes the control database to `PUBLIC`. A fresh database lets every
//! role on its server connect and create temporary tables; on a server that also holds
//! tenant databases a tenant role could then log in here, `LISTEN tenant_changed` and
//! `NOTIFY` it, making every runtime drop its registry. Only the role that runs the
//! platform (the owner, or a superuser) connects after this. Run by any other role, the
//! `REVOKE` revokes nothing (Postgres warns): the control database must be migrated by its
//! owner.
//!
//! The database is named by `current_database()`, so the migration holds for whatever the
//! control database is called. `CREATE DATABASE` never copies an ACL: a clone of a migrated
//! control database is open again until this statement is run on it (the test harness does).

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

/// Also run at every start by [`super::ensure_closed_to_public`].
pub(super) const UP: &str = r#"
DO $$
BEGIN
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
"#;

const DOWN: &str = r#"
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END
$$;
"#;
