//! Turning a run's suggestions into draft documents with one click: buy lines become draft
//! purchase orders (one per supplier, at most 200 lines each), make lines draft
//! manufacturing orders (one per item), through the same `create` functions the purchasing
//! and production APIs call. Only the latest run of a warehouse can make drafts (an older
//! one would order what a later run already accounted for: 409 `mrp_run_superseded`), the
//! run's row is locked so two clicks queue, and each line remembers its draft, so a second
//! click makes nothing twice.

use super::runs::{self, Action, Line};
use crate::erp::production::orders::{self, NewOrder};
use crate::erp::purchasing::{self, NewLine, NewPurchaseOrder};
use chrono::NaiveDate;
use common::api_error::{ApiError, ApiResult};
use common::tenant_audit::Actor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

/// Lines a purchase order holds at most (the purchasing API's limit).
const LINES_PER_ORDER: usize = 200;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeDrafts {
    /// The suggestions to act on, by item; every open suggestion when omitted.
    #[schema(max_items = 2000)]
    pub item_ids: Option<Vec<Uuid>>,
    /// The supplier of buy suggestions that have none (the item was never bought).
    pub supplier_id: Option<Uuid>,
}

/// A draft made from suggestions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Draft {
    pub document_type: String,
    pub id: Uuid,
    pub number: String,
    /// The suggestions it covers.
    pub item_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Drafts {
    /// Drafts made now (empty when every chosen suggestion had one already).
    pub created: Vec<Draft>,
}

/// What a draft is made from: the suggestion lines still without one.
struct Chosen {
    buy: Vec<Line>,
    make: Vec<Line>,
}

/// Makes the drafts. The caller checks `production.write`; buying also needs
/// `purchasing.write` (`can_buy`). 404 `mrp_run_not_found`; 403 `forbidden`; 409
/// `mrp_run_superseded`; 422 `supplier_required` (naming the SKUs) or `validation_failed`
/// (an item id the run does not suggest), and whatever the purchasing and production
/// creates refuse (an item made inactive since, a BOM deactivated...).
pub async fn make_drafts(
    db: &impl GenericClient,
    actor: &Actor,
    run_id: Uuid,
    input: MakeDrafts,
    can_buy: bool,
) -> ApiResult<Drafts> {
    db.query_opt(
        "SELECT 1 FROM mrp_runs WHERE id = $1 FOR UPDATE",
        &[&run_id],
    )
    .await?;
    let run = runs::find(db, run_id).await?;
    if run.run.superseded {
        return Err(ApiError::conflict(
            "mrp_run_superseded",
            "a later MRP run of this warehouse exists: make drafts from it",
        ));
    }
    let chosen = choose(run.lines, input.item_ids.as_deref())?;
    if !chosen.buy.is_empty() && !can_buy {
        return Err(ApiError::forbidden(
            "forbidden",
            "making purchase orders needs the purchasing.write permission",
        ));
    }
    let mut created = Vec::new();
    for (supplier, lines) in by_supplier(chosen.buy, input.supplier_id)? {
        for chunk in lines.chunks(LINES_PER_ORDER) {
            created.push(buy(db, actor, &run.run, supplier, chunk).await?);
        }
    }
    for line in &chosen.make {
        created.push(make(db, actor, &run.run, line).await?);
    }
    for draft in &created {
        remember(db, run_id, draft).await?;
    }
    Ok(Drafts { created })
}

/// The chosen open suggestions (all of them without a choice).
fn choose(lines: Vec<Line>, items: Option<&[Uuid]>) -> ApiResult<Chosen> {
    if let Some(items) = items {
        let unknown = items.iter().find(|item| {
            !lines
                .iter()
                .any(|line| line.item_id == **item && line.action != Action::None)
        });
        if let Some(item) = unknown {
            return Err(ApiError::invalid(
                "item_ids",
                format!("the run suggests nothing for item {item}"),
            ));
        }
    }
    let wanted = |line: &Line| items.is_none_or(|items| items.contains(&line.item_id));
    let (buy, make) = lines
        .into_iter()
        .filter(|line| line.action != Action::None && line.document_id.is_none() && wanted(line))
        .partition(|line| line.action == Action::Buy);
    Ok(Chosen { buy, make })
}

/// Buy lines grouped by supplier (the fallback for those without one); 422
/// `supplier_required` naming the SKUs that have neither.
fn by_supplier(lines: Vec<Line>, fallback: Option<Uuid>) -> ApiResult<BTreeMap<Uuid, Vec<Line>>> {
    let mut groups: BTreeMap<Uuid, Vec<Line>> = BTreeMap::new();
    let mut missing = Vec::new();
    for line in lines {
        match line.supplier_id.or(fallback) {
            Some(supplier) => groups.entry(supplier).or_default().push(line),
            None => missing.push(line.sku),
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::unprocessable(
            "supplier_required",
            format!(
                "never bought before, so name a supplier for: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(groups)
}

fn earliest(lines: &[Line]) -> Option<NaiveDate> {
    lines.iter().filter_map(|line| line.need_by).min()
}

async fn buy(
    db: &impl GenericClient,
    actor: &Actor,
    run: &runs::RunSummary,
    supplier: Uuid,
    lines: &[Line],
) -> ApiResult<Draft> {
    let first = lines.first().map(|line| line.item_id).unwrap_or_default();
    let order = NewPurchaseOrder {
        supplier_id: supplier,
        warehouse_id: run.warehouse_id,
        expected_on: earliest(lines),
        notes: format!("Suggested by MRP run {}", run.id),
        lines: lines
            .iter()
            .map(|line| NewLine {
                item_id: line.item_id,
                quantity: line.planned,
                unit: None,
                unit_price: line.unit_price,
            })
            .collect(),
        // Makes a retried click (or a crash between the order and the line's note of it)
        // answer the same draft.
        reference: Some(format!("mrp:{}:{supplier}:{first}", run.id)),
    };
    let created = purchasing::create(db, actor, order).await?;
    Ok(Draft {
        document_type: "purchase_order".into(),
        id: created.order.id,
        number: created.order.number,
        item_ids: lines.iter().map(|line| line.item_id).collect(),
    })
}

async fn make(
    db: &impl GenericClient,
    actor: &Actor,
    run: &runs::RunSummary,
    line: &Line,
) -> ApiResult<Draft> {
    let order = NewOrder {
        item_id: line.item_id,
        quantity: line.planned,
        unit: None,
        warehouse_id: run.warehouse_id,
        output_location_id: run.output_location_id,
        due_on: line.need_by,
        notes: format!("Suggested by MRP run {}", run.id),
        reference: Some(format!("mrp:{}:{}", run.id, line.item_id)),
    };
    let (order, _) = orders::create(db, actor, order).await?;
    Ok(Draft {
        document_type: "manufacturing_order".into(),
        id: order.order.id,
        number: order.order.number,
        item_ids: vec![line.item_id],
    })
}

/// Notes the draft on the suggestion lines it covers.
async fn remember(db: &impl GenericClient, run: Uuid, draft: &Draft) -> ApiResult<()> {
    db.execute(
        "UPDATE mrp_lines SET document_type = $3, document_id = $4 \
         WHERE run_id = $1 AND item_id = ANY($2)",
        &[&run, &draft.item_ids, &draft.document_type, &draft.id],
    )
    .await?;
    Ok(())
}
