//! Billing's background loop, beside a provisioner worker's job loop (only when billing is
//! enabled): applies the event ledger the moment a delivery is stored (`LISTEN
//! stripe_events`; a retry's backoff and a poll are the backstops), sends the billing
//! emails owed, and every so often reports metered usage and reconciles with Stripe.

use super::mail;
use super::webhook::CHANNEL;
use crate::provisioner::Provisioner;
use common::config::BillingSettings;
use common::mail::Mailer;
use common::pg_listen;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often the ledger is looked at without a notification.
const POLL: Duration = Duration::from_secs(5);

/// The loop's settings.
#[derive(Debug, Clone)]
pub struct BillingLoop {
    pub control_url: String,
    pub usage_every: Duration,
    pub reconcile_every: Duration,
}

impl BillingLoop {
    pub fn new(settings: &BillingSettings, control_url: String) -> Self {
        Self {
            control_url,
            usage_every: Duration::from_secs(settings.usage_report_interval_secs),
            reconcile_every: Duration::from_secs(settings.reconcile_interval_secs),
        }
    }

    /// Runs until `shutdown`; a failure of one part is logged and never stops the rest.
    pub async fn run(
        self,
        provisioner: Provisioner,
        mailer: Option<Mailer>,
        shutdown: CancellationToken,
    ) {
        let Ok(billing) = provisioner.billing.settings() else {
            return;
        };
        let delivered = self.follow_ledger(&shutdown);
        let mut usage_at: Option<Instant> = None;
        let mut reconcile_at: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            match provisioner.process_billing_events().await {
                Ok(run) if run != Default::default() => {
                    tracing::info!(?run, "Stripe events applied")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!("the Stripe event ledger is unavailable: {error}"),
            }
            if let Some(mailer) = &mailer {
                match mail::send_owed(&provisioner.control_db, billing, mailer).await {
                    Ok(0) => {}
                    Ok(sent) => tracing::info!(sent, "billing emails sent"),
                    Err(error) => tracing::warn!("billing emails not sent: {error}"),
                }
            }
            if due(&mut usage_at, self.usage_every) {
                match provisioner.report_usage().await {
                    Ok(run) => tracing::debug!(?run, "metered usage reported"),
                    Err(error) => tracing::warn!("metered usage not reported: {error}"),
                }
            }
            if due(&mut reconcile_at, self.reconcile_every) {
                match provisioner.reconcile_billing().await {
                    Ok(run) => tracing::info!(?run, "billing reconciled with Stripe"),
                    Err(error) => tracing::warn!("billing reconciliation failed: {error}"),
                }
            }
            let ledger_due = match super::events::next_due_in(&provisioner.control_db).await {
                Ok(Some(due)) => due,
                Ok(None) | Err(_) => POLL,
            };
            let sleep = ledger_due
                .min(POLL)
                .min(until_due(usage_at, self.usage_every))
                .min(until_due(reconcile_at, self.reconcile_every));
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = delivered.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Follows `stripe_events` (see [`pg_listen::wake_on`]).
    fn follow_ledger(&self, shutdown: &CancellationToken) -> Arc<Notify> {
        let channel = pg_listen::Channel {
            database_url: self.control_url.clone(),
            channel: CHANNEL,
            application_name: "provisioner-billing",
        };
        pg_listen::wake_on(channel, shutdown)
    }
}

/// How long until `every` has passed since `last`.
fn until_due(last: Option<Instant>, every: Duration) -> Duration {
    last.map_or(Duration::ZERO, |at| every.saturating_sub(at.elapsed()))
}

/// Whether `every` has passed since `last` (then `last` becomes now).
fn due(last: &mut Option<Instant>, every: Duration) -> bool {
    if last.is_some_and(|at| at.elapsed() < every) {
        return false;
    }
    *last = Some(Instant::now());
    true
}
