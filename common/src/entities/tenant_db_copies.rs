//! Entity of `tenant_db_copies`: databases of a tenant other than its live one. A
//! restore's or relocation's target is `building` until the switch; the database it
//! replaced is `retired` until `drop_after`, when a sweep drops it. The reconciler counts
//! both as expected, never as orphans.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_db_copies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub server_id: Uuid,
    pub db_name: String,
    /// `building` or `retired`.
    pub state: String,
    /// `restore` or `relocation`.
    pub purpose: String,
    pub job_id: Option<Uuid>,
    pub drop_after: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
