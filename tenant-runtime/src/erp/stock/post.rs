//! Posting a movement: claim its idempotency reference, lock the balance rows it touches
//! (in one order, so two movements never deadlock), write each entry with a guarded
//! balance update, record material debt or settle it, raise `stock.below_reorder_point`,
//! write the audit entry, and answer the movement as stored. All in the caller's
//! transaction: a refusal anywhere leaves nothing behind once the caller rolls back.

use crate::erp::events;
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self as audit, Actor};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a movement is, and where it came from.
#[derive(Debug, Clone, Default)]
pub struct MovementHeader {
    /// `receipt`, `issue`, `transfer`, `adjustment`, `reversal`, `consume`, `produce`,
    /// `delivery`.
    pub kind: &'static str,
    /// The client's `Idempotency-Key` or form reference: posting it twice posts once.
    pub reference: Option<String>,
    /// The movement a reversal undoes.
    pub reverses: Option<Uuid>,
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub note: String,
}

/// How a new entry is costed.
#[derive(Debug, Clone, Copy)]
pub enum Cost {
    /// This unit cost (receipts, reversals).
    Given(Decimal),
    /// The balance row's moving average, or `fallback` (the item's standard cost) when
    /// nothing is on hand there (stock leaving).
    Average { fallback: Decimal },
    /// The cost of the entry posted just before this one (a transfer's incoming half).
    OfPrevious,
}

/// One entry to post; the lot is already resolved.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: &'static str,
    pub item_id: Uuid,
    pub location_id: Uuid,
    pub lot_id: Option<Uuid>,
    /// Signed, in the item's base unit, never zero.
    pub quantity: Decimal,
    pub cost: Cost,
    pub document_line: Option<i32>,
    pub reverses: Option<i64>,
}

/// A stored ledger entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Entry {
    pub id: i64,
    pub movement_id: Uuid,
    /// `receipt`, `issue`, `transfer_out`, `transfer_in`, `adjustment`, `reversal`,
    /// `consume`, `produce`, `delivery`.
    pub kind: String,
    pub item_id: Uuid,
    pub location_id: Uuid,
    pub lot_id: Option<Uuid>,
    pub lot_code: Option<String>,
    /// Signed, in the item's base unit.
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub unit_cost: Decimal,
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub document_line: Option<i32>,
    /// The entry this reversal undoes.
    pub reverses: Option<i64>,
    pub user_id: Option<Uuid>,
    /// Kept verbatim (HTML is not interpreted; escape it when showing it).
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// A stored movement and its entries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Movement {
    pub id: Uuid,
    pub kind: String,
    pub reference: Option<String>,
    /// The movement this one reverses.
    pub reverses: Option<Uuid>,
    /// The reversal that undid this movement, if any.
    pub reversed_by: Option<Uuid>,
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub note: String,
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub entries: Vec<Entry>,
}

/// A posted movement; `created` is false when its reference had been posted before (the
/// first movement is answered, nothing new is written).
#[derive(Debug, Clone)]
pub struct Posted {
    pub movement: Movement,
    pub created: bool,
}

/// The movement already posted under `reference`, if any. Movement builders call this
/// first, so a double-submitted form is answered before any stock rule is checked again.
pub async fn already_posted(
    db: &impl GenericClient,
    reference: Option<&str>,
) -> ApiResult<Option<Posted>> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    let row = db
        .query_opt(
            "SELECT id FROM stock_movements WHERE reference = $1",
            &[&reference],
        )
        .await?;
    match row {
        Some(row) => Ok(Some(Posted {
            movement: load(db, row.get(0)).await?,
            created: false,
        })),
        None => Ok(None),
    }
}

/// Posts `entries` as one movement. Stock may go below zero only where `allow_negative`
/// and the entry has no lot; such a shortfall becomes material debt.
pub async fn post(
    db: &impl GenericClient,
    actor: &Actor,
    header: MovementHeader,
    entries: Vec<NewEntry>,
) -> ApiResult<Posted> {
    let id = Uuid::now_v7();
    let claimed = db
        .execute(
            "INSERT INTO stock_movements (id, kind, reference, reverses, document_type, \
             document_id, note, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (reference) DO NOTHING",
            &[
                &id,
                &header.kind,
                &header.reference,
                &header.reverses,
                &header.document_type,
                &header.document_id,
                &header.note,
                &actor.user_id,
            ],
        )
        .await
        .map_err(already_reversed)?;
    if claimed == 0 {
        // A concurrent post of the same reference committed first: answer it.
        return already_posted(db, header.reference.as_deref())
            .await?
            .ok_or_else(|| ApiError::conflict("reference_in_use", "retry the request"));
    }
    lock_balances(db, &entries).await?;
    let allow_negative = allows_negative(db).await?;
    let mut previous_cost = Decimal::ZERO;
    for entry in &entries {
        previous_cost =
            write_entry(db, actor, id, &header, entry, previous_cost, allow_negative).await?;
    }
    raise_reorder_events(db, &entries).await?;
    let movement = load(db, id).await?;
    let record = audit::Entry {
        action: "stock.movement_posted",
        target_kind: "stock_movement",
        target_id: id.to_string(),
        before: None,
        after: Some(serde_json::json!({
            "kind": movement.kind,
            "reference": movement.reference,
            "reverses": movement.reverses,
            "entries": movement.entries.iter().map(|e| serde_json::json!({
                "id": e.id, "kind": e.kind, "item_id": e.item_id,
                "location_id": e.location_id, "lot_id": e.lot_id,
                "quantity": e.quantity, "unit_cost": e.unit_cost,
            })).collect::<Vec<_>>(),
        })),
    };
    audit::record(db, actor, record).await?;
    Ok(Posted {
        movement,
        created: true,
    })
}

/// A second reversal of one movement (or entry) racing the first hits a unique index.
fn already_reversed(error: tokio_postgres::Error) -> ApiError {
    if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        return ApiError::conflict("already_reversed", "this movement has been reversed");
    }
    error.into()
}

/// Whether the company lets stock go below zero (the setting, default false).
pub async fn allows_negative(db: &impl GenericClient) -> ApiResult<bool> {
    let row = db
        .query_opt(
            "SELECT value = 'true'::jsonb FROM settings WHERE key = $1",
            &[&super::ALLOW_NEGATIVE_SETTING],
        )
        .await?;
    Ok(row.is_some_and(|row| row.get(0)))
}

/// Locks the existing balance rows of `entries` in id order: two movements touching the
/// same rows queue behind each other instead of deadlocking.
async fn lock_balances(db: &impl GenericClient, entries: &[NewEntry]) -> ApiResult<()> {
    let items: Vec<Uuid> = entries.iter().map(|e| e.item_id).collect();
    let locations: Vec<Uuid> = entries.iter().map(|e| e.location_id).collect();
    let lots: Vec<Option<Uuid>> = entries.iter().map(|e| e.lot_id).collect();
    db.query(
        "SELECT b.id FROM stock_balances b \
         JOIN unnest($1::uuid[], $2::uuid[], $3::uuid[]) k (item, location, lot) \
           ON b.item_id = k.item AND b.location_id = k.location \
          AND b.lot_id IS NOT DISTINCT FROM k.lot \
         ORDER BY b.id FOR UPDATE OF b",
        &[&items, &locations, &lots],
    )
    .await?;
    Ok(())
}

/// Writes one entry and its balance change; answers the unit cost it was posted at.
async fn write_entry(
    db: &impl GenericClient,
    actor: &Actor,
    movement: Uuid,
    header: &MovementHeader,
    entry: &NewEntry,
    previous_cost: Decimal,
    allow_negative: bool,
) -> ApiResult<Decimal> {
    let (old_on_hand, old_value) = balance(db, entry).await?;
    let unit_cost = match entry.cost {
        Cost::Given(cost) => cost,
        Cost::OfPrevious => previous_cost,
        Cost::Average { .. } if old_on_hand > Decimal::ZERO => {
            (old_value / old_on_hand).round_dp(crate::erp::quantity::SCALE)
        }
        Cost::Average { fallback } => fallback,
    };
    let may_go_negative = allow_negative && entry.lot_id.is_none();
    let new_on_hand = old_on_hand + entry.quantity;
    if new_on_hand < Decimal::ZERO && entry.quantity < Decimal::ZERO && !may_go_negative {
        return Err(insufficient(old_on_hand));
    }
    let value_change = entry.quantity * unit_cost;
    // Guarded: the row is locked, and the update still refuses to cross zero when not
    // allowed, so no path can leave a negative balance behind.
    let updated = db
        .execute(
            "INSERT INTO stock_balances (item_id, location_id, lot_id, on_hand, value) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (item_id, location_id, lot_id) DO UPDATE \
             SET on_hand = stock_balances.on_hand + EXCLUDED.on_hand, \
                 value = stock_balances.value + EXCLUDED.value, updated_at = now() \
             WHERE stock_balances.on_hand + EXCLUDED.on_hand >= 0 OR EXCLUDED.on_hand > 0 \
                OR $6",
            &[
                &entry.item_id,
                &entry.location_id,
                &entry.lot_id,
                &entry.quantity,
                &value_change,
                &may_go_negative,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(insufficient(old_on_hand));
    }
    let row = db
        .query_one(
            "INSERT INTO stock_ledger (movement_id, kind, item_id, location_id, lot_id, \
             quantity, unit_cost, document_type, document_id, document_line, reverses, \
             user_id, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             RETURNING id",
            &[
                &movement,
                &entry.kind,
                &entry.item_id,
                &entry.location_id,
                &entry.lot_id,
                &entry.quantity,
                &unit_cost,
                &header.document_type,
                &header.document_id,
                &entry.document_line,
                &entry.reverses,
                &actor.user_id,
                &header.note,
            ],
        )
        .await
        .map_err(already_reversed)?;
    let entry_id: i64 = row.get(0);
    if entry.lot_id.is_none() {
        settle_or_record_debt(db, entry, entry_id, old_on_hand, new_on_hand).await?;
    }
    Ok(unit_cost)
}

fn insufficient(on_hand: Decimal) -> ApiError {
    ApiError::conflict(
        "insufficient_stock",
        format!("only {} on hand there", on_hand.normalize()),
    )
}

/// The balance row's on hand and value (zero when there is none yet).
async fn balance(db: &impl GenericClient, entry: &NewEntry) -> ApiResult<(Decimal, Decimal)> {
    let row = db
        .query_opt(
            "SELECT on_hand, round(value, 12) FROM stock_balances \
             WHERE item_id = $1 AND location_id = $2 AND lot_id IS NOT DISTINCT FROM $3",
            &[&entry.item_id, &entry.location_id, &entry.lot_id],
        )
        .await?;
    Ok(row.map_or((Decimal::ZERO, Decimal::ZERO), |row| {
        (row.get(0), row.get(1))
    }))
}

/// Stock taken below zero becomes a debt; stock coming in settles open debts of the same
/// item and location, oldest first.
async fn settle_or_record_debt(
    db: &impl GenericClient,
    entry: &NewEntry,
    entry_id: i64,
    old_on_hand: Decimal,
    new_on_hand: Decimal,
) -> ApiResult<()> {
    if entry.quantity < Decimal::ZERO && new_on_hand < Decimal::ZERO {
        let shortfall = (-entry.quantity).min(-new_on_hand);
        db.execute(
            "INSERT INTO material_debts (item_id, location_id, entry_id, quantity, open_quantity) \
             VALUES ($1, $2, $3, $4, $4)",
            &[&entry.item_id, &entry.location_id, &entry_id, &shortfall],
        )
        .await?;
        return Ok(());
    }
    if entry.quantity > Decimal::ZERO && old_on_hand < Decimal::ZERO {
        let mut left = entry.quantity;
        let debts = db
            .query(
                "SELECT id, open_quantity FROM material_debts \
                 WHERE item_id = $1 AND location_id = $2 AND open_quantity > 0 \
                 ORDER BY id FOR UPDATE",
                &[&entry.item_id, &entry.location_id],
            )
            .await?;
        for debt in debts {
            if left <= Decimal::ZERO {
                break;
            }
            let (id, open): (i64, Decimal) = (debt.get(0), debt.get(1));
            let settled = open.min(left);
            left -= settled;
            db.execute(
                "UPDATE material_debts SET open_quantity = open_quantity - $2, \
                 settled_by = CASE WHEN open_quantity = $2 THEN $3::bigint END, \
                 settled_at = CASE WHEN open_quantity = $2 THEN now() END WHERE id = $1",
                &[&id, &settled, &entry_id],
            )
            .await?;
        }
    }
    Ok(())
}

/// `stock.below_reorder_point` for each item this movement took from at or above its
/// reorder point to below it.
async fn raise_reorder_events(db: &impl GenericClient, entries: &[NewEntry]) -> ApiResult<()> {
    let mut items: Vec<(Uuid, Decimal)> = Vec::new();
    for entry in entries {
        match items.iter_mut().find(|(item, _)| *item == entry.item_id) {
            Some((_, delta)) => *delta += entry.quantity,
            None => items.push((entry.item_id, entry.quantity)),
        }
    }
    for (item, delta) in items.into_iter().filter(|(_, d)| *d < Decimal::ZERO) {
        let row = db
            .query_one(
                "SELECT i.sku, i.reorder_point, \
                        coalesce((SELECT sum(on_hand) FROM stock_balances WHERE item_id = i.id), 0) \
                 FROM items i WHERE i.id = $1",
                &[&item],
            )
            .await?;
        let (sku, reorder_point, after): (String, Decimal, Decimal) =
            (row.get(0), row.get(1), row.get(2));
        if crosses_below(reorder_point, after - delta, after) {
            let data = serde_json::json!({
                "item_id": item, "sku": sku,
                "reorder_point": reorder_point, "on_hand": after,
            });
            events::emit(db, "stock.below_reorder_point", data).await?;
        }
    }
    Ok(())
}

/// True when on hand went from at/above the reorder point to below it (a zero reorder
/// point means the item is not watched).
pub fn crosses_below(reorder_point: Decimal, before: Decimal, after: Decimal) -> bool {
    reorder_point > Decimal::ZERO && before >= reorder_point && after < reorder_point
}

const ENTRY_COLUMNS: &str = "SELECT e.id, e.movement_id, e.kind, e.item_id, e.location_id, \
    e.lot_id, l.code, e.quantity, e.unit_cost, e.document_type, e.document_id, \
    e.document_line, e.reverses, e.user_id, e.note, e.created_at \
    FROM stock_ledger e LEFT JOIN lots l ON l.id = e.lot_id";

/// The columns [`entry`] reads, for queries that filter and page entries.
pub fn entry_select() -> &'static str {
    ENTRY_COLUMNS
}

/// An entry from a row of [`ENTRY_COLUMNS`].
pub fn entry(row: &tokio_postgres::Row) -> Entry {
    Entry {
        id: row.get(0),
        movement_id: row.get(1),
        kind: row.get(2),
        item_id: row.get(3),
        location_id: row.get(4),
        lot_id: row.get(5),
        lot_code: row.get(6),
        quantity: row.get::<_, Decimal>(7).normalize(),
        unit_cost: row.get::<_, Decimal>(8).normalize(),
        document_type: row.get(9),
        document_id: row.get(10),
        document_line: row.get(11),
        reverses: row.get(12),
        user_id: row.get(13),
        note: row.get(14),
        created_at: row.get(15),
    }
}

/// One movement with its entries; 404 `movement_not_found`.
pub async fn load(db: &impl GenericClient, id: Uuid) -> ApiResult<Movement> {
    let row = db
        .query_opt(
            "SELECT m.id, m.kind, m.reference, m.reverses, \
                    (SELECT r.id FROM stock_movements r WHERE r.reverses = m.id), \
                    m.document_type, m.document_id, m.note, m.user_id, m.created_at \
             FROM stock_movements m WHERE m.id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("movement_not_found", "no movement has this id"))?;
    let entries = db
        .query(
            &format!("{ENTRY_COLUMNS} WHERE e.movement_id = $1 ORDER BY e.id"),
            &[&id],
        )
        .await?;
    Ok(Movement {
        id: row.get(0),
        kind: row.get(1),
        reference: row.get(2),
        reverses: row.get(3),
        reversed_by: row.get(4),
        document_type: row.get(5),
        document_id: row.get(6),
        note: row.get(7),
        user_id: row.get(8),
        created_at: row.get(9),
        entries: entries.iter().map(entry).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falling_from_the_reorder_point_to_below_it_raises_the_event() {
        let d = Decimal::from;
        assert!(crosses_below(d(10), d(10), d(9)));
        assert!(crosses_below(d(10), d(15), d(0)));
    }

    #[test]
    fn staying_below_or_above_or_an_unwatched_item_raises_nothing() {
        let d = Decimal::from;
        assert!(!crosses_below(d(10), d(9), d(5)));
        assert!(!crosses_below(d(10), d(20), d(10)));
        assert!(!crosses_below(Decimal::ZERO, d(5), d(-1)));
    }
}
