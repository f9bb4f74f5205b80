//! Entity of `audit_log`: the append-only record of control-plane actions.
//!
//! The database refuses UPDATE, DELETE and TRUNCATE; only insert and select.
//! `id` is `GENERATED ALWAYS`: leave it `NotSet` when inserting.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::AuditActorKind;

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeWithTimeZone,
    pub actor_kind: AuditActorKind,
    pub actor_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub before: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub after: Option<Json>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
