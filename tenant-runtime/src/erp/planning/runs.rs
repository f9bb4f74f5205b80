//! MRP runs: [`run`] loads one warehouse's facts in a handful of set queries (a consistent
//! snapshot: the caller's transaction is repeatable read), plans them (`netting`), and
//! keeps the run with one line per item that has any demand, supply or plan; reads answer
//! a run with its lines. Only the last [`KEPT_RUNS`] runs of a warehouse are kept.
//!
//! What the plan counts, per item, in the run's warehouse:
//! - demand: sales order lines not yet delivered (draft, confirmed or partially delivered:
//!   a draft that cannot be confirmed for want of stock is what planning is for) and the
//!   components open manufacturing orders (draft, released, in progress) have still to
//!   consume;
//! - on hand: stock in available lots (quarantined, held or scrapped lots are not usable);
//! - reserved: stock held for documents other than those orders (their holds are the demand
//!   already counted);
//! - on order: open purchase order lines (draft to partially received) not yet received,
//!   and open manufacturing orders' output not yet completed. Drafts count, so the drafts a
//!   previous run made are not suggested again.

pub use super::netting::Action;
use super::netting::{self, BomLine, ItemFacts, Planned};
use crate::erp::masters::warehouses;
use crate::erp::stock::lots::USABLE;
use chrono::{DateTime, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::{self as audit, Actor};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// Runs kept per warehouse; older ones are deleted by the next run.
pub const KEPT_RUNS: i64 = 50;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The active warehouse to plan: its stock, and the orders that use it.
    pub warehouse_id: Uuid,
    /// A location of that warehouse where manufacturing suggestions put finished goods;
    /// when omitted, its first production location (else its first location).
    pub output_location_id: Option<Uuid>,
}

/// One item's netting in a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MrpLine)]
pub struct Line {
    pub item_id: Uuid,
    pub sku: String,
    pub item_name: String,
    pub base_unit: String,
    /// 0 for items no active BOM uses; else one more than its deepest parent.
    pub level: i32,
    /// Open sales order lines and open manufacturing orders' components.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub demand: Decimal,
    /// What the orders planned for its parents need.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub dependent: Decimal,
    /// Usable stock (may be negative).
    #[schema(value_type = String, pattern = r"^-?[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_hand: Decimal,
    /// Held for documents outside the plan.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub reserved: Decimal,
    /// Still to arrive on open purchase and manufacturing orders.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub on_order: Decimal,
    /// What is still missing: the suggestion's quantity.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub planned: Decimal,
    pub action: Action,
    /// The earliest date the item is needed by (from the orders' dates, down the BOM).
    pub need_by: Option<NaiveDate>,
    /// Buy suggestions: the supplier the item was last bought from, if any.
    pub supplier_id: Option<Uuid>,
    /// Buy suggestions: the last price paid, else the item's standard cost.
    #[schema(value_type = String, pattern = r"^[0-9]{1,14}(\.[0-9]{1,6})?$")]
    pub unit_price: Decimal,
    /// The draft made from this suggestion, once made.
    pub document_type: Option<String>,
    pub document_id: Option<Uuid>,
    pub document_number: Option<String>,
}

/// A run without its lines.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MrpRunSummary)]
pub struct RunSummary {
    pub id: Uuid,
    pub warehouse_id: Uuid,
    pub output_location_id: Uuid,
    /// Items with demand, supply or a plan (the run's lines).
    pub items_planned: i32,
    /// Lines with something to buy or make.
    pub suggestions: i32,
    /// How long planning took, loading and storing included.
    pub duration_ms: i32,
    pub run_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Whether a later run of the same warehouse exists (drafts are made from the latest).
    pub superseded: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MrpRun)]
pub struct Run {
    #[serde(flatten)]
    pub run: RunSummary,
    /// Suggestions first (make, then buy), then the rest, by level and SKU.
    pub lines: Vec<Line>,
}

fn not_found() -> ApiError {
    ApiError::not_found("mrp_run_not_found", "no MRP run has this id")
}

/// Plans the warehouse and keeps the run. 404 `warehouse_not_found`, `location_not_found`;
/// 409 `bom_cycle`; 422 `validation_failed` (an inactive warehouse, a location of another).
pub async fn run(db: &impl GenericClient, actor: &Actor, input: NewRun) -> ApiResult<Run> {
    let started = Instant::now();
    warehouses::check_active(db, input.warehouse_id).await?;
    let output = output_location(db, &input).await?;
    let facts = load_facts(db, input.warehouse_id).await?;
    let planned = netting::plan(facts).map_err(|cycle| {
        ApiError::conflict(
            "bom_cycle",
            format!(
                "the active BOMs contain a cycle through {} item(s); fix them first",
                cycle.0.len()
            ),
        )
    })?;
    let kept: Vec<Planned> = planned
        .into_iter()
        .filter(|line| {
            line.demand + line.dependent + line.on_order + line.planned > Decimal::ZERO
                || line.on_hand < Decimal::ZERO
        })
        .collect();
    let id = Uuid::now_v7();
    let suggestions = kept
        .iter()
        .filter(|line| line.planned > Decimal::ZERO)
        .count();
    db.execute(
        "INSERT INTO mrp_runs (id, warehouse_id, output_location_id, items_planned, \
         suggestions, duration_ms, run_by) VALUES ($1, $2, $3, $4, $5, 0, $6)",
        &[
            &id,
            &input.warehouse_id,
            &output,
            &count(kept.len()),
            &count(suggestions),
            &actor.user_id,
        ],
    )
    .await?;
    store_lines(db, id, &kept).await?;
    let elapsed = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    db.execute(
        "UPDATE mrp_runs SET duration_ms = $2 WHERE id = $1",
        &[&id, &elapsed],
    )
    .await?;
    forget_old_runs(db, input.warehouse_id).await?;
    let created = find(db, id).await?;
    let entry = audit::Entry {
        action: "mrp.run",
        target_kind: "mrp_run",
        target_id: id.to_string(),
        before: None,
        after: Some(serde_json::json!(created.run)),
    };
    audit::record(db, actor, entry).await?;
    Ok(created)
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The location finished goods of manufacturing suggestions go to.
async fn output_location(db: &impl GenericClient, input: &NewRun) -> ApiResult<Uuid> {
    if let Some(location) = input.output_location_id {
        let row = db
            .query_opt(
                "SELECT warehouse_id FROM locations WHERE id = $1 AND active",
                &[&location],
            )
            .await?
            .ok_or_else(|| {
                ApiError::not_found("location_not_found", "no active location has this id")
            })?;
        if row.get::<_, Uuid>(0) != input.warehouse_id {
            return Err(ApiError::invalid(
                "output_location_id",
                "a location of the planned warehouse",
            ));
        }
        return Ok(location);
    }
    db.query_opt(
        "SELECT id FROM locations WHERE warehouse_id = $1 AND active \
         ORDER BY kind <> 'production', kind <> 'storage', lower(code) LIMIT 1",
        &[&input.warehouse_id],
    )
    .await?
    .map(|row| row.get(0))
    .ok_or_else(|| ApiError::invalid("warehouse_id", "the warehouse has no active location"))
}

/// Every active stocked item's facts in the warehouse, in seven set queries.
async fn load_facts(
    db: &impl GenericClient,
    warehouse: Uuid,
) -> ApiResult<HashMap<Uuid, ItemFacts>> {
    let mut facts: HashMap<Uuid, ItemFacts> = db
        .query(
            "SELECT id FROM items WHERE active AND kind <> 'service'",
            &[],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), ItemFacts::default()))
        .collect();
    for row in db
        .query(
            "SELECT b.item_id, c.item_id, c.quantity, c.scrap_percent FROM boms b \
             JOIN bom_components c ON c.bom_id = b.id WHERE b.active ORDER BY b.item_id, c.line_no",
            &[],
        )
        .await?
    {
        if let Some(item) = facts.get_mut(&row.get::<_, Uuid>(0)) {
            item.bom.get_or_insert_with(Vec::new).push(BomLine {
                component: row.get(1),
                per_unit: row.get(2),
                scrap_percent: row.get(3),
            });
        }
    }
    let on_hand = format!(
        "SELECT b.item_id, sum(b.on_hand) FROM stock_balances b \
         JOIN locations l ON l.id = b.location_id LEFT JOIN lots t ON t.id = b.lot_id \
         WHERE l.warehouse_id = $1 AND {USABLE} GROUP BY b.item_id"
    );
    for row in db.query(&on_hand, &[&warehouse]).await? {
        with(&mut facts, &row, |item, quantity, _| {
            item.on_hand = quantity
        });
    }
    for row in db
        .query(
            "SELECT item_id, sum(quantity) FROM stock_reservations WHERE warehouse_id = $1 \
             AND document_type NOT IN ('sales_order', 'manufacturing_order') GROUP BY item_id",
            &[&warehouse],
        )
        .await?
    {
        with(&mut facts, &row, |item, quantity, _| {
            item.reserved = quantity
        });
    }
    for row in db.query(DEMAND, &[&warehouse]).await? {
        with(&mut facts, &row, |item, quantity, by| {
            item.demand += quantity;
            item.demand_by = match (item.demand_by, by) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        });
    }
    for row in db.query(ON_ORDER, &[&warehouse]).await? {
        with(&mut facts, &row, |item, quantity, _| {
            item.on_order += quantity
        });
    }
    Ok(facts)
}

/// Applies a `(item_id, quantity[, date])` row to its item, when the item is planned.
fn with(
    facts: &mut HashMap<Uuid, ItemFacts>,
    row: &tokio_postgres::Row,
    apply: impl FnOnce(&mut ItemFacts, Decimal, Option<NaiveDate>),
) {
    if let Some(item) = facts.get_mut(&row.get::<_, Uuid>(0)) {
        let quantity: Option<Decimal> = row.get(1);
        let by = if row.len() > 2 { row.get(2) } else { None };
        apply(item, quantity.unwrap_or_default(), by);
    }
}

/// Open sales order lines and open manufacturing orders' components, per item.
const DEMAND: &str = "\
    SELECT l.item_id, sum(l.quantity - l.delivered_quantity), min(o.requested_date) \
    FROM sales_order_lines l JOIN sales_orders o ON o.id = l.order_id \
    WHERE o.warehouse_id = $1 AND o.status IN ('draft', 'confirmed', 'partially_delivered') \
    GROUP BY l.item_id \
    UNION ALL \
    SELECT c.item_id, sum(greatest(c.required - c.consumed, 0)), min(o.due_on) \
    FROM manufacturing_order_components c JOIN manufacturing_orders o ON o.id = c.order_id \
    WHERE o.warehouse_id = $1 AND o.status IN ('draft', 'released', 'in_progress') \
    GROUP BY c.item_id";

/// Open purchase order lines not yet received and open manufacturing orders' output.
const ON_ORDER: &str = "\
    SELECT l.item_id, sum(greatest(l.quantity - l.received_quantity, 0)) \
    FROM purchase_order_lines l JOIN purchase_orders o ON o.id = l.purchase_order_id \
    WHERE o.warehouse_id = $1 \
      AND o.status IN ('draft', 'submitted', 'approved', 'partially_received') \
    GROUP BY l.item_id \
    UNION ALL \
    SELECT item_id, sum(quantity - completed_quantity) FROM manufacturing_orders \
    WHERE warehouse_id = $1 AND status IN ('draft', 'released', 'in_progress') \
    GROUP BY item_id";

/// Writes the lines in one statement (arrays unnested), with each buy line's last supplier
/// and price looked up on the way.
async fn store_lines(db: &impl GenericClient, run: Uuid, lines: &[Planned]) -> ApiResult<()> {
    let items: Vec<Uuid> = lines.iter().map(|line| line.item_id).collect();
    let levels: Vec<i32> = lines.iter().map(|line| line.level).collect();
    let column = |pick: fn(&Planned) -> Decimal| lines.iter().map(pick).collect::<Vec<_>>();
    let actions: Vec<&str> = lines.iter().map(|line| line.action.as_str()).collect();
    let need_by: Vec<Option<NaiveDate>> = lines.iter().map(|line| line.need_by).collect();
    db.execute(
        "INSERT INTO mrp_lines (run_id, item_id, level, demand, dependent, on_hand, reserved, \
         on_order, planned, action, need_by, supplier_id, unit_price) \
         SELECT $1, l.item_id, l.level, l.demand, l.dependent, l.on_hand, l.reserved, \
                l.on_order, l.planned, l.action, l.need_by, \
                CASE WHEN l.action = 'buy' THEN last.supplier_id END, \
                CASE WHEN l.action = 'buy' THEN coalesce(last.unit_price, i.standard_cost) \
                     ELSE 0 END \
         FROM unnest($2::uuid[], $3::int[], $4::numeric[], $5::numeric[], $6::numeric[], \
                     $7::numeric[], $8::numeric[], $9::numeric[], $10::text[], $11::date[]) \
              AS l (item_id, level, demand, dependent, on_hand, reserved, on_order, planned, \
                    action, need_by) \
         JOIN items i ON i.id = l.item_id \
         LEFT JOIN LATERAL ( \
             SELECT o.supplier_id, pl.unit_price FROM purchase_order_lines pl \
             JOIN purchase_orders o ON o.id = pl.purchase_order_id \
             WHERE pl.item_id = l.item_id AND o.status <> 'canceled' AND l.action = 'buy' \
             ORDER BY o.created_at DESC LIMIT 1) last ON true",
        &[
            &run,
            &items,
            &levels,
            &column(|line| line.demand),
            &column(|line| line.dependent),
            &column(|line| line.on_hand),
            &column(|line| line.reserved),
            &column(|line| line.on_order),
            &column(|line| line.planned),
            &actions,
            &need_by,
        ],
    )
    .await?;
    Ok(())
}

async fn forget_old_runs(db: &impl GenericClient, warehouse: Uuid) -> ApiResult<()> {
    db.execute(
        "DELETE FROM mrp_runs WHERE id IN (SELECT id FROM mrp_runs WHERE warehouse_id = $1 \
         ORDER BY created_at DESC, id DESC OFFSET $2)",
        &[&warehouse, &KEPT_RUNS],
    )
    .await?;
    Ok(())
}

const SUMMARY: &str = "SELECT r.id, r.warehouse_id, r.output_location_id, r.items_planned, \
     r.suggestions, r.duration_ms, r.run_by, r.created_at, \
     EXISTS (SELECT 1 FROM mrp_runs n WHERE n.warehouse_id = r.warehouse_id \
             AND (n.created_at, n.id) > (r.created_at, r.id)) \
     FROM mrp_runs r";

fn summary(row: &tokio_postgres::Row) -> RunSummary {
    RunSummary {
        id: row.get(0),
        warehouse_id: row.get(1),
        output_location_id: row.get(2),
        items_planned: row.get(3),
        suggestions: row.get(4),
        duration_ms: row.get(5),
        run_by: row.get(6),
        created_at: row.get(7),
        superseded: row.get(8),
    }
}

/// The latest runs, newest first (at most [`KEPT_RUNS`] per warehouse are kept).
pub async fn list(db: &impl GenericClient) -> ApiResult<Vec<RunSummary>> {
    let sql = format!("{SUMMARY} ORDER BY r.created_at DESC, r.id DESC LIMIT 100");
    Ok(db.query(&sql, &[]).await?.iter().map(summary).collect())
}

/// The run's summary alone (404 `mrp_run_not_found`).
pub async fn find_summary(db: &impl GenericClient, id: Uuid) -> ApiResult<RunSummary> {
    let sql = format!("{SUMMARY} WHERE r.id = $1");
    db.query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(summary)
        .ok_or_else(not_found)
}

/// A run with its lines: suggestions first.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Run> {
    let run = find_summary(db, id).await?;
    let lines = db
        .query(
            "SELECT l.item_id, i.sku, i.name, i.base_unit, l.level, l.demand, l.dependent, \
             l.on_hand, l.reserved, l.on_order, l.planned, l.action, l.need_by, l.supplier_id, \
             l.unit_price, l.document_type, l.document_id, \
             coalesce(p.number, m.number) \
             FROM mrp_lines l JOIN items i ON i.id = l.item_id \
             LEFT JOIN purchase_orders p ON l.document_type = 'purchase_order' \
                                        AND p.id = l.document_id \
             LEFT JOIN manufacturing_orders m ON l.document_type = 'manufacturing_order' \
                                             AND m.id = l.document_id \
             WHERE l.run_id = $1 \
             ORDER BY l.action = 'none', l.action <> 'make', l.level, lower(i.sku)",
            &[&id],
        )
        .await?
        .iter()
        .map(line)
        .collect();
    Ok(Run { run, lines })
}

fn line(row: &tokio_postgres::Row) -> Line {
    let action = match row.get::<_, &str>(11) {
        "buy" => Action::Buy,
        "make" => Action::Make,
        _ => Action::None,
    };
    Line {
        item_id: row.get(0),
        sku: row.get(1),
        item_name: row.get(2),
        base_unit: row.get(3),
        level: row.get(4),
        demand: row.get::<_, Decimal>(5).normalize(),
        dependent: row.get::<_, Decimal>(6).normalize(),
        on_hand: row.get::<_, Decimal>(7).normalize(),
        reserved: row.get::<_, Decimal>(8).normalize(),
        on_order: row.get::<_, Decimal>(9).normalize(),
        planned: row.get::<_, Decimal>(10).normalize(),
        action,
        need_by: row.get(12),
        supplier_id: row.get(13),
        unit_price: row.get::<_, Decimal>(14).normalize(),
        document_type: row.get(15),
        document_id: row.get(16),
        document_number: row.get(17),
    }
}
