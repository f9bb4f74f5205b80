//! Items (`/items`): list, show, create, change, and CSV export and import. Thin handlers
//! over `crate::erp::masters::items`; the CSV plumbing is `crate::erp::csv`.

use crate::auth::Authorized;
use crate::auth::perm::{MasterDataRead, MasterDataWrite};
use crate::erp::csv::{self, ImportQuery, ImportReport};
use crate::erp::masters::items::{self, Item, ItemChanges, ItemFilter, NewItem};
use crate::erp::masters::{Page, PageQuery};
use actix_web::{HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use std::rc::Rc;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/v1/items", tag = "items", security(("bearer" = [])),
    params(ItemFilter, PageQuery),
    responses((status = 200, body = Page<Item>),
              (status = 422, description = "validation_failed: a malformed query parameter or cursor")))]
pub async fn list(
    auth: Authorized<MasterDataRead>,
    filter: web::Query<ItemFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<Item>>> {
    Ok(web::Json(
        items::list(auth.current.db.client(), &filter, &paging).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/items/{id}", tag = "items", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Item), (status = 404, description = "`item_not_found`")))]
pub async fn show(
    auth: Authorized<MasterDataRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Item>> {
    Ok(web::Json(items::find(auth.current.db.client(), *id).await?))
}

#[utoipa::path(post, path = "/api/v1/items", tag = "items", security(("bearer" = [])),
    request_body = NewItem,
    responses((status = 201, body = Item), (status = 409, description = "`sku_taken` (SKUs ignore case)"),
              (status = 422, description = "validation_failed: an unknown unit or category, a conversion to the base unit, a factor of zero or less, ...")))]
pub async fn create(
    auth: Authorized<MasterDataWrite>,
    body: Body<NewItem>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let item = items::create(&transaction, &actor, &body).await?;
    transaction.commit().await?;
    Ok(HttpResponse::Created().json(item))
}

#[utoipa::path(patch, path = "/api/v1/items/{id}", tag = "items", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ItemChanges,
    responses((status = 200, body = Item), (status = 404, description = "`item_not_found`"),
              (status = 422, description = "validation_failed")))]
pub async fn update(
    auth: Authorized<MasterDataWrite>,
    id: web::Path<Uuid>,
    body: Body<ItemChanges>,
) -> ApiResult<web::Json<Item>> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let item = items::update(&transaction, &actor, *id, &body).await?;
    transaction.commit().await?;
    Ok(web::Json(item))
}

/// Every item as CSV, by SKU, streamed.
///
/// Columns: `sku,name,description,kind,base_unit,category,reorder_point,standard_cost,lot_tracked,active,units`.
/// `category` is the category's name (empty: none); `units` the conversions as
/// `unit=factor` joined by `;` (`box=12;kg=0.5`); booleans `true`/`false`. A cell that
/// starts with `=`, `+`, `-`, `@`, a tab, a carriage return or `'` is written with a
/// leading `'` (against formula injection); imports remove it again.
#[utoipa::path(get, path = "/api/v1/items/export", tag = "items", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
               description = "A CSV attachment (`Content-Disposition: attachment`)")))]
pub async fn export(auth: Authorized<MasterDataRead>) -> HttpResponse {
    let db = Rc::new(auth.current.db);
    csv::download("items.csv", &items::CSV_HEADER, move |after| {
        let db = db.clone();
        async move { items::export_batch(db.client(), after).await }
    })
}

/// Creates or updates items from CSV (upserts by SKU, any case; at most 50 MB).
///
/// The header must hold exactly the export's columns, in any order:
/// `sku,name,description,kind,base_unit,category,reorder_point,standard_cost,lot_tracked,active,units`
/// (see `GET /items/export`; `kind`: raw, semi_finished, finished, service; `category` by
/// name; `units` as `box=12;kg=0.5`; empty decimals are 0). Importing an export changes
/// nothing. The answer is a report; row errors give the line as a spreadsheet shows it
/// (the header is line 1). `mode=all_or_nothing`: with any bad row nothing is applied
/// (still 200, `applied: false`); `mode=valid_rows_only`: good rows are applied, bad ones
/// reported. Either way the import is one transaction: never half applied.
#[utoipa::path(post, path = "/api/v1/items/import", tag = "items", security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The CSV file"),
    responses((status = 200, body = ImportReport),
              (status = 413, description = "`payload_too_large`: over 50 MB"),
              (status = 422, description = "`csv_header_invalid` (naming the missing and unknown columns), `validation_failed` (the query)")))]
pub async fn import(
    auth: Authorized<MasterDataWrite>,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> ApiResult<web::Json<ImportReport>> {
    let body = csv::read_capped(payload, csv::MAX_IMPORT_BYTES).await?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let report = items::import(&transaction, &actor, &body, query.mode).await?;
    if report.applied {
        transaction.commit().await?;
    }
    Ok(web::Json(report))
}
