//! Entity of `plans`: subscription plans and the limits they grant.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The ERP modules a plan can enable (`plans.features`); the runtime gates each module's
/// routes (`/api/v1/{module}/...`) on them.
pub const MODULES: &[&str] = &[
    "master_data",
    "inventory",
    "sales",
    "purchasing",
    "production",
    "quality",
    "approvals",
];

/// One plan, keyed by its stable `code`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub name: String,
    pub description: String,
    pub max_users: i32,
    pub max_storage_mb: i32,
    pub api_requests_per_minute: i32,
    pub api_calls_per_month: i64,
    pub max_concurrent_requests: i32,
    /// Connection limit of each tenant's database role.
    pub max_db_connections: i32,
    /// JSON array of enabled module names.
    #[sea_orm(column_type = "JsonBinary")]
    pub features: Json,
    pub trial_days: i32,
    pub price_cents: i64,
    pub currency: String,
    pub stripe_price_id: Option<String>,
    pub is_public: bool,
    /// Hours between scheduled backups of each tenant on the plan (0: none scheduled).
    pub backup_interval_hours: i32,
    /// How many manual and scheduled backups of a tenant are kept (older ones are pruned).
    pub backup_retention_count: i32,
    pub archived: bool,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::tenants::Entity")]
    Tenants,
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
