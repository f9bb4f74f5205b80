//! The approvals engine: rules per document type (a minimum amount and the role that
//! decides from it), requests that walk a document through those levels lowest first, and
//! the append-only history of decisions. A document module asks [`request`] when a
//! document is submitted; [`decide`] records one level's decision and, on the final
//! approval or any rejection, calls the document's module back (`documents`).
//!
//! Nobody decides their own document, nor a level whose role they do not hold, nor
//! without `approvals.decide`. Requests are locked while decided, so two deciders of one
//! level queue and the second sees the first's decision.

mod documents;

use crate::auth::UserRecord;
use crate::erp::{events, quantity};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self, Actor, Entry};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// The permission a decider needs (besides the level's role).
pub const DECIDE_PERMISSION: &str = "approvals.decide";

/// The kinds of document rules can hold back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    PurchaseOrder,
    StockAdjustment,
    WorkOrderEdit,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PurchaseOrder => "purchase_order",
            Self::StockAdjustment => "stock_adjustment",
            Self::WorkOrderEdit => "work_order_edit",
        }
    }

    fn parse(text: &str) -> ApiResult<Self> {
        match text {
            "purchase_order" => Ok(Self::PurchaseOrder),
            "stock_adjustment" => Ok(Self::StockAdjustment),
            "work_order_edit" => Ok(Self::WorkOrderEdit),
            other => Err(ApiError::internal(anyhow::anyhow!(
                "unknown document type `{other}` in approval_requests"
            ))),
        }
    }
}

/// A document asking for approval.
#[derive(Debug, Clone)]
pub struct DocumentRef {
    pub kind: DocumentKind,
    pub id: Uuid,
    pub amount: Decimal,
    pub requested_by: Option<Uuid>,
}

/// What [`request`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No rule applies: approved at once.
    Approved,
    /// Waiting for the levels of this request.
    Pending(Uuid),
}

/// One approval rule: documents of `document_type` at or above `min_amount` need `role`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub document_type: DocumentKind,
    /// Zero or more; unique per document type.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub min_amount: Decimal,
    /// An existing role's name.
    #[schema(min_length = 1, max_length = 100)]
    pub role: String,
}

/// The full rule set (PUT replaces it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[schema(max_items = 100)]
    pub rules: Vec<Rule>,
}

/// One level's decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Decision {
    pub level: i32,
    pub user_id: Uuid,
    /// `approved` or `rejected`.
    pub decision: String,
    pub comment: String,
    pub decided_at: DateTime<Utc>,
}

/// A request with its history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalRequest {
    pub id: Uuid,
    pub document_type: DocumentKind,
    pub document_id: Uuid,
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub requested_by: Option<Uuid>,
    /// `pending`, `approved`, `rejected`, or `withdrawn` (the document was canceled).
    pub status: String,
    /// The deciding role of each level, in order.
    pub level_roles: Vec<String>,
    /// The level waiting for a decision (1-based; the last one once decided).
    pub current_level: i32,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decisions: Vec<Decision>,
}

const SELECT: &str = "SELECT id, document_type, document_id, amount, requested_by, status, \
     level_roles, current_level, created_at, decided_at FROM approval_requests";

fn from_row(row: &tokio_postgres::Row) -> ApiResult<ApprovalRequest> {
    Ok(ApprovalRequest {
        id: row.get(0),
        document_type: DocumentKind::parse(row.get(1))?,
        document_id: row.get(2),
        amount: row.get::<_, Decimal>(3).normalize(),
        requested_by: row.get(4),
        status: row.get(5),
        level_roles: row.get(6),
        current_level: row.get(7),
        created_at: row.get(8),
        decided_at: row.get(9),
        decisions: Vec::new(),
    })
}

/// The roles deciding a document of `kind` worth `amount`, lowest level first.
async fn levels(
    db: &impl GenericClient,
    kind: DocumentKind,
    amount: Decimal,
) -> ApiResult<Vec<String>> {
    let rows = db
        .query(
            "SELECT role FROM approval_rules WHERE document_type = $1 AND min_amount <= $2 \
             ORDER BY min_amount",
            &[&kind.as_str(), &amount],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Asks for approval of a document, in the caller's transaction: approved at once when no
/// rule applies, else a pending request (and the `approval.requested` event).
pub async fn request(
    db: &impl GenericClient,
    actor: &Actor,
    document: DocumentRef,
) -> ApiResult<Outcome> {
    let roles = levels(db, document.kind, document.amount).await?;
    if roles.is_empty() {
        return Ok(Outcome::Approved);
    }
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO approval_requests (id, document_type, document_id, amount, requested_by, \
         level_roles) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &document.kind.as_str(),
            &document.id,
            &document.amount,
            &document.requested_by,
            &roles,
        ],
    )
    .await?;
    let data = serde_json::json!({
        "approval_id": id,
        "document_type": document.kind,
        "document_id": document.id,
        "amount": document.amount,
        "role": roles[0],
    });
    events::emit(db, "approval.requested", data.clone()).await?;
    audit(db, actor, "approval.requested", id, data).await?;
    Ok(Outcome::Pending(id))
}

/// Withdraws the pending request of a document being canceled, if it has one.
pub async fn withdraw(
    db: &impl GenericClient,
    kind: DocumentKind,
    document_id: Uuid,
) -> ApiResult<()> {
    db.execute(
        "UPDATE approval_requests SET status = 'withdrawn', decided_at = now() \
         WHERE document_type = $1 AND document_id = $2 AND status = 'pending'",
        &[&kind.as_str(), &document_id],
    )
    .await?;
    Ok(())
}

/// Records `user`'s decision on the request's current level, in the caller's transaction.
/// 404 `approval_not_found`; 409 `already_decided`; 403 `own_document` (the requester),
/// `forbidden` (no `approvals.decide`, or not the level's role); 422 `comment` (a
/// rejection needs one; at most 2000 characters). The final approval or a rejection
/// calls the document's module back.
pub async fn decide(
    db: &impl GenericClient,
    actor: &Actor,
    user: &UserRecord,
    request_id: Uuid,
    approve: bool,
    comment: &str,
) -> ApiResult<ApprovalRequest> {
    let comment = check_comment(comment, approve)?;
    // The document's lock first, then the request's: the order a document module takes
    // them in (a cancel withdrawing the request), so the two never deadlock.
    let unlocked = db
        .query_opt(&format!("{SELECT} WHERE id = $1"), &[&request_id])
        .await?
        .ok_or_else(not_found)?;
    let unlocked = from_row(&unlocked)?;
    documents::lock(db, unlocked.document_type, unlocked.document_id).await?;
    let row = db
        .query_opt(
            &format!("{SELECT} WHERE id = $1 FOR UPDATE"),
            &[&request_id],
        )
        .await?
        .ok_or_else(not_found)?;
    let request = from_row(&row)?;
    if request.status != "pending" {
        return Err(ApiError::conflict(
            "already_decided",
            format!("this request is already {}", request.status),
        ));
    }
    if request.requested_by == Some(user.id) {
        return Err(ApiError::forbidden(
            "own_document",
            "nobody approves their own document",
        ));
    }
    let level = request.current_level;
    let role = level_role(&request)?;
    if !may_decide(user, role) {
        return Err(ApiError::forbidden(
            "forbidden",
            format!("this level needs the `{role}` role and `{DECIDE_PERMISSION}`"),
        ));
    }
    let decision = if approve { "approved" } else { "rejected" };
    db.execute(
        "INSERT INTO approval_decisions (request_id, level, user_id, decision, comment) \
         VALUES ($1, $2, $3, $4, $5)",
        &[&request.id, &level, &user.id, &decision, &comment],
    )
    .await?;
    let last_level = usize::try_from(level).unwrap_or(usize::MAX) >= request.level_roles.len();
    let finished = !approve || last_level;
    if finished {
        db.execute(
            "UPDATE approval_requests SET status = $2, decided_at = now() WHERE id = $1",
            &[&request.id, &decision],
        )
        .await?;
        documents::decided(
            db,
            actor,
            request.document_type,
            request.document_id,
            approve,
        )
        .await?;
    } else {
        db.execute(
            "UPDATE approval_requests SET current_level = current_level + 1 WHERE id = $1",
            &[&request.id],
        )
        .await?;
    }
    let data = serde_json::json!({
        "approval_id": request.id,
        "document_type": request.document_type,
        "document_id": request.document_id,
        "level": level,
        "decision": decision,
        "final": finished,
    });
    events::emit(db, "approval.decided", data.clone()).await?;
    audit(db, actor, &format!("approval.{decision}"), request.id, data).await?;
    find(db, request.id).await
}

/// The role deciding the request's current level.
fn level_role(request: &ApprovalRequest) -> ApiResult<&str> {
    usize::try_from(request.current_level - 1)
        .ok()
        .and_then(|index| request.level_roles.get(index))
        .map(String::as_str)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("approval request level out of range")))
}

/// Whether `user` may decide a level of `role`.
pub fn may_decide(user: &UserRecord, role: &str) -> bool {
    user.permissions
        .iter()
        .any(|code| code == DECIDE_PERMISSION)
        && user.roles.iter().any(|held| held == role)
}

/// A rejection needs a reason; every comment fits the table.
fn check_comment(comment: &str, approve: bool) -> ApiResult<String> {
    if !approve && comment.trim().is_empty() {
        return Err(ApiError::invalid(
            "comment",
            "say why the document is rejected",
        ));
    }
    if comment.contains('\0') || comment.chars().count() > 2000 {
        return Err(ApiError::invalid(
            "comment",
            "at most 2000 characters, no NUL",
        ));
    }
    Ok(comment.to_owned())
}

fn not_found() -> ApiError {
    ApiError::not_found("approval_not_found", "no approval request has this id")
}

/// One request with its decisions: 404 `approval_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<ApprovalRequest> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
        .await?
        .ok_or_else(not_found)?;
    let mut request = from_row(&row)?;
    request.decisions = db
        .query(
            "SELECT level, user_id, decision, comment, decided_at FROM approval_decisions \
             WHERE request_id = $1 ORDER BY id",
            &[&id],
        )
        .await?
        .iter()
        .map(|row| Decision {
            level: row.get(0),
            user_id: row.get(1),
            decision: row.get(2),
            comment: row.get(3),
            decided_at: row.get(4),
        })
        .collect();
    Ok(request)
}

/// The latest request of a document, if it ever asked for approval.
pub async fn latest_for(
    db: &impl GenericClient,
    kind: DocumentKind,
    document_id: Uuid,
) -> ApiResult<Option<Uuid>> {
    Ok(db
        .query_opt(
            "SELECT id FROM approval_requests WHERE document_type = $1 AND document_id = $2 \
             ORDER BY id DESC LIMIT 1",
            &[&kind.as_str(), &document_id],
        )
        .await?
        .map(|row| row.get(0)))
}

/// The caller's inbox: pending requests whose current level they may decide, never their
/// own, oldest first (at most 200).
pub async fn pending_for(
    db: &impl GenericClient,
    user: &UserRecord,
) -> ApiResult<Vec<ApprovalRequest>> {
    if !user
        .permissions
        .iter()
        .any(|code| code == DECIDE_PERMISSION)
    {
        return Ok(Vec::new());
    }
    let rows = db
        .query(
            &format!(
                "{SELECT} WHERE status = 'pending' AND level_roles[current_level] = ANY($1) \
                   AND requested_by IS DISTINCT FROM $2 ORDER BY id LIMIT 200"
            ),
            &[&user.roles, &user.id],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// Every rule, by document type and amount.
pub async fn rules(db: &impl GenericClient) -> ApiResult<Rules> {
    let rows = db
        .query(
            "SELECT document_type, min_amount, role FROM approval_rules \
             ORDER BY document_type, min_amount",
            &[],
        )
        .await?;
    let rules = rows
        .iter()
        .map(|row| {
            Ok(Rule {
                document_type: DocumentKind::parse(row.get(0))?,
                min_amount: row.get::<_, Decimal>(1).normalize(),
                role: row.get(2),
            })
        })
        .collect::<ApiResult<Vec<Rule>>>()?;
    Ok(Rules { rules })
}

/// Replaces the rule set, in the caller's transaction. 422 on `rules[i].role` (no such
/// role), `rules[i].min_amount` (negative, too precise, or twice for one document type).
/// Pending requests keep the levels they were given.
pub async fn replace_rules(
    db: &impl GenericClient,
    actor: &Actor,
    input: Rules,
) -> ApiResult<Rules> {
    if input.rules.len() > 100 {
        return Err(ApiError::invalid("rules", "at most 100 rules"));
    }
    let mut seen: Vec<(DocumentKind, Decimal)> = Vec::new();
    for (index, rule) in input.rules.iter().enumerate() {
        let amount =
            quantity::not_negative(&format!("rules[{index}].min_amount"), rule.min_amount)?;
        if seen.contains(&(rule.document_type, amount)) {
            return Err(ApiError::invalid(
                &format!("rules[{index}].min_amount"),
                "one rule per document type and amount",
            ));
        }
        seen.push((rule.document_type, amount));
        if rule.role.contains('\0') || rule.role.chars().count() > 100 {
            return Err(ApiError::invalid(
                &format!("rules[{index}].role"),
                "no role has this name",
            ));
        }
        let exists = db
            .query_opt("SELECT 1 FROM roles WHERE name = $1", &[&rule.role])
            .await?
            .is_some();
        if !exists {
            return Err(ApiError::invalid(
                &format!("rules[{index}].role"),
                "no role has this name",
            ));
        }
    }
    let before = rules(db).await?;
    db.execute("DELETE FROM approval_rules", &[]).await?;
    for rule in &input.rules {
        db.execute(
            "INSERT INTO approval_rules (id, document_type, min_amount, role) VALUES ($1, $2, $3, $4)",
            &[&Uuid::now_v7(), &rule.document_type.as_str(), &rule.min_amount, &rule.role],
        )
        .await?;
    }
    let after = rules(db).await?;
    tenant_audit::record(
        db,
        actor,
        Entry {
            action: "approval_rules.replaced",
            target_kind: "approval_rules",
            target_id: "all".into(),
            before: Some(serde_json::json!(before)),
            after: Some(serde_json::json!(after)),
        },
    )
    .await?;
    Ok(after)
}

async fn audit(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    id: Uuid,
    data: serde_json::Value,
) -> ApiResult<()> {
    tenant_audit::record(
        db,
        actor,
        Entry {
            action,
            target_kind: "approval_request",
            target_id: id.to_string(),
            before: None,
            after: Some(data),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[&str], permissions: &[&str]) -> UserRecord {
        UserRecord {
            id: Uuid::nil(),
            email: "a@example.com".into(),
            display_name: "A".into(),
            status: "active".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn deciding_needs_both_the_level_role_and_the_permission() {
        assert!(may_decide(
            &user(&["manager"], &[DECIDE_PERMISSION]),
            "manager"
        ));
        assert!(!may_decide(&user(&["manager"], &[]), "manager"));
        assert!(!may_decide(
            &user(&["staff"], &[DECIDE_PERMISSION]),
            "manager"
        ));
    }

    #[test]
    fn a_rejection_needs_a_comment_and_an_approval_does_not() {
        assert!(check_comment("  ", false).is_err());
        assert!(check_comment("", true).is_ok());
        assert!(check_comment("too dear", false).is_ok());
        assert!(check_comment(&"x".repeat(2001), true).is_err());
    }
}
