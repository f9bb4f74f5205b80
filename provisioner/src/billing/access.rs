//! The one state machine joining a tenant's lifecycle and its billing. Whatever brings
//! news of a subscription (a webhook event, reconciliation, a plan change, the grace
//! sweep), the news is applied here, under the tenant's row lock:
//!
//! ```text
//! trialing / active      -> served; a tenant suspended for billing or an ended trial is resumed
//! past_due               -> served until `billing_past_due_since + grace`, then suspended (billing)
//! unpaid / paused        -> suspended (billing): the runtime answers 402 payment_required
//! canceled               -> suspended (billing); deleted after the retention period (sweep)
//! incomplete             -> nothing changes (Checkout not finished)
//! ```
//!
//! A tenant suspended by an admin stays suspended whatever billing says; a deleted one is
//! not touched. Every change is audited (actor `stripe` for a webhook, `system`
//! otherwise) and announced on `tenant_changed` in the same transaction, so every runtime
//! sees it when it commits; suspension and restoration queue their email.

use super::mail::{self, EmailKind};
use super::stripe::Subscription;
use super::{BillingError, Enabled};
use crate::tenants;
use chrono::{DateTime, Utc};
use common::entities::{BillingState, SuspensionKind, TenantStatus, tenants as tenant_rows};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

/// Why the mirror is being brought up to date: who the audit log names, and what makes
/// each email unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A webhook event, by its id.
    Event(String),
    /// Reconciliation found Stripe and the mirror apart.
    Reconcile,
    /// A call by a tenant admin or a super-admin (plan change, cancel).
    Call,
    /// The grace period of a failed payment ended.
    GraceEnded,
    /// The tenant's provisioning finished while its mirror already refused access (Stripe
    /// said unpaid, paused or canceled while the database was being made).
    Activated,
}

impl Cause {
    fn actor_kind(&self) -> &'static str {
        match self {
            Self::Event(_) => "stripe",
            Self::Reconcile | Self::Call | Self::GraceEnded | Self::Activated => "system",
        }
    }

    fn action(&self) -> &'static str {
        match self {
            Self::Event(_) => "billing.synced",
            Self::Reconcile => "billing.repaired",
            Self::Call => "billing.changed",
            Self::GraceEnded => "billing.grace_ended",
            Self::Activated => "billing.enforced_at_activation",
        }
    }

    /// What makes an email of this cause distinct from another of the same kind.
    fn email_key(&self, now: DateTime<Utc>) -> String {
        match self {
            Self::Event(id) => id.clone(),
            other => format!("{}:{}", other.action(), now.timestamp_millis()),
        }
    }
}

/// What applying changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// The mirror or the status changed (an audit entry was written).
    pub changed: bool,
    pub access: Option<Access>,
}

/// A change of whether the tenant is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Suspended,
    Restored,
}

/// The mirrored billing columns of a tenant, before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mirror {
    state: BillingState,
    subscription_id: Option<String>,
    plan: String,
    period_start: Option<DateTime<Utc>>,
    period_end: Option<DateTime<Utc>>,
    trial_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    past_due_since: Option<DateTime<Utc>>,
}

impl Mirror {
    fn of(tenant: &tenant_rows::Model) -> Self {
        let utc = |at: Option<sea_orm::prelude::DateTimeWithTimeZone>| at.map(|at| at.to_utc());
        Self {
            state: tenant.billing_state,
            subscription_id: tenant.stripe_subscription_id.clone(),
            plan: tenant.plan_code.clone(),
            period_start: utc(tenant.billing_period_start),
            period_end: utc(tenant.billing_period_end),
            trial_end: utc(tenant.trial_ends_at),
            cancel_at_period_end: tenant.billing_cancel_at_period_end,
            past_due_since: utc(tenant.billing_past_due_since),
        }
    }

    fn audit_view(&self, status: TenantStatus) -> Value {
        json!({
            "status": status,
            "billing_state": self.state,
            "plan": self.plan,
            "subscription": self.subscription_id,
            "period_end": self.period_end,
            "cancel_at_period_end": self.cancel_at_period_end,
        })
    }
}

/// Brings the tenant's mirror to `subscription` (Stripe's current state; `None` when
/// Stripe no longer has the tenant's subscription) and its access with it. Runs inside
/// the caller's transaction.
pub async fn apply(
    txn: &DatabaseTransaction,
    billing: &Enabled,
    tenant_id: Uuid,
    subscription: Option<&Subscription>,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Applied, BillingError> {
    let tenant = lock(txn, tenant_id).await?;
    if matches!(
        tenant.status,
        TenantStatus::Deleting | TenantStatus::Deleted
    ) {
        return Ok(Applied::default());
    }
    let before = Mirror::of(&tenant);
    let Some(after) = mirrored(txn, &before, subscription, now).await? else {
        return Ok(Applied::default());
    };
    if after != before {
        write_mirror(txn, tenant_id, &after, now).await?;
    }
    if after.plan != before.plan {
        crate::role_limits::queue(txn, tenant_id).await?;
    }
    let access = enforce(txn, billing, &tenant, &after, cause, now).await?;
    let changed = after != before || access.is_some();
    if changed {
        let status = tenants::find(txn, tenant_id).await?.status;
        audit(
            txn,
            cause,
            tenant_id,
            before.audit_view(tenant.status),
            after.audit_view(status),
        )
        .await?;
        tenants::notify_changed(txn, tenant_id).await?;
    }
    Ok(Applied { changed, access })
}

/// Suspends a tenant whose failed payment's grace period ended (the sweep's entry point).
pub async fn end_grace(
    txn: &DatabaseTransaction,
    billing: &Enabled,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Applied, BillingError> {
    apply_current(txn, billing, tenant_id, &Cause::GraceEnded, now).await
}

/// Enforces the mirror on a tenant just activated, in the activation's transaction: a
/// refusal mirrored while it was provisioning (which cannot be suspended) suspends it now,
/// instead of serving it until the next reconciliation.
pub async fn enforce_at_activation(
    txn: &DatabaseTransaction,
    billing: &Enabled,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Applied, BillingError> {
    apply_current(txn, billing, tenant_id, &Cause::Activated, now).await
}

/// Re-applies the mirror as it stands (no news from Stripe), enforcing access by it.
async fn apply_current(
    txn: &DatabaseTransaction,
    billing: &Enabled,
    tenant_id: Uuid,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Applied, BillingError> {
    let tenant = lock(txn, tenant_id).await?;
    let mirror = Mirror::of(&tenant);
    let access = enforce(txn, billing, &tenant, &mirror, cause, now).await?;
    if access.is_some() {
        let view = |status| mirror.audit_view(status);
        let status = tenants::find(txn, tenant_id).await?.status;
        audit(txn, cause, tenant_id, view(tenant.status), view(status)).await?;
    }
    Ok(Applied {
        changed: access.is_some(),
        access,
    })
}

/// The mirror after `subscription`; `None` when it brings nothing to apply (a Checkout not
/// finished, or no subscription where there never was one).
async fn mirrored(
    txn: &DatabaseTransaction,
    before: &Mirror,
    subscription: Option<&Subscription>,
    now: DateTime<Utc>,
) -> Result<Option<Mirror>, DbErr> {
    let Some(subscription) = subscription else {
        if before.subscription_id.is_none() || before.state == BillingState::Canceled {
            return Ok(None);
        }
        // Stripe no longer knows the subscription we mirrored: it is gone.
        return Ok(Some(Mirror {
            state: BillingState::Canceled,
            past_due_since: None,
            ..before.clone()
        }));
    };
    if subscription.state == BillingState::Incomplete {
        return Ok(None);
    }
    let plan = match &subscription.price_id {
        Some(price) => plan_of_price(txn, price).await?,
        None => None,
    };
    let past_due_since =
        (subscription.state == BillingState::PastDue).then(|| before.past_due_since.unwrap_or(now));
    let trial_end = match subscription.state {
        BillingState::Trialing => subscription.trial_end.or(before.trial_end),
        _ => before.trial_end,
    };
    Ok(Some(Mirror {
        state: subscription.state,
        subscription_id: Some(subscription.id.clone()),
        plan: plan.unwrap_or_else(|| before.plan.clone()),
        period_start: subscription.period_start,
        period_end: subscription.period_end,
        trial_end,
        cancel_at_period_end: subscription.cancel_at_period_end,
        past_due_since,
    }))
}

/// Suspends or resumes the tenant as `mirror` demands; answers what it did.
async fn enforce(
    txn: &DatabaseTransaction,
    billing: &Enabled,
    tenant: &tenant_rows::Model,
    mirror: &Mirror,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Option<Access>, BillingError> {
    let suspended_for_billing =
        common::entities::suspended_for_payment(tenant.status, tenant.suspension_kind);
    let refuse = match mirror.state {
        BillingState::Active | BillingState::Trialing => None,
        BillingState::PastDue => mirror
            .past_due_since
            .filter(|since| *since + billing.grace <= now)
            .map(|_| "a payment failed and the grace period ended"),
        BillingState::Unpaid => Some("the subscription is unpaid"),
        BillingState::Paused => Some("the subscription is paused"),
        BillingState::Canceled => Some("the subscription was canceled"),
        BillingState::None | BillingState::Incomplete => return Ok(None),
    };
    let access = match refuse {
        Some(reason) if tenant.status == TenantStatus::Active => {
            tenants::suspend_at(txn, tenant.id, SuspensionKind::Billing, reason, now).await?;
            Access::Suspended
        }
        None if suspended_for_billing => {
            tenants::resume(txn, tenant.id).await?;
            Access::Restored
        }
        _ => return Ok(None),
    };
    let kind = match access {
        Access::Suspended => EmailKind::AccessSuspended,
        Access::Restored => EmailKind::AccessRestored,
    };
    mail::queue(txn, tenant, kind, &cause.email_key(now)).await?;
    Ok(Some(access))
}

async fn lock(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
) -> Result<tenant_rows::Model, BillingError> {
    Ok(tenants::find_locked(txn, tenant_id).await?)
}

/// The plan sold at `price_id`, if any.
async fn plan_of_price(db: &impl ConnectionTrait, price_id: &str) -> Result<Option<String>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT code FROM plans WHERE stripe_price_id = $1",
            [price_id.into()],
        ))
        .await?;
    row.map(|row| row.try_get("", "code")).transpose()
}

async fn write_mirror(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
    mirror: &Mirror,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE tenants SET billing_state = $2, stripe_subscription_id = $3, plan_code = $4, \
           billing_period_start = $5, billing_period_end = $6, trial_ends_at = $7, \
           billing_cancel_at_period_end = $8, billing_past_due_since = $9, \
           billing_synced_at = $10, row_version = row_version + 1, updated_at = now() \
         WHERE id = $1",
        [
            tenant_id.into(),
            mirror.state.as_str().into(),
            mirror.subscription_id.clone().into(),
            mirror.plan.clone().into(),
            mirror.period_start.into(),
            mirror.period_end.into(),
            mirror.trial_end.into(),
            mirror.cancel_at_period_end.into(),
            mirror.past_due_since.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Appends a billing change to the control audit log.
async fn audit(
    txn: &DatabaseTransaction,
    cause: &Cause,
    tenant_id: Uuid,
    before: Value,
    after: Value,
) -> Result<(), DbErr> {
    let reason = match cause {
        Cause::Event(id) => Some(format!("Stripe event {id}")),
        _ => None,
    };
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO audit_log (actor_kind, action, target_kind, target_id, before, after, reason) \
         VALUES ($1, $2, 'tenant', $3, $4, $5, $6)",
        [
            cause.actor_kind().into(),
            cause.action().into(),
            tenant_id.to_string().into(),
            before.into(),
            after.into(),
            reason.into(),
        ],
    ))
    .await?;
    Ok(())
}
