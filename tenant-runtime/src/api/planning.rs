//! Planning (`/api/v1/planning/...`, plan module `production`): thin handlers over
//! `crate::erp::planning`. Reads need `production.read`; running MRP and making drafts
//! need `production.write` (and `purchasing.write` when drafts include purchase orders).
//! A run plans in a repeatable-read transaction, so every figure comes from one snapshot.

use crate::auth::Authorized;
use crate::auth::perm::{ProductionRead, ProductionWrite};
use crate::erp::planning::dashboard::{self, Dashboard};
use crate::erp::planning::runs::{self, NewRun, Run, RunSummary};
use crate::erp::planning::suggestions::{self, Drafts, MakeDrafts};
use actix_web::{HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use uuid::Uuid;

#[utoipa::path(post, path = "/api/v1/planning/mrp-runs", tag = "planning", security(("bearer" = [])),
    request_body = NewRun,
    responses((status = 201, body = Run, description = "the plan: a line per item with demand, supply or a suggestion, suggestions first"),
              (status = 404, description = "`warehouse_not_found`, `location_not_found`"),
              (status = 409, description = "`bom_cycle`: the active BOMs contain a cycle"),
              (status = 422, description = "`validation_failed`: an inactive warehouse, an output location of another warehouse, or a warehouse without locations")))]
pub async fn run_mrp(
    auth: Authorized<ProductionWrite>,
    body: Body<NewRun>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let run = in_transaction!(auth, |tx, actor| async {
        tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await?;
        runs::run(&tx, &actor, body).await
    });
    Ok(HttpResponse::Created().json(run))
}

#[utoipa::path(get, path = "/api/v1/planning/mrp-runs", tag = "planning", security(("bearer" = [])),
    responses((status = 200, body = Vec<RunSummary>, description = "the latest runs, newest first (50 kept per warehouse)")))]
pub async fn list_runs(auth: Authorized<ProductionRead>) -> ApiResult<web::Json<Vec<RunSummary>>> {
    Ok(web::Json(runs::list(auth.current.db.client()).await?))
}

#[utoipa::path(get, path = "/api/v1/planning/mrp-runs/{id}", tag = "planning", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Run), (status = 404, description = "`mrp_run_not_found`")))]
pub async fn show_run(
    auth: Authorized<ProductionRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Run>> {
    Ok(web::Json(runs::find(auth.current.db.client(), *id).await?))
}

#[utoipa::path(post, path = "/api/v1/planning/mrp-runs/{id}/drafts", tag = "planning", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = MakeDrafts,
    responses((status = 201, body = Drafts, description = "draft purchase orders (one per supplier) and manufacturing orders (one per item) made from the suggestions"),
              (status = 200, body = Drafts, description = "every chosen suggestion had its draft already: nothing made"),
              (status = 403, description = "`forbidden`: purchase orders need `purchasing.write` too"),
              (status = 404, description = "`mrp_run_not_found`; `supplier_not_found`, `item_not_found`"),
              (status = 409, description = "`mrp_run_superseded` (a later run of the warehouse exists); `item_inactive`, `warehouse_inactive`, `location_inactive`: something changed since the run"),
              (status = 422, description = "`supplier_required` (items never bought: name `supplier_id`), `no_active_bom`, `validation_failed` (an item the run suggests nothing for)")))]
pub async fn make_drafts(
    auth: Authorized<ProductionWrite>,
    id: web::Path<Uuid>,
    body: Body<MakeDrafts>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let can_buy = auth.current.can("purchasing.write");
    let drafts = in_transaction!(auth, |tx, actor| suggestions::make_drafts(
        &tx, &actor, *id, body, can_buy
    ));
    Ok(if drafts.created.is_empty() {
        HttpResponse::Ok().json(drafts)
    } else {
        HttpResponse::Created().json(drafts)
    })
}

#[utoipa::path(get, path = "/api/v1/planning/dashboard", tag = "planning", security(("bearer" = [])),
    responses((status = 200, body = Dashboard, description = "orders by state, this week's output against plan, late orders, shortages, the QC pass rate")))]
pub async fn show_dashboard(auth: Authorized<ProductionRead>) -> ApiResult<web::Json<Dashboard>> {
    Ok(web::Json(dashboard::load(auth.current.db.client()).await?))
}
