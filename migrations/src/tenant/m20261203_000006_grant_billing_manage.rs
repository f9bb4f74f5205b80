//! Tenant migration: `billing.manage` for the `admin` role of companies made before
//! billing existed (new companies are seeded with it). The first tenant migration that
//! changes data rather than shape: a fleet migration run brings it to every existing
//! tenant. In a template (no roles yet) it only adds the permission, which seeding then
//! finds already there.

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
INSERT INTO permissions (code, description) VALUES ('billing.manage', 'manage billing')
    ON CONFLICT (code) DO NOTHING;
INSERT INTO role_permissions (role_id, permission_code)
    SELECT id, 'billing.manage' FROM roles WHERE name = 'admin'
    ON CONFLICT DO NOTHING;
"#;

// Taking the permission back from every admin would lock them out of billing: the down
// migration leaves the data as it is.
const DOWN: &str = "SELECT 1";
