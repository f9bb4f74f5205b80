//! The worker loop: waits for the control database and its schema, registers the configured default
//! server, then runs jobs one after another. When none is due it sleeps until a job is
//! queued (`NOTIFY jobs_queued`, see [`crate::jobs::CHANNEL`]), a retry's backoff ends, or
//! the poll interval passes (the backstop for a lost notification). Beside the job loop a
//! fleet lane runs migration runs (one starts at boot when tenants are behind the build's
//! schema), a spare keeper refills spare databases right after a provision claimed one, and
//! every maintenance interval the worker sweeps trials (and billing's grace and retention),
//! purges, queues scheduled backups and prunes old ones, drops retired databases, thaws
//! abandoned freezes, keeps evacuations going, reconciles, and queues a `reseal` job while
//! secrets are under a previous key, until shutdown; with billing enabled a
//! [`BillingLoop`] runs beside it. A job in flight at shutdown finishes its current step;
//! an interrupted one resumes elsewhere after its lease expires.

use crate::billing::{Billing, BillingLoop};
use crate::servers::{self, NewServer};
use crate::{Executed, Provisioner, fleet, invitation, jobs};
use common::config::{ProvisionerSettings, Settings, TenantOrigin};
use common::crypto::Keyring;
use common::http::StartupStatus;
use common::mail::Mailer;
use common::pg_listen;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const DAY_SECS: u64 = 24 * 3600;
/// The longest wait between two attempts to register the `default` server.
const REGISTER_RETRY_CAP: Duration = Duration::from_secs(30);

/// What one turn of the job loop found.
enum Ran {
    /// A job ran: look for the next at once.
    Work,
    /// Nothing due (or the queue unreachable): sleep.
    Idle,
    /// A fail point fired (test builds): stop as a killed worker would.
    Died,
}

/// One provisioner worker, named in job leases by its id.
pub struct Worker {
    provisioner: Provisioner,
    settings: ProvisionerSettings,
    /// Sends first admins their invitations; absent when `mail.from` is unusable.
    mailer: Option<Mailer>,
    /// Where the tenant runtime is reached, for invitation links.
    tenant_origin: TenantOrigin,
    /// The control database, for the `jobs_queued` listener.
    control_url: String,
    /// Billing's background work (runs only when billing is enabled).
    billing_loop: BillingLoop,
    /// Wakes the spare keeper (after a provision may have claimed a spare).
    spares_wanted: Arc<Notify>,
    /// Ready once the control database answers with a current schema (`/readyz`).
    started: StartupStatus,
}

impl Worker {
    /// Fails when no encryption key is configured (tenant secrets must be sealed), the
    /// Stripe client cannot be built from `billing.*`, or the S3 client from `backups.s3.*`.
    pub fn new(settings: &Settings, control_db: DatabaseConnection) -> anyhow::Result<Self> {
        let keyring = Keyring::from_settings(settings)?;
        let tenant_origin = settings.tenant_runtime.tenant_origin(None);
        let billing = Billing::from_settings(settings, tenant_origin.clone())?;
        let config = &settings.provisioner;
        let id = config.worker_id.clone().unwrap_or_else(default_worker_id);
        let (store, staging) = crate::backup_store::from_settings(settings)?;
        let provisioner = Provisioner::new(control_db, keyring, &id)
            .with_store(store, staging)
            .with_trial_grace(days(config.trial_grace_days))
            .with_deleted_retention(days(config.deleted_retention_days))
            .with_retired_keep(Duration::from_secs(
                u64::from(config.retired_database_keep_hours) * 3600,
            ))
            .with_billing(billing);
        let mailer = Mailer::from_settings(settings)
            .inspect_err(|error| tracing::warn!("invitations will not be sent: {error:#}"))
            .ok();
        Ok(Self {
            provisioner,
            settings: config.clone(),
            mailer,
            tenant_origin,
            billing_loop: BillingLoop::new(
                &settings.billing,
                settings.database.url.expose().to_owned(),
            ),
            control_url: settings.database.url.expose().to_owned(),
            spares_wanted: Arc::new(Notify::new()),
            started: StartupStatus::waiting("waiting for the control database and its schema"),
        })
    }

    /// Whether the worker is past its start-up waits (shared with its `/readyz`).
    pub fn startup_status(&self) -> StartupStatus {
        self.started.clone()
    }

    pub fn id(&self) -> &str {
        self.provisioner.worker_id()
    }

    /// The provisioner this worker runs jobs with. A clone shares its fail point: when one
    /// armed with `crash_at` (feature `fail-points`) fires, the worker dies there, as a
    /// killed process would: it cancels its shutdown token and stops, its job still leased.
    pub fn provisioner(&self) -> &Provisioner {
        &self.provisioner
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let db = self.provisioner.control_db.clone();
        if !common::db::wait_until_reachable(&db, "control", &shutdown).await
            || !common::db::wait_for_control_schema(&db, &shutdown).await
        {
            return;
        }
        self.started.set_ready();
        tokio::spawn(self.register_default_server(shutdown.clone()));
        self.start_run_if_behind().await;
        let job_queued = self.follow_job_queue(&shutdown);
        let fleet_lane = tokio::spawn(self.run_fleet_lane(shutdown.clone()));
        let spare_keeper = tokio::spawn(self.keep_spares(shutdown.clone()));
        let billing = tokio::spawn(self.billing_loop.clone().run(
            self.provisioner.clone(),
            self.mailer.clone(),
            shutdown.clone(),
        ));
        tracing::info!(worker = %self.id(), "provisioner worker ready");
        let maintenance_every = Duration::from_secs(self.settings.maintenance_interval_secs);
        let mut last_maintenance: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            if last_maintenance.is_none_or(|at| at.elapsed() >= maintenance_every) {
                self.maintain().await;
                last_maintenance = Some(Instant::now());
            }
            match self.run_one_job().await {
                Ran::Work => continue,
                Ran::Idle => {}
                Ran::Died => {
                    // A fail point fired: the worker stops as if its process was killed
                    // there, leaving its job leased (test builds only).
                    shutdown.cancel();
                    break;
                }
            }
            let idle = self.idle_for(maintenance_every).await;
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = job_queued.notified() => {}
                () = tokio::time::sleep(idle) => {}
            }
        }
        let _ = spare_keeper.await;
        let _ = billing.await;
        // A run in flight is left as a dead worker leaves it: its tenants' open
        // transactions roll back, and its job is taken over when the lease expires.
        fleet_lane.abort();
        tracing::info!(worker = %self.id(), "provisioner worker stopped");
    }

    /// Starts a fleet migration run when tenants are behind this build's schema (after an
    /// upgrade), unless one is active: the fleet catches up by itself.
    async fn start_run_if_behind(&self) {
        let (db, schema) = (
            &self.provisioner.control_db,
            self.provisioner.tenant_schema(),
        );
        match fleet::start_if_behind(db, schema).await {
            Ok(Some(run)) => tracing::info!(
                run = %run.id,
                tenants = run.counts.total,
                "tenants are behind the schema: migration run started"
            ),
            Ok(None) => {}
            Err(error) => tracing::warn!("could not start a migration run: {error}"),
        }
    }

    /// Runs fleet jobs (migration runs) one after another, beside the saga loop, so a run
    /// that takes minutes never delays a signup. Its own listener wakes it when one is
    /// queued.
    fn run_fleet_lane(&self, shutdown: CancellationToken) -> impl Future<Output = ()> + use<> {
        let provisioner = self.provisioner.clone();
        let queued = self.follow_job_queue(&shutdown);
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        async move {
            while !shutdown.is_cancelled() {
                match provisioner.try_execute_fleet_job().await {
                    Ok(Executed::Idle) => {}
                    Ok(outcome) => {
                        tracing::info!(?outcome, "fleet job run");
                        continue;
                    }
                    Err(error) => tracing::warn!("job queue unavailable: {error}"),
                }
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = queued.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
        }
    }

    /// Starts following `jobs_queued` (see [`pg_listen::wake_on`]).
    fn follow_job_queue(&self, shutdown: &CancellationToken) -> Arc<Notify> {
        let channel = pg_listen::Channel {
            database_url: self.control_url.clone(),
            channel: jobs::CHANNEL,
            application_name: "provisioner-worker",
        };
        pg_listen::wake_on(channel, shutdown)
    }

    /// How long an idle worker may sleep: the poll interval (the backstop), less when a
    /// queued job's backoff ends sooner, and never past the next maintenance.
    async fn idle_for(&self, maintenance_every: Duration) -> Duration {
        let poll = Duration::from_millis(self.settings.poll_interval_ms).min(maintenance_every);
        match jobs::next_due_in(&self.provisioner.control_db).await {
            Ok(Some(due)) => due.min(poll),
            Ok(None) | Err(_) => poll,
        }
    }

    /// Refills spares at start, whenever a provision finished, and every maintenance
    /// interval; beside the job loop, so a signup never waits for a refill.
    fn keep_spares(&self, shutdown: CancellationToken) -> impl Future<Output = ()> + use<> {
        let provisioner = self.provisioner.clone();
        let wanted = self.spares_wanted.clone();
        let every = Duration::from_secs(self.settings.maintenance_interval_secs);
        async move {
            while !shutdown.is_cancelled() {
                match provisioner.refill_spares().await {
                    Ok(0) => {}
                    Ok(made) => tracing::info!(made, "spare databases refilled"),
                    Err(error) => tracing::warn!("spare refill failed: {error}"),
                }
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = wanted.notified() => {}
                    () = tokio::time::sleep(every) => {}
                }
            }
        }
    }

    /// Runs one job step sequence.
    async fn run_one_job(&self) -> Ran {
        match self.provisioner.try_execute_job().await {
            Ok(Executed::Idle) => Ran::Idle,
            Ok(Executed::Crashed { job_id, step }) => {
                tracing::warn!(%job_id, step, "fail point: the worker dies here");
                Ran::Died
            }
            Ok(Executed::Finished {
                job_id,
                state: "succeeded",
            }) => {
                self.spares_wanted.notify_one();
                self.send_invitation(job_id).await;
                self.keep_evacuating().await;
                Ran::Work
            }
            Ok(outcome) => {
                tracing::info!(?outcome, "job run");
                if matches!(outcome, Executed::Finished { .. }) {
                    self.keep_evacuating().await;
                }
                Ran::Work
            }
            Err(error) => {
                tracing::warn!("job queue unavailable: {error}");
                Ran::Idle
            }
        }
    }

    /// Emails the first admin of a tenant an admin created (signups have a password).
    async fn send_invitation(&self, job_id: uuid::Uuid) {
        let Some(mailer) = &self.mailer else { return };
        let (db, keyring) = (&self.provisioner.control_db, &self.provisioner.keyring);
        match invitation::send(db, keyring, mailer, &self.tenant_origin, job_id).await {
            Ok(true) => tracing::info!(%job_id, "invitation sent"),
            Ok(false) => {}
            Err(error) => tracing::warn!(%job_id, "invitation not sent: {error}"),
        }
    }

    /// Queues the next relocations of servers being emptied (a finished job may have
    /// freed a slot).
    async fn keep_evacuating(&self) {
        match self.provisioner.evacuate_servers().await {
            Ok(queued) if !queued.is_empty() => tracing::info!(?queued, "relocations queued"),
            Ok(_) => {}
            Err(error) => tracing::warn!("evacuation failed: {error}"),
        }
    }

    /// Backups on each plan's schedule, retention, databases replaced by restores and
    /// relocations whose time is up, freezes nobody holds any more, evacuations.
    async fn maintain_backups(&self) {
        let provisioner = &self.provisioner;
        if let Err(error) = provisioner.schedule_backups().await {
            tracing::warn!("backup schedule failed: {error}");
        }
        if let Err(error) = provisioner.prune_backups().await {
            tracing::warn!("backup retention failed: {error}");
        }
        if let Err(error) = provisioner.drop_due_copies().await {
            tracing::warn!("dropping retired databases failed: {error}");
        }
        if let Err(error) = provisioner.thaw_abandoned().await {
            tracing::warn!("thawing abandoned freezes failed: {error}");
        }
        self.keep_evacuating().await;
    }

    /// Housekeeping (spares have their own keeper); each part logs its own failure and
    /// never stops the worker.
    async fn maintain(&self) {
        match self.provisioner.queue_reseal_if_needed().await {
            Ok(true) => tracing::info!("secrets under a previous key: re-seal job queued"),
            Ok(false) => {}
            Err(error) => tracing::warn!("could not look for secrets to re-seal: {error}"),
        }
        self.maintain_backups().await;
        match self.provisioner.sweep().await {
            Ok(report) => tracing::debug!(?report, "tenant sweep done"),
            Err(error) => tracing::warn!("tenant sweep failed: {error}"),
        }
        match self.provisioner.sweep_billing().await {
            Ok(report) => tracing::debug!(?report, "billing sweep done"),
            Err(error) => tracing::warn!("billing sweep failed: {error}"),
        }
        match self
            .provisioner
            .reconcile(self.settings.reconcile_repair)
            .await
        {
            Ok(report) => report.log(),
            Err(error) => tracing::warn!("reconciliation failed: {error}"),
        }
    }

    /// Registers `provisioner.default_server_url` as server `default`, in the background:
    /// a server still starting (or briefly unreachable) is tried again with backoff (1 s
    /// doubling to 30 s) until it is registered, already was, or shutdown, so `/readyz`
    /// does not stay 503 until a restart. Once registered, the spare keeper is woken to
    /// fill it.
    fn register_default_server(
        &self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + use<> {
        let url = self.settings.default_server_url.clone();
        let capacity = i32::try_from(self.settings.default_server_capacity).unwrap_or(i32::MAX);
        let spares = i32::try_from(self.settings.default_server_spare_target).unwrap_or(i32::MAX);
        let (db, keyring) = (
            self.provisioner.control_db.clone(),
            self.provisioner.keyring.clone(),
        );
        let spares_wanted = self.spares_wanted.clone();
        async move {
            let Some(url) = url else { return };
            let mut attempt = 0;
            while !shutdown.is_cancelled() {
                attempt += 1;
                let server = NewServer {
                    name: "default".into(),
                    admin_url: url.clone(),
                    capacity,
                };
                match servers::register(&db, &keyring, server).await {
                    Ok(id) => {
                        tracing::info!("database server `default` registered");
                        if let Err(error) = servers::set_spare_target(&db, id, spares).await {
                            tracing::warn!("spare target of `default` not set: {error}");
                        }
                        spares_wanted.notify_one();
                        return;
                    }
                    Err(crate::ProvisionError::ServerNameTaken(_)) => return,
                    Err(error) => {
                        tracing::warn!(
                            attempt,
                            "database server `default` not registered yet: {error}"
                        );
                    }
                }
                let wait = jobs::backoff(attempt).min(REGISTER_RETRY_CAP);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

fn days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * DAY_SECS)
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}
