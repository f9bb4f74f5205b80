//! Inspections: opened against a receipt's ledger entry (`incoming`), a work order
//! (`in_process`) or a produced lot (`final`), with the applicable plan's criteria copied
//! in as pending results. Opening one may hold its lot (a final inspection does unless
//! told not to): a held lot's stock cannot move until the inspection is decided. The
//! decision records a result per criterion, defects, and an outcome: `pass` and
//! `conditional` (which needs a comment) give a held lot back; `fail` quarantines the
//! lot and raises `qc.failed`. Each write locks the inspection row first, so two
//! decisions of one inspection queue and the second is refused. Inspections also open by
//! themselves where the item has a plan of their kind ([`open_if_planned`]): incoming on a
//! purchase order receipt (holding a lot-tracked receipt's lot) and final on a production
//! completion (holding the produced lot).

use super::plans::{self, CriterionKind};
use super::{Kind, kind_of, quarantine, record, text};
use crate::erp::events;
use crate::erp::quantity;
use crate::erp::stock::lots;
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Pattern of a defect type: lower-case words (`scratch`, `wrong_size`).
pub const DEFECT_TYPE_PATTERN: &str = r"^[a-z0-9][a-z0-9_.-]{0,63}$";

/// What to inspect. `incoming` names `receipt_entry_id`; `in_process` names
/// `work_order_id` and the item (`item_id`, or the item of `lot_id`); `final` names
/// `lot_id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInspection {
    pub kind: Kind,
    /// The receipt's stock ledger entry (incoming): its item, lot and quantity.
    #[schema(minimum = 1)]
    pub receipt_entry_id: Option<i64>,
    /// The work order (in process).
    pub work_order_id: Option<Uuid>,
    pub item_id: Option<Uuid>,
    pub lot_id: Option<Uuid>,
    /// How much is inspected, in the item's base unit (incoming: the receipt's quantity
    /// when omitted).
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Option<Decimal>,
    /// A plan of the same kind; the item's (or its category's) active plan when omitted.
    pub plan_id: Option<Uuid>,
    /// Hold the lot until the inspection is decided. Default: true for `final`, false
    /// otherwise. Needs a lot.
    pub hold: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Accepted with a concession: needs a comment.
    Conditional,
}

impl Outcome {
    /// The inspection's status once decided so.
    fn status(self) -> &'static str {
        match self {
            Self::Pass => "passed",
            Self::Fail => "failed",
            Self::Conditional => "conditional",
        }
    }
}

/// The result of one criterion.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultInput {
    /// The criterion's position in the inspection.
    #[schema(minimum = 1, maximum = 100)]
    pub position: i32,
    /// Pass/fail criteria: whether it passed.
    pub passed: Option<bool>,
    /// Measured criteria: the value (it passes within the criterion's bounds).
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub value: Option<Decimal>,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// A defect found on this criterion.
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    pub defect_type: Option<String>,
    /// How many units have the defect (1 when omitted).
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub defect_quantity: Option<Decimal>,
}

/// A defect found on the inspection as a whole.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefectInput {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    pub defect_type: String,
    /// How many units have it (1 when omitted).
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Option<Decimal>,
}

/// The decision: one result per criterion, defects, and the outcome.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectionDecision {
    pub outcome: Outcome,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub results: Vec<ResultInput>,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub defects: Vec<DefectInput>,
    /// Required for `conditional`.
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InspectionResult {
    pub position: i32,
    pub name: String,
    pub kind: CriterionKind,
    #[schema(value_type = Option<String>)]
    pub min: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub max: Option<Decimal>,
    pub unit: Option<String>,
    #[schema(value_type = Option<String>)]
    pub value: Option<Decimal>,
    /// Null until decided.
    pub passed: Option<bool>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Defect {
    pub position: Option<i32>,
    pub defect_type: String,
    #[schema(value_type = String)]
    pub quantity: Decimal,
}

/// Where an inspection is: open until decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InspectionStatus {
    Open,
    Passed,
    Failed,
    Conditional,
}

impl InspectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Conditional => "conditional",
        }
    }

    fn parse(text: &str) -> ApiResult<Self> {
        [Self::Open, Self::Passed, Self::Failed, Self::Conditional]
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown status {text}")))
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Inspection {
    pub id: Uuid,
    /// `QC-000001`, from a sequence.
    pub number: String,
    pub kind: Kind,
    pub status: InspectionStatus,
    pub item_id: Uuid,
    pub sku: String,
    pub lot_id: Option<Uuid>,
    pub lot_code: Option<String>,
    pub receipt_entry_id: Option<i64>,
    pub work_order_id: Option<Uuid>,
    pub plan_id: Option<Uuid>,
    #[schema(value_type = Option<String>)]
    pub quantity: Option<Decimal>,
    /// Whether the lot is held until the decision.
    pub holds_lot: bool,
    pub comment: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub results: Vec<InspectionResult>,
    pub defects: Vec<Defect>,
}

/// What an inspection checks, once its input is resolved.
struct Subject {
    item_id: Uuid,
    lot_id: Option<Uuid>,
    quantity: Option<Decimal>,
}

/// The item, lot and quantity of a receipt entry; 404 `entry_not_found`, 422 when the
/// entry is not a receipt.
async fn receipt_subject(db: &impl GenericClient, entry_id: i64) -> ApiResult<Subject> {
    let row = db
        .query_opt(
            "SELECT kind, item_id, lot_id, quantity FROM stock_ledger WHERE id = $1",
            &[&entry_id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("entry_not_found", "no ledger entry has this id"))?;
    if row.get::<_, String>(0) != "receipt" {
        return Err(ApiError::invalid("receipt_entry_id", "not a receipt entry"));
    }
    Ok(Subject {
        item_id: row.get(1),
        lot_id: row.get(2),
        quantity: Some(row.get(3)),
    })
}

/// The item of a lot; 404 `lot_not_found`.
async fn lot_item(db: &impl GenericClient, lot_id: Uuid) -> ApiResult<Uuid> {
    let row = db
        .query_opt("SELECT item_id FROM lots WHERE id = $1", &[&lot_id])
        .await?
        .ok_or_else(|| ApiError::not_found("lot_not_found", "no lot has this id"))?;
    Ok(row.get(0))
}

/// Resolves what `input` inspects, by its kind.
async fn subject(db: &impl GenericClient, input: &NewInspection) -> ApiResult<Subject> {
    let mut subject = match (input.kind, input.receipt_entry_id, input.lot_id) {
        (Kind::Incoming, Some(entry), _) => receipt_subject(db, entry).await?,
        (Kind::Incoming, None, _) => {
            return Err(ApiError::invalid(
                "receipt_entry_id",
                "an incoming inspection names the receipt entry",
            ));
        }
        (_, _, Some(lot)) => Subject {
            item_id: lot_item(db, lot).await?,
            lot_id: Some(lot),
            quantity: None,
        },
        (Kind::Final, _, None) => {
            return Err(ApiError::invalid(
                "lot_id",
                "a final inspection names the lot",
            ));
        }
        (Kind::InProcess, _, None) => {
            let item = input.item_id.ok_or_else(|| {
                ApiError::invalid("item_id", "name the item (or the lot) inspected")
            })?;
            db.query_opt("SELECT 1 FROM items WHERE id = $1", &[&item])
                .await?
                .ok_or_else(|| ApiError::not_found("item_not_found", "no item has this id"))?;
            Subject {
                item_id: item,
                lot_id: None,
                quantity: None,
            }
        }
    };
    if input.kind == Kind::InProcess && input.work_order_id.is_none() {
        return Err(ApiError::invalid(
            "work_order_id",
            "an in-process inspection names the work order",
        ));
    }
    if let Some(work_order) = input.work_order_id {
        db.query_opt("SELECT 1 FROM work_orders WHERE id = $1", &[&work_order])
            .await?
            .ok_or_else(|| {
                ApiError::not_found("work_order_not_found", "no work order has this id")
            })?;
    }
    if let Some(quantity) = input.quantity {
        subject.quantity = Some(quantity::positive("quantity", quantity)?);
    }
    Ok(subject)
}

/// The plan to follow: the one named (404 `plan_not_found`; 422 when of another kind),
/// or the applicable one.
async fn plan_for(
    db: &impl GenericClient,
    input: &NewInspection,
    item: Uuid,
) -> ApiResult<Option<Uuid>> {
    let Some(id) = input.plan_id else {
        return plans::applicable(db, item, input.kind).await;
    };
    let plan = plans::find(db, id).await?;
    if plan.kind != input.kind {
        return Err(ApiError::invalid(
            "plan_id",
            "the plan is for another kind of inspection",
        ));
    }
    Ok(Some(id))
}

/// Opens `input` when its item has an active plan of its kind: the inspections that open by
/// themselves (incoming on a purchase receipt, final on a production completion), so a
/// company that keeps no plan for an item is not asked to inspect it. Answers its id.
pub async fn open_if_planned(
    db: &impl GenericClient,
    actor: &Actor,
    item_id: Uuid,
    input: NewInspection,
) -> ApiResult<Option<Uuid>> {
    if plans::applicable(db, item_id, input.kind).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(create(db, actor, input).await?.id))
}

/// Opens an inspection (201), holding its lot when asked (409 `lot_scrapped` for a
/// scrapped lot).
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: NewInspection,
) -> ApiResult<Inspection> {
    let subject = subject(db, &input).await?;
    let plan_id = plan_for(db, &input, subject.item_id).await?;
    let hold = input.hold.unwrap_or(input.kind == Kind::Final);
    let holds_lot = match (hold, subject.lot_id) {
        (false, _) => false,
        (true, None) => {
            return Err(ApiError::invalid(
                "hold",
                "only a lot can be held: this stock has none",
            ));
        }
        (true, Some(lot)) => hold_lot(db, lot).await?,
    };
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO quality_inspections (id, number, kind, item_id, lot_id, receipt_entry_id, \
         work_order_id, plan_id, quantity, holds_lot, created_by) \
         VALUES ($1, 'QC-' || lpad(nextval('quality_inspection_number_seq')::text, 6, '0'), \
                 $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &id,
            &input.kind.as_str(),
            &subject.item_id,
            &subject.lot_id,
            &input
                .receipt_entry_id
                .filter(|_| input.kind == Kind::Incoming),
            &input.work_order_id,
            &plan_id,
            &subject.quantity,
            &holds_lot,
            &actor.user_id,
        ],
    )
    .await?;
    if let Some(plan) = plan_id {
        db.execute(
            "INSERT INTO quality_results (inspection_id, position, name, kind, min, max, unit) \
             SELECT $1, position, name, kind, min, max, unit FROM quality_criteria \
             WHERE plan_id = $2",
            &[&id, &plan],
        )
        .await?;
    }
    let inspection = find(db, id).await?;
    record(
        db,
        actor,
        "quality.inspection_opened",
        "quality_inspection",
        id.to_string(),
        json!(inspection),
    )
    .await?;
    Ok(inspection)
}

/// Holds an available lot (a held one stays held, a quarantined one stays quarantined):
/// answers whether this inspection holds it; 409 `lot_scrapped`.
async fn hold_lot(db: &impl GenericClient, lot: Uuid) -> ApiResult<bool> {
    let status = lots::lock(db, lot).await?;
    match status.as_str() {
        "available" => {
            lots::set_status(db, lot, "held").await?;
            Ok(true)
        }
        "held" => Ok(true),
        "scrapped" => Err(lots::refusal(&status).expect("a scrapped lot is refused")),
        _ => Ok(false),
    }
}

/// A result checked against its criterion: whether it passed.
fn judge(criterion: &InspectionResult, given: &ResultInput) -> ApiResult<(Option<Decimal>, bool)> {
    let field = format!("results[{}]", given.position);
    match criterion.kind {
        CriterionKind::PassFail => given
            .passed
            .map(|passed| (None, passed))
            .ok_or_else(|| ApiError::invalid(&format!("{field}.passed"), "say whether it passed")),
        CriterionKind::Measured => {
            let value = given.value.ok_or_else(|| {
                ApiError::invalid(&format!("{field}.value"), "record the measured value")
            })?;
            let value = quantity::fits(&format!("{field}.value"), value)?;
            let passed = criterion.min.is_none_or(|min| value >= min)
                && criterion.max.is_none_or(|max| value <= max);
            Ok((Some(value), passed))
        }
    }
}

/// 422 unless every criterion has exactly one result and no result names another.
fn check_coverage(criteria: &[InspectionResult], results: &[ResultInput]) -> ApiResult<()> {
    for given in results {
        if !criteria.iter().any(|c| c.position == given.position) {
            return Err(ApiError::invalid(
                "results",
                format!("no criterion {}", given.position),
            ));
        }
    }
    for c in criteria {
        match results.iter().filter(|r| r.position == c.position).count() {
            1 => {}
            0 => {
                return Err(ApiError::invalid(
                    "results",
                    format!("criterion {} ({}) has no result", c.position, c.name),
                ));
            }
            _ => {
                return Err(ApiError::invalid(
                    "results",
                    format!("criterion {} has two results", c.position),
                ));
            }
        }
    }
    Ok(())
}

/// 422 when the outcome contradicts the results or lacks its comment.
fn check_outcome(outcome: Outcome, any_failed: bool, comment: &str) -> ApiResult<()> {
    if outcome == Outcome::Pass && any_failed {
        return Err(ApiError::invalid(
            "outcome",
            "a criterion failed: the outcome is fail or conditional",
        ));
    }
    if outcome == Outcome::Conditional && comment.is_empty() {
        return Err(ApiError::invalid(
            "comment",
            "a conditional acceptance says its conditions",
        ));
    }
    Ok(())
}

/// A defect type and quantity, checked.
fn defect(field: &str, kind: &str, quantity: Option<Decimal>) -> ApiResult<(String, Decimal)> {
    if !is_defect_type(kind) {
        return Err(ApiError::invalid(
            &format!("{field}.defect_type"),
            "lower-case letters, digits, `_.-`, at most 64",
        ));
    }
    let quantity = quantity::positive(
        &format!("{field}.quantity"),
        quantity.unwrap_or(Decimal::ONE),
    )?;
    Ok((kind.to_owned(), quantity))
}

/// Whether `kind` matches [`DEFECT_TYPE_PATTERN`] (checked by hand: one small rule).
fn is_defect_type(kind: &str) -> bool {
    let mut chars = kind.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && kind.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

/// Decides an open inspection: 404 `inspection_not_found`, 409 `inspection_decided`,
/// 422 for missing or contradicting results and a conditional without a comment.
pub async fn decide(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    decision: InspectionDecision,
) -> ApiResult<Inspection> {
    lock(db, id).await?;
    let before = find(db, id).await?;
    if before.status != InspectionStatus::Open {
        return Err(ApiError::conflict(
            "inspection_decided",
            "this inspection has been decided",
        ));
    }
    let comment = text(
        "comment",
        decision.comment.as_deref().unwrap_or_default(),
        2000,
        false,
    )?;
    check_coverage(&before.results, &decision.results)?;
    let mut any_failed = false;
    let mut defects = Vec::new();
    for given in &decision.results {
        let criterion = before
            .results
            .iter()
            .find(|c| c.position == given.position)
            .expect("covered");
        let (value, passed) = judge(criterion, given)?;
        any_failed |= !passed;
        let note = text(
            &format!("results[{}].note", given.position),
            given.note.as_deref().unwrap_or_default(),
            2000,
            false,
        )?;
        db.execute(
            "UPDATE quality_results SET value = $3, passed = $4, note = $5 \
             WHERE inspection_id = $1 AND position = $2",
            &[&id, &given.position, &value, &passed, &note],
        )
        .await?;
        if let Some(kind) = &given.defect_type {
            let field = format!("results[{}]", given.position);
            defects.push((
                Some(given.position),
                defect(&field, kind, given.defect_quantity)?,
            ));
        }
    }
    for (index, d) in decision.defects.iter().enumerate() {
        defects.push((
            None,
            defect(&format!("defects[{index}]"), &d.defect_type, d.quantity)?,
        ));
    }
    check_outcome(decision.outcome, any_failed, &comment)?;
    for (position, (kind, quantity)) in &defects {
        db.execute(
            "INSERT INTO quality_defects (inspection_id, position, defect_type, quantity) \
             VALUES ($1, $2, $3, $4)",
            &[&id, position, kind, quantity],
        )
        .await?;
    }
    db.execute(
        "UPDATE quality_inspections SET status = $2, comment = $3, decided_by = $4, \
         decided_at = now() WHERE id = $1",
        &[&id, &decision.outcome.status(), &comment, &actor.user_id],
    )
    .await?;
    settle_lot(db, actor, &before, decision.outcome, &comment).await?;
    let after = find(db, id).await?;
    record(
        db,
        actor,
        "quality.inspection_decided",
        "quality_inspection",
        id.to_string(),
        json!(after),
    )
    .await?;
    Ok(after)
}

/// What the outcome does to the lot: a failure quarantines it (and raises `qc.failed`);
/// a pass gives it back if this inspection held it and no other open one does.
async fn settle_lot(
    db: &impl GenericClient,
    actor: &Actor,
    inspection: &Inspection,
    outcome: Outcome,
    comment: &str,
) -> ApiResult<()> {
    if outcome == Outcome::Fail {
        let data = json!({
            "inspection_id": inspection.id, "number": inspection.number,
            "kind": inspection.kind, "item_id": inspection.item_id, "sku": inspection.sku,
            "lot_id": inspection.lot_id, "lot_code": inspection.lot_code,
            "work_order_id": inspection.work_order_id,
        });
        events::emit(db, "qc.failed", data).await?;
        if let Some(lot) = inspection.lot_id {
            let reason = match comment {
                "" => format!("failed inspection {}", inspection.number),
                text => format!("failed inspection {}: {text}", inspection.number),
            };
            quarantine::segregate(db, actor, lot, &reason, Some(inspection.id)).await?;
        }
        return Ok(());
    }
    let Some(lot) = inspection.lot_id.filter(|_| inspection.holds_lot) else {
        return Ok(());
    };
    let still_held = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM quality_inspections WHERE lot_id = $1 \
             AND holds_lot AND status = 'open' AND id <> $2)",
            &[&lot, &inspection.id],
        )
        .await?
        .get::<_, bool>(0);
    if !still_held {
        db.execute(
            "UPDATE lots SET status = 'available' WHERE id = $1 AND status = 'held'",
            &[&lot],
        )
        .await?;
    }
    Ok(())
}

/// Locks the inspection row; 404 `inspection_not_found`.
async fn lock(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    db.query_opt(
        "SELECT 1 FROM quality_inspections WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .ok_or_else(|| ApiError::not_found("inspection_not_found", "no inspection has this id"))?;
    Ok(())
}

const SELECT: &str = "SELECT q.id, q.number, q.kind, q.status, q.item_id, i.sku, q.lot_id, \
    t.code, q.receipt_entry_id, q.work_order_id, q.plan_id, q.quantity, q.holds_lot, \
    q.comment, q.created_by, q.created_at, q.decided_by, q.decided_at \
    FROM quality_inspections q JOIN items i ON i.id = q.item_id \
    LEFT JOIN lots t ON t.id = q.lot_id";

async fn inspection(db: &impl GenericClient, r: &tokio_postgres::Row) -> ApiResult<Inspection> {
    let id: Uuid = r.get(0);
    let results = db
        .query(
            "SELECT position, name, kind, min, max, unit, value, passed, note \
             FROM quality_results WHERE inspection_id = $1 ORDER BY position",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| InspectionResult {
            position: r.get(0),
            name: r.get(1),
            kind: if r.get::<_, &str>(2) == "measured" {
                CriterionKind::Measured
            } else {
                CriterionKind::PassFail
            },
            min: r.get::<_, Option<Decimal>>(3).map(|d| d.normalize()),
            max: r.get::<_, Option<Decimal>>(4).map(|d| d.normalize()),
            unit: r.get(5),
            value: r.get::<_, Option<Decimal>>(6).map(|d| d.normalize()),
            passed: r.get(7),
            note: r.get(8),
        })
        .collect();
    let defects = db
        .query(
            "SELECT position, defect_type, quantity FROM quality_defects \
             WHERE inspection_id = $1 ORDER BY id",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| Defect {
            position: r.get(0),
            defect_type: r.get(1),
            quantity: r.get::<_, Decimal>(2).normalize(),
        })
        .collect();
    Ok(Inspection {
        id,
        number: r.get(1),
        kind: kind_of(r.get(2))?,
        status: InspectionStatus::parse(r.get(3))?,
        item_id: r.get(4),
        sku: r.get(5),
        lot_id: r.get(6),
        lot_code: r.get(7),
        receipt_entry_id: r.get(8),
        work_order_id: r.get(9),
        plan_id: r.get(10),
        quantity: r.get::<_, Option<Decimal>>(11).map(|d| d.normalize()),
        holds_lot: r.get(12),
        comment: r.get(13),
        created_by: r.get(14),
        created_at: r.get(15),
        decided_by: r.get(16),
        decided_at: r.get(17),
        results,
        defects,
    })
}

/// One inspection with its results and defects; 404 `inspection_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Inspection> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE q.id = $1"), &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("inspection_not_found", "no inspection has this id"))?;
    inspection(db, &row).await
}

/// Filters of the inspection list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InspectionFilter {
    pub status: Option<InspectionStatus>,
    pub kind: Option<Kind>,
    pub item_id: Option<Uuid>,
    pub lot_id: Option<Uuid>,
    pub work_order_id: Option<Uuid>,
}

/// The newest 200 inspections matching `filter`, newest first.
pub async fn list(
    db: &impl GenericClient,
    filter: &InspectionFilter,
) -> ApiResult<Vec<Inspection>> {
    let status = filter.status.map(InspectionStatus::as_str);
    let kind = filter.kind.map(Kind::as_str);
    let rows = db
        .query(
            &format!(
                "{SELECT} WHERE ($1::text IS NULL OR q.status = $1) \
                 AND ($2::text IS NULL OR q.kind = $2) AND ($3::uuid IS NULL OR q.item_id = $3) \
                 AND ($4::uuid IS NULL OR q.lot_id = $4) \
                 AND ($5::uuid IS NULL OR q.work_order_id = $5) ORDER BY q.id DESC LIMIT 200"
            ),
            &[
                &status,
                &kind,
                &filter.item_id,
                &filter.lot_id,
                &filter.work_order_id,
            ],
        )
        .await?;
    let mut inspections = Vec::with_capacity(rows.len());
    for row in &rows {
        inspections.push(inspection(db, row).await?);
    }
    Ok(inspections)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criterion(kind: CriterionKind, min: Option<i64>, max: Option<i64>) -> InspectionResult {
        InspectionResult {
            position: 1,
            name: "c".into(),
            kind,
            min: min.map(Decimal::from),
            max: max.map(Decimal::from),
            unit: None,
            value: None,
            passed: None,
            note: String::new(),
        }
    }

    fn given(passed: Option<bool>, value: Option<i64>) -> ResultInput {
        ResultInput {
            position: 1,
            passed,
            value: value.map(Decimal::from),
            note: None,
            defect_type: None,
            defect_quantity: None,
        }
    }

    #[test]
    fn a_measured_value_passes_within_its_bounds_only() {
        let c = criterion(CriterionKind::Measured, Some(10), Some(12));
        assert!(judge(&c, &given(None, Some(11))).unwrap().1);
        assert!(judge(&c, &given(None, Some(10))).unwrap().1);
        assert!(!judge(&c, &given(None, Some(13))).unwrap().1);
        assert!(judge(&c, &given(Some(true), None)).is_err());
    }

    #[test]
    fn a_pass_fail_result_says_whether_it_passed() {
        let c = criterion(CriterionKind::PassFail, None, None);
        assert!(!judge(&c, &given(Some(false), None)).unwrap().1);
        assert!(judge(&c, &given(None, Some(1))).is_err());
    }

    #[test]
    fn every_criterion_needs_exactly_one_result() {
        let criteria = [criterion(CriterionKind::PassFail, None, None)];
        assert!(check_coverage(&criteria, &[given(Some(true), None)]).is_ok());
        assert!(check_coverage(&criteria, &[]).is_err());
        assert!(
            check_coverage(
                &criteria,
                &[given(Some(true), None), given(Some(true), None)]
            )
            .is_err()
        );
        let mut other = given(Some(true), None);
        other.position = 2;
        assert!(check_coverage(&[], &[other]).is_err());
    }

    #[test]
    fn a_conditional_needs_a_comment_and_a_pass_no_failure() {
        assert!(check_outcome(Outcome::Conditional, true, "").is_err());
        assert!(check_outcome(Outcome::Conditional, true, "rework edges").is_ok());
        assert!(check_outcome(Outcome::Pass, true, "").is_err());
        assert!(check_outcome(Outcome::Pass, false, "").is_ok());
        assert!(check_outcome(Outcome::Fail, false, "").is_ok());
    }

    #[test]
    fn defect_types_are_lower_case_words() {
        assert!(is_defect_type("scratch"));
        assert!(is_defect_type("wrong_size.2"));
        assert!(!is_defect_type("Scratch"));
        assert!(!is_defect_type("_x"));
        assert!(!is_defect_type(""));
    }
}
