//! Items: SKU (unique per company regardless of case), name, kind, base unit and the
//! conversions from other units, category, reorder point, standard cost, lot tracking,
//! active flag. Items are deactivated, never deleted (the ledger will refer to them).
//! Also their CSV form (export batches and the upsert-by-SKU import).

use super::{Page, PageQuery, categories, check_code, check_name, check_text, nullable, page};
use crate::erp::csv::{self, Batch, ImportMode, ImportReport, Outcome, Row, RowError, Table};
use crate::erp::quantity;
use common::api_error::{ApiError, ApiResult};
use common::problem::{FieldError, Problem};
use common::tenant_audit::{self as audit, Actor};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The CSV columns, in the order exports write them (imports take any order).
pub const CSV_HEADER: [&str; 11] = [
    "sku",
    "name",
    "description",
    "kind",
    "base_unit",
    "category",
    "reorder_point",
    "standard_cost",
    "lot_tracked",
    "active",
    "units",
];

/// Rows an export fetches per query.
const EXPORT_BATCH: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Raw,
    SemiFinished,
    Finished,
    Service,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::SemiFinished => "semi_finished",
            Self::Finished => "finished",
            Self::Service => "service",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Raw, Self::SemiFinished, Self::Finished, Self::Service]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One `unit` of the item is `factor` base units (a box of 12: `{"unit": "box", "factor": "12"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemUnit {
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,16}$")]
    pub unit: String,
    /// Greater than zero.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub factor: Decimal,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Item {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub kind: ItemKind,
    pub base_unit: String,
    pub category_id: Option<Uuid>,
    #[schema(value_type = String)]
    pub reorder_point: Decimal,
    #[schema(value_type = String)]
    pub standard_cost: Decimal,
    pub lot_tracked: bool,
    pub active: bool,
    pub units: Vec<ItemUnit>,
}

/// A new item (also what one CSV row becomes).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
    pub sku: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    pub kind: ItemKind,
    /// A unit code from `GET /units`.
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,16}$")]
    pub base_unit: String,
    #[serde(default)]
    pub category_id: Option<Uuid>,
    #[serde(default)]
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reorder_point: Decimal,
    #[serde(default)]
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub standard_cost: Decimal,
    #[serde(default)]
    pub lot_tracked: bool,
    #[serde(default = "yes")]
    pub active: bool,
    /// Conversions from other units (never the base unit itself).
    #[serde(default)]
    pub units: Vec<ItemUnit>,
}

fn yes() -> bool {
    true
}

/// The fields a PATCH may change; absent ones keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemChanges {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    pub kind: Option<ItemKind>,
    #[schema(pattern = r"^[A-Za-z0-9_.-]{1,16}$")]
    pub base_unit: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub category_id: Option<Option<Uuid>>,
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reorder_point: Option<Decimal>,
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub standard_cost: Option<Decimal>,
    pub lot_tracked: Option<bool>,
    pub active: Option<bool>,
    /// Replaces the whole set of conversions.
    pub units: Option<Vec<ItemUnit>>,
}

/// `GET /items` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ItemFilter {
    /// Part of the SKU or the name, any case.
    pub q: Option<String>,
    pub kind: Option<ItemKind>,
    pub category_id: Option<Uuid>,
    pub active: Option<bool>,
}

const SELECT: &str = "SELECT i.id, i.sku, i.name, i.description, i.kind, i.base_unit, \
      i.category_id, i.reorder_point, i.standard_cost, i.lot_tracked, i.active, \
      coalesce(array_agg(iu.unit ORDER BY iu.unit) FILTER (WHERE iu.unit IS NOT NULL), '{}'), \
      coalesce(array_agg(iu.factor ORDER BY iu.unit) FILTER (WHERE iu.unit IS NOT NULL), '{}'), \
      c.name \
    FROM items i LEFT JOIN item_units iu ON iu.item_id = i.id \
      LEFT JOIN categories c ON c.id = i.category_id";

const GROUP: &str = "GROUP BY i.id, c.name";

fn item(row: &tokio_postgres::Row) -> Item {
    let units: Vec<String> = row.get(11);
    let factors: Vec<Decimal> = row.get(12);
    let kind: String = row.get(4);
    Item {
        id: row.get(0),
        sku: row.get(1),
        name: row.get(2),
        description: row.get(3),
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Raw),
        base_unit: row.get(5),
        category_id: row.get(6),
        reorder_point: row.get::<_, Decimal>(7).normalize(),
        standard_cost: row.get::<_, Decimal>(8).normalize(),
        lot_tracked: row.get(9),
        active: row.get(10),
        units: units
            .into_iter()
            .zip(factors)
            .map(|(unit, factor)| ItemUnit {
                unit,
                factor: factor.normalize(),
            })
            .collect(),
    }
}

/// A page of items by SKU (any case), filtered.
pub async fn list(
    db: &impl GenericClient,
    filter: &ItemFilter,
    paging: &PageQuery,
) -> ApiResult<Page<Item>> {
    let limit = paging.limit()?;
    let after = paging.after()?;
    let q = super::search_term(filter.q.as_deref());
    let kind = filter.kind.map(ItemKind::as_str);
    let sql = format!(
        "{SELECT} WHERE ($1::text IS NULL OR strpos(lower(i.sku), $1) > 0 \
                                     OR strpos(lower(i.name), $1) > 0) \
           AND ($2::text IS NULL OR i.kind = $2) \
           AND ($3::uuid IS NULL OR i.category_id = $3) \
           AND ($4::bool IS NULL OR i.active = $4) \
           AND ($5::text IS NULL OR lower(i.sku) > $5) \
         {GROUP} ORDER BY lower(i.sku) LIMIT $6"
    );
    let rows = db
        .query(
            &sql,
            &[
                &q,
                &kind,
                &filter.category_id,
                &filter.active,
                &after,
                &(limit + 1),
            ],
        )
        .await?;
    let items = rows.iter().map(item).collect();
    Ok(page(items, limit, |item| item.sku.to_lowercase()))
}

/// One item: 404 `item_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Item> {
    db.query_opt(&format!("{SELECT} WHERE i.id = $1 {GROUP}"), &[&id])
        .await?
        .map(|row| item(&row))
        .ok_or_else(|| ApiError::not_found("item_not_found", "no item has this id"))
}

/// Every rule the tables hold, as field errors (none: valid). Unit codes are checked
/// against `units`; the category's existence is the caller's (by id or by name).
pub fn check(input: &NewItem, units: &HashSet<String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut add = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            });
        }
    };
    add("sku", check_code(&input.sku, 64));
    add("name", check_name(&input.name, 200));
    add("description", check_text(&input.description, 2000));
    add("base_unit", known_unit(units, &input.base_unit));
    add(
        "reorder_point",
        amount("reorder_point", input.reorder_point),
    );
    add(
        "standard_cost",
        amount("standard_cost", input.standard_cost),
    );
    add("units", check_conversions(input, units));
    errors
}

fn known_unit(units: &HashSet<String>, unit: &str) -> Result<(), String> {
    if units.contains(unit) {
        Ok(())
    } else {
        Err(format!("`{unit}` is not a unit (see GET /units)"))
    }
}

fn amount(field: &str, value: Decimal) -> Result<(), String> {
    quantity::not_negative(field, value)
        .map(drop)
        .map_err(|_| "must be zero or more, at most 14 digits before the point and 6 after".into())
}

/// Conversions: known units, not the base unit, each once, factor above zero.
fn check_conversions(input: &NewItem, units: &HashSet<String>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for conversion in &input.units {
        known_unit(units, &conversion.unit)?;
        if conversion.unit == input.base_unit {
            return Err(format!(
                "`{}` is the base unit; it needs no conversion",
                conversion.unit
            ));
        }
        if !seen.insert(conversion.unit.as_str()) {
            return Err(format!("`{}` is given twice", conversion.unit));
        }
        if quantity::positive("factor", conversion.factor).is_err() {
            return Err(format!(
                "the factor of `{}` must be greater than zero (at most 6 decimals)",
                conversion.unit
            ));
        }
    }
    Ok(())
}

async fn validate(db: &impl GenericClient, input: &NewItem) -> ApiResult<()> {
    let units = super::units::codes(db).await?;
    let errors = check(input, &units);
    if !errors.is_empty() {
        return Err(ApiError::problem(Problem::validation(errors)));
    }
    if let Some(category) = input.category_id {
        categories::ensure_exists(db, category, "category_id").await?;
    }
    Ok(())
}

/// Creates an item: 409 `sku_taken` when the SKU exists in any case.
pub async fn create(db: &impl GenericClient, actor: &Actor, input: &NewItem) -> ApiResult<Item> {
    validate(db, input).await?;
    let id = Uuid::now_v7();
    let inserted = db
        .execute(
            "INSERT INTO items (id, sku, name, description, kind, base_unit, category_id, \
               reorder_point, standard_cost, lot_tracked, active) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT ((lower(sku))) DO NOTHING",
            &[
                &id,
                &input.sku,
                &input.name,
                &input.description,
                &input.kind.as_str(),
                &input.base_unit,
                &input.category_id,
                &input.reorder_point,
                &input.standard_cost,
                &input.lot_tracked,
                &input.active,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "sku_taken",
            format!("an item with SKU `{}` exists (SKUs ignore case)", input.sku),
        ));
    }
    set_units(db, id, &input.units).await?;
    let created = find(db, id).await?;
    record(db, actor, "item.created", None, &created).await?;
    Ok(created)
}

/// Changes an item. Its SKU never changes (documents will refer to it).
pub async fn update(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: &ItemChanges,
) -> ApiResult<Item> {
    let before = find_for_update(db, id).await?;
    let merged = NewItem {
        sku: before.sku.clone(),
        name: changes.name.clone().unwrap_or_else(|| before.name.clone()),
        description: changes
            .description
            .clone()
            .unwrap_or_else(|| before.description.clone()),
        kind: changes.kind.unwrap_or(before.kind),
        // Once the stock ledger exists, a base unit change must be refused for an item
        // with stock or ledger entries (409), since its quantities are stored in it.
        base_unit: changes
            .base_unit
            .clone()
            .unwrap_or_else(|| before.base_unit.clone()),
        category_id: changes.category_id.unwrap_or(before.category_id),
        reorder_point: changes.reorder_point.unwrap_or(before.reorder_point),
        standard_cost: changes.standard_cost.unwrap_or(before.standard_cost),
        lot_tracked: changes.lot_tracked.unwrap_or(before.lot_tracked),
        active: changes.active.unwrap_or(before.active),
        units: changes
            .units
            .clone()
            .unwrap_or_else(|| before.units.clone()),
    };
    validate(db, &merged).await?;
    db.execute(
        "UPDATE items SET name = $2, description = $3, kind = $4, base_unit = $5, \
           category_id = $6, reorder_point = $7, standard_cost = $8, lot_tracked = $9, \
           active = $10, updated_at = now() WHERE id = $1",
        &[
            &id,
            &merged.name,
            &merged.description,
            &merged.kind.as_str(),
            &merged.base_unit,
            &merged.category_id,
            &merged.reorder_point,
            &merged.standard_cost,
            &merged.lot_tracked,
            &merged.active,
        ],
    )
    .await?;
    set_units(db, id, &merged.units).await?;
    let after = find(db, id).await?;
    record(db, actor, "item.updated", Some(&before), &after).await?;
    Ok(after)
}

/// The item, its row locked until the transaction ends (two PATCHes in turn, not mixed).
async fn find_for_update(db: &impl GenericClient, id: Uuid) -> ApiResult<Item> {
    db.query_opt("SELECT 1 FROM items WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("item_not_found", "no item has this id"))?;
    find(db, id).await
}

async fn set_units(db: &impl GenericClient, id: Uuid, units: &[ItemUnit]) -> ApiResult<()> {
    let codes: Vec<&str> = units.iter().map(|u| u.unit.as_str()).collect();
    let factors: Vec<Decimal> = units.iter().map(|u| u.factor).collect();
    db.execute("DELETE FROM item_units WHERE item_id = $1", &[&id])
        .await?;
    db.execute(
        "INSERT INTO item_units (item_id, unit, factor) \
         SELECT $1, unit, factor FROM unnest($2::text[], $3::numeric[]) AS u (unit, factor)",
        &[&id, &codes, &factors],
    )
    .await?;
    Ok(())
}

async fn record(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    before: Option<&Item>,
    after: &Item,
) -> ApiResult<()> {
    let entry = audit::Entry {
        action,
        target_kind: "item",
        target_id: after.id.to_string(),
        before: before.map(|item| serde_json::json!(item)),
        after: Some(serde_json::json!(after)),
    };
    audit::record(db, actor, entry).await?;
    Ok(())
}

/// One batch of the CSV export: up to 500 items by SKU after key `after`.
pub async fn export_batch(db: &impl GenericClient, after: Option<String>) -> ApiResult<Batch> {
    let rows = db
        .query(
            &format!(
                "{SELECT} WHERE ($1::text IS NULL OR lower(i.sku) > $1) \
                 {GROUP} ORDER BY lower(i.sku) LIMIT $2"
            ),
            &[&after, &EXPORT_BATCH],
        )
        .await?;
    let next = (rows.len() as i64 == EXPORT_BATCH)
        .then(|| {
            rows.last()
                .map(|row| row.get::<_, String>(1).to_lowercase())
        })
        .flatten();
    let rows = rows
        .iter()
        .map(|row| {
            let category: Option<String> = row.get(13);
            csv_row(&item(row), category.unwrap_or_default())
        })
        .collect();
    Ok(Batch { rows, next })
}

fn csv_row(item: &Item, category: String) -> Vec<String> {
    let units: Vec<String> = item
        .units
        .iter()
        .map(|u| format!("{}={}", u.unit, u.factor))
        .collect();
    vec![
        item.sku.clone(),
        item.name.clone(),
        item.description.clone(),
        item.kind.as_str().to_owned(),
        item.base_unit.clone(),
        category,
        item.reorder_point.to_string(),
        item.standard_cost.to_string(),
        item.lot_tracked.to_string(),
        item.active.to_string(),
        units.join(";"),
    ]
}

/// What a CSV import checks rows against: unit codes and categories by name (any case).
struct Catalog {
    units: HashSet<String>,
    categories: HashMap<String, Uuid>,
}

async fn catalog(db: &impl GenericClient) -> ApiResult<Catalog> {
    let rows = db
        .query("SELECT lower(name), id FROM categories", &[])
        .await?;
    Ok(Catalog {
        units: super::units::codes(db).await?,
        categories: rows.iter().map(|row| (row.get(0), row.get(1))).collect(),
    })
}

/// Imports items from CSV `body` (columns [`CSV_HEADER`]) in the caller's transaction:
/// each row is an upsert by SKU (any case). The caller commits when the report says so.
/// One audit entry, `item.imported`, records the counts.
pub async fn import(
    db: &impl GenericClient,
    actor: &Actor,
    body: &[u8],
    mode: ImportMode,
) -> ApiResult<ImportReport> {
    let mut table = Table::open(body, &CSV_HEADER)?;
    let catalog = catalog(db).await?;
    let statement = db.prepare(UPSERT).await?;
    let mut report = ImportReport::new(mode);
    while let Some(row) = table.next_row() {
        report.rows += 1;
        let input = match row.and_then(|row| parse_row(&row, &catalog)) {
            Ok(input) => input,
            Err(error) => {
                report.reject(vec![error]);
                continue;
            }
        };
        let outcome = upsert(db, &statement, &input).await?;
        report.count(outcome);
    }
    if report.should_commit() {
        report.applied = true;
        let entry = audit::Entry {
            action: "item.imported",
            target_kind: "item",
            target_id: String::new(),
            before: None,
            after: Some(serde_json::json!({
                "mode": mode, "rows": report.rows, "created": report.created,
                "updated": report.updated, "rejected": report.rejected,
            })),
        };
        audit::record(db, actor, entry).await?;
    }
    Ok(report)
}

/// A row as a new item, or its first problem (by column).
fn parse_row(row: &Row, catalog: &Catalog) -> Result<NewItem, RowError> {
    let cell = |column: &str| -> &str {
        CSV_HEADER
            .iter()
            .position(|name| *name == column)
            .and_then(|index| row.cells.get(index))
            .map_or("", String::as_str)
    };
    let kind = ItemKind::parse(cell("kind").trim())
        .ok_or_else(|| row.error("kind", "must be raw, semi_finished, finished or service"))?;
    let category = cell("category").trim();
    let category_id = if category.is_empty() {
        None
    } else {
        Some(
            *catalog
                .categories
                .get(&category.to_lowercase())
                .ok_or_else(|| {
                    row.error("category", format!("no category is named `{category}`"))
                })?,
        )
    };
    let decimal = |column: &str| -> Result<Decimal, RowError> {
        let text = cell(column).trim();
        if text.is_empty() {
            return Ok(Decimal::ZERO);
        }
        Decimal::from_str(text).map_err(|_| row.error(column, "is not a decimal number"))
    };
    let boolean = |column: &str| csv::parse_bool(cell(column)).map_err(|m| row.error(column, m));
    let input = NewItem {
        sku: cell("sku").trim().to_owned(),
        name: cell("name").to_owned(),
        description: cell("description").to_owned(),
        kind,
        base_unit: cell("base_unit").trim().to_owned(),
        category_id,
        reorder_point: decimal("reorder_point")?,
        standard_cost: decimal("standard_cost")?,
        lot_tracked: boolean("lot_tracked")?,
        active: boolean("active")?,
        units: parse_units(cell("units")).map_err(|m| row.error("units", m))?,
    };
    match check(&input, &catalog.units).into_iter().next() {
        None => Ok(input),
        Some(error) => Err(row.error(&error.field, error.message)),
    }
}

/// `box=12;kg=0.5` as conversions (the CSV's `units` cell and the item form's field).
pub fn parse_units(cell: &str) -> Result<Vec<ItemUnit>, String> {
    cell.split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (unit, factor) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not `unit=factor`"))?;
            let factor = Decimal::from_str(factor.trim())
                .map_err(|_| format!("the factor of `{}` is not a decimal number", unit.trim()))?;
            Ok(ItemUnit {
                unit: unit.trim().to_owned(),
                factor,
            })
        })
        .collect()
}

/// One statement per row: insert, or update when anything differs; conversions replaced
/// only where they differ. Answers whether the row was inserted, changed, or neither.
const UPSERT: &str = "WITH up AS ( \
    INSERT INTO items (id, sku, name, description, kind, base_unit, category_id, \
      reorder_point, standard_cost, lot_tracked, active) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT ((lower(sku))) DO UPDATE SET sku = EXCLUDED.sku, name = EXCLUDED.name, \
      description = EXCLUDED.description, kind = EXCLUDED.kind, base_unit = EXCLUDED.base_unit, \
      category_id = EXCLUDED.category_id, reorder_point = EXCLUDED.reorder_point, \
      standard_cost = EXCLUDED.standard_cost, lot_tracked = EXCLUDED.lot_tracked, \
      active = EXCLUDED.active, updated_at = now() \
    WHERE (items.sku, items.name, items.description, items.kind, items.base_unit, \
           items.category_id, items.reorder_point, items.standard_cost, items.lot_tracked, \
           items.active) \
      IS DISTINCT FROM (EXCLUDED.sku, EXCLUDED.name, EXCLUDED.description, EXCLUDED.kind, \
           EXCLUDED.base_unit, EXCLUDED.category_id, EXCLUDED.reorder_point, \
           EXCLUDED.standard_cost, EXCLUDED.lot_tracked, EXCLUDED.active) \
    RETURNING id, (xmax = 0) AS inserted), \
  target AS ( \
    SELECT id, inserted FROM up \
    UNION ALL SELECT id, false FROM items WHERE lower(sku) = lower($2) \
      AND NOT EXISTS (SELECT 1 FROM up)), \
  gone AS ( \
    DELETE FROM item_units iu USING target WHERE iu.item_id = target.id \
      AND NOT (iu.unit = ANY($12::text[])) RETURNING 1), \
  put AS ( \
    INSERT INTO item_units (item_id, unit, factor) \
    SELECT target.id, u.unit, u.factor FROM target, \
      unnest($12::text[], $13::numeric[]) AS u (unit, factor) \
    ON CONFLICT (item_id, unit) DO UPDATE SET factor = EXCLUDED.factor \
      WHERE item_units.factor IS DISTINCT FROM EXCLUDED.factor RETURNING 1) \
  SELECT target.inserted, EXISTS (SELECT 1 FROM up), \
    (SELECT count(*) FROM gone) + (SELECT count(*) FROM put) FROM target";

async fn upsert(
    db: &impl GenericClient,
    statement: &tokio_postgres::Statement,
    input: &NewItem,
) -> ApiResult<Outcome> {
    let codes: Vec<&str> = input.units.iter().map(|u| u.unit.as_str()).collect();
    let factors: Vec<Decimal> = input.units.iter().map(|u| u.factor).collect();
    let row = db
        .query_one(
            statement,
            &[
                &Uuid::now_v7(),
                &input.sku,
                &input.name,
                &input.description,
                &input.kind.as_str(),
                &input.base_unit,
                &input.category_id,
                &input.reorder_point,
                &input.standard_cost,
                &input.lot_tracked,
                &input.active,
                &codes,
                &factors,
            ],
        )
        .await?;
    let (inserted, changed, units_changed): (bool, bool, i64) =
        (row.get(0), row.get(1), row.get(2));
    Ok(match (inserted, changed || units_changed > 0) {
        (true, _) => Outcome::Created,
        (false, true) => Outcome::Updated,
        (false, false) => Outcome::Unchanged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units() -> HashSet<String> {
        ["pcs", "box"].into_iter().map(String::from).collect()
    }

    fn bolt() -> NewItem {
        NewItem {
            sku: "B-1".into(),
            name: "Bolt".into(),
            description: String::new(),
            kind: ItemKind::Raw,
            base_unit: "pcs".into(),
            category_id: None,
            reorder_point: Decimal::ZERO,
            standard_cost: Decimal::ZERO,
            lot_tracked: false,
            active: true,
            units: vec![ItemUnit {
                unit: "box".into(),
                factor: Decimal::from(12),
            }],
        }
    }

    #[test]
    fn a_valid_item_has_no_errors() {
        assert!(check(&bolt(), &units()).is_empty());
    }

    #[test]
    fn a_conversion_to_the_base_unit_or_with_a_factor_of_zero_is_refused() {
        let mut item = bolt();
        item.units[0].unit = "pcs".into();
        assert_eq!(check(&item, &units())[0].field, "units");
        let mut item = bolt();
        item.units[0].factor = Decimal::ZERO;
        assert_eq!(check(&item, &units())[0].field, "units");
        let mut item = bolt();
        item.units[0].factor = Decimal::from(-1);
        assert_eq!(check(&item, &units())[0].field, "units");
    }

    #[test]
    fn an_unknown_base_unit_is_named() {
        let mut item = bolt();
        item.base_unit = "parsec".into();
        assert_eq!(check(&item, &units())[0].field, "base_unit");
    }

    #[test]
    fn units_cells_read_as_conversions() {
        let units = parse_units("box=12; kg=0.5").unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!(units[1].factor, Decimal::from_str("0.5").unwrap());
        assert!(parse_units("box").is_err());
        assert!(parse_units("").unwrap().is_empty());
    }
}
