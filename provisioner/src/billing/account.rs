//! What people do with a company's billing, the same whether a tenant admin asks through
//! the runtime or a super-admin through the admin API: see it ([`overview`]), subscribe
//! through Checkout ([`checkout`]), manage payment methods and invoices in Stripe's
//! billing portal ([`portal`]), move between paid plans ([`change_plan`]) and cancel at
//! the period's end ([`cancel`]).
//!
//! Each tenant has one Stripe customer, made the first time it is needed, with an
//! idempotency key derived from the tenant, so a retry never makes a second one. When
//! Stripe cannot be reached the call answers "try again shortly" and a `stripe_customer`
//! job keeps trying with backoff; the tenant keeps working meanwhile.

use super::access::{self, Cause};
use super::stripe::Checkout;
use super::{Billing, BillingError, Enabled};
use crate::jobs::{self, JobKind};
use crate::provisioner::Provisioner;
use crate::steps::StepError;
use crate::tenants;
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use common::billing::{BillingView, PeriodUsage};
use common::entities::{BillingState, TenantStatus, jobs as job_rows, tenants as tenant_rows};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};
use uuid::Uuid;

/// The company's plan, subscription and this period's usage. Answers
/// [`BillingError::Disabled`] when billing is off (both doors then answer 409).
pub async fn overview(
    db: &impl ConnectionTrait,
    billing: &Billing,
    tenant_id: Uuid,
) -> Result<BillingView, BillingError> {
    let settings = billing.settings()?;
    let tenant = tenants::find(db, tenant_id).await?;
    view(db, settings, &tenant).await
}

async fn view(
    db: &impl ConnectionTrait,
    billing: &Enabled,
    tenant: &tenant_rows::Model,
) -> Result<BillingView, BillingError> {
    let utc = |at: Option<sea_orm::prelude::DateTimeWithTimeZone>| at.map(|at| at.to_utc());
    let period_start = utc(tenant.billing_period_start);
    let since = period_start.map_or_else(month_start, |start| start.date_naive());
    let past_due_since = utc(tenant.billing_past_due_since);
    Ok(BillingView {
        enabled: true,
        plan: tenant.plan_code.clone(),
        plan_name: plan_name(db, &tenant.plan_code).await?,
        state: tenant.billing_state.as_str().to_owned(),
        status: tenant.status.as_str().to_owned(),
        suspension_kind: tenant.suspension_kind.map(|kind| kind.as_str().to_owned()),
        trial_ends_at: utc(tenant.trial_ends_at),
        period_start,
        period_end: utc(tenant.billing_period_end),
        cancel_at_period_end: tenant.billing_cancel_at_period_end,
        grace_ends_at: grace_end(billing, past_due_since),
        past_due_since,
        subscribed: subscribed(tenant),
        usage: PeriodUsage {
            api_calls: api_calls_since(db, tenant.id, since).await?,
            since,
        },
    })
}

/// When a failed payment's grace period ends, if one runs.
pub fn grace_end(
    billing: &Enabled,
    past_due_since: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let grace = chrono::Duration::from_std(billing.grace).unwrap_or_default();
    past_due_since.map(|since| since + grace)
}

/// A Checkout Session for `plan`; answers the URL to send the customer to.
pub async fn checkout(
    db: &impl ConnectionTrait,
    billing: &Billing,
    tenant_id: Uuid,
    plan: &str,
) -> Result<String, BillingError> {
    let settings = billing.settings()?;
    let tenant = live_tenant(db, tenant_id).await?;
    let price = price_of(db, plan).await?;
    if subscribed(&tenant) {
        return Err(BillingError::AlreadySubscribed);
    }
    let customer = ensure_customer(db, settings, &tenant).await?;
    let (success_url, cancel_url) = (
        settings.success_url(&tenant.slug),
        settings.cancel_url(&tenant.slug),
    );
    let url = settings
        .api
        .create_checkout(&Checkout {
            tenant_id,
            customer_id: &customer,
            price_id: &price,
            success_url: &success_url,
            cancel_url: &cancel_url,
        })
        .await?;
    Ok(url)
}

/// A Billing Portal session (payment methods, invoices); answers its URL.
pub async fn portal(
    db: &impl ConnectionTrait,
    billing: &Billing,
    tenant_id: Uuid,
) -> Result<String, BillingError> {
    let settings = billing.settings()?;
    let tenant = live_tenant(db, tenant_id).await?;
    let customer = ensure_customer(db, settings, &tenant).await?;
    let url = settings
        .api
        .create_portal(&customer, &settings.billing_page(&tenant.slug))
        .await?;
    Ok(url)
}

/// Moves a subscribed company to another paid plan (the subscription item's price
/// changes; Stripe prorates) and mirrors the result at once.
pub async fn change_plan(
    db: &(impl ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>),
    billing: &Billing,
    tenant_id: Uuid,
    plan: &str,
) -> Result<BillingView, BillingError> {
    let settings = billing.settings()?;
    let tenant = live_tenant(db, tenant_id).await?;
    let price = price_of(db, plan).await?;
    if tenant.plan_code == plan {
        return Err(BillingError::SamePlan(plan.to_owned()));
    }
    let subscription = current(settings, &tenant).await?;
    let updated = settings.api.change_price(&subscription, &price).await?;
    mirror_now(db, billing, tenant_id, &updated).await
}

/// Ends the subscription at the end of its period (access continues until then).
pub async fn cancel(
    db: &(impl ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>),
    billing: &Billing,
    tenant_id: Uuid,
) -> Result<BillingView, BillingError> {
    let settings = billing.settings()?;
    let tenant = live_tenant(db, tenant_id).await?;
    let subscription = current(settings, &tenant).await?;
    let updated = settings
        .api
        .cancel_at_period_end(&subscription.id, true)
        .await?;
    mirror_now(db, billing, tenant_id, &updated).await
}

/// Applies what Stripe answered right away (the webhook that follows changes nothing
/// more) and answers the new view.
async fn mirror_now(
    db: &(impl ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>),
    billing: &Billing,
    tenant_id: Uuid,
    subscription: &super::Subscription,
) -> Result<BillingView, BillingError> {
    let settings = billing.settings()?;
    let txn = db.begin().await?;
    access::apply(
        &txn,
        settings,
        tenant_id,
        Some(subscription),
        &Cause::Call,
        Utc::now(),
    )
    .await?;
    txn.commit().await?;
    overview(db, billing, tenant_id).await
}

/// The tenant's subscription as Stripe has it now.
async fn current(
    billing: &Enabled,
    tenant: &tenant_rows::Model,
) -> Result<super::Subscription, BillingError> {
    if !subscribed(tenant) {
        return Err(BillingError::NoSubscription);
    }
    let id = tenant
        .stripe_subscription_id
        .as_deref()
        .ok_or(BillingError::NoSubscription)?;
    billing
        .api
        .subscription(id)
        .await?
        .ok_or(BillingError::NoSubscription)
}

/// Whether the tenant has a subscription that is not over.
fn subscribed(tenant: &tenant_rows::Model) -> bool {
    tenant.stripe_subscription_id.is_some()
        && !matches!(
            tenant.billing_state,
            BillingState::Canceled | BillingState::None | BillingState::Incomplete
        )
}

/// The tenant, unless it is deleted or being deleted.
async fn live_tenant(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<tenant_rows::Model, BillingError> {
    let tenant = tenants::find(db, tenant_id).await?;
    if matches!(
        tenant.status,
        TenantStatus::Deleting | TenantStatus::Deleted
    ) {
        return Err(BillingError::TenantDeleted);
    }
    Ok(tenant)
}

/// The Stripe price of an open plan; [`BillingError::PlanNotBillable`] naming the plan
/// when it has none.
/// The plans a company can subscribe to or move to: open (public, not archived) and with
/// a Stripe price, as (code, name, price in cents, currency), cheapest first.
pub async fn billable_plans(
    db: &impl ConnectionTrait,
) -> Result<Vec<(String, String, i64, String)>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT code, name, price_cents, currency FROM plans \
             WHERE is_public AND NOT archived AND stripe_price_id IS NOT NULL \
             ORDER BY price_cents, code",
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("", "code")?,
                row.try_get("", "name")?,
                row.try_get("", "price_cents")?,
                row.try_get("", "currency")?,
            ))
        })
        .collect()
}

async fn price_of(db: &impl ConnectionTrait, plan: &str) -> Result<String, BillingError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT stripe_price_id FROM plans WHERE code = $1 AND NOT archived",
            [plan.into()],
        ))
        .await?
        .ok_or_else(|| BillingError::UnknownPlan(plan.to_owned()))?;
    let price: Option<String> = row.try_get("", "stripe_price_id")?;
    price.ok_or_else(|| BillingError::PlanNotBillable(plan.to_owned()))
}

async fn plan_name(db: &impl ConnectionTrait, plan: &str) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT name FROM plans WHERE code = $1",
            [plan.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "name")?,
        None => plan.to_owned(),
    })
}

fn month_start() -> NaiveDate {
    let today = Utc::now().date_naive();
    today.with_day0(0).unwrap_or(today)
}

async fn api_calls_since(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    since: NaiveDate,
) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT coalesce(sum(api_calls), 0)::bigint AS calls FROM tenant_usage_daily \
             WHERE tenant_id = $1 AND day >= $2",
            [tenant_id.into(), since.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "calls")?,
        None => 0,
    })
}

/// The tenant's Stripe customer, made now if it has none. When Stripe cannot be reached a
/// `stripe_customer` job is queued to keep trying, and the caller hears "try again".
async fn ensure_customer(
    db: &impl ConnectionTrait,
    billing: &Enabled,
    tenant: &tenant_rows::Model,
) -> Result<String, BillingError> {
    if let Some(customer) = &tenant.stripe_customer_id {
        return Ok(customer.clone());
    }
    match create_customer(db, billing, tenant).await {
        Err(BillingError::Unavailable(cause)) => {
            request_customer(db, tenant.id).await?;
            Err(BillingError::Unavailable(cause))
        }
        other => other,
    }
}

/// Creates the customer (idempotently, keyed by the tenant) and stores its id, unless
/// another caller stored one first; answers the stored id.
async fn create_customer(
    db: &impl ConnectionTrait,
    billing: &Enabled,
    tenant: &tenant_rows::Model,
) -> Result<String, BillingError> {
    let created = billing
        .api
        .create_customer(tenant.id, &tenant.admin_email, &tenant.name)
        .await?;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE tenants SET stripe_customer_id = coalesce(stripe_customer_id, $2), \
               updated_at = now() WHERE id = $1 RETURNING stripe_customer_id",
            [tenant.id.into(), created.into()],
        ))
        .await?
        .ok_or(BillingError::TenantNotFound(tenant.id))?;
    Ok(row.try_get("", "stripe_customer_id")?)
}

/// Queues a `stripe_customer` job for the tenant unless one is queued or running, so its
/// customer is made in the background (signup on a paid plan, or Stripe was down).
pub async fn request_customer(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<(), DbErr> {
    let pending = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS found FROM jobs WHERE tenant_id = $1 AND kind = $2 \
             AND state IN ('queued', 'running')",
            [tenant_id.into(), JobKind::StripeCustomer.as_str().into()],
        ))
        .await?;
    if pending.is_none() {
        jobs::enqueue(db, JobKind::StripeCustomer, tenant_id).await?;
    }
    Ok(())
}

impl Provisioner {
    /// The `stripe_customer` job: one step that makes the tenant's customer.
    pub(crate) async fn stripe_customer(
        &self,
        job: &job_rows::Model,
        tenant_id: Uuid,
    ) -> Result<(), StepError> {
        self.step(job, "create_customer", || async {
            let billing = self
                .billing
                .settings()
                .map_err(|error| StepError::Permanent(error.to_string()))?;
            let tenant = tenants::find(&self.control_db, tenant_id).await?;
            if tenant.stripe_customer_id.is_some() || tenant.status == TenantStatus::Deleted {
                return Ok(());
            }
            create_customer(&self.control_db, billing, &tenant)
                .await
                .map(drop)
                .map_err(|error| match error {
                    BillingError::Unavailable(cause) => StepError::Transient(cause),
                    BillingError::Db(error) => error.into(),
                    other => StepError::Permanent(other.to_string()),
                })
        })
        .await
    }
}
