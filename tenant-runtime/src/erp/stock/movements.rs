//! Receipts, issues, transfers, adjustments and reversals: typed input checked (item and
//! location exist and are active, quantities positive and converted to the base unit,
//! lot rules) and turned into ledger entries for [`post`]. Each public function is what
//! the API and the web app call, in the caller's transaction.

use super::post::{self, Cost, MovementHeader, NewEntry, Posted, already_posted, post};
use crate::erp::quantity;
use chrono::NaiveDate;
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Goods coming in.
#[derive(Debug, Clone, Default)]
pub struct Receipt {
    pub item_id: Uuid,
    pub location_id: Uuid,
    pub quantity: Decimal,
    /// A unit of the item other than its base unit (converted through `item_units`).
    pub unit: Option<String>,
    /// Per base unit; the item's standard cost when omitted.
    pub unit_cost: Option<Decimal>,
    /// Required for lot-tracked items, refused for others.
    pub lot_code: Option<String>,
    pub lot_expires_on: Option<NaiveDate>,
    pub reference: Option<String>,
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub document_line: Option<i32>,
    pub note: String,
}

/// Goods going out (to use, to a customer...). `kind` is `issue` unless a caller posts
/// `delivery` or `consume`.
#[derive(Debug, Clone, Default)]
pub struct Issue {
    pub kind: Option<&'static str>,
    pub item_id: Uuid,
    pub location_id: Uuid,
    pub quantity: Decimal,
    pub unit: Option<String>,
    /// A named lot; first-expired-first-out across lots when omitted.
    pub lot_code: Option<String>,
    pub reference: Option<String>,
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub document_line: Option<i32>,
    pub note: String,
}

/// Goods moving between two locations (of one warehouse or two, or to a department).
#[derive(Debug, Clone, Default)]
pub struct Transfer {
    pub item_id: Uuid,
    pub from_location_id: Uuid,
    pub to_location_id: Uuid,
    pub quantity: Decimal,
    pub unit: Option<String>,
    pub lot_code: Option<String>,
    pub reference: Option<String>,
    pub note: String,
}

/// A count correction: a signed quantity and its reason.
#[derive(Debug, Clone, Default)]
pub struct Adjustment {
    pub item_id: Uuid,
    pub location_id: Uuid,
    /// Signed, never zero.
    pub quantity: Decimal,
    pub unit: Option<String>,
    /// For stock found (positive); the item's standard cost when omitted.
    pub unit_cost: Option<Decimal>,
    /// Stock found of a lot-tracked item needs its lot; stock lost may name one.
    pub lot_code: Option<String>,
    pub lot_expires_on: Option<NaiveDate>,
    pub reason: String,
    pub reference: Option<String>,
}

/// What the rules need to know about an item.
struct ItemFacts {
    lot_tracked: bool,
    standard_cost: Decimal,
}

/// 404 `item_not_found`, 409 `item_inactive`; a service item holds no stock (422).
async fn item(db: &impl GenericClient, id: Uuid) -> ApiResult<ItemFacts> {
    let row = db
        .query_opt(
            "SELECT active, lot_tracked, standard_cost, kind FROM items WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("item_not_found", "no item has this id"))?;
    if !row.get::<_, bool>(0) {
        return Err(ApiError::conflict("item_inactive", "this item is inactive"));
    }
    if row.get::<_, String>(3) == "service" {
        return Err(ApiError::invalid(
            "item_id",
            "a service item holds no stock",
        ));
    }
    Ok(ItemFacts {
        lot_tracked: row.get(1),
        standard_cost: row.get(2),
    })
}

/// 404 `location_not_found`, 409 `location_inactive` (the location or its warehouse).
async fn location(db: &impl GenericClient, id: Uuid) -> ApiResult<()> {
    let row = db
        .query_opt(
            "SELECT l.active AND w.active FROM locations l \
             JOIN warehouses w ON w.id = l.warehouse_id WHERE l.id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("location_not_found", "no location has this id"))?;
    if !row.get::<_, bool>(0) {
        return Err(ApiError::conflict(
            "location_inactive",
            "this location or its warehouse is inactive",
        ));
    }
    Ok(())
}

/// A positive quantity in the item's base unit.
async fn base_quantity(
    db: &impl GenericClient,
    item_id: Uuid,
    quantity: Decimal,
    unit: Option<&str>,
) -> ApiResult<Decimal> {
    let quantity = quantity::positive("quantity", quantity)?;
    let base = quantity::to_base_unit(db, item_id, quantity, unit, "unit").await?;
    quantity::positive("quantity", base)
}

/// A lot code is needed for lot-tracked items and refused for others.
fn lot_rule(facts: &ItemFacts, code: Option<&str>, required: bool) -> ApiResult<()> {
    match (facts.lot_tracked, code) {
        (false, Some(_)) => Err(ApiError::invalid(
            "lot_code",
            "this item is not lot-tracked: leave the lot out",
        )),
        (true, None) if required => Err(ApiError::invalid(
            "lot_code",
            "this item is lot-tracked: name the lot",
        )),
        _ => Ok(()),
    }
}

/// The lot `code` of the item, created on first receipt.
async fn lot_for_receipt(
    db: &impl GenericClient,
    item_id: Uuid,
    code: &str,
    expires_on: Option<NaiveDate>,
) -> ApiResult<Uuid> {
    db.execute(
        "INSERT INTO lots (id, item_id, code, expires_on) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (item_id, lower(code)) DO NOTHING",
        &[&Uuid::now_v7(), &item_id, &code, &expires_on],
    )
    .await
    .map_err(|error| match error.code() {
        Some(state) if *state == tokio_postgres::error::SqlState::CHECK_VIOLATION => {
            ApiError::invalid("lot_code", "letters, digits, `_./-`, at most 64")
        }
        _ => error.into(),
    })?;
    existing_lot(db, item_id, code).await
}

/// 404 `lot_not_found` unless the item has a lot `code`.
async fn existing_lot(db: &impl GenericClient, item_id: Uuid, code: &str) -> ApiResult<Uuid> {
    let row = db
        .query_opt(
            "SELECT id FROM lots WHERE item_id = $1 AND lower(code) = lower($2)",
            &[&item_id, &code],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("lot_not_found", "this item has no such lot"))?;
    Ok(row.get(0))
}

/// Which lots `quantity` leaves from: the named one (409 `lot_quarantined`, `lot_held`
/// or `lot_scrapped` unless it is available), or the earliest-expiring available lots
/// with stock there (first-expired-first-out; held, quarantined and scrapped lots are
/// skipped), split across as many as needed. Rows are locked as they are read. 409
/// `insufficient_stock` when they do not cover it.
pub async fn pick_lots(
    db: &impl GenericClient,
    item_id: Uuid,
    location_id: Uuid,
    quantity: Decimal,
    code: Option<&str>,
) -> ApiResult<Vec<(Uuid, Decimal)>> {
    if let Some(code) = code {
        let lot = existing_lot(db, item_id, code).await?;
        super::lots::ensure_usable(db, lot).await?;
        return Ok(vec![(lot, quantity)]);
    }
    let rows = db
        .query(
            "SELECT b.lot_id, b.on_hand FROM stock_balances b JOIN lots l ON l.id = b.lot_id \
             WHERE b.item_id = $1 AND b.location_id = $2 AND b.on_hand > 0 \
               AND l.status = 'available' \
             ORDER BY l.expires_on NULLS LAST, l.created_at, l.id \
             FOR UPDATE OF b FOR SHARE OF l",
            &[&item_id, &location_id],
        )
        .await?;
    let lots: Vec<(Uuid, Decimal)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    split_fefo(&lots, quantity).ok_or_else(|| {
        let total: Decimal = lots.iter().map(|(_, q)| *q).sum();
        ApiError::conflict(
            "insufficient_stock",
            format!("only {} on hand there in available lots", total.normalize()),
        )
    })
}

/// Takes `quantity` from `lots` in order; None when they hold too little.
pub fn split_fefo(lots: &[(Uuid, Decimal)], quantity: Decimal) -> Option<Vec<(Uuid, Decimal)>> {
    let mut left = quantity;
    let mut taken = Vec::new();
    for (lot, on_hand) in lots {
        if left <= Decimal::ZERO {
            break;
        }
        let take = left.min(*on_hand);
        taken.push((*lot, take));
        left -= take;
    }
    (left <= Decimal::ZERO).then_some(taken)
}

fn note(field: &str, text: &str) -> ApiResult<String> {
    if text.chars().count() > 2000 {
        return Err(ApiError::invalid(field, "at most 2000 characters"));
    }
    Ok(text.to_owned())
}

/// Posts a receipt (201), or answers the one already posted under its reference.
pub async fn post_receipt(
    db: &impl GenericClient,
    actor: &Actor,
    input: Receipt,
) -> ApiResult<Posted> {
    if let Some(done) = already_posted(db, input.reference.as_deref()).await? {
        return Ok(done);
    }
    let facts = item(db, input.item_id).await?;
    location(db, input.location_id).await?;
    let quantity = base_quantity(db, input.item_id, input.quantity, input.unit.as_deref()).await?;
    let unit_cost = match input.unit_cost {
        Some(cost) => quantity::not_negative("unit_cost", cost)?,
        None => facts.standard_cost,
    };
    lot_rule(&facts, input.lot_code.as_deref(), true)?;
    let lot_id = match input.lot_code.as_deref() {
        Some(code) => Some(lot_for_receipt(db, input.item_id, code, input.lot_expires_on).await?),
        None => None,
    };
    let header = MovementHeader {
        kind: "receipt",
        reference: input.reference,
        document_type: input.document_type,
        document_id: input.document_id,
        note: note("note", &input.note)?,
        ..MovementHeader::default()
    };
    let entry = NewEntry {
        kind: "receipt",
        item_id: input.item_id,
        location_id: input.location_id,
        lot_id,
        quantity,
        cost: Cost::Given(unit_cost),
        document_line: input.document_line,
        reverses: None,
    };
    post(db, actor, header, vec![entry]).await
}

/// Posts an issue (or a delivery / consumption), taking lots first-expired-first-out
/// when none is named. 409 `insufficient_stock` beyond on hand unless negative stock is
/// allowed (then material debt; never for lot-tracked items).
pub async fn post_issue(db: &impl GenericClient, actor: &Actor, input: Issue) -> ApiResult<Posted> {
    if let Some(done) = already_posted(db, input.reference.as_deref()).await? {
        return Ok(done);
    }
    let facts = item(db, input.item_id).await?;
    location(db, input.location_id).await?;
    let quantity = base_quantity(db, input.item_id, input.quantity, input.unit.as_deref()).await?;
    lot_rule(&facts, input.lot_code.as_deref(), false)?;
    let kind = input.kind.unwrap_or("issue");
    let lots = if facts.lot_tracked {
        pick_lots(
            db,
            input.item_id,
            input.location_id,
            quantity,
            input.lot_code.as_deref(),
        )
        .await?
        .into_iter()
        .map(|(lot, q)| (Some(lot), q))
        .collect()
    } else {
        vec![(None, quantity)]
    };
    let entries = lots
        .into_iter()
        .map(|(lot_id, q)| NewEntry {
            kind,
            item_id: input.item_id,
            location_id: input.location_id,
            lot_id,
            quantity: -q,
            cost: Cost::Average {
                fallback: facts.standard_cost,
            },
            document_line: input.document_line,
            reverses: None,
        })
        .collect();
    let header = MovementHeader {
        kind,
        reference: input.reference,
        document_type: input.document_type,
        document_id: input.document_id,
        note: note("note", &input.note)?,
        ..MovementHeader::default()
    };
    post(db, actor, header, entries).await
}

/// Posts a transfer: per lot, an outgoing entry at the source's average cost and an
/// incoming one at the same cost, so value moves with the goods.
pub async fn post_transfer(
    db: &impl GenericClient,
    actor: &Actor,
    input: Transfer,
) -> ApiResult<Posted> {
    if let Some(done) = already_posted(db, input.reference.as_deref()).await? {
        return Ok(done);
    }
    if input.from_location_id == input.to_location_id {
        return Err(ApiError::invalid(
            "to_location_id",
            "must differ from from_location_id",
        ));
    }
    let facts = item(db, input.item_id).await?;
    location(db, input.from_location_id).await?;
    location(db, input.to_location_id).await?;
    let quantity = base_quantity(db, input.item_id, input.quantity, input.unit.as_deref()).await?;
    lot_rule(&facts, input.lot_code.as_deref(), false)?;
    let lots: Vec<(Option<Uuid>, Decimal)> = if facts.lot_tracked {
        pick_lots(
            db,
            input.item_id,
            input.from_location_id,
            quantity,
            input.lot_code.as_deref(),
        )
        .await?
        .into_iter()
        .map(|(lot, q)| (Some(lot), q))
        .collect()
    } else {
        vec![(None, quantity)]
    };
    let mut entries = Vec::new();
    for (lot_id, q) in lots {
        let leg = |kind, location_id, quantity, cost| NewEntry {
            kind,
            item_id: input.item_id,
            location_id,
            lot_id,
            quantity,
            cost,
            document_line: None,
            reverses: None,
        };
        let average = Cost::Average {
            fallback: facts.standard_cost,
        };
        entries.push(leg("transfer_out", input.from_location_id, -q, average));
        entries.push(leg(
            "transfer_in",
            input.to_location_id,
            q,
            Cost::OfPrevious,
        ));
    }
    let header = MovementHeader {
        kind: "transfer",
        reference: input.reference,
        note: note("note", &input.note)?,
        ..MovementHeader::default()
    };
    post(db, actor, header, entries).await
}

/// Posts a count correction: stock found (positive, at the given or standard cost) or
/// lost (negative, at the average cost). A reason is required.
///
/// The approvals seam: [`Adjustment`] is plain data, so the approvals engine can keep a
/// large one as a pending request and call this function when it is approved (passing the
/// request id as `reference`, which makes a repeated approval post once).
pub async fn post_adjustment(
    db: &impl GenericClient,
    actor: &Actor,
    input: Adjustment,
) -> ApiResult<Posted> {
    if let Some(done) = already_posted(db, input.reference.as_deref()).await? {
        return Ok(done);
    }
    if input.reason.trim().is_empty() {
        return Err(ApiError::invalid(
            "reason",
            "say why the stock is corrected",
        ));
    }
    let facts = item(db, input.item_id).await?;
    location(db, input.location_id).await?;
    if input.quantity == Decimal::ZERO {
        return Err(ApiError::invalid("quantity", "must not be zero"));
    }
    let found = input.quantity > Decimal::ZERO;
    let magnitude = base_quantity(
        db,
        input.item_id,
        input.quantity.abs(),
        input.unit.as_deref(),
    )
    .await?;
    lot_rule(&facts, input.lot_code.as_deref(), found)?;
    let mut entries = Vec::new();
    let entry = |lot_id, quantity, cost| NewEntry {
        kind: "adjustment",
        item_id: input.item_id,
        location_id: input.location_id,
        lot_id,
        quantity,
        cost,
        document_line: None,
        reverses: None,
    };
    if found {
        let cost = match input.unit_cost {
            Some(cost) => quantity::not_negative("unit_cost", cost)?,
            None => facts.standard_cost,
        };
        let lot_id = match input.lot_code.as_deref() {
            Some(code) => {
                Some(lot_for_receipt(db, input.item_id, code, input.lot_expires_on).await?)
            }
            None => None,
        };
        entries.push(entry(lot_id, magnitude, Cost::Given(cost)));
    } else if facts.lot_tracked {
        let lots = pick_lots(
            db,
            input.item_id,
            input.location_id,
            magnitude,
            input.lot_code.as_deref(),
        )
        .await?;
        let average = Cost::Average {
            fallback: facts.standard_cost,
        };
        for (lot, q) in lots {
            entries.push(entry(Some(lot), -q, average));
        }
    } else {
        let average = Cost::Average {
            fallback: facts.standard_cost,
        };
        entries.push(entry(None, -magnitude, average));
    }
    let header = MovementHeader {
        kind: "adjustment",
        reference: input.reference,
        note: note("reason", &input.reason)?,
        ..MovementHeader::default()
    };
    post(db, actor, header, entries).await
}

/// Reverses a movement with opposite entries at the original costs. 404
/// `movement_not_found`; 409 `already_reversed`, `cannot_reverse_reversal`, or
/// `insufficient_stock` when the stock it brought in has left since.
pub async fn reverse(
    db: &impl GenericClient,
    actor: &Actor,
    movement_id: Uuid,
    reference: Option<String>,
    reason: &str,
) -> ApiResult<Posted> {
    if let Some(done) = already_posted(db, reference.as_deref()).await? {
        return Ok(done);
    }
    let original = post::load(db, movement_id).await?;
    if original.kind == "reversal" {
        return Err(ApiError::conflict(
            "cannot_reverse_reversal",
            "a reversal cannot be reversed: post a new movement",
        ));
    }
    if original.reversed_by.is_some() {
        return Err(ApiError::conflict(
            "already_reversed",
            "this movement has been reversed",
        ));
    }
    let entries = original
        .entries
        .iter()
        .map(|e| NewEntry {
            kind: "reversal",
            item_id: e.item_id,
            location_id: e.location_id,
            lot_id: e.lot_id,
            quantity: -e.quantity,
            cost: Cost::Given(e.unit_cost),
            document_line: e.document_line,
            reverses: Some(e.id),
        })
        .collect();
    let header = MovementHeader {
        kind: "reversal",
        reference,
        reverses: Some(original.id),
        document_type: original.document_type.clone(),
        document_id: original.document_id.clone(),
        note: note("reason", reason)?,
    };
    post(db, actor, header, entries).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fefo_takes_from_the_first_lots_and_splits_across_them() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let lots = [(a, Decimal::from(3)), (b, Decimal::from(5))];
        assert_eq!(
            split_fefo(&lots, Decimal::from(4)),
            Some(vec![(a, Decimal::from(3)), (b, Decimal::from(1))])
        );
        assert_eq!(
            split_fefo(&lots, Decimal::from(2)),
            Some(vec![(a, Decimal::from(2))])
        );
    }

    #[test]
    fn fefo_refuses_more_than_the_lots_hold() {
        let lots = [(Uuid::from_u128(1), Decimal::from(3))];
        assert_eq!(split_fefo(&lots, Decimal::from(4)), None);
        assert_eq!(split_fefo(&[], Decimal::ONE), None);
    }
}
