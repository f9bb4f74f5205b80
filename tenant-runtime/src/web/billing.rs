//! The company's billing page, for its admins (`billing.manage`): the plan and the
//! subscription's state, usage this period against the plan's limits, and the ways to pay:
//! subscribe (Stripe Checkout), move to another plan, cancel at the period's end, open
//! Stripe's billing portal. Each calls the API's own function (`api::billing`). Stripe's
//! pages are on another site, so the page answers with a link to follow rather than a
//! redirect (the CSP's `form-action` stays `'self'`).

use crate::api::billing::{
    PlanChoice, cancel_at_period_end, checkout_url, move_to_plan, portal_url, view,
};
use crate::auth::load_users;
use crate::auth::perm::BillingManage;
use crate::state::AppState;
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::ApiError;
use common::billing::BillingView;
use common::web::badge::Badge;
use common::web::flash::Flash;
use common::web::layout::Layout;
use common::web::render;
use common::web::usage::{Unit, UsageBar};
use provisioner::billing::account::billable_plans;
use serde::Deserialize;
use std::sync::atomic::Ordering;

#[derive(Template)]
#[template(path = "app/billing.html")]
struct BillingPage {
    layout: Layout,
    plan_name: String,
    /// `None` when the platform does not bill online (plans are set by its operator).
    billing: Option<BillingView>,
    usage: Vec<UsageBar>,
    plans: Vec<(String, String)>,
    /// A Stripe page to continue to (after subscribe or "manage payment").
    stripe_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    plan: String,
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// `GET /billing`.
pub async fn show(state: web::Data<AppState>, signed: Signed) -> PageResult {
    page(&state, signed, None).await
}

async fn page(state: &AppState, signed: Signed, stripe_url: Option<String>) -> PageResult {
    let layout = nav::layout(&signed, "Billing");
    let handle = signed.current.tenant.0.clone();
    let users = load_users(signed.current.db.client())
        .await
        .map_err(ApiError::from)?
        .iter()
        .filter(|user| user.status != "disabled")
        .count();
    let auth = signed.authorize::<BillingManage>()?;
    let billing = match view(state, auth).await {
        Ok(billing) => Some(billing),
        Err(ApiError::Client(problem)) if problem.code == "billing_disabled" => None,
        Err(error) => return Err(error.into()),
    };
    let plans = billable_plans(&state.control_db)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|(code, name, cents, currency)| {
            let label = format!("{name}: {} {}/month", money(cents), currency.to_uppercase());
            (code, label)
        })
        .collect();
    let mut usage = vec![
        UsageBar::new(
            "Users",
            i64::try_from(users).unwrap_or(i64::MAX),
            Some(i64::from(handle.plan.max_users)),
            Unit::Count,
        ),
        UsageBar::new(
            "Storage",
            handle.storage_bytes.load(Ordering::Relaxed),
            Some(i64::from(handle.plan.max_storage_mb) * 1024 * 1024),
            Unit::Bytes,
        ),
    ];
    if let Some(billing) = &billing {
        usage.push(UsageBar::new(
            "API calls this period",
            billing.usage.api_calls,
            None,
            Unit::Count,
        ));
    }
    let page = BillingPage {
        layout,
        plan_name: handle.plan.code.clone(),
        billing,
        usage,
        plans,
        stripe_url,
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// The badge of a billing state.
fn badge(state: &str) -> Badge {
    Badge::status(state)
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `POST /billing/checkout`: a Stripe Checkout page for the chosen plan.
pub async fn checkout(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: AppForm<PlanForm>,
) -> PageResult {
    let choice = PlanChoice {
        plan: form.form.plan,
    };
    let url = checkout_url(&state, form.signed.authorize::<BillingManage>()?, choice).await?;
    page(&state, Signed::again(&request).await?, Some(url)).await
}

/// `POST /billing/portal`: Stripe's billing portal (payment methods, invoices).
pub async fn portal(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: AppForm<NoFields>,
) -> PageResult {
    let url = portal_url(&state, form.signed.authorize::<BillingManage>()?).await?;
    page(&state, Signed::again(&request).await?, Some(url)).await
}

/// `POST /billing/plan`: moves the subscription to another plan.
pub async fn change_plan(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: AppForm<PlanForm>,
) -> PageResult {
    let choice = PlanChoice {
        plan: form.form.plan,
    };
    let moved = move_to_plan(&state, form.signed.authorize::<BillingManage>()?, choice).await?;
    let flash = Flash::success(format!("You are now on the {} plan.", moved.plan_name));
    Ok(render::redirect(&request, "/billing", Some(flash)))
}

/// `POST /billing/cancel`: ends the subscription at the period's end.
pub async fn cancel(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: AppForm<NoFields>,
) -> PageResult {
    cancel_at_period_end(&state, form.signed.authorize::<BillingManage>()?).await?;
    let flash = Flash::info("The subscription ends at the end of this period.");
    Ok(render::redirect(&request, "/billing", Some(flash)))
}
