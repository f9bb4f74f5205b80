//! Work orders (the seeds' SPK): the work of a manufacturing order per operation or
//! department, with a target quantity and the daily production input against it (date,
//! shift, operator, good quantity, rejects, scrap). Good output beyond the target is
//! refused (422 `over_target`) unless within the tolerance the company set
//! (`production.over_target_tolerance_percent` in `settings`, a JSON number, default 0).
//!
//! While the order is a draft a work order changes directly; once it is released a change
//! of target or operation goes through the approvals engine (document type
//! `work_order_edit`): the change waits in `work_order_edits` and is applied when approved
//! (`edit_decided`, called back by `erp::approvals`). A direct change then is 409
//! `approval_required`.

use super::orders::{self, Status};
use super::record;
use crate::erp::approvals::{self, DocumentKind, DocumentRef, Outcome};
use crate::erp::masters::check_text;
use crate::erp::quantity;
use chrono::{DateTime, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The setting (a JSON number, percent) allowing good output beyond a target.
pub const TOLERANCE_SETTING: &str = "production.over_target_tolerance_percent";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkOrder {
    /// A manufacturing order not yet completed, closed or canceled.
    pub order_id: Uuid,
    /// The operation (cutting, assembly...); the department's name when omitted.
    #[schema(min_length = 1, max_length = 100)]
    pub operation: Option<String>,
    /// The department doing it: an active location of kind `department` or `production`.
    pub department_id: Option<Uuid>,
    /// Greater than zero, in the order item's base unit.
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,13}(\.[0-9]{1,6})?|0\.[0-9]{0,5}[1-9])$")]
    pub target_quantity: Decimal,
}

/// A change of target or operation (directly while the order is a draft, else as an
/// edit request waiting for approval).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderChanges {
    #[schema(min_length = 1, max_length = 100)]
    pub operation: Option<String>,
    #[schema(value_type = Option<String>, pattern = r"^([1-9][0-9]{0,13}(\.[0-9]{1,6})?|0\.[0-9]{0,5}[1-9])$")]
    pub target_quantity: Option<Decimal>,
    /// Why (kept on an edit request; ignored on a direct change).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: String,
}

/// One day's (or shift's) output.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInput {
    pub work_date: NaiveDate,
    #[schema(min_length = 1, max_length = 20)]
    pub shift: String,
    #[schema(min_length = 1, max_length = 100)]
    pub operator: String,
    /// Zero or more (negative is 422); with rejects and scrap, above zero in all.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub good_quantity: Decimal,
    /// Zero when omitted or null.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reject_quantity: Option<Decimal>,
    /// Zero when omitted or null.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub scrap_quantity: Option<Decimal>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: String,
    /// The client's idempotency reference: a repeat records nothing. The
    /// `Idempotency-Key` header wins.
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkOrderInput {
    pub id: Uuid,
    pub work_date: NaiveDate,
    pub shift: String,
    pub operator: String,
    #[schema(value_type = String)]
    pub good_quantity: Decimal,
    #[schema(value_type = String)]
    pub reject_quantity: Decimal,
    #[schema(value_type = String)]
    pub scrap_quantity: Decimal,
    pub note: String,
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkOrder {
    pub id: Uuid,
    /// `WO-000001`, from a sequence.
    pub number: String,
    pub order_id: Uuid,
    pub order_number: String,
    pub order_status: Status,
    pub operation: String,
    pub department_id: Option<Uuid>,
    #[schema(value_type = String)]
    pub target_quantity: Decimal,
    #[schema(value_type = String)]
    pub good_quantity: Decimal,
    #[schema(value_type = String)]
    pub reject_quantity: Decimal,
    #[schema(value_type = String)]
    pub scrap_quantity: Decimal,
    /// Good output as a percentage of the target, one decimal.
    #[schema(value_type = String)]
    pub progress_percent: Decimal,
    /// The change waiting for approval, if any.
    pub pending_edit_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Newest first (in a list: empty).
    pub inputs: Vec<WorkOrderInput>,
}

/// A change of a released work order and its approval.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkOrderEdit {
    pub id: Uuid,
    pub work_order_id: Uuid,
    #[schema(value_type = Option<String>)]
    pub target_quantity: Option<Decimal>,
    pub operation: Option<String>,
    pub reason: String,
    /// `pending`, `applied`, `rejected` or `withdrawn`.
    pub status: String,
    /// The approval request deciding it (none when no rule asks for one: applied at once).
    pub approval_id: Option<Uuid>,
    pub requested_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// `GET /production/work-orders` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct WorkOrderFilter {
    /// Only the work orders of this manufacturing order.
    pub order_id: Option<Uuid>,
}

const SELECT: &str = "SELECT w.id, w.number, w.order_id, o.number, o.status, w.operation, \
     w.department_id, w.target_quantity, w.good_quantity, w.reject_quantity, w.scrap_quantity, \
     (SELECT e.id FROM work_order_edits e WHERE e.work_order_id = w.id AND e.status = 'pending' \
      ORDER BY e.id DESC LIMIT 1), w.created_at, w.updated_at \
     FROM work_orders w JOIN manufacturing_orders o ON o.id = w.order_id";

fn work_order(row: &tokio_postgres::Row) -> WorkOrder {
    let status: String = row.get(4);
    let target: Decimal = row.get(7);
    let good: Decimal = row.get(8);
    WorkOrder {
        id: row.get(0),
        number: row.get(1),
        order_id: row.get(2),
        order_number: row.get(3),
        order_status: Status::parse(&status).unwrap_or(Status::Draft),
        operation: row.get(5),
        department_id: row.get(6),
        target_quantity: target.normalize(),
        good_quantity: good.normalize(),
        reject_quantity: row.get::<_, Decimal>(9).normalize(),
        scrap_quantity: row.get::<_, Decimal>(10).normalize(),
        progress_percent: progress(good, target),
        pending_edit_id: row.get(11),
        created_at: row.get(12),
        updated_at: row.get(13),
        inputs: Vec::new(),
    }
}

/// Good output as a percentage of the target, one decimal.
pub fn progress(good: Decimal, target: Decimal) -> Decimal {
    if target <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    (good * Decimal::from(100) / target).round_dp(1).normalize()
}

fn not_found() -> ApiError {
    ApiError::not_found("work_order_not_found", "no work order has this id")
}

/// The work orders of an order (or every one), oldest first, at most 500.
pub async fn list(db: &impl GenericClient, filter: &WorkOrderFilter) -> ApiResult<Vec<WorkOrder>> {
    let rows = db
        .query(
            &format!(
                "{SELECT} WHERE ($1::uuid IS NULL OR w.order_id = $1) ORDER BY w.id LIMIT 500"
            ),
            &[&filter.order_id],
        )
        .await?;
    Ok(rows.iter().map(work_order).collect())
}

/// One work order with its inputs: 404 `work_order_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<WorkOrder> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE w.id = $1"), &[&id])
        .await?
        .ok_or_else(not_found)?;
    let mut found = work_order(&row);
    let rows = db
        .query(
            "SELECT id, work_date, shift, operator, good_quantity, reject_quantity, \
                    scrap_quantity, note, user_id, created_at \
             FROM work_order_inputs WHERE work_order_id = $1 ORDER BY work_date DESC, id DESC",
            &[&id],
        )
        .await?;
    found.inputs = rows
        .iter()
        .map(|r| WorkOrderInput {
            id: r.get(0),
            work_date: r.get(1),
            shift: r.get(2),
            operator: r.get(3),
            good_quantity: r.get::<_, Decimal>(4).normalize(),
            reject_quantity: r.get::<_, Decimal>(5).normalize(),
            scrap_quantity: r.get::<_, Decimal>(6).normalize(),
            note: r.get(7),
            user_id: r.get(8),
            created_at: r.get(9),
        })
        .collect();
    Ok(found)
}

/// Locks the work order and its order; answers the order's id and status.
async fn lock(db: &impl GenericClient, id: Uuid) -> ApiResult<(Uuid, Status)> {
    let row = db
        .query_opt("SELECT order_id FROM work_orders WHERE id = $1", &[&id])
        .await?
        .ok_or_else(not_found)?;
    let order_id: Uuid = row.get(0);
    // The order first, then the work order: the order completion and cancel take.
    let status = orders::lock(db, order_id).await?;
    db.execute("SELECT 1 FROM work_orders WHERE id = $1 FOR UPDATE", &[&id])
        .await?;
    Ok((order_id, status))
}

/// 422 on `field` unless 1 to `max` characters without NUL.
fn short_text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, format!("1 to {max} characters")));
    }
    check_text(value, max).map_err(|message| ApiError::invalid(field, message))?;
    Ok(value.to_owned())
}

/// The department's name: 404 `location_not_found`, 422 unless an active department or
/// production location.
async fn department(db: &impl GenericClient, id: Uuid) -> ApiResult<String> {
    let row = db
        .query_opt(
            "SELECT name, active AND kind IN ('department', 'production') FROM locations \
             WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("location_not_found", "no location has this id"))?;
    if !row.get::<_, bool>(1) {
        return Err(ApiError::invalid(
            "department_id",
            "not an active department or production location",
        ));
    }
    Ok(row.get(0))
}

/// Adds a work order to an order that is not finished. 404 `manufacturing_order_not_found`,
/// `location_not_found`; 409 `invalid_status`; 422.
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: NewWorkOrder,
) -> ApiResult<WorkOrder> {
    let status = orders::lock(db, input.order_id).await?;
    orders::require(
        status,
        &[Status::Draft, Status::Released, Status::InProgress],
        "given work orders",
    )?;
    let named = match input.department_id {
        Some(id) => Some(department(db, id).await?),
        None => None,
    };
    let operation = match (input.operation.as_deref(), named) {
        (Some(text), _) => short_text("operation", text, 100)?,
        (None, Some(name)) => name.chars().take(100).collect(),
        (None, None) => {
            return Err(ApiError::invalid(
                "operation",
                "name the operation or the department",
            ));
        }
    };
    let target = quantity::positive("target_quantity", input.target_quantity)?;
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO work_orders (id, order_id, operation, department_id, target_quantity, \
         created_by) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &input.order_id,
            &operation,
            &input.department_id,
            &target,
            &actor.user_id,
        ],
    )
    .await?;
    let created = find(db, id).await?;
    let after = serde_json::json!(created);
    record(
        db,
        actor,
        "work_order.created",
        "work_order",
        id.to_string(),
        None,
        after,
    )
    .await?;
    Ok(created)
}

/// The checked change: (operation, target).
fn check_changes(changes: &WorkOrderChanges) -> ApiResult<(Option<String>, Option<Decimal>)> {
    let operation = match changes.operation.as_deref() {
        Some(text) => Some(short_text("operation", text, 100)?),
        None => None,
    };
    let target = match changes.target_quantity {
        Some(value) => Some(quantity::positive("target_quantity", value)?),
        None => None,
    };
    if operation.is_none() && target.is_none() {
        return Err(ApiError::invalid(
            "target_quantity",
            "change the target quantity or the operation",
        ));
    }
    check_text(&changes.reason, 2000).map_err(|message| ApiError::invalid("reason", message))?;
    Ok((operation, target))
}

async fn apply(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    operation: Option<&str>,
    target: Option<Decimal>,
    action: &str,
) -> ApiResult<WorkOrder> {
    let before = find(db, id).await?;
    db.execute(
        "UPDATE work_orders SET operation = coalesce($2, operation), \
         target_quantity = coalesce($3, target_quantity), updated_at = now() WHERE id = $1",
        &[&id, &operation, &target],
    )
    .await?;
    let after = find(db, id).await?;
    record(
        db,
        actor,
        action,
        "work_order",
        id.to_string(),
        Some(serde_json::json!(before)),
        serde_json::json!(after),
    )
    .await?;
    Ok(after)
}

/// Changes a work order of a draft order. 409 `approval_required` once the order is
/// released (ask with [`request_edit`]), `invalid_status` once it is finished.
pub async fn update(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: WorkOrderChanges,
) -> ApiResult<WorkOrder> {
    let (_, status) = lock(db, id).await?;
    if status.is_running() {
        return Err(ApiError::conflict(
            "approval_required",
            "the order is released: request the change for approval (edit-requests)",
        ));
    }
    orders::require(status, &[Status::Draft], "changed")?;
    let (operation, target) = check_changes(&changes)?;
    apply(
        db,
        actor,
        id,
        operation.as_deref(),
        target,
        "work_order.updated",
    )
    .await
}

const EDIT_SELECT: &str = "SELECT e.id, e.work_order_id, e.target_quantity, e.operation, \
     e.reason, e.status, (SELECT r.id FROM approval_requests r \
        WHERE r.document_type = 'work_order_edit' AND r.document_id = e.id \
        ORDER BY r.id DESC LIMIT 1), e.requested_by, e.created_at, e.decided_at \
     FROM work_order_edits e";

/// One edit request: 404 `work_order_edit_not_found`.
pub async fn find_edit(db: &impl GenericClient, id: Uuid) -> ApiResult<WorkOrderEdit> {
    let row = db
        .query_opt(&format!("{EDIT_SELECT} WHERE e.id = $1"), &[&id])
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "work_order_edit_not_found",
                "no work order edit has this id",
            )
        })?;
    Ok(WorkOrderEdit {
        id: row.get(0),
        work_order_id: row.get(1),
        target_quantity: row.get::<_, Option<Decimal>>(2).map(|d| d.normalize()),
        operation: row.get(3),
        reason: row.get(4),
        status: row.get(5),
        approval_id: row.get(6),
        requested_by: row.get(7),
        created_at: row.get(8),
        decided_at: row.get(9),
    })
}

/// Asks for a change of a released work order: the change waits for the approval rules
/// of `work_order_edit` (the amount they compare is the new target quantity, or the
/// current one), or is applied at once when no rule applies. 409 `invalid_status` (the
/// order is a draft: change it directly; or finished), `edit_pending` (one waits already).
pub async fn request_edit(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: WorkOrderChanges,
) -> ApiResult<WorkOrderEdit> {
    let (_, status) = lock(db, id).await?;
    orders::require(
        status,
        &[Status::Released, Status::InProgress],
        "edited through an approval",
    )?;
    let (operation, target) = check_changes(&changes)?;
    let current = find(db, id).await?;
    if current.pending_edit_id.is_some() {
        return Err(ApiError::conflict(
            "edit_pending",
            "a change of this work order already waits for approval",
        ));
    }
    let edit_id = Uuid::now_v7();
    db.execute(
        "INSERT INTO work_order_edits (id, work_order_id, target_quantity, operation, reason, \
         requested_by) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &edit_id,
            &id,
            &target,
            &operation,
            &changes.reason,
            &actor.user_id,
        ],
    )
    .await?;
    let document = DocumentRef {
        kind: DocumentKind::WorkOrderEdit,
        id: edit_id,
        amount: target.unwrap_or(current.target_quantity),
        requested_by: actor.user_id,
    };
    if approvals::request(db, actor, document).await? == Outcome::Approved {
        edit_decided(db, actor, edit_id, true).await?;
    }
    let edit = find_edit(db, edit_id).await?;
    record(
        db,
        actor,
        "work_order.edit_requested",
        "work_order",
        id.to_string(),
        None,
        serde_json::json!(edit),
    )
    .await?;
    Ok(edit)
}

/// Locks an edit request for the approvals engine's deciding transaction: 404.
pub async fn lock_edit(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    db.query_opt(
        "SELECT 1 FROM work_order_edits WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .ok_or_else(|| {
        ApiError::not_found(
            "work_order_edit_not_found",
            "no work order edit has this id",
        )
    })?;
    Ok(())
}

/// The approvals engine's callback: an approved change is applied to its work order, a
/// rejected one only marked. A change no longer pending is left alone.
pub async fn edit_decided(
    db: &impl GenericClient,
    actor: &Actor,
    edit_id: Uuid,
    approved: bool,
) -> ApiResult<()> {
    let edit = find_edit(db, edit_id).await?;
    if edit.status != "pending" {
        return Ok(());
    }
    let status = if approved { "applied" } else { "rejected" };
    db.execute(
        "UPDATE work_order_edits SET status = $2, decided_at = now() WHERE id = $1",
        &[&edit_id, &status],
    )
    .await?;
    if approved {
        let (operation, target) = (edit.operation.as_deref(), edit.target_quantity);
        apply(
            db,
            actor,
            edit.work_order_id,
            operation,
            target,
            "work_order.edit_applied",
        )
        .await?;
    }
    Ok(())
}

/// Withdraws the pending changes of an order's work orders (the order is closed or
/// canceled), and their approval requests.
pub async fn withdraw_edits(db: &impl GenericClient, order_id: Uuid) -> ApiResult<()> {
    let rows = db
        .query(
            "UPDATE work_order_edits e SET status = 'withdrawn', decided_at = now() \
             FROM work_orders w WHERE w.id = e.work_order_id AND w.order_id = $1 \
               AND e.status = 'pending' RETURNING e.id",
            &[&order_id],
        )
        .await?;
    for row in rows {
        approvals::withdraw(db, DocumentKind::WorkOrderEdit, row.get(0)).await?;
    }
    Ok(())
}

/// The company's tolerance beyond a target, in percent (0 when unset or unreadable).
async fn tolerance(db: &impl GenericClient) -> ApiResult<Decimal> {
    let row = db
        .query_opt(
            "SELECT value #>> '{}' FROM settings WHERE key = $1",
            &[&TOLERANCE_SETTING],
        )
        .await?;
    Ok(row
        .and_then(|r| r.get::<_, Option<String>>(0))
        .and_then(|text| Decimal::from_str(&text).ok())
        .filter(|value| *value >= Decimal::ZERO)
        .unwrap_or_default())
}

/// The largest good total a target admits with `tolerance` percent.
pub fn ceiling(target: Decimal, tolerance: Decimal) -> Decimal {
    target + target * tolerance / Decimal::from(100)
}

/// Whether `reference` recorded an input of this work order before: 409
/// `reference_taken` when it recorded another's.
async fn recorded_before(
    db: &impl GenericClient,
    id: Uuid,
    reference: Option<&str>,
) -> ApiResult<bool> {
    let Some(reference) = reference else {
        return Ok(false);
    };
    let row = db
        .query_opt(
            "SELECT work_order_id FROM work_order_inputs WHERE reference = $1",
            &[&reference],
        )
        .await?;
    match row {
        Some(row) if row.get::<_, Uuid>(0) == id => Ok(true),
        Some(_) => Err(ApiError::conflict(
            "reference_taken",
            "this reference recorded another work order's input",
        )),
        None => Ok(false),
    }
}

struct Quantities {
    good: Decimal,
    rejects: Decimal,
    scrap: Decimal,
}

fn check_quantities(input: &NewInput) -> ApiResult<Quantities> {
    let good = quantity::not_negative("good_quantity", input.good_quantity)?;
    let rejects = input.reject_quantity.unwrap_or_default();
    let rejects = quantity::not_negative("reject_quantity", rejects)?;
    let scrap = input.scrap_quantity.unwrap_or_default();
    let scrap = quantity::not_negative("scrap_quantity", scrap)?;
    if good + rejects + scrap <= Decimal::ZERO {
        return Err(ApiError::invalid(
            "good_quantity",
            "record some good, rejected or scrapped output",
        ));
    }
    Ok(Quantities {
        good,
        rejects,
        scrap,
    })
}

/// Records one day's output of a work order of a released or running order (which then
/// runs); answers the work order and whether anything was recorded (false: its reference
/// recorded it before). 409 `invalid_status`, `reference_taken`; 422 `over_target`
/// (good output beyond the target and its tolerance), `validation_failed` (negative...).
pub async fn record_input(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    input: NewInput,
) -> ApiResult<(WorkOrder, bool)> {
    let (order_id, status) = lock(db, id).await?;
    if recorded_before(db, id, input.reference.as_deref()).await? {
        return Ok((find(db, id).await?, false));
    }
    orders::require(
        status,
        &[Status::Released, Status::InProgress],
        "given daily input",
    )?;
    let q = check_quantities(&input)?;
    let shift = short_text("shift", &input.shift, 20)?;
    let operator = short_text("operator", &input.operator, 100)?;
    check_text(&input.note, 2000).map_err(|message| ApiError::invalid("note", message))?;
    let before = find(db, id).await?;
    let limit = ceiling(before.target_quantity, tolerance(db).await?);
    if before.good_quantity + q.good > limit {
        return Err(ApiError::unprocessable(
            "over_target",
            format!(
                "{} good so far and {} now would pass the target of {} (at most {})",
                before.good_quantity,
                q.good.normalize(),
                before.target_quantity,
                limit.normalize()
            ),
        ));
    }
    let input_id = Uuid::now_v7();
    db.execute(
        "INSERT INTO work_order_inputs (id, work_order_id, work_date, shift, operator, \
         good_quantity, reject_quantity, scrap_quantity, note, reference, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &input_id,
            &id,
            &input.work_date,
            &shift,
            &operator,
            &q.good,
            &q.rejects,
            &q.scrap,
            &input.note,
            &input.reference,
            &actor.user_id,
        ],
    )
    .await?;
    db.execute(
        "UPDATE work_orders SET good_quantity = good_quantity + $2, \
         reject_quantity = reject_quantity + $3, scrap_quantity = scrap_quantity + $4, \
         updated_at = now() WHERE id = $1",
        &[&id, &q.good, &q.rejects, &q.scrap],
    )
    .await?;
    if status == Status::Released {
        orders::set_status(db, order_id, Status::InProgress).await?;
    }
    let after = find(db, id).await?;
    let data = serde_json::json!({
        "input_id": input_id, "work_date": input.work_date, "shift": shift,
        "operator": operator, "good_quantity": q.good, "reject_quantity": q.rejects,
        "scrap_quantity": q.scrap,
    });
    record(
        db,
        actor,
        "work_order.input_recorded",
        "work_order",
        id.to_string(),
        None,
        data,
    )
    .await?;
    Ok((after, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_good_output_over_the_target() {
        let d = Decimal::from;
        assert_eq!(progress(d(25), d(100)), d(25));
        assert_eq!(progress(d(1), d(3)), Decimal::new(333, 1));
        assert_eq!(progress(d(1), Decimal::ZERO), Decimal::ZERO);
    }

    #[test]
    fn the_tolerance_raises_the_ceiling_by_its_percentage() {
        let d = Decimal::from;
        assert_eq!(ceiling(d(100), Decimal::ZERO), d(100));
        assert_eq!(ceiling(d(100), d(5)), d(105));
    }
}
