//! A company's billing, for its admins (`billing.manage`, which only the `admin` role
//! holds; reading is gated too, since the view shows the subscription and usage): see it,
//! subscribe through Stripe Checkout, open Stripe's billing portal, change the paid plan,
//! cancel at the period's end. The work is `provisioner::billing::account`, the same the
//! admin API calls; its errors map to HTTP once, in `provisioner::billing::BillingError`.
//! A tenant suspended for billing still reaches these routes (the gate lets them through),
//! so its admin can pay. Plan changes and cancellations go to the tenant's audit log.

use crate::auth::Authorized;
use crate::auth::perm::BillingManage;
use crate::db;
use crate::gate::Tenant;
use crate::state::AppState;
use actix_web::web;
use common::api_error::{ApiError, ApiResult};
use common::billing::BillingView;
use common::http::Body;
use common::tenant_audit::{self as audit, Actor};
use provisioner::billing::account;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChoice {
    /// The code of a paid plan (one with a Stripe price).
    #[schema(schema_with = plan_schema)]
    pub plan: String,
}

fn plan_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .min_length(Some(2))
        .max_length(Some(40))
        .pattern(Some(common::ids::PLAN_CODE_PATTERN))
        .build()
}

/// A signed-in holder of `billing.manage` and their company. The tenant connection that
/// checked the permission goes back to the pool here: a Stripe call can take seconds, and
/// the server's connection budget is shared by all its tenants.
struct Caller {
    tenant: Tenant,
    actor: Actor,
}

impl Caller {
    fn new(auth: Authorized<BillingManage>) -> Self {
        let current = auth.current;
        Self {
            actor: current.actor(),
            tenant: current.tenant,
        }
    }

    fn tenant_id(&self) -> uuid::Uuid {
        self.tenant.0.id
    }
}

/// Where to send the user's browser next (a Stripe-hosted page).
#[derive(Debug, Serialize, ToSchema)]
pub struct Redirect {
    #[schema(format = "uri")]
    pub url: String,
}

#[utoipa::path(get, path = "/api/v1/billing", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = BillingView),
              (status = 409, description = "`billing_disabled`: the platform does not bill \
                  through Stripe (plans are assigned by its operators)")))]
pub async fn show(
    state: web::Data<AppState>,
    auth: Authorized<BillingManage>,
) -> ApiResult<web::Json<BillingView>> {
    Ok(web::Json(view(&state, auth).await?))
}

/// The company's plan, subscription state and usage this period.
pub async fn view(state: &AppState, auth: Authorized<BillingManage>) -> ApiResult<BillingView> {
    let caller = Caller::new(auth);
    Ok(account::overview(&state.control_db, state.billing(), caller.tenant_id()).await?)
}

/// Starts a subscription: answers the URL of a Stripe Checkout Session for `plan`.
#[utoipa::path(post, path = "/api/v1/billing/checkout", tag = "billing",
    security(("bearer" = [])), request_body = PlanChoice,
    responses((status = 200, body = Redirect),
              (status = 409, description = "`billing_disabled`; `plan_not_billable` (the plan \
                  has no Stripe price; the detail names it); `already_subscribed` (change the \
                  plan instead)"),
              (status = 422, description = "`unknown_plan`: no open plan has this code"),
              (status = 502, description = "`stripe_error`: Stripe refused the request"),
              (status = 503, description = "`billing_unavailable`: Stripe cannot be reached; \
                  retry after `Retry-After`")))]
pub async fn checkout(
    state: web::Data<AppState>,
    auth: Authorized<BillingManage>,
    body: Body<PlanChoice>,
) -> ApiResult<web::Json<Redirect>> {
    let url = checkout_url(&state, auth, body.into_inner()?).await?;
    Ok(web::Json(Redirect { url }))
}

/// The Stripe Checkout page that subscribes the company to `choice`'s plan.
pub async fn checkout_url(
    state: &AppState,
    auth: Authorized<BillingManage>,
    choice: PlanChoice,
) -> ApiResult<String> {
    let plan = plan_code(choice)?;
    let caller = Caller::new(auth);
    let billing = state.billing();
    Ok(account::checkout(&state.control_db, billing, caller.tenant_id(), &plan).await?)
}

/// Answers the URL of a Stripe billing portal session (payment methods, invoices).
#[utoipa::path(post, path = "/api/v1/billing/portal", tag = "billing",
    security(("bearer" = [])),
    responses((status = 200, body = Redirect),
              (status = 409, description = "`billing_disabled`"),
              (status = 502, description = "`stripe_error`: Stripe refused the request"),
              (status = 503, description = "`billing_unavailable`: Stripe cannot be reached; \
                  retry after `Retry-After`")))]
pub async fn portal(
    state: web::Data<AppState>,
    auth: Authorized<BillingManage>,
) -> ApiResult<web::Json<Redirect>> {
    Ok(web::Json(Redirect {
        url: portal_url(&state, auth).await?,
    }))
}

/// Stripe's billing portal for the company (payment methods, invoices).
pub async fn portal_url(state: &AppState, auth: Authorized<BillingManage>) -> ApiResult<String> {
    let caller = Caller::new(auth);
    Ok(account::portal(&state.control_db, state.billing(), caller.tenant_id()).await?)
}

/// Moves the subscription to another paid plan (Stripe prorates); answers the new view.
#[utoipa::path(post, path = "/api/v1/billing/plan", tag = "billing",
    security(("bearer" = [])), request_body = PlanChoice,
    responses((status = 200, body = BillingView),
              (status = 409, description = "`billing_disabled`; `plan_not_billable` (the plan \
                  has no Stripe price; the detail names it); `no_subscription` (subscribe \
                  through Checkout first); `same_plan`"),
              (status = 422, description = "`unknown_plan`: no open plan has this code"),
              (status = 502, description = "`stripe_error`: Stripe refused the request"),
              (status = 503, description = "`billing_unavailable`: Stripe cannot be reached; \
                  retry after `Retry-After`")))]
pub async fn change_plan(
    state: web::Data<AppState>,
    auth: Authorized<BillingManage>,
    body: Body<PlanChoice>,
) -> ApiResult<web::Json<BillingView>> {
    Ok(web::Json(
        move_to_plan(&state, auth, body.into_inner()?).await?,
    ))
}

/// Moves the subscription to `choice`'s plan, recorded in the company's audit log.
pub async fn move_to_plan(
    state: &AppState,
    auth: Authorized<BillingManage>,
    choice: PlanChoice,
) -> ApiResult<BillingView> {
    let plan = plan_code(choice)?;
    let caller = Caller::new(auth);
    let before = json!({ "plan": caller.tenant.0.plan.code });
    let billing = state.billing();
    let view = account::change_plan(&state.control_db, billing, caller.tenant_id(), &plan).await?;
    let after = json!({ "plan": view.plan, "state": view.state });
    record(&caller, "billing.plan_changed", before, after).await;
    Ok(view)
}

/// Ends the subscription at the end of its period (access continues until then).
#[utoipa::path(post, path = "/api/v1/billing/cancel", tag = "billing",
    security(("bearer" = [])),
    responses((status = 200, body = BillingView),
              (status = 409, description = "`billing_disabled`; `no_subscription`"),
              (status = 502, description = "`stripe_error`: Stripe refused the request"),
              (status = 503, description = "`billing_unavailable`: Stripe cannot be reached; \
                  retry after `Retry-After`")))]
pub async fn cancel(
    state: web::Data<AppState>,
    auth: Authorized<BillingManage>,
) -> ApiResult<web::Json<BillingView>> {
    Ok(web::Json(cancel_at_period_end(&state, auth).await?))
}

/// Ends the subscription at its period's end, recorded in the company's audit log.
pub async fn cancel_at_period_end(
    state: &AppState,
    auth: Authorized<BillingManage>,
) -> ApiResult<BillingView> {
    let caller = Caller::new(auth);
    let view = account::cancel(&state.control_db, state.billing(), caller.tenant_id()).await?;
    let after = json!({
        "cancel_at_period_end": view.cancel_at_period_end,
        "period_end": view.period_end,
    });
    record(&caller, "billing.canceled", Value::Null, after).await;
    Ok(view)
}

/// The plan code, checked at the edge as the plans table checks it (422 naming `plan`).
fn plan_code(choice: PlanChoice) -> ApiResult<String> {
    common::ids::valid_plan_code(&choice.plan)
        .map_err(|message| ApiError::invalid("plan", message))?;
    Ok(choice.plan)
}

/// Writes the tenant's own audit entry for a billing change. The change is already done
/// (in Stripe and the control database, whose audit log has it too) and cannot be rolled
/// back with this entry, so a failed write is logged rather than turned into an error
/// that would make the caller retry a change that happened.
async fn record(caller: &Caller, action: &str, before: Value, after: Value) {
    let entry = audit::Entry {
        action,
        target_kind: "billing",
        target_id: caller.tenant_id().to_string(),
        before: (!before.is_null()).then_some(before),
        after: Some(after),
    };
    let written = match db::connect(&caller.tenant).await {
        Ok(connection) => audit::record(connection.client(), &caller.actor, entry)
            .await
            .map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = written {
        tracing::error!(error, action, tenant = %caller.tenant_id(),
            "the tenant audit entry of a billing change was not written");
    }
}
