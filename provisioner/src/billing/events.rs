//! Applies the event ledger. A worker claims one due row at a time (`SKIP LOCKED` and a
//! lease, so a duplicate delivery, which is the same row, is applied once however many
//! workers run, and a worker that dies mid-way is taken over), finds the tenant by the
//! Stripe customer, **re-fetches the customer's subscriptions from Stripe** and applies
//! the current one: events arrive late, twice and out of order, and an old payload must
//! never undo a newer state. Failures are retried with backoff and stay visible
//! (`state`, `attempts`, `last_error`); after the last attempt the row is `failed`.
//! Types the platform does not act on are marked `ignored` (stored and acknowledged).

use super::access::{self, Cause};
use super::mail::{self, EmailKind};
use super::stripe::Subscription;
use super::webhook::id_of;
use super::{BillingError, Enabled};
use crate::jobs::backoff;
use crate::provisioner::Provisioner;
use common::entities::{BillingState, tenants as tenant_rows};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Statement,
    TransactionTrait, Value as DbValue,
};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// How long a claimed event is held before another worker may take it over.
const LEASE: Duration = Duration::from_secs(60);
/// Attempts before an event is left `failed` for an operator.
const MAX_ATTEMPTS: i32 = 10;

/// The event types the platform acts on; every other type is stored and ignored.
pub const HANDLED: &[&str] = &[
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
];

/// A claimed ledger row.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i32,
}

/// What one pass over the ledger did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsRun {
    pub processed: usize,
    pub ignored: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// How one event ended.
enum Outcome {
    Processed(Uuid),
    Ignored(String),
}

impl Provisioner {
    /// Applies every due event of the ledger; returns what became of them.
    pub async fn process_billing_events(&self) -> Result<EventsRun, DbErr> {
        let mut run = EventsRun::default();
        while let Some(event) = claim(&self.control_db).await? {
            let span =
                tracing::info_span!("stripe_event", id = %event.id, kind = %event.event_type);
            let _entered = span.enter();
            let outcome = self.apply_event(&event).await;
            settle(&self.control_db, &event, outcome, &mut run).await?;
        }
        Ok(run)
    }

    async fn apply_event(&self, event: &PendingEvent) -> Result<Outcome, BillingError> {
        let billing = self.billing.settings()?;
        if !HANDLED.contains(&event.event_type.as_str()) {
            return Ok(Outcome::Ignored(format!(
                "`{}` is not acted on",
                event.event_type
            )));
        }
        let payload: Value = serde_json::from_str(&event.payload).unwrap_or_default();
        let object = &payload["data"]["object"];
        let Some(tenant) = self.tenant_of(object).await? else {
            return Ok(Outcome::Ignored(
                "no tenant has this Stripe customer".into(),
            ));
        };
        let now = self.clock.now();
        let txn = self.control_db.begin().await?;
        // Locked first, so two events of one tenant apply one after the other, each with
        // what Stripe says at that moment.
        let _locked = crate::tenants::find_locked(&txn, tenant.id).await?;
        let current = self.current_subscription(billing, &tenant).await?;
        let cause = Cause::Event(event.id.clone());
        access::apply(&txn, billing, tenant.id, current.as_ref(), &cause, now).await?;
        if let Some(kind) = email_for(&event.event_type) {
            mail::queue(&txn, &tenant, kind, &event.id).await?;
        }
        txn.commit().await?;
        Ok(Outcome::Processed(tenant.id))
    }

    /// The tenant the event's object belongs to: by its Stripe customer, else by the
    /// `tenant_id` the platform put in its metadata (or Checkout's reference).
    async fn tenant_of(&self, object: &Value) -> Result<Option<tenant_rows::Model>, DbErr> {
        if let Some(customer) = id_of(&object["customer"]) {
            let found = tenant_rows::Entity::find()
                .filter(tenant_rows::Column::StripeCustomerId.eq(customer))
                .one(&self.control_db)
                .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        let reference = object["metadata"]["tenant_id"]
            .as_str()
            .or_else(|| object["client_reference_id"].as_str())
            .and_then(|id| Uuid::parse_str(id).ok());
        match reference {
            Some(id) => {
                tenant_rows::Entity::find_by_id(id)
                    .one(&self.control_db)
                    .await
            }
            None => Ok(None),
        }
    }

    /// The subscription that governs the tenant now, as Stripe has it.
    async fn current_subscription(
        &self,
        billing: &Enabled,
        tenant: &tenant_rows::Model,
    ) -> Result<Option<Subscription>, BillingError> {
        let Some(customer) = &tenant.stripe_customer_id else {
            return Ok(None);
        };
        let subscriptions = billing.api.subscriptions_of(customer).await?;
        Ok(governing(subscriptions))
    }
}

/// Among a customer's subscriptions (newest first), the one access follows: the newest
/// that is not over, else the newest.
pub(crate) fn governing(subscriptions: Vec<Subscription>) -> Option<Subscription> {
    let live =
        |s: &Subscription| !matches!(s.state, BillingState::Canceled | BillingState::Incomplete);
    match subscriptions.iter().position(live) {
        Some(index) => subscriptions.into_iter().nth(index),
        None => subscriptions.into_iter().next(),
    }
}

/// The email an event itself asks for (access changes queue their own).
fn email_for(event_type: &str) -> Option<EmailKind> {
    match event_type {
        "customer.subscription.trial_will_end" => Some(EmailKind::TrialEnding),
        "invoice.payment_failed" | "invoice.payment_action_required" => {
            Some(EmailKind::PaymentFailed)
        }
        _ => None,
    }
}

/// Takes the oldest due event and holds it for [`LEASE`].
async fn claim(db: &impl ConnectionTrait) -> Result<Option<PendingEvent>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE stripe_events SET attempts = attempts + 1, \
               lease_until = now() + make_interval(secs => $1) \
             WHERE id = (SELECT id FROM stripe_events \
               WHERE state = 'pending' AND next_attempt_at <= now() \
                 AND (lease_until IS NULL OR lease_until < now()) \
               ORDER BY received_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, type, payload, attempts",
            [LEASE.as_secs_f64().into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(PendingEvent {
        id: row.try_get("", "id")?,
        event_type: row.try_get("", "type")?,
        payload: row.try_get("", "payload")?,
        attempts: row.try_get("", "attempts")?,
    }))
}

/// Records how the event ended: done, ignored, back in the queue, or failed for good.
async fn settle(
    db: &impl ConnectionTrait,
    event: &PendingEvent,
    outcome: Result<Outcome, BillingError>,
    run: &mut EventsRun,
) -> Result<(), DbErr> {
    let (state, tenant, error, retry_in): (&str, Option<Uuid>, Option<String>, Option<Duration>) =
        match outcome {
            Ok(Outcome::Processed(tenant)) => {
                run.processed += 1;
                ("processed", Some(tenant), None, None)
            }
            Ok(Outcome::Ignored(why)) => {
                run.ignored += 1;
                ("ignored", None, Some(why), None)
            }
            Err(error) if retryable(&error) && event.attempts < MAX_ATTEMPTS => {
                tracing::warn!(
                    attempt = event.attempts,
                    "applying a Stripe event failed, will retry: {error}"
                );
                run.retrying += 1;
                (
                    "pending",
                    None,
                    Some(error.to_string()),
                    Some(backoff(event.attempts)),
                )
            }
            Err(error) => {
                tracing::error!("applying a Stripe event failed for good: {error}");
                run.failed += 1;
                ("failed", None, Some(error.to_string()), None)
            }
        };
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE stripe_events SET state = $2, tenant_id = coalesce($3, tenant_id), \
           last_error = $4, lease_until = NULL, \
           next_attempt_at = now() + make_interval(secs => $5), \
           processed_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END \
         WHERE id = $1",
        [
            event.id.clone().into(),
            state.into(),
            tenant.into(),
            DbValue::String(error),
            retry_in.unwrap_or_default().as_secs_f64().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Errors that may pass: Stripe or the control database unavailable.
fn retryable(error: &BillingError) -> bool {
    matches!(
        error,
        BillingError::Unavailable(_) | BillingError::Db(_) | BillingError::Provision(_)
    )
}

/// When the ledger's oldest due event is due (for a worker's sleep).
pub(crate) async fn next_due_in(db: &impl ConnectionTrait) -> Result<Option<Duration>, DbErr> {
    crate::jobs::seconds_until(
        db,
        "SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8 AS secs \
         FROM stripe_events WHERE state = 'pending'",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(id: &str, state: BillingState, created: i64) -> Subscription {
        Subscription {
            id: id.into(),
            customer_id: "cus_1".into(),
            state,
            price_id: None,
            item_id: None,
            period_start: None,
            period_end: None,
            trial_end: None,
            cancel_at_period_end: false,
            tenant_id: None,
            created,
        }
    }

    #[test]
    fn a_live_subscription_governs_over_a_newer_canceled_one() {
        let chosen = governing(vec![
            subscription("sub_new", BillingState::Canceled, 3),
            subscription("sub_live", BillingState::PastDue, 2),
            subscription("sub_old", BillingState::Active, 1),
        ]);
        assert_eq!(chosen.map(|s| s.id), Some("sub_live".into()));
    }

    #[test]
    fn with_none_live_the_newest_governs() {
        let chosen = governing(vec![
            subscription("sub_b", BillingState::Canceled, 2),
            subscription("sub_a", BillingState::Canceled, 1),
        ]);
        assert_eq!(chosen.map(|s| s.id), Some("sub_b".into()));
        assert_eq!(governing(Vec::new()), None);
    }

    #[test]
    fn only_trial_and_payment_events_ask_for_their_own_email() {
        assert_eq!(
            email_for("invoice.payment_failed"),
            Some(EmailKind::PaymentFailed)
        );
        assert_eq!(
            email_for("customer.subscription.trial_will_end"),
            Some(EmailKind::TrialEnding)
        );
        assert_eq!(email_for("invoice.paid"), None);
    }
}
