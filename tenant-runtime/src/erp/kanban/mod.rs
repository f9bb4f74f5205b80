//! Kanban boards (inside the plan module `production`; read with `production.read`,
//! changed with `production.write`): boards of ordered columns (a name, an optional WIP
//! limit, the document states each stands for), cards on them linked to documents or
//! free, and every move recorded.
//!
//! - `boards`: boards and their columns (order, WIP limits, mapped document states).
//! - `cards`: cards, moves under the WIP rule (columns locked, so racing moves cannot
//!   overfill one), the moves' record, and cards following their documents.
//! - `documents`: the linkable documents, their states, what a card shows of them, and the
//!   calls the documents' state changes make ([`follow_manufacturing_order`],
//!   [`follow_purchase_order`]) in the change's own transaction.
//!
//! Every write takes the caller's transaction and writes its audit entry there; a move a
//! document's state change causes is recorded in `kanban_moves` (the change itself is
//! audited by its own area).

pub mod boards;
pub mod cards;
pub mod documents;

pub use documents::{follow_manufacturing_order, follow_purchase_order};

use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self as audit_log, Actor};
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// A column locked for a move: what the WIP rule and the move's record need.
#[derive(Debug, Clone)]
pub(crate) struct Locked {
    pub id: Uuid,
    pub board_id: Uuid,
    pub name: String,
    pub wip_limit: Option<i32>,
}

/// Locks `columns` (duplicates allowed) in id order, the one order every writer takes
/// them in, and answers those that exist.
pub(crate) async fn lock_columns(
    db: &impl GenericClient,
    columns: &[Uuid],
) -> ApiResult<Vec<Locked>> {
    let rows = db
        .query(
            "SELECT id, board_id, name, wip_limit FROM kanban_columns WHERE id = ANY($1) \
             ORDER BY id FOR UPDATE",
            &[&columns],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Locked {
            id: row.get(0),
            board_id: row.get(1),
            name: row.get(2),
            wip_limit: row.get(3),
        })
        .collect())
}

/// 404 `{what}_not_found` (`board`, `column`).
pub(crate) fn not_found(what: &str) -> ApiError {
    ApiError::not_found(
        &format!("{what}_not_found"),
        format!("no kanban {what} has this id"),
    )
}

/// The audit entry of one kanban write.
async fn audit(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    target_kind: &str,
    target_id: Uuid,
    before: Option<Value>,
    after: Option<Value>,
) -> ApiResult<()> {
    let entry = audit_log::Entry {
        action,
        target_kind,
        target_id: target_id.to_string(),
        before,
        after,
    };
    audit_log::record(db, actor, entry).await?;
    Ok(())
}

/// [`audit`] of a write with what it left (`after`) and what was there (`before`).
async fn record(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    target_kind: &str,
    target_id: Uuid,
    before: Option<Value>,
    after: &impl Serialize,
) -> ApiResult<()> {
    let after = Some(serde_json::json!(after));
    audit(db, actor, action, target_kind, target_id, before, after).await
}
