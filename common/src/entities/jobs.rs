//! Entity of `jobs`: the provisioning and fleet job queue (claimed with `SKIP LOCKED`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::JobState;

/// One job; `completed_steps` lets a resumed job skip what already succeeded.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    /// E.g. `provision`, `suspend`, `resume`, `delete`, `purge`, `refill_spares`.
    pub kind: String,
    pub state: JobState,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub current_step: Option<String>,
    /// JSON array of step names already done.
    #[sea_orm(column_type = "JsonBinary")]
    pub completed_steps: Json,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after: DateTimeWithTimeZone,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeWithTimeZone>,
    pub last_error: Option<String>,
    #[sea_orm(unique)]
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    pub finished_at: Option<DateTimeWithTimeZone>,
    /// The W3C `traceparent` of the request that queued the job; its worker continues it.
    pub traceparent: Option<String>,
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
