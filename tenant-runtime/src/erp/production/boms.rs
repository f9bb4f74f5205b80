//! Bills of materials: each save of an item's BOM is a new numbered version, active at
//! once unless asked otherwise (the previous active one stays, inactive, for the orders
//! that used it). Components are converted to their base unit (a unit without a
//! conversion is 422 `incompatible_unit`). An item may not contain itself at any depth:
//! saving or activating a version walks the active BOMs below its components (a recursive
//! query) and answers 422 `bom_cycle` naming the path. Saves and activations take one
//! advisory lock, so two saves that would close a cycle together queue and the second sees
//! the first.

use super::{check_item, record};
use crate::erp::masters::{Page, PageQuery, check_text, page};
use crate::erp::quantity;
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The most components one BOM version holds.
pub const MAX_COMPONENTS: usize = 200;
/// The deepest an explosion or a cycle walk goes (far beyond any real product).
const MAX_DEPTH: i32 = 64;

/// One component of a new BOM version.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComponent {
    /// An active stocked item other than the parent (and not containing it).
    pub item_id: Uuid,
    /// Per one unit of the parent, in `unit`; greater than zero.
    #[schema(value_type = String, pattern = r"^([1-9][0-9]{0,13}(\.[0-9]{1,6})?|0\.[0-9]{0,5}[1-9])$")]
    pub quantity: Decimal,
    /// A unit the component has a conversion for (its base unit when omitted); 422
    /// `incompatible_unit` otherwise.
    #[schema(max_length = 16)]
    pub unit: Option<String>,
    /// Extra allowed for waste, in percent (0 to 1000; none when omitted or null).
    #[schema(value_type = Option<String>, pattern = r"^(1000|[0-9]{1,3}(\.[0-9]{1,4})?)$")]
    pub scrap_percent: Option<Decimal>,
}

fn yes() -> bool {
    true
}

/// A new version of an item's BOM.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBom {
    /// The item made (active, not a service).
    pub item_id: Uuid,
    /// 1 to 200 components, each item once, numbered from 1 in this order.
    #[schema(min_items = 1, max_items = 200)]
    pub components: Vec<NewComponent>,
    /// Make this version the item's active one (default true).
    #[serde(default = "yes")]
    pub activate: bool,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BomComponent {
    pub line: i32,
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    pub base_unit: String,
    /// Per unit of the parent, in the component's base unit.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    /// As entered, in `entered_unit` (the base unit when null).
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub entered_quantity: Decimal,
    pub entered_unit: Option<String>,
    #[schema(value_type = String)]
    pub scrap_percent: Decimal,
    /// Whether the component is itself made (has an active BOM).
    pub has_bom: bool,
}

/// One BOM version with its components.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bom {
    pub id: Uuid,
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    pub version: i32,
    pub active: bool,
    pub notes: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub components: Vec<BomComponent>,
}

/// `GET /production/boms` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct BomFilter {
    /// Only this item's versions.
    pub item_id: Option<Uuid>,
    /// `true`: only active versions; `false`: only inactive ones.
    pub active: Option<bool>,
}

/// One line of an exploded BOM.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExplodedLine {
    /// 1 for the BOM's own components, 2 for theirs...
    pub level: i32,
    pub parent_item_id: Uuid,
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    pub base_unit: String,
    /// For the exploded quantity of the top item, scrap allowances of every level included,
    /// in the component's base unit (rounded to six places).
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    #[schema(value_type = String)]
    pub scrap_percent: Decimal,
    /// The SKUs from the top item down to this one.
    pub path: Vec<String>,
    /// Whether this component is made (its own active BOM is exploded below it).
    pub has_bom: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Explosion {
    pub bom_id: Uuid,
    pub item_id: Uuid,
    pub sku: String,
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Depth first, in line order at each level.
    pub lines: Vec<ExplodedLine>,
}

/// `?quantity=` of an explosion.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ExplosionQuery {
    /// How many of the top item (default 1), greater than zero.
    #[param(pattern = r"^([1-9][0-9]{0,13}(\.[0-9]{1,6})?|0\.[0-9]{0,5}[1-9])$")]
    pub quantity: Option<String>,
}

const SELECT: &str = "SELECT b.id, b.item_id, i.sku, i.name, b.version, b.active, b.notes, \
     b.created_by, b.created_at FROM boms b JOIN items i ON i.id = b.item_id";

fn bom(row: &tokio_postgres::Row) -> Bom {
    Bom {
        id: row.get(0),
        item_id: row.get(1),
        sku: row.get(2),
        item_name: row.get(3),
        version: row.get(4),
        active: row.get(5),
        notes: row.get(6),
        created_by: row.get(7),
        created_at: row.get(8),
        components: Vec::new(),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("bom_not_found", "no bill of materials has this id")
}

/// One version with its components: 404 `bom_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Bom> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE b.id = $1"), &[&id])
        .await?
        .ok_or_else(not_found)?;
    let mut found = bom(&row);
    let rows = db
        .query(
            "SELECT c.line_no, c.item_id, i.sku, i.name, i.base_unit, c.quantity, \
                    c.entered_quantity, c.entered_unit, c.scrap_percent, \
                    EXISTS (SELECT 1 FROM boms s WHERE s.item_id = c.item_id AND s.active) \
             FROM bom_components c JOIN items i ON i.id = c.item_id \
             WHERE c.bom_id = $1 ORDER BY c.line_no",
            &[&id],
        )
        .await?;
    found.components = rows
        .iter()
        .map(|r| BomComponent {
            line: r.get(0),
            item_id: r.get(1),
            sku: r.get(2),
            item_name: r.get(3),
            base_unit: r.get(4),
            quantity: r.get::<_, Decimal>(5).normalize(),
            entered_quantity: r.get::<_, Decimal>(6).normalize(),
            entered_unit: r.get(7),
            scrap_percent: r.get::<_, Decimal>(8).normalize(),
            has_bom: r.get(9),
        })
        .collect();
    Ok(found)
}

/// A page of versions (without components), newest first.
pub async fn list(
    db: &impl GenericClient,
    filter: &BomFilter,
    paging: &PageQuery,
) -> ApiResult<Page<Bom>> {
    let limit = paging.limit()?;
    let after = match paging.after()? {
        Some(key) => Some(
            Uuid::parse_str(&key)
                .map_err(|_| ApiError::invalid("after", "is not a cursor this API gave out"))?,
        ),
        None => None,
    };
    let rows = db
        .query(
            &format!(
                "{SELECT} WHERE ($1::uuid IS NULL OR b.item_id = $1) \
                   AND ($2::bool IS NULL OR b.active = $2) \
                   AND ($3::uuid IS NULL OR b.id < $3) ORDER BY b.id DESC LIMIT $4"
            ),
            &[&filter.item_id, &filter.active, &after, &(limit + 1)],
        )
        .await?;
    let boms = rows.iter().map(bom).collect();
    Ok(page(boms, limit, |b: &Bom| b.id.to_string()))
}

/// The active version of an item, if it has one.
pub async fn active_of(db: &impl GenericClient, item_id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(db
        .query_opt(
            "SELECT id FROM boms WHERE item_id = $1 AND active",
            &[&item_id],
        )
        .await?
        .map(|row| row.get(0)))
}

/// A component checked and in its base unit.
struct Component {
    item_id: Uuid,
    quantity: Decimal,
    entered_quantity: Decimal,
    entered_unit: Option<String>,
    scrap_percent: Decimal,
}

/// 422 `incompatible_unit` for a unit the component cannot be converted from (the field
/// named in `errors`), other errors as they are.
fn incompatible_unit(error: ApiError) -> ApiError {
    match error {
        ApiError::Client(mut problem) if problem.code == "validation_failed" => {
            let detail = problem
                .errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            let mut converted = ApiError::unprocessable("incompatible_unit", detail);
            if let ApiError::Client(target) = &mut converted {
                target.errors = std::mem::take(&mut problem.errors);
            }
            converted
        }
        other => other,
    }
}

async fn check_components(
    db: &impl GenericClient,
    parent: Uuid,
    input: Vec<NewComponent>,
) -> ApiResult<Vec<Component>> {
    if input.is_empty() || input.len() > MAX_COMPONENTS {
        return Err(ApiError::invalid(
            "components",
            format!("1 to {MAX_COMPONENTS} components"),
        ));
    }
    let mut checked: Vec<Component> = Vec::with_capacity(input.len());
    for (index, component) in input.into_iter().enumerate() {
        let field = |name: &str| format!("components[{index}].{name}");
        check_item(db, component.item_id, &field("item_id")).await?;
        if checked.iter().any(|c| c.item_id == component.item_id) {
            return Err(ApiError::invalid(
                &field("item_id"),
                "each component once per BOM",
            ));
        }
        if component.item_id == parent {
            return Err(cycle(db, &[parent, parent]).await?);
        }
        let entered = quantity::positive(&field("quantity"), component.quantity)?;
        let unit = component.unit.filter(|u| !u.is_empty());
        let base = quantity::to_base_unit(
            db,
            component.item_id,
            entered,
            unit.as_deref(),
            &field("unit"),
        )
        .await
        .map_err(incompatible_unit)?;
        let scrap = quantity::not_negative(
            &field("scrap_percent"),
            component.scrap_percent.unwrap_or_default(),
        )?;
        if scrap > Decimal::from(1000) || scrap.scale() > 4 {
            return Err(ApiError::invalid(
                &field("scrap_percent"),
                "0 to 1000, at most 4 digits after the point",
            ));
        }
        checked.push(Component {
            item_id: component.item_id,
            quantity: quantity::positive(&field("quantity"), base)?,
            entered_quantity: entered,
            entered_unit: unit,
            scrap_percent: scrap,
        });
    }
    Ok(checked)
}

/// Serialises every change of the BOM graph (saves and activations).
async fn lock_graph(db: &impl GenericClient) -> ApiResult<()> {
    db.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('production.bom_graph', 0))",
        &[],
    )
    .await?;
    Ok(())
}

/// 422 `bom_cycle` naming `path` (item ids) by SKU.
async fn cycle(db: &impl GenericClient, path: &[Uuid]) -> ApiResult<ApiError> {
    let rows = db
        .query(
            "SELECT i.sku FROM unnest($1::uuid[]) WITH ORDINALITY p (id, ord) \
             JOIN items i ON i.id = p.id ORDER BY p.ord",
            &[&path],
        )
        .await?;
    let skus: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    Ok(ApiError::unprocessable(
        "bom_cycle",
        format!("an item may not contain itself: {}", skus.join(" -> ")),
    ))
}

/// The first path from `parent` through `components` and the active BOMs below them back
/// to `parent`, if any (the version being saved stands in for `parent`'s active one).
async fn find_cycle(
    db: &impl GenericClient,
    parent: Uuid,
    components: &[Uuid],
) -> ApiResult<Option<Vec<Uuid>>> {
    let row = db
        .query_opt(
            "WITH RECURSIVE walk (item_id, path) AS ( \
                 SELECT c, ARRAY[$1::uuid, c] FROM unnest($2::uuid[]) AS c \
               UNION ALL \
                 SELECT bc.item_id, w.path || bc.item_id FROM walk w \
                 JOIN boms b ON b.item_id = w.item_id AND b.active \
                 JOIN bom_components bc ON bc.bom_id = b.id \
                 WHERE w.item_id <> $1 AND cardinality(w.path) < $3 \
                   AND NOT (bc.item_id = ANY (w.path[2:])) \
             ) SELECT path FROM walk WHERE item_id = $1 LIMIT 1",
            &[&parent, &components, &MAX_DEPTH],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

async fn refuse_cycles(
    db: &impl GenericClient,
    parent: Uuid,
    components: &[Uuid],
) -> ApiResult<()> {
    match find_cycle(db, parent, components).await? {
        Some(path) => Err(cycle(db, &path).await?),
        None => Ok(()),
    }
}

/// Saves a new version of the item's BOM (active unless `activate` is false). 404
/// `item_not_found`; 422 `bom_cycle`, `incompatible_unit`, `validation_failed`.
pub async fn create(db: &impl GenericClient, actor: &Actor, input: NewBom) -> ApiResult<Bom> {
    check_text(&input.notes, 2000).map_err(|message| ApiError::invalid("notes", message))?;
    check_item(db, input.item_id, "item_id").await?;
    lock_graph(db).await?;
    let components = check_components(db, input.item_id, input.components).await?;
    let ids: Vec<Uuid> = components.iter().map(|c| c.item_id).collect();
    refuse_cycles(db, input.item_id, &ids).await?;
    if input.activate {
        db.execute(
            "UPDATE boms SET active = false WHERE item_id = $1 AND active",
            &[&input.item_id],
        )
        .await?;
    }
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO boms (id, item_id, version, active, notes, created_by) \
         SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5 FROM boms WHERE item_id = $2",
        &[
            &id,
            &input.item_id,
            &input.activate,
            &input.notes,
            &actor.user_id,
        ],
    )
    .await?;
    for (index, c) in components.iter().enumerate() {
        let line = i32::try_from(index + 1).unwrap_or(i32::MAX);
        db.execute(
            "INSERT INTO bom_components (bom_id, line_no, item_id, quantity, entered_quantity, \
             entered_unit, scrap_percent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &line,
                &c.item_id,
                &c.quantity,
                &c.entered_quantity,
                &c.entered_unit,
                &c.scrap_percent,
            ],
        )
        .await?;
    }
    let created = find(db, id).await?;
    let after = serde_json::json!(created);
    record(db, actor, "bom.created", "bom", id.to_string(), None, after).await?;
    Ok(created)
}

/// Makes a version its item's active one (the previous one stays, inactive). 404
/// `bom_not_found`; 422 `bom_cycle` when the active BOMs below it now contain its item.
pub async fn activate(db: &impl GenericClient, actor: &Actor, id: Uuid) -> ApiResult<Bom> {
    lock_graph(db).await?;
    let before = find(db, id).await?;
    if before.active {
        return Ok(before);
    }
    let ids: Vec<Uuid> = before.components.iter().map(|c| c.item_id).collect();
    refuse_cycles(db, before.item_id, &ids).await?;
    // The old one off first: the one-active index is checked row by row.
    db.execute(
        "UPDATE boms SET active = false WHERE item_id = $1 AND active",
        &[&before.item_id],
    )
    .await?;
    db.execute("UPDATE boms SET active = true WHERE id = $1", &[&id])
        .await?;
    let after = find(db, id).await?;
    record(
        db,
        actor,
        "bom.activated",
        "bom",
        id.to_string(),
        Some(serde_json::json!({ "active": false })),
        serde_json::json!({ "active": true, "version": after.version }),
    )
    .await?;
    Ok(after)
}

/// The quantity of an explosion: 1 when omitted, else a positive decimal (422).
pub fn explosion_quantity(query: &ExplosionQuery) -> ApiResult<Decimal> {
    match query.quantity.as_deref() {
        None => Ok(Decimal::ONE),
        Some(text) => {
            let value = Decimal::from_str(text)
                .map_err(|_| ApiError::invalid("quantity", "a decimal number"))?;
            quantity::positive("quantity", value)
        }
    }
}

/// Every level below a version, quantities multiplied out for `quantity` of its item
/// (scrap allowances included), through the active BOMs of made components. 404
/// `bom_not_found`.
pub async fn explode(db: &impl GenericClient, id: Uuid, quantity: Decimal) -> ApiResult<Explosion> {
    let top = find(db, id).await?;
    let rows = db
        .query(
            "WITH RECURSIVE x (level, parent, item_id, quantity, scrap, path, ord) AS ( \
                 SELECT 1, b.item_id, c.item_id, \
                        $2::numeric * c.quantity * (1 + c.scrap_percent / 100), c.scrap_percent, \
                        ARRAY[b.item_id, c.item_id], ARRAY[c.line_no] \
                 FROM bom_components c JOIN boms b ON b.id = c.bom_id WHERE c.bom_id = $1 \
               UNION ALL \
                 SELECT x.level + 1, x.item_id, c.item_id, \
                        x.quantity * c.quantity * (1 + c.scrap_percent / 100), c.scrap_percent, \
                        x.path || c.item_id, x.ord || c.line_no \
                 FROM x JOIN boms b ON b.item_id = x.item_id AND b.active \
                 JOIN bom_components c ON c.bom_id = b.id \
                 WHERE x.level < $3 AND NOT (c.item_id = ANY (x.path)) \
             ) \
             SELECT x.level, x.parent, x.item_id, i.sku, i.name, i.base_unit, \
                    round(x.quantity, 6), x.scrap, \
                    (SELECT array_agg(p.sku ORDER BY o.n) FROM unnest(x.path) WITH ORDINALITY o (id, n) \
                     JOIN items p ON p.id = o.id), \
                    EXISTS (SELECT 1 FROM boms s WHERE s.item_id = x.item_id AND s.active) \
             FROM x JOIN items i ON i.id = x.item_id ORDER BY x.ord",
            &[&id, &quantity, &MAX_DEPTH],
        )
        .await?;
    let lines = rows
        .iter()
        .map(|r| ExplodedLine {
            level: r.get(0),
            parent_item_id: r.get(1),
            item_id: r.get(2),
            sku: r.get(3),
            item_name: r.get(4),
            base_unit: r.get(5),
            quantity: r.get::<_, Decimal>(6).normalize(),
            scrap_percent: r.get::<_, Decimal>(7).normalize(),
            path: r.get(8),
            has_bom: r.get(9),
        })
        .collect();
    Ok(Explosion {
        bom_id: top.id,
        item_id: top.item_id,
        sku: top.sku,
        quantity: quantity.normalize(),
        lines,
    })
}
