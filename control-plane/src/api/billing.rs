//! `/api/v1/tenants/{id}/billing`: what super-admins see and change of a company's
//! billing: the same [`BillingView`] and the same calls as the tenant admin's door on the
//! runtime (`provisioner::billing::account`), so both mean the same thing. A change (a
//! move between paid plans, a cancel at the period's end) is made in Stripe, mirrored, and
//! audited in the request's transaction; errors map through `From<BillingError>`, written
//! once beside the error. With billing disabled every route answers 409
//! `billing_disabled`.

use crate::api::meta::RequestMeta;
use crate::api::tenants::Reason;
use crate::api::validate;
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::web;
use common::api_error::{ApiResult, Validator};
use common::billing::BillingView;
use common::http::Body;
use provisioner::billing::account;
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

/// A move to another paid plan.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanChange {
    /// The code of an open plan with a Stripe price.
    #[schema(min_length = 1, max_length = 40)]
    pub plan: String,
}

/// The company's plan, subscription state and this period's usage.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/billing", tag = "billing", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = BillingView),
        (status = 404, description = "`tenant_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`billing_disabled`: no Stripe key is configured", body = crate::api::openapi::ProblemDoc)))]
pub async fn show(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<BillingView>> {
    Ok(web::Json(
        show_billing(&state, &admin, path.into_inner()).await?,
    ))
}

/// The company's plan, subscription state and this period's usage (409
/// `billing_disabled` without a Stripe key).
pub async fn show_billing(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    tenant_id: Uuid,
) -> ApiResult<BillingView> {
    Ok(account::overview(&state.db, &state.billing, tenant_id).await?)
}

/// Move a subscribed company to another paid plan (Stripe prorates); audited.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/billing/plan", tag = "billing", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PlanChange,
    responses((status = 200, body = BillingView),
        (status = 404, description = "`tenant_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`billing_disabled`, `no_subscription`, `plan_not_billable` (the plan has no Stripe price; the detail names it), `same_plan`, `invalid_transition` (deleted tenant)", body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`unknown_plan`", body = crate::api::openapi::ProblemDoc),
        (status = 502, description = "`stripe_error`: Stripe refused the change", body = crate::api::openapi::ProblemDoc),
        (status = 503, description = "`billing_unavailable`: Stripe cannot be reached; try again after `Retry-After`", body = crate::api::openapi::ProblemDoc)))]
pub async fn change_plan(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageBilling>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<PlanChange>,
) -> ApiResult<web::Json<BillingView>> {
    let view =
        change_billed_plan(&state, &admin, &meta, path.into_inner(), body.into_inner()?).await?;
    Ok(web::Json(view))
}

/// Move a subscribed company to another paid plan through Stripe (audited).
pub async fn change_billed_plan(
    state: &AppState,
    admin: &Authorized<perm::ManageBilling>,
    meta: &RequestMeta,
    id: Uuid,
    body: PlanChange,
) -> ApiResult<BillingView> {
    let txn = state.db.begin().await?;
    let before = account::overview(&txn, &state.billing, id).await?;
    let after = account::change_plan(&txn, &state.billing, id, body.plan.trim()).await?;
    let entry = Entry::new(admin, "billing.plan_changed", "tenant", id)
        .before(audited(&before))
        .after(audited(&after));
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    Ok(after)
}

/// End the company's subscription at the end of its period (served until then); audited
/// with the reason.
#[utoipa::path(post, path = "/api/v1/tenants/{id}/billing/cancel", tag = "billing", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Reason,
    responses((status = 200, body = BillingView),
        (status = 404, description = "`tenant_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`billing_disabled`, `no_subscription`, `invalid_transition` (deleted tenant)", body = crate::api::openapi::ProblemDoc),
        (status = 502, description = "`stripe_error`: Stripe refused the change", body = crate::api::openapi::ProblemDoc),
        (status = 503, description = "`billing_unavailable`: Stripe cannot be reached; try again after `Retry-After`", body = crate::api::openapi::ProblemDoc)))]
pub async fn cancel(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageBilling>,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<Reason>,
) -> ApiResult<web::Json<BillingView>> {
    let view =
        cancel_subscription(&state, &admin, &meta, path.into_inner(), body.into_inner()?).await?;
    Ok(web::Json(view))
}

/// End the company's subscription at its period's end (audited with the reason).
pub async fn cancel_subscription(
    state: &AppState,
    admin: &Authorized<perm::ManageBilling>,
    meta: &RequestMeta,
    id: Uuid,
    body: Reason,
) -> ApiResult<BillingView> {
    Validator::default()
        .check("reason", validate::reason(&body.reason))
        .finish()?;
    let txn = state.db.begin().await?;
    let before = account::overview(&txn, &state.billing, id).await?;
    let after = account::cancel(&txn, &state.billing, id).await?;
    let entry = Entry::new(admin, "billing.canceled", "tenant", id)
        .before(audited(&before))
        .after(audited(&after))
        .reason(body.reason.trim());
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    Ok(after)
}

/// What the audit log keeps of a view: the subscription's facts, not this period's usage
/// (which changes on its own and says nothing about the change).
fn audited(view: &BillingView) -> Value {
    json!({
        "plan": view.plan,
        "state": view.state,
        "status": view.status,
        "period_end": view.period_end,
        "cancel_at_period_end": view.cancel_at_period_end,
    })
}
