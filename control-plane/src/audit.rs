//! The control audit log: every mutating admin action (and signups, impersonations) is
//! appended with who, what, the target, before/after, the reason, request id and IP. The
//! table refuses UPDATE and DELETE (a trigger), so history cannot be rewritten through us.
//! Write the entry in the same transaction as the change it records.

use crate::api::meta::RequestMeta;
use crate::auth::guard::{Authorized, CurrentAdmin};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde_json::Value;
use uuid::Uuid;

/// Who acted.
#[derive(Debug, Clone)]
pub enum Actor {
    Admin { id: Uuid, email: String },
    Signup,
}

impl From<&CurrentAdmin> for Actor {
    fn from(admin: &CurrentAdmin) -> Self {
        Self::Admin {
            id: admin.id,
            email: admin.email.clone(),
        }
    }
}

impl<P> From<&Authorized<P>> for Actor {
    fn from(admin: &Authorized<P>) -> Self {
        Self::from(&**admin)
    }
}

/// One audit entry; build with [`Entry::new`] and the `with_*` helpers.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: Actor,
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
}

impl Entry {
    pub fn new(
        actor: impl Into<Actor>,
        action: &'static str,
        target_kind: &'static str,
        target_id: impl ToString,
    ) -> Self {
        Self {
            actor: actor.into(),
            action,
            target_kind,
            target_id: target_id.to_string(),
            before: None,
            after: None,
            reason: None,
        }
    }

    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }

    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }
}

/// Appends `entry`.
pub async fn record(
    db: &impl ConnectionTrait,
    meta: &RequestMeta,
    entry: Entry,
) -> Result<(), DbErr> {
    let (kind, id, email) = match &entry.actor {
        Actor::Admin { id, email } => ("admin", Some(*id), Some(email.clone())),
        Actor::Signup => ("signup", None, None),
    };
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO audit_log (actor_kind, actor_id, actor_email, action, target_kind, \
         target_id, before, after, reason, request_id, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        [
            kind.into(),
            id.into(),
            email.into(),
            entry.action.into(),
            entry.target_kind.into(),
            entry.target_id.into(),
            entry.before.into(),
            entry.after.into(),
            entry.reason.into(),
            meta.request_id.clone().into(),
            meta.ip_text().into(),
        ],
    ))
    .await?;
    Ok(())
}
