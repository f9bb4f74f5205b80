//! Entity of `tenant_backups`: every backup of a tenant's database, where it is stored and
//! what it holds (size, SHA-256, schema version, each table's row count in the dump's
//! snapshot, which a restore checks).

use sea_orm::entity::prelude::*;

use super::{BackupKind, BackupState};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_backups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: BackupKind,
    pub state: BackupState,
    /// The job that takes it (none for a final backup's row made by the delete saga).
    pub job_id: Option<Uuid>,
    /// The key in the backup store (`<tenant>/<backup id>.dump`).
    pub storage_key: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    /// The newest tenant migration applied to the dumped database.
    pub schema_version: Option<String>,
    /// `{table: rows}` of every table, counted in the dump's snapshot.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub row_counts: Option<Json>,
    /// Where the dumped database was.
    pub server_id: Option<Uuid>,
    pub db_name: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub completed_at: Option<DateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenants::Entity",
        from = "Column::TenantId",
        to = "super::tenants::Column::Id"
    )]
    Tenant,
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
