//! Self-serve signup (public): a company picks a slug and a plan, gets a tenant on a trial
//! with its admin already able to log in once provisioning finishes, and a welcome email.
//! Rate-limited per client IP; the slug check lets a form say "taken" before submitting.
//!
//! With billing enabled, a plan that will be paid for through Stripe (it has a price, or a
//! trial that ends in Checkout) gets its Stripe customer made in the background (a
//! `stripe_customer` job queued in the signup's transaction, so Stripe being down never
//! fails a signup); a paid plan without a trial answers `checkout_required` and, once the
//! signup is committed, the URL of a Checkout Session made for it (`checkout_url`; `null`
//! when Stripe could not be reached, and then the admin subscribes through the runtime's
//! `POST /api/v1/billing/checkout` once signed in).

use crate::api::error::provision_error;
use crate::api::meta::RequestMeta;
use crate::api::validate;
use crate::audit::{self, Actor, Entry};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult, Validator};
use common::http::Body;
use common::ids::TenantSlug;
use provisioner::billing::account;
use provisioner::tenants::{self as lifecycle, NewTenant};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Days of trial a signup gets when its plan has none of its own.
const DEFAULT_TRIAL_DAYS: i32 = 14;

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    #[schema(schema_with = company_name_schema)]
    pub company_name: String,
    #[schema(schema_with = common::openapi::slug)]
    pub slug: String,
    #[schema(schema_with = common::openapi::email)]
    pub admin_email: String,
    #[schema(schema_with = common::openapi::password)]
    pub admin_password: String,
    /// The code of a public plan that is not archived.
    pub plan: String,
}

fn company_name_schema() -> utoipa::openapi::Object {
    common::openapi::name(200)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub tenant_id: Uuid,
    pub slug: String,
    pub status: String,
    pub job_id: Uuid,
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// Where the company's users sign in once provisioning is done.
    pub login_url: String,
    /// The plan is paid for through Stripe without a trial: once signed in, the admin
    /// subscribes through Checkout (the runtime's `POST /api/v1/billing/checkout`).
    pub checkout_required: bool,
    /// Where to pay when `checkout_required`: a Stripe Checkout Session made for this
    /// signup (`null` when none is needed, or Stripe could not be reached just now).
    pub checkout_url: Option<String>,
}

/// What signup needs to know of the chosen plan.
#[derive(Debug)]
struct SignupPlan {
    trial_days: i32,
    stripe_price_id: Option<String>,
}

impl SignupPlan {
    /// Paid through Stripe from the first day: Checkout comes before anything is billed.
    fn needs_checkout(&self) -> bool {
        self.stripe_price_id.is_some() && self.trial_days == 0
    }

    /// Will meet Stripe sooner or later (a price now, or a trial that ends in Checkout).
    fn needs_customer(&self) -> bool {
        self.stripe_price_id.is_some() || self.trial_days > 0
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SlugQuery {
    pub slug: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlugAvailability {
    pub slug: String,
    pub available: bool,
    /// Why not, when not: `taken`, or what is wrong with the slug.
    pub reason: Option<String>,
}

/// Sign up a company: 202 with the tenant on a trial and its provisioning job (and
/// `checkout_required` when its plan is paid from the first day).
#[utoipa::path(post, path = "/api/v1/signup", tag = "signup", request_body = SignupRequest,
    responses((status = 202, body = SignupResponse),
        (status = 409, description = "`slug_taken`", body = crate::api::openapi::ProblemDoc),
        (status = 422, description = "`validation_failed`, `unknown_plan`", body = crate::api::openapi::ProblemDoc),
        (status = 429, description = "`rate_limited`", body = crate::api::openapi::ProblemDoc),
        (status = 503, description = "`no_capacity`", body = crate::api::openapi::ProblemDoc)))]
pub async fn signup(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: Body<SignupRequest>,
) -> ApiResult<HttpResponse> {
    // `Body` refuses text holding a NUL (422) before it could reach Postgres.
    let body = body.into_inner()?;
    state.signup_limiter.check(meta.ip).await?;
    Validator::default()
        .check("company_name", validate::text(&body.company_name, 200))
        .check("admin_email", validate::email(body.admin_email.trim()))
        .check(
            "admin_password",
            common::passwords::acceptable(&body.admin_password),
        )
        .check(
            "slug",
            TenantSlug::parse(&body.slug)
                .map(drop)
                .map_err(|e| e.to_string()),
        )
        .finish()?;
    let hash = common::passwords::hash_off_thread(body.admin_password.clone())
        .await
        .map_err(ApiError::internal)?;
    let txn = state.db.begin().await?;
    let plan = require_public_plan(&txn, &body.plan).await?;
    let created = lifecycle::create(
        &txn,
        NewTenant {
            slug: body.slug.clone(),
            name: body.company_name.clone(),
            plan: body.plan.clone(),
            admin_email: body.admin_email.clone(),
            admin_password_hash: Some(hash),
        },
    )
    .await
    .map_err(provision_error)?;
    lifecycle::start_trial(&txn, created.tenant_id, DEFAULT_TRIAL_DAYS)
        .await
        .map_err(provision_error)?;
    let billed = state.billing.is_enabled();
    if billed && plan.needs_customer() {
        account::request_customer(&txn, created.tenant_id).await?;
    }
    let checkout_required = billed && plan.needs_checkout();
    let tenant = lifecycle::find(&txn, created.tenant_id)
        .await
        .map_err(provision_error)?;
    let after = json!({ "slug": tenant.slug, "name": tenant.name, "plan": tenant.plan_code,
                        "admin_email": tenant.admin_email,
                        "checkout_required": checkout_required });
    audit::record(
        &txn,
        &meta,
        Entry::new(Actor::Signup, "tenant.signed_up", "tenant", tenant.id).after(after),
    )
    .await?;
    txn.commit().await?;
    let login_url = state.config.tenant_origin.tenant_url(&tenant.slug);
    send_welcome(&state, &tenant.admin_email, &tenant.name, &login_url);
    let checkout_url = match checkout_required {
        true => checkout_for(&state, tenant.id, &tenant.plan_code).await,
        false => None,
    };
    Ok(HttpResponse::Accepted().json(SignupResponse {
        tenant_id: tenant.id,
        slug: tenant.slug,
        status: tenant.status.as_str().to_owned(),
        job_id: created.job_id,
        trial_ends_at: tenant.trial_ends_at.map(|at| at.with_timezone(&Utc)),
        login_url,
        checkout_required,
        checkout_url,
    }))
}

/// A Checkout Session for a new paid signup, or `None` when Stripe cannot make one now:
/// the signup stands either way (its customer job keeps trying), and the admin can start
/// Checkout again from the billing page.
async fn checkout_for(state: &AppState, tenant_id: Uuid, plan: &str) -> Option<String> {
    account::checkout(&state.db, &state.billing, tenant_id, plan)
        .await
        .inspect_err(|error| {
            tracing::warn!(tenant = %tenant_id, "no Checkout Session at signup: {error}");
        })
        .ok()
}

/// Only public, open plans can be picked at signup.
async fn require_public_plan(db: &impl ConnectionTrait, plan: &str) -> ApiResult<SignupPlan> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT trial_days, stripe_price_id FROM plans \
             WHERE code = $1 AND is_public AND NOT archived",
            [plan.into()],
        ))
        .await?;
    match row {
        Some(row) => Ok(SignupPlan {
            trial_days: row.try_get("", "trial_days")?,
            stripe_price_id: row.try_get("", "stripe_price_id")?,
        }),
        None => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_plan",
            format!("there is no plan `{plan}` open for signup"),
        )),
    }
}

fn send_welcome(state: &AppState, to: &str, company: &str, login_url: &str) {
    let body = format!(
        "Welcome to the ERP platform!\n\n\
         Your company {company} is being set up. In a minute or two you can sign in at\n\n  \
         {login_url}\n\n\
         with this email address and the password you chose at signup.\n"
    );
    state
        .mailer
        .send_later(to.to_owned(), format!("Welcome, {company}"), body);
}

/// Whether a slug is valid and free.
#[utoipa::path(get, path = "/api/v1/signup/slug-availability", tag = "signup",
    params(SlugQuery), responses((status = 200, body = SlugAvailability)))]
pub async fn slug_availability(
    state: web::Data<AppState>,
    query: web::Query<SlugQuery>,
) -> ApiResult<web::Json<SlugAvailability>> {
    let slug = query.slug.trim().to_lowercase();
    let reason = match TenantSlug::parse(&slug) {
        Err(error) => Some(format!("slug {error}")),
        Ok(slug) if slug_taken(&state.db, slug.as_str()).await? => Some("taken".to_owned()),
        Ok(_) => None,
    };
    Ok(web::Json(SlugAvailability {
        slug,
        available: reason.is_none(),
        reason,
    }))
}

async fn slug_taken(db: &impl ConnectionTrait, slug: &str) -> ApiResult<bool> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM tenants WHERE lower(slug) = $1) AS taken",
            [slug.into()],
        ))
        .await?;
    Ok(row.map_or(Ok(false), |row| row.try_get("", "taken"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(trial_days: i32, price: Option<&str>) -> SignupPlan {
        SignupPlan {
            trial_days,
            stripe_price_id: price.map(str::to_owned),
        }
    }

    #[test]
    fn only_a_paid_plan_without_a_trial_needs_checkout_at_signup() {
        assert!(plan(0, Some("price_1")).needs_checkout());
        assert!(!plan(14, Some("price_1")).needs_checkout());
        assert!(!plan(0, None).needs_checkout());
    }

    #[test]
    fn a_free_plan_without_a_trial_never_meets_stripe() {
        assert!(!plan(0, None).needs_customer());
        assert!(plan(14, None).needs_customer());
        assert!(plan(0, Some("price_1")).needs_customer());
    }
}
