//! Entity of `admin_users`: super-admin accounts of the control plane.
//!
//! No serde derives: the model carries the password hash and the encrypted TOTP secret.

use sea_orm::entity::prelude::*;

use super::AdminRole;

/// One super-admin; the email is unique case-insensitively (`lower(email)` index).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub role: AdminRole,
    pub totp_secret_ciphertext: Option<Vec<u8>>,
    pub totp_key_id: Option<String>,
    pub totp_enabled: bool,
    /// JSON array of hashed one-time recovery codes.
    #[sea_orm(column_type = "JsonBinary")]
    pub recovery_code_hashes: Json,
    pub failed_login_count: i32,
    pub locked_until: Option<DateTimeWithTimeZone>,
    pub last_login_at: Option<DateTimeWithTimeZone>,
    pub disabled: bool,
    /// The TOTP time step of the last code accepted: a code is never accepted twice.
    pub totp_last_step: Option<i64>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::admin_refresh_tokens::Entity")]
    RefreshTokens,
}

impl Related<super::admin_refresh_tokens::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshTokens.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
