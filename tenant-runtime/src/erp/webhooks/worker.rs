//! The delivery worker of one runtime ([`Webhooks`]). It learns which tenants have
//! deliveries due in two ways:
//!
//! - a **nudge**: a request that raised events (see `nudge_after_events`) first upserts
//!   its tenant's durable wake-up in the control database (`webhook_wakeups`, due now),
//!   then sends the tenant on a bounded in-process channel, both in a spawned task after
//!   the response is built, so the request never waits or fails for it;
//! - the **wake-up scan**: every `scan_secs` the worker claims due wake-ups (`FOR UPDATE
//!   SKIP LOCKED`, moving `due_at` a lease ahead so other runtimes skip them), which
//!   covers a lost nudge, a full channel, a restart and every scheduled retry.
//!
//! After a tenant's round the wake-up is moved to its earliest pending retry, or deleted
//! when nothing is pending. A tenant is served by at most one round at a time in one
//! runtime (a nudge during a round asks for another round after it); across runtimes the
//! delivery claims in the tenant database keep a delivery from being sent twice at once.
//!
//! Known window: a round that ends with nothing pending deletes the wake-up; an event
//! committed by another runtime just before that delete is still delivered by that
//! runtime's own nudge, unless that runtime dies in between (then it waits for the
//! tenant's next event). At shutdown, rounds in flight are dropped: their claims lapse
//! after the lease and the deliveries are retried.

use super::delivery;
use super::guard::{Guard, GuardedResolver};
use crate::registry::Registry;
use anyhow::Context as _;
use common::config::Settings;
use common::crypto::Keyring;
use common::mail::Mailer;
use dashmap::DashMap;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Nudges waiting for the worker; beyond this they are dropped (the wake-up row stays).
const NUDGE_QUEUE: usize = 1024;
/// Wake-ups claimed per scan.
const SCAN_BATCH: i64 = 100;
/// How long a claimed wake-up is hidden from other runtimes' scans.
const WAKEUP_LEASE_SECS: f64 = 60.0;
/// When a tenant cannot be served now (suspended, migrating, unreachable), look again then.
const UNAVAILABLE_RETRY_SECS: f64 = 300.0;

/// A tenant with deliveries that may be due.
#[derive(Debug, Clone)]
pub struct Nudge {
    pub tenant: Uuid,
    pub slug: String,
}

/// Outbound webhooks of one runtime: the guard, the HTTP client, the platform key that
/// seals endpoint secrets, and the delivery worker's queue and limits.
pub struct Webhooks {
    pub(super) guard: Arc<Guard>,
    pub(super) keyring: Keyring,
    pub(super) http: reqwest::Client,
    pub(super) control_db: DatabaseConnection,
    pub(super) registry: Arc<Registry>,
    pub(super) mailer: Mailer,
    /// Deliveries being sent at once, over every tenant.
    pub(super) sends: Arc<Semaphore>,
    /// Tenants being served at once (each holds one connection of its pool).
    tenants: Arc<Semaphore>,
    /// Tenants in a round now, and whether another round was asked for meanwhile.
    rounds: DashMap<Uuid, bool>,
    nudges: mpsc::Sender<Nudge>,
    inbox: Mutex<Option<mpsc::Receiver<Nudge>>>,
    scan_every: Duration,
}

impl Webhooks {
    /// Built from `tenant_runtime.webhooks.*` over the runtime's registry and mailer.
    pub fn new(
        settings: &Settings,
        control_db: DatabaseConnection,
        registry: Arc<Registry>,
        mailer: Mailer,
    ) -> anyhow::Result<Self> {
        let config = &settings.tenant_runtime.webhooks;
        let keyring = Keyring::from_settings(settings)
            .context("webhook secrets are sealed with `secrets.encryption_key`")?;
        let guard = Arc::new(Guard::new(&config.allowed_networks));
        let timeout = Duration::from_secs(config.timeout_secs);
        let http = reqwest::Client::builder()
            .dns_resolver(GuardedResolver(guard.clone()))
            .connect_timeout(timeout)
            .timeout(timeout)
            // A redirect could lead anywhere, past the guard: a 3xx is a failed attempt.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("erp-webhooks/1")
            .build()
            .context("building the webhook HTTP client")?;
        let (nudges, inbox) = mpsc::channel(NUDGE_QUEUE);
        let concurrency = usize::try_from(config.concurrency).unwrap_or(16);
        Ok(Self {
            guard,
            keyring,
            http,
            control_db,
            registry,
            mailer,
            sends: Arc::new(Semaphore::new(concurrency)),
            tenants: Arc::new(Semaphore::new(concurrency)),
            rounds: DashMap::new(),
            nudges,
            inbox: Mutex::new(Some(inbox)),
            scan_every: Duration::from_secs(config.scan_secs),
        })
    }

    /// A worker of its own (own registry and pools), as another runtime would have: for
    /// tests that drive [`Webhooks::deliver_due`] beside the runtime's worker.
    pub fn standalone(settings: &Settings, control_db: DatabaseConnection) -> anyhow::Result<Self> {
        let keyring = Keyring::from_settings(settings)?;
        let registry = Registry::new(
            control_db.clone(),
            keyring,
            crate::registry::RegistryConfig::from_settings(&settings.tenant_runtime),
            common::limits::Limits::from_settings(settings)?,
        );
        Self::new(
            settings,
            control_db,
            Arc::new(registry),
            Mailer::from_settings(settings)?,
        )
    }

    /// The guard new endpoint URLs are checked with.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Tells the worker that `tenant` has new deliveries, without waiting: the durable
    /// wake-up is written, then the worker nudged, in a task of their own.
    pub fn nudge(self: &Arc<Self>, tenant: Uuid, slug: &str) {
        let hooks = self.clone();
        let nudge = Nudge {
            tenant,
            slug: slug.to_owned(),
        };
        tokio::spawn(async move {
            if let Err(error) = hooks.wake_now(tenant).await {
                tracing::warn!(error = format!("{error:#}"), %tenant, "recording a webhook wake-up failed");
            }
            if hooks.nudges.try_send(nudge).is_err() {
                tracing::debug!(%tenant, "webhook worker busy; the wake-up scan will find the tenant");
            }
        });
    }

    /// Sends what is due for the tenant called `slug`, once, here and now: one round of
    /// the worker (claims, sends, records, reschedules). Answers how many attempts it
    /// made. Safe beside other workers: a delivery is claimed by one of them at a time.
    pub async fn deliver_due(&self, slug: &str) -> anyhow::Result<usize> {
        let handle = self
            .registry
            .lookup(slug)
            .await
            .map_err(|error| anyhow::anyhow!("looking up `{slug}`: {error}"))?;
        let Some(outcome) = delivery::round(self, &handle).await? else {
            // A deleted company's deliveries go with it; others wait until it is back.
            if handle.status == common::entities::TenantStatus::Deleted {
                self.forget(handle.id).await?;
            } else {
                self.reschedule(handle.id, UNAVAILABLE_RETRY_SECS).await?;
            }
            return Ok(0);
        };
        match outcome.next_due_in_secs {
            Some(secs) => self.reschedule(handle.id, secs).await?,
            None => self.forget(handle.id).await?,
        }
        Ok(outcome.attempts)
    }

    /// Runs the worker until `stop`: nudges at once, due wake-ups every `scan_secs`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let inbox = self.inbox.lock().ok().and_then(|mut inbox| inbox.take());
        let Some(mut inbox) = inbox else {
            tracing::error!("the webhook worker was started twice");
            return;
        };
        let mut ticks = tokio::time::interval(self.scan_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                Some(nudge) = inbox.recv() => self.start_round(nudge),
                _ = ticks.tick() => match self.claim_wakeups().await {
                    Ok(due) => due.into_iter().for_each(|nudge| self.start_round(nudge)),
                    Err(error) => tracing::warn!(error = format!("{error:#}"), "scanning webhook wake-ups failed"),
                },
            }
        }
    }

    /// Serves a tenant in a task of its own, unless a round is running for it (then that
    /// round runs once more when done).
    fn start_round(self: &Arc<Self>, nudge: Nudge) {
        if let Some(mut again) = self.rounds.get_mut(&nudge.tenant) {
            *again = true;
            return;
        }
        self.rounds.insert(nudge.tenant, false);
        let hooks = self.clone();
        tokio::spawn(async move {
            let Ok(_slot) = hooks.tenants.clone().acquire_owned().await else {
                return;
            };
            loop {
                if let Err(error) = hooks.deliver_due(&nudge.slug).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        slug = nudge.slug,
                        "a webhook round failed"
                    );
                }
                let again = hooks
                    .rounds
                    .remove_if(&nudge.tenant, |_, again| !*again)
                    .is_none();
                if !again {
                    return;
                }
                if let Some(mut again) = hooks.rounds.get_mut(&nudge.tenant) {
                    *again = false;
                }
            }
        });
    }

    /// Claims due wake-ups (hiding them from other runtimes for a lease).
    async fn claim_wakeups(&self) -> anyhow::Result<Vec<Nudge>> {
        let rows = self
            .control_db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "WITH due AS (SELECT tenant_id FROM webhook_wakeups WHERE due_at <= now() \
                   ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
                 UPDATE webhook_wakeups w SET due_at = now() + make_interval(secs => $2) \
                 FROM due, tenants t WHERE w.tenant_id = due.tenant_id AND t.id = w.tenant_id \
                 RETURNING w.tenant_id, t.slug",
                [SCAN_BATCH.into(), WAKEUP_LEASE_SECS.into()],
            ))
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Nudge {
                    tenant: row.try_get("", "tenant_id")?,
                    slug: row.try_get("", "slug")?,
                })
            })
            .collect()
    }

    /// Makes the tenant's wake-up due now (it may be leased or scheduled later).
    async fn wake_now(&self, tenant: Uuid) -> anyhow::Result<()> {
        self.upsert_wakeup(
            tenant,
            0.0,
            "LEAST(webhook_wakeups.due_at, EXCLUDED.due_at)",
        )
        .await
    }

    /// Sets the tenant's wake-up to its next pending attempt, `secs` from now.
    async fn reschedule(&self, tenant: Uuid, secs: f64) -> anyhow::Result<()> {
        self.upsert_wakeup(tenant, secs, "EXCLUDED.due_at").await
    }

    async fn upsert_wakeup(&self, tenant: Uuid, secs: f64, due: &str) -> anyhow::Result<()> {
        let sql = format!(
            "INSERT INTO webhook_wakeups (tenant_id, due_at) \
             VALUES ($1, now() + make_interval(secs => $2)) \
             ON CONFLICT (tenant_id) DO UPDATE SET due_at = {due}"
        );
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [tenant.into(), secs.into()],
            ))
            .await?;
        Ok(())
    }

    /// Nothing pending for the tenant: its wake-up goes.
    async fn forget(&self, tenant: Uuid) -> anyhow::Result<()> {
        self.control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM webhook_wakeups WHERE tenant_id = $1",
                [tenant.into()],
            ))
            .await?;
        Ok(())
    }
}
