//! Helper that runs a block of plain Postgres SQL inside a migration.

use sea_orm_migration::prelude::*;

/// Executes `sql` (one or more `;`-separated statements) without preparing it.
pub(crate) async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}
