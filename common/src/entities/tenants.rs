//! Entity of `tenants`: status, plan, placement, credentials and billing of each tenant.
//!
//! No serde derives: the model carries the encrypted database password.

use sea_orm::entity::prelude::*;

use super::{BillingState, SuspensionKind, TenantStatus};

/// One tenant. `row_version` is bumped on every update for optimistic locking.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique case-insensitively (`lower(slug)` index).
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub status_reason: Option<String>,
    pub suspension_kind: Option<SuspensionKind>,
    pub plan_code: String,
    pub server_id: Option<Uuid>,
    pub db_name: Option<String>,
    pub db_role: Option<String>,
    pub db_password_ciphertext: Option<Vec<u8>>,
    pub db_password_key_id: Option<String>,
    /// Name of the newest tenant migration applied to the tenant database.
    pub schema_version: Option<String>,
    pub admin_email: String,
    pub trial_ends_at: Option<DateTimeWithTimeZone>,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub billing_state: BillingState,
    /// Start of the subscription's current period (Stripe's, mirrored).
    pub billing_period_start: Option<DateTimeWithTimeZone>,
    /// End of the subscription's current period (Stripe's, mirrored).
    pub billing_period_end: Option<DateTimeWithTimeZone>,
    /// The subscription ends at `billing_period_end` instead of renewing.
    pub billing_cancel_at_period_end: bool,
    /// When the current run of failed payments began; the grace period counts from it.
    pub billing_past_due_since: Option<DateTimeWithTimeZone>,
    /// When the mirror last matched Stripe (webhook or reconciliation).
    pub billing_synced_at: Option<DateTimeWithTimeZone>,
    pub failure_reason: Option<String>,
    pub backup_path: Option<String>,
    pub backup_size_bytes: Option<i64>,
    pub backup_sha256: Option<String>,
    pub suspended_at: Option<DateTimeWithTimeZone>,
    pub deleted_at: Option<DateTimeWithTimeZone>,
    pub purge_after: Option<DateTimeWithTimeZone>,
    pub row_version: i32,
    /// Set while writes are frozen for a restore or relocation's switch: the runtime then
    /// answers 503 `tenant_maintenance`.
    pub frozen_at: Option<DateTimeWithTimeZone>,
    /// `restore` or `relocation` while frozen.
    pub freeze_reason: Option<String>,
    /// Sampled by the runtime: the database's size and how many users it has.
    pub storage_bytes: Option<i64>,
    pub user_count: Option<i32>,
    pub usage_sampled_at: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::plans::Entity",
        from = "Column::PlanCode",
        to = "super::plans::Column::Code"
    )]
    Plan,
    #[sea_orm(
        belongs_to = "super::database_servers::Entity",
        from = "Column::ServerId",
        to = "super::database_servers::Column::Id"
    )]
    Server,
    #[sea_orm(has_many = "super::jobs::Entity")]
    Jobs,
}

impl Related<super::plans::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Plan.def()
    }
}

impl Related<super::database_servers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Server.def()
    }
}

impl Related<super::jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Jobs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
