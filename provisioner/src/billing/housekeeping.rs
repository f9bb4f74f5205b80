//! Billing's time-driven work, run by provisioner workers (any number at once, each piece
//! of it idempotent):
//!
//! - **grace**: a tenant whose payment failed more than the grace period ago (by the
//!   provisioner's clock) is suspended for billing;
//! - **retention**: a tenant suspended because its subscription was canceled is deleted
//!   after the retention period, through the delete saga (final backup kept);
//! - **metered usage**: each finished day of a subscribed tenant's API calls
//!   (`tenant_usage_daily`) is reported to the Stripe meter with the identifier
//!   `usage-{tenant}-{day}`, then recorded in `billing_usage_reports`; a crash between the
//!   two sends the same identifier again, which Stripe counts once;
//! - **reconciliation**: every subscription Stripe has is applied to its tenant, and every
//!   tenant we think is subscribed is checked against Stripe, so a missed webhook never
//!   leaves a paying tenant suspended or a canceled one served (repairs are audited).

use super::access::{self, Cause};
use super::events::governing;
use super::stripe::{MeterReport, Subscription};
use super::{BillingError, Enabled};
use crate::provisioner::Provisioner;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait};
use std::collections::HashMap;
use uuid::Uuid;

/// What one billing sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingSweep {
    /// Suspended because the grace period of a failed payment ended.
    pub suspended: Vec<Uuid>,
    /// Deleted because the subscription was canceled longer than the retention ago.
    pub deleting: Vec<Uuid>,
}

/// What one usage report did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageRun {
    /// Tenant-days sent to the meter.
    pub reported: usize,
    /// Tenant-days Stripe already had (a rerun after a crash).
    pub already_reported: usize,
}

/// What one reconciliation pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileRun {
    pub checked: usize,
    pub repaired: usize,
}

/// Days of usage are reported once they ended this long ago, so the runtimes' last
/// flushes (every few seconds, and at shutdown) are in.
const REPORT_AFTER_DAY_END_HOURS: i64 = 1;

impl Provisioner {
    /// Grace and retention, at the clock's time. Does nothing when billing is disabled.
    pub async fn sweep_billing(&self) -> Result<BillingSweep, BillingError> {
        let Ok(billing) = self.billing.settings() else {
            return Ok(BillingSweep::default());
        };
        let now = self.clock.now();
        Ok(BillingSweep {
            suspended: self.end_grace_periods(billing, now).await?,
            deleting: self.delete_after_retention(billing, now).await?,
        })
    }

    async fn end_grace_periods(
        &self,
        billing: &Enabled,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, BillingError> {
        let cutoff = now - chrono::Duration::from_std(billing.grace).unwrap_or_default();
        let due = self
            .tenant_ids(
                "SELECT id FROM tenants WHERE status = 'active' AND billing_state = 'past_due' \
                 AND billing_past_due_since <= $1 ORDER BY id",
                cutoff,
            )
            .await?;
        let mut suspended = Vec::new();
        for id in due {
            let txn = self.control_db.begin().await?;
            let applied = access::end_grace(&txn, billing, id, now).await?;
            txn.commit().await?;
            if applied.access.is_some() {
                suspended.push(id);
            }
        }
        Ok(suspended)
    }

    async fn delete_after_retention(
        &self,
        billing: &Enabled,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, BillingError> {
        let cutoff =
            now - chrono::Duration::from_std(billing.canceled_retention).unwrap_or_default();
        let due = self
            .tenant_ids(
                "SELECT id FROM tenants WHERE status = 'suspended' AND suspension_kind = 'billing' \
                 AND billing_state = 'canceled' AND suspended_at <= $1 ORDER BY id",
                cutoff,
            )
            .await?;
        let reason = "the subscription was canceled and its retention period ended";
        Ok(self.delete_all(due, reason).await?)
    }

    /// Reports every finished, unreported day of subscribed tenants' API calls.
    pub async fn report_usage(&self) -> Result<UsageRun, BillingError> {
        let billing = self.billing.settings()?;
        let mut run = UsageRun::default();
        for day in self.unreported_days().await? {
            let report = MeterReport {
                event_name: &billing.meter_event_name,
                customer_id: &day.customer_id,
                identifier: &day.identifier(),
                value: day.api_calls,
                timestamp: day.last_second(),
            };
            if billing.api.report_usage(&report).await? {
                run.reported += 1;
            } else {
                run.already_reported += 1;
            }
            day.record(&self.control_db).await?;
        }
        Ok(run)
    }

    async fn unreported_days(&self) -> Result<Vec<UsageDay>, DbErr> {
        let rows = self
            .control_db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT u.tenant_id, u.day, u.api_calls, t.stripe_customer_id \
                 FROM tenant_usage_daily u JOIN tenants t ON t.id = u.tenant_id \
                 LEFT JOIN billing_usage_reports r ON r.tenant_id = u.tenant_id AND r.day = u.day \
                 WHERE r.tenant_id IS NULL AND t.stripe_customer_id IS NOT NULL \
                   AND t.stripe_subscription_id IS NOT NULL \
                   AND u.day < ($1::timestamptz - make_interval(hours => $2::int))::date \
                 ORDER BY u.day, u.tenant_id",
                [self.clock.now().into(), REPORT_AFTER_DAY_END_HOURS.into()],
            ))
            .await?;
        rows.iter()
            .map(|row| {
                Ok(UsageDay {
                    tenant_id: row.try_get("", "tenant_id")?,
                    day: row.try_get("", "day")?,
                    api_calls: row.try_get("", "api_calls")?,
                    customer_id: row.try_get("", "stripe_customer_id")?,
                })
            })
            .collect()
    }

    /// Compares every subscription with Stripe's and repairs the mirror where they differ.
    pub async fn reconcile_billing(&self) -> Result<ReconcileRun, BillingError> {
        let billing = self.billing.settings()?;
        let by_customer = all_subscriptions(billing).await?;
        let mut run = ReconcileRun::default();
        for (tenant_id, customer) in self.billing_customers().await? {
            let subscriptions = by_customer.get(&customer).cloned().unwrap_or_default();
            let current = governing(subscriptions);
            let txn = self.control_db.begin().await?;
            let applied = access::apply(
                &txn,
                billing,
                tenant_id,
                current.as_ref(),
                &Cause::Reconcile,
                self.clock.now(),
            )
            .await?;
            txn.commit().await?;
            run.checked += 1;
            if applied.changed {
                tracing::warn!(tenant = %tenant_id, "billing drift repaired from Stripe");
                run.repaired += 1;
            }
        }
        Ok(run)
    }

    /// Tenants with a Stripe customer that are not deleted.
    async fn billing_customers(&self) -> Result<Vec<(Uuid, String)>, DbErr> {
        let rows = self
            .control_db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT id, stripe_customer_id FROM tenants WHERE stripe_customer_id IS NOT NULL \
                 AND status NOT IN ('deleting', 'deleted') ORDER BY id",
            ))
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("", "id")?,
                    row.try_get("", "stripe_customer_id")?,
                ))
            })
            .collect()
    }
}

/// Every subscription of the Stripe account, grouped by customer, newest first.
async fn all_subscriptions(
    billing: &Enabled,
) -> Result<HashMap<String, Vec<Subscription>>, BillingError> {
    let mut by_customer: HashMap<String, Vec<Subscription>> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = billing.api.all_subscriptions(cursor.as_deref()).await?;
        for subscription in page.subscriptions {
            by_customer
                .entry(subscription.customer_id.clone())
                .or_default()
                .push(subscription);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    for subscriptions in by_customer.values_mut() {
        subscriptions.sort_by_key(|subscription| std::cmp::Reverse(subscription.created));
    }
    Ok(by_customer)
}

/// One tenant's day of API calls, not yet reported.
struct UsageDay {
    tenant_id: Uuid,
    day: NaiveDate,
    api_calls: i64,
    customer_id: String,
}

impl UsageDay {
    /// The meter identifier: the same for the same tenant and day, whoever sends it.
    fn identifier(&self) -> String {
        format!("usage-{}-{}", self.tenant_id, self.day)
    }

    fn last_second(&self) -> i64 {
        self.day
            .and_hms_opt(23, 59, 59)
            .map_or(0, |at| at.and_utc().timestamp())
    }

    async fn record(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO billing_usage_reports (tenant_id, day, identifier, customer_id, quantity) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [
                self.tenant_id.into(),
                self.day.into(),
                self.identifier().into(),
                self.customer_id.clone().into(),
                self.api_calls.into(),
            ],
        ))
        .await?;
        Ok(())
    }
}
