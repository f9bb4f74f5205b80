//! Stock pages (plan module `inventory`): on hand with its filters and total value, the
//! valuation by item / location / category, items below their reorder point, the
//! movements list (newest first; a reverse form per movement for `inventory.write`), a
//! lot's trace, and the CSV download of each report for signed-in users. They read through
//! `erp::stock::queries`, download through `erp::reports` and reverse through
//! `erp::stock::reverse`: the same functions as `/api/v1/stock/...`. The forms that post
//! movements are `web::stock_moves`.

use crate::api::stock::{ENTRY_KINDS, MovementParams};
use crate::auth::perm::{InventoryRead, InventoryWrite};
use crate::erp::masters::warehouses::{self, WarehouseFilter};
use crate::erp::masters::{PageQuery, categories, items};
use crate::erp::stock::queries::{self, BelowReorder, OnHandFilter, ValuationRow};
use crate::erp::stock::{self, Entry, post};
use crate::erp::{csv, reports};
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, ResponseError, web};
use askama::Template;
use chrono::{DateTime, Days, NaiveDate, Utc};
use common::api_error::{ApiError, ApiResult};
use common::web::flash::Flash;
use common::web::form::{FormErrors, any_or};
use common::web::layout::Layout;
use common::web::paging::{Pager, href};
use common::web::render;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::HashMap;
use std::rc::Rc;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Rows per page of the stock lists.
const PAGE_ROWS: i64 = 50;
/// How many warehouses, items and locations the filters and forms offer.
const CHOICES: i64 = 200;

/// Every location (of up to [`CHOICES`] warehouses) and how a page names it:
/// `MAIN / SHELF`.
pub(crate) struct Places(Vec<(Uuid, String, bool)>);

impl Places {
    pub(crate) async fn load(db: &impl GenericClient) -> ApiResult<Self> {
        let stores = warehouses::list(db, &WarehouseFilter::default(), &all()).await?;
        let mut places = Vec::new();
        for store in stores.items {
            for location in warehouses::locations(db, store.id).await? {
                let label = format!("{} / {}", store.code, location.code);
                places.push((location.id, label, store.active && location.active));
            }
        }
        Ok(Self(places))
    }

    /// The label of location `id` (its id when unknown, which a page never hides).
    pub(crate) fn label(&self, id: Uuid) -> String {
        self.0
            .iter()
            .find(|(place, _, _)| *place == id)
            .map_or_else(|| id.to_string(), |(_, label, _)| label.clone())
    }

    /// (id, label) of the locations stock may move in or out of.
    pub(crate) fn active(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(_, _, active)| *active)
            .map(|(id, label, _)| (id.to_string(), label.clone()))
            .collect()
    }

    fn every(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(id, label, _)| (id.to_string(), label.clone()))
            .collect()
    }
}

fn all() -> PageQuery {
    PageQuery {
        limit: Some(CHOICES),
        after: None,
    }
}

/// (id, `SKU name (unit)`) of the active items, for a select.
pub(crate) async fn item_choices(db: &impl GenericClient) -> ApiResult<Vec<(String, String)>> {
    let filter = items::ItemFilter {
        active: Some(true),
        ..items::ItemFilter::default()
    };
    Ok(items::list(db, &filter, &all())
        .await?
        .items
        .into_iter()
        .map(|i| {
            (
                i.id.to_string(),
                format!("{} {} ({})", i.sku, i.name, i.base_unit),
            )
        })
        .collect())
}

/// SKUs by item id, looked up once each.
#[derive(Default)]
struct Skus(HashMap<Uuid, String>);

impl Skus {
    async fn of(&mut self, db: &impl GenericClient, id: Uuid) -> ApiResult<String> {
        if let Some(sku) = self.0.get(&id) {
            return Ok(sku.clone());
        }
        let sku = items::find(db, id).await?.sku;
        self.0.insert(id, sku.clone());
        Ok(sku)
    }
}

/// An optional id from a filter (an empty select is none); 422 on `field` otherwise.
fn optional_id(field: &str, value: &Option<String>) -> ApiResult<Option<Uuid>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(field, "not one of the choices")),
    }
}

/// `(name, value)` pairs of the filters that are set, for links.
fn set<'a>(params: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    params
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

// ---- on hand ----

/// `GET /stock` (and `/stock/export`) filters.
#[derive(Debug, Default, Deserialize)]
pub struct OnHandQuery {
    #[serde(default)]
    warehouse_id: Option<String>,
    #[serde(default)]
    category_id: Option<String>,
    #[serde(default)]
    location_id: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

impl OnHandQuery {
    fn filter(&self) -> ApiResult<OnHandFilter> {
        Ok(OnHandFilter {
            item_id: None,
            warehouse_id: optional_id("warehouse_id", &self.warehouse_id)?,
            location_id: optional_id("location_id", &self.location_id)?,
            category_id: optional_id("category_id", &self.category_id)?,
            after: queries::cursor_i64(self.cursor.as_deref().filter(|c| !c.is_empty()))?,
            limit: PAGE_ROWS,
        })
    }

    fn params(&self) -> [(&'static str, String); 3] {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        [
            ("warehouse_id", text(&self.warehouse_id)),
            ("category_id", text(&self.category_id)),
            ("location_id", text(&self.location_id)),
        ]
    }
}

/// A row of the on-hand table.
struct OnHandLine {
    sku: String,
    item_id: Uuid,
    place: String,
    lot_id: Option<Uuid>,
    lot_code: String,
    on_hand: Decimal,
    reserved: Decimal,
    available: Decimal,
    value: Decimal,
}

#[derive(Template)]
#[template(path = "app/stock/on_hand.html")]
struct OnHandPage {
    layout: Layout,
    rows: Vec<OnHandLine>,
    pager: Pager,
    total_value: Decimal,
    warehouses: Vec<(String, String)>,
    categories: Vec<(String, String)>,
    locations: Vec<(String, String)>,
    warehouse: String,
    category: String,
    location: String,
    export: String,
    may_write: bool,
}

/// `GET /stock`: stock on hand per item, location and lot.
pub async fn on_hand(signed: Signed, query: web::Query<OnHandQuery>) -> PageResult {
    let may_write = signed.can("inventory.write");
    let layout = nav::layout(&signed, "Stock on hand");
    let auth = signed.authorize::<InventoryRead>()?;
    let db = auth.current.db.client();
    let page = queries::on_hand(db, &query.filter()?).await?;
    let places = Places::load(db).await?;
    let stores = warehouses::list(db, &WarehouseFilter::default(), &all()).await?;
    let groups = categories::list(db).await?;
    let params = query.params();
    let mut with_cursor = params.to_vec();
    with_cursor.push(("cursor", query.cursor.clone().unwrap_or_default()));
    let rows = page
        .items
        .into_iter()
        .map(|row| OnHandLine {
            place: places.label(row.location_id),
            sku: row.sku,
            item_id: row.item_id,
            lot_id: row.lot_id,
            lot_code: row.lot_code.unwrap_or_default(),
            on_hand: row.on_hand,
            reserved: row.warehouse_reserved,
            available: row.warehouse_available,
            value: row.value,
        })
        .collect();
    let page = OnHandPage {
        layout,
        rows,
        pager: Pager::new("/stock", &with_cursor, page.next.as_deref()),
        total_value: queries::valuation(db, "location").await?.total_value,
        warehouses: any_or(
            "Any warehouse",
            stores
                .items
                .into_iter()
                .map(|w| (w.id.to_string(), format!("{} {}", w.code, w.name))),
        ),
        categories: any_or(
            "Any category",
            groups.into_iter().map(|c| (c.id.to_string(), c.name)),
        ),
        locations: any_or("Any location", places.every()),
        export: href("/stock/export", &set(&params)),
        warehouse: params[0].1.clone(),
        category: params[1].1.clone(),
        location: params[2].1.clone(),
        may_write,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `GET /stock/export`: the on-hand report as CSV, with the page's filters.
pub async fn on_hand_export(signed: Signed, query: web::Query<OnHandQuery>) -> PageResult {
    let auth = signed.authorize::<InventoryRead>()?;
    let filter = OnHandFilter {
        after: None,
        limit: queries::MAX_LIMIT,
        ..query.filter()?
    };
    let db = Rc::new(auth.current.db);
    Ok(csv::download(
        "stock-on-hand.csv",
        &reports::ON_HAND_HEADER,
        move |after| {
            let (db, filter) = (db.clone(), filter.clone());
            async move { reports::on_hand_batch(db.client(), &filter, after).await }
        },
    ))
}

// ---- valuation and below reorder ----

/// `?group_by=item|location|category`.
#[derive(Debug, Default, Deserialize)]
pub struct ValuationQuery {
    #[serde(default)]
    group_by: Option<String>,
}

impl ValuationQuery {
    /// The grouping asked for (`item` by default); 422 for another word.
    fn group_by(&self) -> ApiResult<String> {
        let group_by = self.group_by.clone().filter(|g| !g.is_empty());
        let group_by = group_by.unwrap_or_else(|| "item".to_owned());
        if !GROUPS.contains(&group_by.as_str()) {
            return Err(ApiError::invalid(
                "group_by",
                "one of `item`, `location`, `category`",
            ));
        }
        Ok(group_by)
    }
}

const GROUPS: [&str; 3] = ["item", "location", "category"];

#[derive(Template)]
#[template(path = "app/stock/valuation.html")]
struct ValuationPage {
    layout: Layout,
    group_by: String,
    groups: [&'static str; 3],
    rows: Vec<ValuationRow>,
    total_value: Decimal,
}

/// `GET /stock/valuation`: stock value by item, location or category.
pub async fn valuation(signed: Signed, query: web::Query<ValuationQuery>) -> PageResult {
    let layout = nav::layout(&signed, "Stock valuation");
    let auth = signed.authorize::<InventoryRead>()?;
    let report = queries::valuation(auth.current.db.client(), &query.group_by()?).await?;
    let page = ValuationPage {
        layout,
        group_by: report.group_by,
        groups: GROUPS,
        rows: report.rows,
        total_value: report.total_value,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `GET /stock/valuation/export`: the valuation as CSV (refused before the first byte
/// for an unknown grouping).
pub async fn valuation_export(signed: Signed, query: web::Query<ValuationQuery>) -> PageResult {
    let auth = signed.authorize::<InventoryRead>()?;
    let group_by = query.group_by()?;
    let db = Rc::new(auth.current.db);
    let filename = format!("stock-valuation-by-{group_by}.csv");
    Ok(csv::download(
        &filename,
        &reports::VALUATION_HEADER,
        move |_| {
            let (db, group_by) = (db.clone(), group_by.clone());
            async move { reports::valuation_batch(db.client(), &group_by).await }
        },
    ))
}

#[derive(Template)]
#[template(path = "app/stock/below_reorder.html")]
struct BelowReorderPage {
    layout: Layout,
    items: Vec<BelowReorder>,
}

/// `GET /stock/below-reorder`: active items whose stock is below their reorder point.
pub async fn below_reorder(signed: Signed) -> PageResult {
    let layout = nav::layout(&signed, "Below reorder point");
    let auth = signed.authorize::<InventoryRead>()?;
    let page = BelowReorderPage {
        layout,
        items: queries::below_reorder(auth.current.db.client()).await?,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// `GET /stock/below-reorder/export`.
pub async fn below_reorder_export(signed: Signed) -> PageResult {
    let auth = signed.authorize::<InventoryRead>()?;
    let db = Rc::new(auth.current.db);
    Ok(csv::download(
        "below-reorder.csv",
        &reports::BELOW_REORDER_HEADER,
        move |_| {
            let db = db.clone();
            async move { reports::below_reorder_batch(db.client()).await }
        },
    ))
}

// ---- movements ----

/// `GET /stock/movements` (and its export) filters: dates are days (UTC), both included.
#[derive(Debug, Default, Deserialize)]
pub struct MovementsQuery {
    #[serde(default)]
    item_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// The start of day `value` (UTC), `days` later; 422 on `field` when it is not a date.
fn day_start(field: &str, value: &Option<String>, days: u64) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(text) = value.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let day: NaiveDate = text
        .parse()
        .map_err(|_| ApiError::invalid(field, "a date, YYYY-MM-DD"))?;
    let day = day
        .checked_add_days(Days::new(days))
        .ok_or_else(|| ApiError::invalid(field, "too far in the future"))?;
    Ok(Some(day.and_time(chrono::NaiveTime::MIN).and_utc()))
}

impl MovementsQuery {
    /// The library's filter, checked as the API checks it (`kind` one of the entry kinds).
    fn filter(&self) -> ApiResult<queries::MovementFilter> {
        let params = MovementParams {
            item_id: optional_id("item_id", &self.item_id)?,
            location_id: None,
            kind: self.kind.clone().filter(|k| !k.is_empty()),
            document_type: None,
            document_id: None,
            from: day_start("from", &self.from, 0)?,
            // "To" a day includes it: entries before the next day's start.
            to: day_start("to", &self.to, 1)?,
        };
        Ok(queries::MovementFilter {
            after: queries::cursor_i64(self.cursor.as_deref().filter(|c| !c.is_empty()))?,
            limit: PAGE_ROWS,
            ..params.into_filter()?
        })
    }

    fn params(&self) -> [(&'static str, String); 4] {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        [
            ("item_id", text(&self.item_id)),
            ("kind", text(&self.kind)),
            ("from", text(&self.from)),
            ("to", text(&self.to)),
        ]
    }
}

/// A row of the movements table.
struct MovementLine {
    entry: Entry,
    sku: String,
    place: String,
    /// This row carries its movement's reverse form (the first row of a movement not
    /// reversed and not itself a reversal).
    reversible: bool,
    reversed: bool,
}

#[derive(Template)]
#[template(path = "app/stock/movements.html")]
struct MovementsPage {
    layout: Layout,
    rows: Vec<MovementLine>,
    pager: Pager,
    items: Vec<(String, String)>,
    kinds: Vec<(String, String)>,
    item: String,
    kind: String,
    from: String,
    to: String,
    export: String,
    may_write: bool,
    errors: FormErrors,
    problems: Vec<(String, String)>,
}

/// `GET /stock/movements`: ledger entries, newest first.
pub async fn movements(signed: Signed, query: web::Query<MovementsQuery>) -> PageResult {
    movements_page(signed, &query, FormErrors::default(), StatusCode::OK).await
}

async fn movements_page(
    signed: Signed,
    query: &MovementsQuery,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("inventory.write");
    let layout = nav::layout(&signed, "Stock movements");
    let auth = signed.authorize::<InventoryRead>()?;
    let db = auth.current.db.client();
    let page = queries::movements(db, &query.filter()?).await?;
    let rows = movement_lines(db, page.items).await?;
    let params = query.params();
    let mut with_cursor = params.to_vec();
    with_cursor.push(("cursor", query.cursor.clone().unwrap_or_default()));
    let page = MovementsPage {
        layout,
        rows,
        pager: Pager::new("/stock/movements", &with_cursor, page.next.as_deref()),
        items: any_or("Any item", item_choices(db).await?),
        kinds: any_or(
            "Any kind",
            ENTRY_KINDS.map(|k| (k.to_owned(), k.replace('_', " "))),
        ),
        export: href("/stock/movements/export", &set(&params)),
        item: params[0].1.clone(),
        kind: params[1].1.clone(),
        from: params[2].1.clone(),
        to: params[3].1.clone(),
        may_write,
        problems: errors.fields_except(&[]),
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// The table rows of `entries`: SKUs, places, and whether each movement may be reversed.
async fn movement_lines(
    db: &impl GenericClient,
    entries: Vec<Entry>,
) -> ApiResult<Vec<MovementLine>> {
    let places = Places::load(db).await?;
    let mut skus = Skus::default();
    // Movement id -> (reversed, a reversal); the first row of each carries the form.
    let mut seen: HashMap<Uuid, (bool, bool)> = HashMap::new();
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let first = !seen.contains_key(&entry.movement_id);
        if first {
            let movement = post::load(db, entry.movement_id).await?;
            let facts = (movement.reversed_by.is_some(), movement.kind == "reversal");
            seen.insert(entry.movement_id, facts);
        }
        let (reversed, reversal) = seen[&entry.movement_id];
        rows.push(MovementLine {
            sku: skus.of(db, entry.item_id).await?,
            place: places.label(entry.location_id),
            reversible: first && !reversed && !reversal,
            reversed,
            entry,
        });
    }
    Ok(rows)
}

/// `GET /stock/movements/export`: the movements as CSV, with the page's filters.
pub async fn movements_export(signed: Signed, query: web::Query<MovementsQuery>) -> PageResult {
    let auth = signed.authorize::<InventoryRead>()?;
    let filter = queries::MovementFilter {
        after: None,
        limit: queries::MAX_LIMIT,
        ..query.filter()?
    };
    let db = Rc::new(auth.current.db);
    Ok(csv::download(
        "stock-movements.csv",
        &reports::MOVEMENTS_HEADER,
        move |after| {
            let (db, filter) = (db.clone(), filter.clone());
            async move { reports::movements_batch(db.client(), &filter, after).await }
        },
    ))
}

/// The reverse form: why, and the form's reference (a repeat posts once).
#[derive(Debug, Deserialize)]
pub struct ReverseForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    reference: String,
}

/// `POST /stock/movements/{id}/reverse`: posts the movement's reversal; a refusal
/// (`already_reversed`, the stock it brought in has left...) is shown on the list.
pub async fn reverse(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<ReverseForm>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let auth = signed.authorize::<InventoryWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let reference = Some(form.reference.trim().to_owned()).filter(|r| !r.is_empty());
    let done = async {
        let tx = current.db.begin().await?;
        let posted = stock::reverse(&tx, &actor, *id, reference, &form.reason).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(posted)
    }
    .await;
    match done {
        Ok(_) => Ok(render::redirect(
            &request,
            "/stock/movements",
            Some(Flash::success("Movement reversed.")),
        )),
        Err(error) => {
            let status = error.status_code();
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            movements_page(signed, &MovementsQuery::default(), errors, status).await
        }
    }
}

// ---- lots ----

#[derive(Template)]
#[template(path = "app/stock/lot.html")]
struct LotPage {
    layout: Layout,
    lot: queries::Lot,
    sku: String,
    /// Where it came from, then where it went.
    sections: [TraceSection; 2],
}

/// Entries of a lot's trace (with their places), oldest first.
struct TraceSection {
    title: &'static str,
    name: &'static str,
    entries: Vec<(Entry, String)>,
}

/// `GET /lots/{id}`: where a lot came from and where it went.
pub async fn lot(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    let layout = nav::layout(&signed, "Lot");
    let auth = signed.authorize::<InventoryRead>()?;
    let db = auth.current.db.client();
    let trace = queries::lot_trace(db, *id).await?;
    let sku = items::find(db, trace.lot.item_id).await?.sku;
    let places = Places::load(db).await?;
    let (came_in, went_out) = trace
        .entries
        .into_iter()
        .map(|entry| {
            let place = places.label(entry.location_id);
            (entry, place)
        })
        .partition(|(entry, _)| entry.quantity > Decimal::ZERO);
    let page = LotPage {
        layout: Layout {
            title: format!("Lot {} of {sku}", trace.lot.code),
            ..layout
        },
        lot: trace.lot,
        sku,
        sections: [
            TraceSection {
                title: "Where it came from",
                name: "came-in",
                entries: came_in,
            },
            TraceSection {
                title: "Where it went",
                name: "went-out",
                entries: went_out,
            },
        ],
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}
