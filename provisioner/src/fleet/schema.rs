//! [`TenantSchema`]: the tenant migrations a fleet run applies. Workers use the code's
//! own list ([`TenantSchema::current`]); tests pass a longer one to stand for an upgrade.

use sea_orm::{DatabaseTransaction, DbErr};
use sea_orm_migration::MigratorTrait;
use std::future::Future;
use std::pin::Pin;

type Up = for<'t> fn(
    &'t DatabaseTransaction,
) -> Pin<Box<dyn Future<Output = Result<(), DbErr>> + Send + 't>>;

/// A list of tenant migrations, applied through sea-orm's migrator.
#[derive(Clone, Copy)]
pub struct TenantSchema {
    names: fn() -> Vec<String>,
    up: Up,
}

impl std::fmt::Debug for TenantSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSchema")
            .field("latest", &self.latest())
            .finish()
    }
}

impl TenantSchema {
    /// The tenant migrations this build holds.
    pub fn current() -> Self {
        Self::of::<migrations::tenant::Migrator>()
    }

    /// The migrations of `M` (which must record them in the tenant migration table).
    pub fn of<M: MigratorTrait + 'static>() -> Self {
        Self {
            names: names::<M>,
            up: up::<M>,
        }
    }

    /// Every migration's name, oldest first.
    pub fn names(&self) -> Vec<String> {
        (self.names)()
    }

    /// The newest migration's name: the version a migrated tenant is at.
    pub fn latest(&self) -> String {
        self.names().pop().unwrap_or_default()
    }

    /// The migrations a database at `version` lacks, oldest first.
    pub fn pending_after(&self, version: Option<&str>) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|name| migrations::is_behind(version, name))
            .collect()
    }

    /// Applies every pending migration inside `txn`.
    pub async fn up(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        (self.up)(txn).await
    }
}

impl Default for TenantSchema {
    fn default() -> Self {
        Self::current()
    }
}

fn names<M: MigratorTrait + 'static>() -> Vec<String> {
    M::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect()
}

fn up<M: MigratorTrait + 'static>(
    txn: &DatabaseTransaction,
) -> Pin<Box<dyn Future<Output = Result<(), DbErr>> + Send + '_>> {
    Box::pin(M::up(txn, None))
}
