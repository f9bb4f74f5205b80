//! Stock adjustments held for approval. An adjustment is first posted inside a savepoint
//! and rolled back: that checks every rule an adjustment has (units, lots, stock on hand)
//! and prices it as the ledger would (stock found at its unit cost, stock lost at the
//! moving average). The company's `stock_adjustment` approval rules are asked about that
//! value: with none applying it is posted at once; otherwise it is kept, as typed, in
//! `stock_adjustment_requests` and posted only when the last level approves (a rejection
//! posts nothing). Posting at approval checks the rules again against the stock then: an
//! approval that can no longer post (the stock left meanwhile) is refused and stays pending.

use super::movements::{Adjustment, post_adjustment};
use super::post::Posted;
use crate::erp::approvals::{self, DocumentKind, DocumentRef, Outcome};
use chrono::{DateTime, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::Serialize;
use tokio_postgres::{GenericClient, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

/// What became of an adjustment.
#[derive(Debug)]
pub enum Adjusted {
    /// No rule holds it back: posted (or posted before under its reference).
    Posted(Posted),
    /// Waiting for approval (or decided, when asked again under its reference).
    Held(HeldAdjustment),
}

/// An adjustment kept for approval.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldAdjustment {
    pub id: Uuid,
    /// `pending`, `approved` (posted as `movement_id`) or `rejected` (nothing moved).
    #[schema(schema_with = status_schema)]
    pub status: String,
    /// The approval request deciding it (`GET /api/v1/approvals/{id}`).
    pub approval_id: Uuid,
    pub item_id: Uuid,
    pub sku: String,
    pub location_id: Uuid,
    pub location_code: String,
    /// Signed, as typed, in `unit` (the item's base unit when null).
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    pub unit: Option<String>,
    pub lot_code: Option<String>,
    pub reason: String,
    /// The value the approval rules were asked about.
    #[schema(value_type = String, pattern = r"^[0-9]{1,20}(\.[0-9]{1,6})?$")]
    pub amount: Decimal,
    pub movement_id: Option<Uuid>,
    pub requested_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

fn status_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(["pending", "approved", "rejected"])
}

const SELECT: &str = "SELECT r.id, r.status, r.approval_id, r.item_id, r.location_id, \
     r.quantity, r.unit, r.lot_code, r.reason, r.amount, r.movement_id, r.requested_by, \
     r.created_at, r.decided_at, r.unit_cost, r.lot_expires_on, r.reference, i.sku, l.code \
     FROM stock_adjustment_requests r JOIN items i ON i.id = r.item_id \
     JOIN locations l ON l.id = r.location_id";

fn held(row: &tokio_postgres::Row) -> HeldAdjustment {
    HeldAdjustment {
        id: row.get(0),
        status: row.get(1),
        approval_id: row.get(2),
        item_id: row.get(3),
        sku: row.get(17),
        location_id: row.get(4),
        location_code: row.get(18),
        quantity: row.get::<_, Decimal>(5).normalize(),
        unit: row.get(6),
        lot_code: row.get(7),
        reason: row.get(8),
        amount: row.get::<_, Decimal>(9).normalize(),
        movement_id: row.get(10),
        requested_by: row.get(11),
        created_at: row.get(12),
        decided_at: row.get(13),
    }
}

/// The adjustment a held row describes, to post it.
fn as_adjustment(row: &tokio_postgres::Row) -> Adjustment {
    Adjustment {
        item_id: row.get(3),
        location_id: row.get(4),
        quantity: row.get(5),
        unit: row.get(6),
        unit_cost: row.get::<_, Option<Decimal>>(14),
        lot_code: row.get(7),
        lot_expires_on: row.get::<_, Option<NaiveDate>>(15),
        reason: row.get(8),
        reference: row.get(16),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found(
        "adjustment_request_not_found",
        "no held stock adjustment has this id",
    )
}

/// One held adjustment: 404 `adjustment_request_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<HeldAdjustment> {
    db.query_opt(&format!("{SELECT} WHERE r.id = $1"), &[&id])
        .await?
        .map(|row| held(&row))
        .ok_or_else(not_found)
}

/// Posts an adjustment, or holds it for approval when the company's rules cover its value.
pub async fn adjust(
    tx: &mut Transaction<'_>,
    actor: &Actor,
    input: Adjustment,
) -> ApiResult<Adjusted> {
    if let Some(reference) = &input.reference {
        let earlier = tx
            .query_opt(&format!("{SELECT} WHERE r.reference = $1"), &[reference])
            .await?;
        if let Some(row) = earlier {
            return Ok(Adjusted::Held(held(&row)));
        }
    }
    let trial = tx.savepoint("adjustment_trial").await?;
    let posted = post_adjustment(&trial, actor, input.clone()).await?;
    trial.rollback().await?;
    if !posted.created {
        return Ok(Adjusted::Posted(posted));
    }
    let amount: Decimal = posted
        .movement
        .entries
        .iter()
        .map(|entry| (entry.quantity * entry.unit_cost).abs())
        .sum::<Decimal>()
        .round_dp(6);
    let id = Uuid::now_v7();
    let document = DocumentRef {
        kind: DocumentKind::StockAdjustment,
        id,
        amount,
        requested_by: actor.user_id,
    };
    match approvals::request(&*tx, actor, document).await? {
        Outcome::Approved => Ok(Adjusted::Posted(post_adjustment(&*tx, actor, input).await?)),
        Outcome::Pending(approval_id) => {
            keep(&*tx, id, approval_id, amount, actor, &input).await?;
            Ok(Adjusted::Held(find(&*tx, id).await?))
        }
    }
}

async fn keep(
    db: &impl GenericClient,
    id: Uuid,
    approval_id: Uuid,
    amount: Decimal,
    actor: &Actor,
    input: &Adjustment,
) -> ApiResult<()> {
    db.execute(
        "INSERT INTO stock_adjustment_requests (id, reference, item_id, location_id, quantity, \
           unit, unit_cost, lot_code, lot_expires_on, reason, amount, approval_id, requested_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &id,
            &input.reference,
            &input.item_id,
            &input.location_id,
            &input.quantity,
            &input.unit,
            &input.unit_cost,
            &input.lot_code,
            &input.lot_expires_on,
            &input.reason,
            &amount,
            &approval_id,
            &actor.user_id,
        ],
    )
    .await?;
    Ok(())
}

/// Locks a held adjustment for the deciding transaction (404 when there is none).
pub async fn lock(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    db.query_opt(
        "SELECT 1 FROM stock_adjustment_requests WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .map(|_| ())
    .ok_or_else(not_found)
}

/// The final decision on a held adjustment: approved posts it (409 from the stock rules
/// when it no longer can, so the decision does not stand), rejected only records it.
pub async fn decided(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    approved: bool,
) -> ApiResult<()> {
    let row = db
        .query_opt(
            &format!("{SELECT} WHERE r.id = $1 AND r.status = 'pending'"),
            &[&id],
        )
        .await?
        .ok_or_else(not_found)?;
    let movement: Option<Uuid> = if approved {
        Some(
            post_adjustment(db, actor, as_adjustment(&row))
                .await?
                .movement
                .id,
        )
    } else {
        None
    };
    db.execute(
        "UPDATE stock_adjustment_requests SET status = $2, movement_id = $3, decided_at = now() \
         WHERE id = $1",
        &[
            &id,
            &if approved { "approved" } else { "rejected" },
            &movement,
        ],
    )
    .await?;
    Ok(())
}

impl HeldAdjustment {
    /// One line for an approver: `+100 pcs of BOLT at SHELF: found a crate`.
    pub fn summary(&self) -> String {
        let sign = if self.quantity > Decimal::ZERO { "+" } else { "" };
        let unit = self.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
        format!(
            "{sign}{}{unit} of {} at {}: {}",
            self.quantity, self.sku, self.location_code, self.reason
        )
    }
}
