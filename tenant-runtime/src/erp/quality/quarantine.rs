//! Quarantine (segregation): a lot put aside after a failed inspection or by hand, with a
//! reason, until someone with `quality.release` releases it (back to available) or scraps
//! it (its stock taken out by an `adjustment` movement at the lot's cost, the lot marked
//! scrapped). While a lot is quarantined the stock module refuses to move or promise it.
//! Raises `lot.quarantined` and `lot.released`.

use super::{record, text};
use crate::erp::events;
use crate::erp::stock::lots;
use crate::erp::stock::post::{self, Cost, MovementHeader, NewEntry};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// The `document_type` of a scrap movement (its `document_id` is the quarantine's id).
pub const DOCUMENT_TYPE: &str = "lot_quarantine";

/// A lot to put in quarantine by hand.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQuarantine {
    pub lot_id: Uuid,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// How a quarantine ends: a note on why (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// A quarantine record with its lot's context.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Quarantine {
    pub id: Uuid,
    pub lot_id: Uuid,
    pub lot_code: String,
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    /// On hand of the lot, all locations (zero once scrapped).
    #[schema(value_type = String)]
    pub on_hand: Decimal,
    pub reason: String,
    /// The failed inspection that put it here; null when quarantined by hand.
    pub inspection_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    /// Since when the lot is in quarantine.
    pub created_at: DateTime<Utc>,
    /// `released` or `scrapped`; null while in quarantine.
    #[schema(pattern = "^(released|scrapped)$")]
    pub resolution: Option<String>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The scrap movement.
    pub movement_id: Option<Uuid>,
    pub note: String,
}

const SELECT: &str = "SELECT q.id, q.lot_id, t.code, t.item_id, i.sku, i.name, \
    coalesce((SELECT sum(b.on_hand) FROM stock_balances b WHERE b.lot_id = q.lot_id), 0), \
    q.reason, q.inspection_id, q.created_by, q.created_at, q.resolution, q.resolved_by, \
    q.resolved_at, q.movement_id, q.note \
    FROM lot_quarantines q JOIN lots t ON t.id = q.lot_id JOIN items i ON i.id = t.item_id";

fn quarantine(r: &tokio_postgres::Row) -> Quarantine {
    Quarantine {
        id: r.get(0),
        lot_id: r.get(1),
        lot_code: r.get(2),
        item_id: r.get(3),
        sku: r.get(4),
        item_name: r.get(5),
        on_hand: r.get::<_, Decimal>(6).normalize(),
        reason: r.get(7),
        inspection_id: r.get(8),
        created_by: r.get(9),
        created_at: r.get(10),
        resolution: r.get(11),
        resolved_by: r.get(12),
        resolved_at: r.get(13),
        movement_id: r.get(14),
        note: r.get(15),
    }
}

/// One quarantine record; 404 `quarantine_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Quarantine> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE q.id = $1"), &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("quarantine_not_found", "no quarantine has this id"))?;
    Ok(quarantine(&row))
}

/// The lots in quarantine now, longest first.
pub async fn list(db: &impl GenericClient) -> ApiResult<Vec<Quarantine>> {
    let rows = db
        .query(
            &format!("{SELECT} WHERE q.resolution IS NULL ORDER BY q.created_at, q.id LIMIT 1000"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(quarantine).collect())
}

/// Quarantines a lot by hand: 404 `lot_not_found`, 409 `already_quarantined` or
/// `lot_scrapped`.
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    input: NewQuarantine,
) -> ApiResult<Quarantine> {
    let reason = text("reason", &input.reason, 2000, true)?;
    segregate(db, actor, input.lot_id, &reason, None).await
}

/// Puts a lot in quarantine (the one way in, by hand or after a failed inspection). A
/// failed inspection of a lot already in quarantine leaves that quarantine as it is;
/// by hand it is 409 `already_quarantined`. 409 `lot_scrapped`.
pub async fn segregate(
    db: &impl GenericClient,
    actor: &Actor,
    lot: Uuid,
    reason: &str,
    inspection: Option<Uuid>,
) -> ApiResult<Quarantine> {
    let status = lots::lock(db, lot).await?;
    if status == "scrapped" {
        return Err(lots::refusal(&status).expect("a scrapped lot is refused"));
    }
    let open = db
        .query_opt(
            "SELECT id FROM lot_quarantines WHERE lot_id = $1 AND resolution IS NULL",
            &[&lot],
        )
        .await?;
    match (open, inspection) {
        (Some(row), Some(_)) => return find(db, row.get(0)).await,
        (Some(_), None) => {
            return Err(ApiError::conflict(
                "already_quarantined",
                "this lot is already in quarantine",
            ));
        }
        (None, _) => {}
    }
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO lot_quarantines (id, lot_id, reason, inspection_id, created_by) \
         VALUES ($1, $2, $3, $4, $5)",
        &[&id, &lot, &reason, &inspection, &actor.user_id],
    )
    .await?;
    lots::set_status(db, lot, "quarantined").await?;
    let after = find(db, id).await?;
    events::emit(db, "lot.quarantined", event_data(&after)).await?;
    record(
        db,
        actor,
        "quality.lot_quarantined",
        "lot_quarantine",
        id.to_string(),
        json!(after),
    )
    .await?;
    Ok(after)
}

fn event_data(q: &Quarantine) -> serde_json::Value {
    json!({
        "quarantine_id": q.id, "lot_id": q.lot_id, "lot_code": q.lot_code,
        "item_id": q.item_id, "sku": q.sku, "on_hand": q.on_hand, "reason": q.reason,
        "inspection_id": q.inspection_id, "resolution": q.resolution,
    })
}

/// Locks an open quarantine; 404 `quarantine_not_found`, 409 `quarantine_resolved`.
async fn open_one(db: &impl GenericClient, id: Uuid) -> ApiResult<Quarantine> {
    let lot: Uuid = db
        .query_opt("SELECT lot_id FROM lot_quarantines WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("quarantine_not_found", "no quarantine has this id"))?
        .get(0);
    lots::lock(db, lot).await?;
    let current = find(db, id).await?;
    if current.resolution.is_some() {
        return Err(ApiError::conflict(
            "quarantine_resolved",
            "this quarantine has been released or scrapped",
        ));
    }
    Ok(current)
}

/// Ends a quarantine as `resolution` (with the scrap movement, if any).
async fn resolve(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    resolution: &str,
    movement: Option<Uuid>,
    note: &str,
) -> ApiResult<Quarantine> {
    db.execute(
        "UPDATE lot_quarantines SET resolution = $2, resolved_by = $3, resolved_at = now(), \
         movement_id = $4, note = $5 WHERE id = $1",
        &[&id, &resolution, &actor.user_id, &movement, &note],
    )
    .await?;
    find(db, id).await
}

/// Releases a quarantined lot back to available (needs `quality.release`, checked by the
/// caller); raises `lot.released`.
pub async fn release(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    input: Resolution,
) -> ApiResult<Quarantine> {
    let note = text(
        "note",
        input.note.as_deref().unwrap_or_default(),
        2000,
        false,
    )?;
    let current = open_one(db, id).await?;
    lots::set_status(db, current.lot_id, "available").await?;
    let after = resolve(db, actor, id, "released", None, &note).await?;
    events::emit(db, "lot.released", event_data(&after)).await?;
    record(
        db,
        actor,
        "quality.lot_released",
        "lot_quarantine",
        id.to_string(),
        json!(after),
    )
    .await?;
    Ok(after)
}

/// Scraps a quarantined lot: every location's stock of it leaves in one `adjustment`
/// movement at the lot's average cost there, and the lot is marked scrapped.
pub async fn scrap(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    input: Resolution,
) -> ApiResult<Quarantine> {
    let note = text(
        "note",
        input.note.as_deref().unwrap_or_default(),
        2000,
        false,
    )?;
    let current = open_one(db, id).await?;
    let rows = db
        .query(
            "SELECT b.location_id, b.on_hand, i.standard_cost FROM stock_balances b \
             JOIN items i ON i.id = b.item_id WHERE b.lot_id = $1 AND b.on_hand > 0 \
             ORDER BY b.id",
            &[&current.lot_id],
        )
        .await?;
    let entries: Vec<NewEntry> = rows
        .iter()
        .map(|r| NewEntry {
            kind: "adjustment",
            item_id: current.item_id,
            location_id: r.get(0),
            lot_id: Some(current.lot_id),
            quantity: -r.get::<_, Decimal>(1),
            cost: Cost::Average { fallback: r.get(2) },
            document_line: None,
            reverses: None,
        })
        .collect();
    let movement = if entries.is_empty() {
        None
    } else {
        let header = MovementHeader {
            kind: "adjustment",
            reference: Some(format!("scrap-{id}")),
            document_type: Some(DOCUMENT_TYPE.to_owned()),
            document_id: Some(id.to_string()),
            note: format!("scrap of lot {}: {}", current.lot_code, current.reason)
                .chars()
                .take(2000)
                .collect(),
            ..MovementHeader::default()
        };
        Some(post::post(db, actor, header, entries).await?.movement.id)
    };
    lots::set_status(db, current.lot_id, "scrapped").await?;
    let after = resolve(db, actor, id, "scrapped", movement, &note).await?;
    record(
        db,
        actor,
        "quality.lot_scrapped",
        "lot_quarantine",
        id.to_string(),
        json!(after),
    )
    .await?;
    Ok(after)
}
