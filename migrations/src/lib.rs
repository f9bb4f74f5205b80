//! Schema migrators for the platform: `control` (the control database) and `tenant`
//! (every tenant database), plus the `migrations` command-line interface.
//!
//! This crate depends on no other workspace crate, so any service can link it to migrate
//! a database or to learn the newest schema version.

pub mod cli;
pub mod control;
pub mod tenant;

mod sql;

use sea_orm_migration::MigratorTrait;

/// Name of the newest tenant migration; recorded as a tenant's `schema_version`.
pub fn latest_tenant_version() -> String {
    latest_version::<tenant::Migrator>()
}

/// Name of the newest control-database migration.
pub fn latest_control_version() -> String {
    latest_version::<control::Migrator>()
}

fn latest_version<M: MigratorTrait>() -> String {
    M::migrations()
        .last()
        .map(|migration| migration.name().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
