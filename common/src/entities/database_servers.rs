//! Entity of `database_servers`: registered Postgres servers hosting tenant databases.
//!
//! No serde derives: the model carries the encrypted admin URL.

use sea_orm::entity::prelude::*;

use super::ServerState;

/// One database server; `host` is for display, the admin URL is stored encrypted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "database_servers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    pub host: String,
    pub admin_url_ciphertext: Vec<u8>,
    pub admin_url_key_id: String,
    /// Most tenant databases this server should hold.
    pub capacity: i32,
    pub state: ServerState,
    /// Pre-provisioned spare databases to keep ready.
    pub spare_target: i32,
    /// Most connections the tenant runtime may open to this server.
    pub connection_budget: i32,
    /// While set, the server is being emptied: this many of its tenants are relocated at once.
    pub evacuation_concurrency: Option<i32>,
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
