//! A tenant schema upgrade for the fleet migration tests and benchmark: this build's
//! tenant migrations plus one more, which adds a column and an index to `settings` (the
//! benchmark's "add a column and an index to a table with 1,000 rows") and a check that a
//! setting named `bad` violates, so a test can make a tenant whose data the migration
//! does not fit.

use provisioner::fleet::TenantSchema;
use sea_orm_migration::prelude::*;

/// The upgrade's version (sorts after every real migration).
pub const UPGRADE_VERSION: &str = "m20991231_000001_fleet_test_upgrade";
/// The setting key that makes the upgrade fail on a tenant.
pub const BAD_KEY: &str = "bad";

/// The upgraded tenant schema.
pub fn upgraded() -> TenantSchema {
    TenantSchema::of::<Upgraded>()
}

/// This build's tenant migrations and the upgrade, in the same migration table.
pub struct Upgraded;

#[async_trait::async_trait]
impl MigratorTrait for Upgraded {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = migrations::tenant::Migrator::migrations();
        all.push(Box::new(AddNote));
        all
    }

    fn migration_table_name() -> DynIden {
        migrations::tenant::MIGRATION_TABLE.into_iden()
    }
}

struct AddNote;

impl MigrationName for AddNote {
    fn name(&self) -> &str {
        UPGRADE_VERSION
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddNote {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE settings ADD COLUMN note text; \
                 CREATE INDEX settings_note_idx ON settings (note); \
                 ALTER TABLE settings ADD CONSTRAINT settings_no_bad_key CHECK (key <> '{BAD_KEY}')"
            ))
            .await?;
        Ok(())
    }
}
