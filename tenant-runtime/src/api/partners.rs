//! Partners (`/partners`): customers and suppliers with their addresses; list, show,
//! create, change, and CSV export and import. Thin handlers over
//! `crate::erp::masters::partners`.

use crate::auth::Authorized;
use crate::auth::perm::{MasterDataRead, MasterDataWrite};
use crate::erp::csv::{self, ImportQuery, ImportReport};
use crate::erp::masters::partners::{self, NewPartner, Partner, PartnerChanges, PartnerFilter};
use crate::erp::masters::{Page, PageQuery};
use actix_web::{HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use std::rc::Rc;
use uuid::Uuid;

#[utoipa::path(get, path = "/api/v1/partners", tag = "partners", security(("bearer" = [])),
    params(PartnerFilter, PageQuery),
    responses((status = 200, body = Page<Partner>),
              (status = 422, description = "validation_failed: a malformed query parameter or cursor")))]
pub async fn list(
    auth: Authorized<MasterDataRead>,
    filter: web::Query<PartnerFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<Partner>>> {
    Ok(web::Json(
        partners::list(auth.current.db.client(), &filter, &paging).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/partners/{id}", tag = "partners", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Partner), (status = 404, description = "`partner_not_found`")))]
pub async fn show(
    auth: Authorized<MasterDataRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Partner>> {
    Ok(web::Json(
        partners::find(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/partners", tag = "partners", security(("bearer" = [])),
    request_body = NewPartner,
    responses((status = 201, body = Partner), (status = 409, description = "`partner_code_taken` (codes ignore case)"),
              (status = 422, description = "validation_failed: neither customer nor supplier, a bad email, ...")))]
pub async fn create(
    auth: Authorized<MasterDataWrite>,
    body: Body<NewPartner>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let partner = partners::create(&transaction, &actor, body).await?;
    transaction.commit().await?;
    Ok(HttpResponse::Created().json(partner))
}

#[utoipa::path(patch, path = "/api/v1/partners/{id}", tag = "partners", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PartnerChanges,
    responses((status = 200, body = Partner), (status = 404, description = "`partner_not_found`"),
              (status = 422, description = "validation_failed")))]
pub async fn update(
    auth: Authorized<MasterDataWrite>,
    id: web::Path<Uuid>,
    body: Body<PartnerChanges>,
) -> ApiResult<web::Json<Partner>> {
    let body = body.into_inner()?;
    let mut current = auth.current;
    let actor = current.actor();
    let transaction = current.db.begin().await?;
    let partner = partners::update(&transaction, &actor, *id, body).await?;
    transaction.commit().await?;
    Ok(web::Json(partner))
}

/// Every partner as CSV, by code, streamed.
///
/// Columns: `code,name,is_customer,is_supplier,email,phone,tax_id,payment_terms_days,notes,active`
/// (addresses are not exported). Booleans `true`/`false`. A cell that starts with `=`,
/// `+`, `-`, `@`, a tab, a carriage return or `'` is written with a leading `'` (against
/// formula injection); imports remove it again.
#[utoipa::path(get, path = "/api/v1/partners/export", tag = "partners", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String,
               description = "A CSV attachment (`Content-Disposition: attachment`)")))]
pub async fn export(auth: Authorized<MasterDataRead>) -> HttpResponse {
    let db = Rc::new(auth.current.db);
    csv::download("partners.csv", &partners::CSV_HEADER, move |after| {
        let db = db.clone();
        async move { partners::export_batch(db.client(), after).await }
    })
}

/// Creates or updates partners from CSV (upserts by code, any case; at most 50 MB).
///
/// The header must hold exactly the export's columns, in any order:
/// `code,name,is_customer,is_supplier,email,phone,tax_id,payment_terms_days,notes,active`
/// (empty `payment_terms_days`: 30). Addresses are left as they are. Importing an export
/// changes nothing. Row errors give the line as a spreadsheet shows it (the header is
/// line 1). `mode=all_or_nothing`: with any bad row nothing is applied (still 200,
/// `applied: false`); `mode=valid_rows_only`: good rows are applied, bad ones reported.
/// Either way the import is one transaction: never half applied.
#[utoipa::path(post, path = "/api/v1/partners/import", tag = "partners", security(("bearer" = [])),
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
    let report = partners::import(&transaction, &actor, &body, query.mode).await?;
    if report.applied {
        transaction.commit().await?;
    }
    Ok(web::Json(report))
}
