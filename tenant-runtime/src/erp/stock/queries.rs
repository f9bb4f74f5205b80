//! Reading stock: one item's totals (the fast path: the balance rows of one item), on hand
//! per item / location / lot, movements, valuation, items below their reorder point, and
//! lots with their trace. Lists are keyset-paged on an id: no offsets, no counts.

use super::post::{Entry, entry, entry_select};
use chrono::{DateTime, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use utoipa::ToSchema;
use uuid::Uuid;

/// Largest page a list answers.
pub const MAX_LIMIT: i64 = 200;

/// A parsed `after` cursor: the id of the last row of the previous page.
pub fn cursor_i64(after: Option<&str>) -> ApiResult<Option<i64>> {
    after
        .map(|text| {
            text.parse::<i64>()
                .map_err(|_| ApiError::invalid("after", "not a cursor this list gave"))
        })
        .transpose()
}

/// Rounds a stored value for the answer.
fn money(value: Decimal) -> Decimal {
    value.round_dp(6).normalize()
}

/// A balance row of one item: where it is, in which lot, how much, worth what.
#[derive(Debug, Serialize, ToSchema)]
pub struct Placement {
    pub location_id: Uuid,
    pub location_code: String,
    pub warehouse_id: Uuid,
    pub lot_id: Option<Uuid>,
    pub lot_code: Option<String>,
    pub lot_expires_on: Option<NaiveDate>,
    /// The lot's status (`available`, `held`, `quarantined`, `scrapped`): only stock of
    /// available lots (or without a lot) counts as available.
    #[schema(pattern = "^(available|held|quarantined|scrapped)$")]
    pub lot_status: Option<String>,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_hand: Decimal,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,20}(\.[0-9]{1,6})?$")]
    pub value: Decimal,
}

/// Reserved and available per warehouse.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseStock {
    pub warehouse_id: Uuid,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_hand: Decimal,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reserved: Decimal,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub available: Decimal,
}

/// One item's stock: totals, per warehouse, per location and lot.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemStock {
    pub item_id: Uuid,
    pub sku: String,
    pub base_unit: String,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_hand: Decimal,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reserved: Decimal,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub available: Decimal,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,20}(\.[0-9]{1,6})?$")]
    pub value: Decimal,
    pub warehouses: Vec<WarehouseStock>,
    pub placements: Vec<Placement>,
}

/// One item's stock; 404 `item_not_found`.
pub async fn item_stock(db: &impl GenericClient, item_id: Uuid) -> ApiResult<ItemStock> {
    let item = db
        .query_opt(
            "SELECT sku, base_unit FROM items WHERE id = $1",
            &[&item_id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("item_not_found", "no item has this id"))?;
    let rows = db
        .query(
            "SELECT b.location_id, l.code, l.warehouse_id, b.lot_id, t.code, t.expires_on, \
                    b.on_hand, b.value, t.status \
             FROM stock_balances b JOIN locations l ON l.id = b.location_id \
             LEFT JOIN lots t ON t.id = b.lot_id \
             WHERE b.item_id = $1 AND (b.on_hand <> 0 OR b.value <> 0) \
             ORDER BY l.warehouse_id, l.code, t.expires_on NULLS LAST, t.code",
            &[&item_id],
        )
        .await?;
    let placements: Vec<Placement> = rows
        .iter()
        .map(|r| Placement {
            location_id: r.get(0),
            location_code: r.get(1),
            warehouse_id: r.get(2),
            lot_id: r.get(3),
            lot_code: r.get(4),
            lot_expires_on: r.get(5),
            lot_status: r.get(8),
            on_hand: r.get::<_, Decimal>(6).normalize(),
            value: money(r.get(7)),
        })
        .collect();
    let reserved = db
        .query(
            "SELECT warehouse_id, sum(quantity) FROM stock_reservations WHERE item_id = $1 \
             GROUP BY warehouse_id",
            &[&item_id],
        )
        .await?;
    let mut warehouses: Vec<WarehouseStock> = Vec::new();
    for p in &placements {
        match warehouses
            .iter_mut()
            .find(|w| w.warehouse_id == p.warehouse_id)
        {
            Some(w) => w.on_hand += p.on_hand,
            None => warehouses.push(WarehouseStock {
                warehouse_id: p.warehouse_id,
                on_hand: p.on_hand,
                reserved: Decimal::ZERO,
                available: Decimal::ZERO,
            }),
        }
    }
    for r in &reserved {
        let (warehouse_id, quantity): (Uuid, Decimal) = (r.get(0), r.get(1));
        match warehouses
            .iter_mut()
            .find(|w| w.warehouse_id == warehouse_id)
        {
            Some(w) => w.reserved = quantity,
            None => warehouses.push(WarehouseStock {
                warehouse_id,
                on_hand: Decimal::ZERO,
                reserved: quantity,
                available: Decimal::ZERO,
            }),
        }
    }
    for w in &mut warehouses {
        let usable: Decimal = placements
            .iter()
            .filter(|p| p.warehouse_id == w.warehouse_id)
            .filter(|p| p.lot_status.as_deref().is_none_or(|s| s == "available"))
            .map(|p| p.on_hand)
            .sum();
        w.available = (usable - w.reserved).normalize();
        w.reserved = w.reserved.normalize();
    }
    let on_hand: Decimal = placements.iter().map(|p| p.on_hand).sum();
    let reserved: Decimal = warehouses.iter().map(|w| w.reserved).sum();
    let available: Decimal = warehouses.iter().map(|w| w.available).sum();
    Ok(ItemStock {
        item_id,
        sku: item.get(0),
        base_unit: item.get(1),
        on_hand: on_hand.normalize(),
        reserved: reserved.normalize(),
        available: available.normalize(),
        value: money(placements.iter().map(|p| p.value).sum()),
        warehouses,
        placements,
    })
}

/// Filters of the on-hand list.
#[derive(Debug, Default, Clone)]
pub struct OnHandFilter {
    pub item_id: Option<Uuid>,
    pub warehouse_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub after: Option<i64>,
    pub limit: i64,
}

/// A balance row with its item and warehouse context.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnHandRow {
    pub item_id: Uuid,
    pub sku: String,
    pub location_id: Uuid,
    pub location_code: String,
    pub warehouse_id: Uuid,
    pub lot_id: Option<Uuid>,
    pub lot_code: Option<String>,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_hand: Decimal,
    /// Reserved for the item in this row's warehouse (reservations are per warehouse).
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub warehouse_reserved: Decimal,
    /// On hand in the warehouse's available lots (not held, quarantined or scrapped)
    /// minus reserved there.
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub warehouse_available: Decimal,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,20}(\.[0-9]{1,6})?$")]
    pub value: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OnHandPage {
    pub items: Vec<OnHandRow>,
    /// The `after` of the next page; null on the last.
    pub next: Option<String>,
}

/// Balance rows with stock (or value), in balance order, keyset-paged.
pub async fn on_hand(db: &impl GenericClient, filter: &OnHandFilter) -> ApiResult<OnHandPage> {
    let limit = filter.limit.clamp(1, MAX_LIMIT);
    let rows = db
        .query(
            "SELECT b.id, b.item_id, i.sku, b.location_id, l.code, l.warehouse_id, b.lot_id, \
                    t.code, b.on_hand, b.value, \
                    coalesce((SELECT sum(r.quantity) FROM stock_reservations r \
                              WHERE r.item_id = b.item_id AND r.warehouse_id = l.warehouse_id), 0), \
                    (SELECT coalesce(sum(b2.on_hand), 0) FROM stock_balances b2 \
                     JOIN locations l2 ON l2.id = b2.location_id \
                     LEFT JOIN lots t2 ON t2.id = b2.lot_id \
                     WHERE b2.item_id = b.item_id AND l2.warehouse_id = l.warehouse_id \
                       AND (b2.lot_id IS NULL OR t2.status = 'available')) \
             FROM stock_balances b JOIN items i ON i.id = b.item_id \
             JOIN locations l ON l.id = b.location_id LEFT JOIN lots t ON t.id = b.lot_id \
             WHERE (b.on_hand <> 0 OR b.value <> 0) \
               AND ($1::uuid IS NULL OR b.item_id = $1) \
               AND ($2::uuid IS NULL OR l.warehouse_id = $2) \
               AND ($3::uuid IS NULL OR b.location_id = $3) \
               AND ($4::uuid IS NULL OR i.category_id = $4) \
               AND ($5::bigint IS NULL OR b.id > $5) \
             ORDER BY b.id LIMIT $6",
            &[
                &filter.item_id,
                &filter.warehouse_id,
                &filter.location_id,
                &filter.category_id,
                &filter.after,
                &(limit + 1),
            ],
        )
        .await?;
    let next = next_cursor(&rows, limit, |r| r.get::<_, i64>(0).to_string());
    let items = rows
        .iter()
        .take(limit as usize)
        .map(|r| {
            let reserved: Decimal = r.get(10);
            let in_warehouse: Decimal = r.get(11);
            OnHandRow {
                item_id: r.get(1),
                sku: r.get(2),
                location_id: r.get(3),
                location_code: r.get(4),
                warehouse_id: r.get(5),
                lot_id: r.get(6),
                lot_code: r.get(7),
                on_hand: r.get::<_, Decimal>(8).normalize(),
                value: money(r.get(9)),
                warehouse_reserved: reserved.normalize(),
                warehouse_available: (in_warehouse - reserved).normalize(),
            }
        })
        .collect();
    Ok(OnHandPage { items, next })
}

/// The cursor of the page after `rows` (fetched with one row more than `limit`).
fn next_cursor(
    rows: &[tokio_postgres::Row],
    limit: i64,
    key: impl Fn(&tokio_postgres::Row) -> String,
) -> Option<String> {
    (rows.len() as i64 > limit)
        .then(|| rows.get(limit as usize - 1).map(key))
        .flatten()
}

/// Filters of the movement list.
#[derive(Debug, Default, Clone)]
pub struct MovementFilter {
    pub item_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub kind: Option<String>,
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryPage {
    pub items: Vec<Entry>,
    /// The `after` of the next page; null on the last.
    pub next: Option<String>,
}

/// Ledger entries, newest first, keyset-paged on the entry id.
pub async fn movements(db: &impl GenericClient, filter: &MovementFilter) -> ApiResult<EntryPage> {
    let limit = filter.limit.clamp(1, MAX_LIMIT);
    let sql = format!(
        "{} WHERE ($1::uuid IS NULL OR e.item_id = $1) \
           AND ($2::uuid IS NULL OR e.location_id = $2) \
           AND ($3::text IS NULL OR e.kind = $3) \
           AND ($4::text IS NULL OR e.document_type = $4) \
           AND ($5::text IS NULL OR e.document_id = $5) \
           AND ($6::timestamptz IS NULL OR e.created_at >= $6) \
           AND ($7::timestamptz IS NULL OR e.created_at < $7) \
           AND ($8::bigint IS NULL OR e.id < $8) \
         ORDER BY e.id DESC LIMIT $9",
        entry_select()
    );
    let params: [&(dyn ToSql + Sync); 9] = [
        &filter.item_id,
        &filter.location_id,
        &filter.kind,
        &filter.document_type,
        &filter.document_id,
        &filter.from,
        &filter.to,
        &filter.after,
        &(limit + 1),
    ];
    let rows = db.query(&sql, &params).await?;
    let next = next_cursor(&rows, limit, |r| r.get::<_, i64>(0).to_string());
    let items = rows.iter().take(limit as usize).map(entry).collect();
    Ok(EntryPage { items, next })
}

/// A line of the valuation report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValuationRow {
    /// The item, location or category id (null: items without a category).
    pub key: Option<Uuid>,
    /// Its SKU, location code or category name.
    pub label: Option<String>,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_hand: Decimal,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,20}(\.[0-9]{1,6})?$")]
    pub value: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Valuation {
    /// `item`, `location` or `category`.
    pub group_by: String,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,20}(\.[0-9]{1,6})?$")]
    pub total_value: Decimal,
    pub rows: Vec<ValuationRow>,
}

/// Stock value (moving average) grouped by `item`, `location` or `category`, computed
/// from the balances (one row per item / location / lot), never from the ledger.
pub async fn valuation(db: &impl GenericClient, group_by: &str) -> ApiResult<Valuation> {
    let sql = match group_by {
        "item" => {
            "SELECT i.id, i.sku, s.on_hand, s.value FROM \
               (SELECT item_id, sum(on_hand) AS on_hand, sum(value) AS value \
                FROM stock_balances GROUP BY item_id) s \
             JOIN items i ON i.id = s.item_id ORDER BY lower(i.sku)"
        }
        "location" => {
            "SELECT l.id, l.code, s.on_hand, s.value FROM \
               (SELECT location_id, sum(on_hand) AS on_hand, sum(value) AS value \
                FROM stock_balances GROUP BY location_id) s \
             JOIN locations l ON l.id = s.location_id ORDER BY l.warehouse_id, lower(l.code)"
        }
        "category" => {
            "SELECT c.id, c.name, sum(s.on_hand), sum(s.value) FROM \
               (SELECT item_id, sum(on_hand) AS on_hand, sum(value) AS value \
                FROM stock_balances GROUP BY item_id) s \
             JOIN items i ON i.id = s.item_id LEFT JOIN categories c ON c.id = i.category_id \
             GROUP BY c.id, c.name ORDER BY lower(c.name) NULLS LAST"
        }
        _ => {
            return Err(ApiError::invalid(
                "group_by",
                "one of `item`, `location`, `category`",
            ));
        }
    };
    let rows: Vec<ValuationRow> = db
        .query(sql, &[])
        .await?
        .iter()
        .map(|r| ValuationRow {
            key: r.get(0),
            label: r.get(1),
            on_hand: r.get::<_, Decimal>(2).normalize(),
            value: money(r.get(3)),
        })
        .collect();
    Ok(Valuation {
        group_by: group_by.to_owned(),
        total_value: money(rows.iter().map(|r| r.value).sum()),
        rows,
    })
}

/// An active item whose total on hand is below its reorder point.
#[derive(Debug, Serialize, ToSchema)]
pub struct BelowReorder {
    pub item_id: Uuid,
    pub sku: String,
    pub name: String,
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reorder_point: Decimal,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_hand: Decimal,
}

/// Active items watched (reorder point above zero) whose stock is below that point.
pub async fn below_reorder(db: &impl GenericClient) -> ApiResult<Vec<BelowReorder>> {
    let rows = db
        .query(
            "SELECT i.id, i.sku, i.name, i.reorder_point, coalesce(s.on_hand, 0) \
             FROM items i LEFT JOIN (SELECT item_id, sum(on_hand) AS on_hand \
                                     FROM stock_balances GROUP BY item_id) s \
               ON s.item_id = i.id \
             WHERE i.active AND i.reorder_point > 0 \
               AND coalesce(s.on_hand, 0) < i.reorder_point \
             ORDER BY lower(i.sku)",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| BelowReorder {
            item_id: r.get(0),
            sku: r.get(1),
            name: r.get(2),
            reorder_point: r.get::<_, Decimal>(3).normalize(),
            on_hand: r.get::<_, Decimal>(4).normalize(),
        })
        .collect())
}

/// A lot of an item.
#[derive(Debug, Serialize, ToSchema)]
pub struct Lot {
    pub id: Uuid,
    pub item_id: Uuid,
    pub code: String,
    pub expires_on: Option<NaiveDate>,
    /// `available`, `held` (an open inspection), `quarantined` or `scrapped`: only an
    /// available lot's stock may be issued, delivered, transferred or reserved.
    #[schema(pattern = "^(available|held|quarantined|scrapped)$")]
    pub status: String,
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_hand: Decimal,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LotPage {
    pub items: Vec<Lot>,
    /// The `after` of the next page; null on the last.
    pub next: Option<String>,
}

const LOT_SELECT: &str = "SELECT t.id, t.item_id, t.code, t.expires_on, t.status, \
    coalesce((SELECT sum(b.on_hand) FROM stock_balances b WHERE b.lot_id = t.id), 0), \
    t.created_at FROM lots t";

fn lot(r: &tokio_postgres::Row) -> Lot {
    Lot {
        id: r.get(0),
        item_id: r.get(1),
        code: r.get(2),
        expires_on: r.get(3),
        status: r.get(4),
        on_hand: r.get::<_, Decimal>(5).normalize(),
        created_at: r.get(6),
    }
}

/// Lots, optionally of one item, oldest first, keyset-paged on the lot id.
pub async fn lots(
    db: &impl GenericClient,
    item_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> ApiResult<LotPage> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let rows = db
        .query(
            &format!(
                "{LOT_SELECT} WHERE ($1::uuid IS NULL OR t.item_id = $1) \
                 AND ($2::uuid IS NULL OR t.id > $2) ORDER BY t.id LIMIT $3"
            ),
            &[&item_id, &after, &(limit + 1)],
        )
        .await?;
    let next = next_cursor(&rows, limit, |r| r.get::<_, Uuid>(0).to_string());
    let items = rows.iter().take(limit as usize).map(lot).collect();
    Ok(LotPage { items, next })
}

/// A lot and every entry that moved it: where it came from (receipts) and where it went.
#[derive(Debug, Serialize, ToSchema)]
pub struct LotTrace {
    pub lot: Lot,
    /// Oldest first.
    pub entries: Vec<Entry>,
}

/// One lot's trace; 404 `lot_not_found`.
pub async fn lot_trace(db: &impl GenericClient, id: Uuid) -> ApiResult<LotTrace> {
    let row = db
        .query_opt(&format!("{LOT_SELECT} WHERE t.id = $1"), &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("lot_not_found", "no lot has this id"))?;
    let entries = db
        .query(
            &format!("{} WHERE e.lot_id = $1 ORDER BY e.id", entry_select()),
            &[&id],
        )
        .await?;
    Ok(LotTrace {
        lot: lot(&row),
        entries: entries.iter().map(entry).collect(),
    })
}
