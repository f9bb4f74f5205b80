//! A tenant's own audit log (the `audit_log` table of its database): who changed what,
//! from where, as whom (a user, the user themself through an emailed token, or a
//! super-admin impersonating a user, named by their admin id). The one writer of its rows,
//! for the runtime's handlers and the provisioner (which records impersonations).

use actix_web::{HttpMessage, HttpRequest};
use serde_json::Value;
use tracing_actix_web::RequestId;
use uuid::Uuid;

/// Who made a change, and the request it came in.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    /// The id of the super-admin behind an impersonation (a token's `imp`).
    pub impersonator: Option<String>,
    pub request_id: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn new(request: &HttpRequest, user_id: Option<Uuid>, impersonator: Option<String>) -> Self {
        Self {
            user_id,
            impersonator,
            request_id: request
                .extensions()
                .get::<RequestId>()
                .map(ToString::to_string)
                .unwrap_or_default(),
            ip: request.peer_addr().map(|address| address.ip().to_string()),
        }
    }
}

/// One audit entry, written in the caller's transaction with the change it records.
pub struct Entry<'a> {
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub async fn record(
    db: &impl tokio_postgres::GenericClient,
    actor: &Actor,
    entry: Entry<'_>,
) -> Result<(), tokio_postgres::Error> {
    let kind = match (&actor.impersonator, actor.user_id) {
        (Some(_), _) => "admin_impersonation",
        (None, Some(_)) => "user",
        (None, None) => "system",
    };
    db.execute(
        "INSERT INTO audit_log (actor_user_id, actor_kind, impersonator, action, target_kind, \
         target_id, before, after, request_id, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &actor.user_id,
            &kind,
            &actor.impersonator,
            &entry.action,
            &entry.target_kind,
            &entry.target_id,
            &entry.before,
            &entry.after,
            &actor.request_id,
            &actor.ip,
        ],
    )
    .await?;
    Ok(())
}
