//! Quality control (`/api/v1/quality/...`, plan module `quality`): thin handlers over
//! `crate::erp::quality`. Reads need `quality.read`, writes `quality.write`; releasing or
//! scrapping a quarantined lot needs `quality.release` (admins and managers, not staff).
//! Each write is one transaction (the change, lot status, stock movement, audit entry and
//! events).

use crate::auth::Authorized;
use crate::auth::perm::{QualityRead, QualityRelease, QualityWrite};
use crate::erp::quality::defects::{self, DefectQuery, DefectReport};
use crate::erp::quality::inspections::{
    self, Inspection, InspectionDecision, InspectionFilter, NewInspection,
};
use crate::erp::quality::lab::{self, LabTest, LabTestFilter, NewLabTest};
use crate::erp::quality::plans::{self, NewPlan, Plan};
use crate::erp::quality::quarantine::{self, NewQuarantine, Quarantine, Resolution};
use actix_web::{HttpResponse, web};
use common::api_error::ApiResult;
use common::http::Body;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanFilter {
    pub item_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/quality/plans", tag = "quality", security(("bearer" = [])),
    params(PlanFilter),
    responses((status = 200, body = Vec<Plan>, description = "the active plans, newest first (at most 500)"),
              (status = 422, description = "validation_failed: a malformed query parameter")))]
pub async fn list_plans(
    auth: Authorized<QualityRead>,
    filter: web::Query<PlanFilter>,
) -> ApiResult<web::Json<Vec<Plan>>> {
    Ok(web::Json(
        plans::list(auth.current.db.client(), filter.item_id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/quality/plans/{id}", tag = "quality", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Plan), (status = 404, description = "`plan_not_found`")))]
pub async fn show_plan(
    auth: Authorized<QualityRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Plan>> {
    Ok(web::Json(plans::find(auth.current.db.client(), *id).await?))
}

#[utoipa::path(post, path = "/api/v1/quality/plans", tag = "quality", security(("bearer" = [])),
    request_body = NewPlan,
    responses((status = 201, body = Plan, description = "created; it replaces the active plan of the same item (or category) and kind"),
              (status = 404, description = "`item_not_found`, `category_not_found`"),
              (status = 422, description = "`validation_failed`: neither or both of item and category, a measured criterion without bounds or with min above max, a pass/fail one with bounds")))]
pub async fn create_plan(
    auth: Authorized<QualityWrite>,
    body: Body<NewPlan>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let plan = in_transaction!(auth, |tx, actor| plans::create(&tx, &actor, body));
    Ok(HttpResponse::Created().json(plan))
}

#[utoipa::path(get, path = "/api/v1/quality/inspections", tag = "quality", security(("bearer" = [])),
    params(InspectionFilter),
    responses((status = 200, body = Vec<Inspection>, description = "the newest 200 matching, newest first"),
              (status = 422, description = "validation_failed: a malformed query parameter")))]
pub async fn list_inspections(
    auth: Authorized<QualityRead>,
    filter: web::Query<InspectionFilter>,
) -> ApiResult<web::Json<Vec<Inspection>>> {
    Ok(web::Json(
        inspections::list(auth.current.db.client(), &filter).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/quality/inspections/{id}", tag = "quality", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Inspection), (status = 404, description = "`inspection_not_found`")))]
pub async fn show_inspection(
    auth: Authorized<QualityRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Inspection>> {
    Ok(web::Json(
        inspections::find(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/quality/inspections", tag = "quality", security(("bearer" = [])),
    request_body = NewInspection,
    responses((status = 201, body = Inspection, description = "opened, with the plan's criteria as pending results; its lot held when asked (final: by default)"),
              (status = 404, description = "`entry_not_found`, `lot_not_found`, `item_not_found`, `plan_not_found`, `work_order_not_found`"),
              (status = 409, description = "`lot_scrapped`: a scrapped lot is not inspected"),
              (status = 422, description = "`validation_failed`: the kind's subject missing (incoming: `receipt_entry_id` of a receipt; in process: `work_order_id` and an item or lot; final: `lot_id`), a plan of another kind, a hold without a lot, quantity not above zero")))]
pub async fn create_inspection(
    auth: Authorized<QualityWrite>,
    body: Body<NewInspection>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let inspection = in_transaction!(auth, |tx, actor| inspections::create(&tx, &actor, body));
    Ok(HttpResponse::Created().json(inspection))
}

#[utoipa::path(post, path = "/api/v1/quality/inspections/{id}/decision", tag = "quality", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = InspectionDecision,
    responses((status = 200, body = Inspection, description = "decided: a pass or conditional gives a held lot back, a fail quarantines the lot (`qc.failed`, `lot.quarantined`)"),
              (status = 404, description = "`inspection_not_found`"),
              (status = 409, description = "`inspection_decided`: decided before"),
              (status = 422, description = "`validation_failed`: a criterion without a result (or two, or an unknown one), a pass/fail result without `passed`, a measured one without `value`, `pass` with a failed criterion, `conditional` without a comment, a bad defect type or quantity")))]
pub async fn decide(
    auth: Authorized<QualityWrite>,
    id: web::Path<Uuid>,
    body: Body<InspectionDecision>,
) -> ApiResult<web::Json<Inspection>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| {
        inspections::decide(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(get, path = "/api/v1/quality/quarantine", tag = "quality", security(("bearer" = [])),
    responses((status = 200, body = Vec<Quarantine>, description = "the lots in quarantine now, longest first: lot, item, on hand, reason, since when")))]
pub async fn list_quarantine(
    auth: Authorized<QualityRead>,
) -> ApiResult<web::Json<Vec<Quarantine>>> {
    Ok(web::Json(quarantine::list(auth.current.db.client()).await?))
}

#[utoipa::path(get, path = "/api/v1/quality/quarantine/{id}", tag = "quality", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Quarantine), (status = 404, description = "`quarantine_not_found`")))]
pub async fn show_quarantine(
    auth: Authorized<QualityRead>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Quarantine>> {
    Ok(web::Json(
        quarantine::find(auth.current.db.client(), *id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/quality/quarantine", tag = "quality", security(("bearer" = [])),
    request_body = NewQuarantine,
    responses((status = 201, body = Quarantine, description = "the lot is quarantined: it cannot be issued, delivered, transferred or reserved (`lot.quarantined`)"),
              (status = 404, description = "`lot_not_found`"),
              (status = 409, description = "`already_quarantined`, `lot_scrapped`"),
              (status = 422, description = "`validation_failed`: a blank reason")))]
pub async fn quarantine_lot(
    auth: Authorized<QualityWrite>,
    body: Body<NewQuarantine>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let record = in_transaction!(auth, |tx, actor| quarantine::create(&tx, &actor, body));
    Ok(HttpResponse::Created().json(record))
}

#[utoipa::path(post, path = "/api/v1/quality/quarantine/{id}/release", tag = "quality", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Resolution,
    responses((status = 200, body = Quarantine, description = "released: the lot is available again (`lot.released`)"),
              (status = 404, description = "`quarantine_not_found`"),
              (status = 409, description = "`quarantine_resolved`: released or scrapped before")))]
pub async fn release(
    auth: Authorized<QualityRelease>,
    id: web::Path<Uuid>,
    body: Body<Resolution>,
) -> ApiResult<web::Json<Quarantine>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| {
        quarantine::release(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(post, path = "/api/v1/quality/quarantine/{id}/scrap", tag = "quality", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Resolution,
    responses((status = 200, body = Quarantine, description = "scrapped: the lot's stock left in one `adjustment` movement at its cost (`movement_id`), the lot is marked scrapped"),
              (status = 404, description = "`quarantine_not_found`"),
              (status = 409, description = "`quarantine_resolved`: released or scrapped before")))]
pub async fn scrap(
    auth: Authorized<QualityRelease>,
    id: web::Path<Uuid>,
    body: Body<Resolution>,
) -> ApiResult<web::Json<Quarantine>> {
    let body = body.into_inner()?;
    Ok(web::Json(in_transaction!(auth, |tx, actor| {
        quarantine::scrap(&tx, &actor, *id, body)
    })))
}

#[utoipa::path(get, path = "/api/v1/quality/lab-tests", tag = "quality", security(("bearer" = [])),
    params(LabTestFilter),
    responses((status = 200, body = Vec<LabTest>, description = "oldest first, at most 500"),
              (status = 422, description = "validation_failed: a malformed query parameter")))]
pub async fn list_lab_tests(
    auth: Authorized<QualityRead>,
    filter: web::Query<LabTestFilter>,
) -> ApiResult<web::Json<Vec<LabTest>>> {
    Ok(web::Json(
        lab::list(auth.current.db.client(), &filter).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/quality/lab-tests", tag = "quality", security(("bearer" = [])),
    request_body = NewLabTest,
    responses((status = 201, body = LabTest), (status = 404, description = "`lot_not_found`"),
              (status = 422, description = "`validation_failed`: a blank test name or unit")))]
pub async fn create_lab_test(
    auth: Authorized<QualityWrite>,
    body: Body<NewLabTest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner()?;
    let test = in_transaction!(auth, |tx, actor| lab::create(&tx, &actor, body));
    Ok(HttpResponse::Created().json(test))
}

#[utoipa::path(get, path = "/api/v1/quality/defects", tag = "quality", security(("bearer" = [])),
    params(DefectQuery),
    responses((status = 200, body = DefectReport, description = "defects of inspections decided in the period, grouped, most first"),
              (status = 422, description = "`validation_failed`: a malformed parameter, `to` before `from`")))]
pub async fn defects(
    auth: Authorized<QualityRead>,
    query: web::Query<DefectQuery>,
) -> ApiResult<web::Json<DefectReport>> {
    Ok(web::Json(
        defects::analyse(auth.current.db.client(), &query).await?,
    ))
}
