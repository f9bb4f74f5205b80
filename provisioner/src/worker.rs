//! The worker loop: waits for the control database and its schema, registers the configured default
//! server, then runs jobs one after another, sleeping for the poll interval only when none
//! is due, and runs housekeeping (spares, trial sweep, purge, reconcile) every maintenance
//! interval, until shutdown. A job in flight at shutdown finishes its current step; an
//! interrupted one resumes elsewhere after its lease expires.

use crate::invitation;
use crate::saga::{Executed, Provisioner};
use crate::servers::{self, NewServer};
use common::config::{ProvisionerSettings, Settings};
use common::crypto::{CryptoError, Keyring};
use common::mail::Mailer;
use sea_orm::DatabaseConnection;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const DAY_SECS: u64 = 24 * 3600;

/// One provisioner worker, named in job leases by its id.
pub struct Worker {
    provisioner: Provisioner,
    settings: ProvisionerSettings,
    /// Sends first admins their invitations; absent when `mail.from` is unusable.
    mailer: Option<Mailer>,
    /// `(scheme, host)` of the tenant runtime, for invitation links.
    tenant_origin: (String, String),
}

impl Worker {
    /// Fails only when no encryption key is configured (tenant secrets must be sealed).
    pub fn new(settings: &Settings, control_db: DatabaseConnection) -> Result<Self, CryptoError> {
        let keyring = Keyring::from_settings(settings)?;
        let config = &settings.provisioner;
        let id = config.worker_id.clone().unwrap_or_else(default_worker_id);
        let provisioner = Provisioner::new(control_db, keyring, &id)
            .with_backup_dir(settings.data_dir.join("backups"))
            .with_trial_grace(days(config.trial_grace_days))
            .with_deleted_retention(days(config.deleted_retention_days));
        let mailer = Mailer::from_settings(settings)
            .inspect_err(|error| tracing::warn!("invitations will not be sent: {error:#}"))
            .ok();
        Ok(Self {
            provisioner,
            settings: config.clone(),
            mailer,
            tenant_origin: settings.tenant_runtime.tenant_origin(None),
        })
    }

    pub fn id(&self) -> &str {
        self.provisioner.worker_id()
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let db = self.provisioner.control_db.clone();
        if !common::db::wait_until_reachable(&db, "control", &shutdown).await
            || !wait_for_schema(&db, &shutdown).await
        {
            return;
        }
        self.register_default_server().await;
        tracing::info!(worker = %self.id(), "provisioner worker ready");
        let maintenance_every = Duration::from_secs(self.settings.maintenance_interval_secs);
        let mut last_maintenance: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            if last_maintenance.is_none_or(|at| at.elapsed() >= maintenance_every) {
                self.maintain().await;
                last_maintenance = Some(Instant::now());
            }
            if self.run_one_job().await {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(self.settings.poll_interval_ms)) => {}
            }
        }
        tracing::info!(worker = %self.id(), "provisioner worker stopped");
    }

    /// Runs one job step sequence; `true` when there was work (look again at once).
    async fn run_one_job(&self) -> bool {
        match self.provisioner.try_execute_job().await {
            Ok(Executed::Idle) => false,
            Ok(Executed::Finished {
                job_id,
                state: "succeeded",
            }) => {
                self.send_invitation(job_id).await;
                true
            }
            Ok(outcome) => {
                tracing::info!(?outcome, "job run");
                true
            }
            Err(error) => {
                tracing::warn!("job queue unavailable: {error}");
                false
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

    /// Housekeeping; each part logs its own failure and never stops the worker.
    async fn maintain(&self) {
        match self.provisioner.refill_spares().await {
            Ok(0) => {}
            Ok(made) => tracing::info!(made, "spare databases refilled"),
            Err(error) => tracing::warn!("spare refill failed: {error}"),
        }
        match self.provisioner.sweep().await {
            Ok(report) => tracing::debug!(?report, "tenant sweep done"),
            Err(error) => tracing::warn!("tenant sweep failed: {error}"),
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

    /// Registers `provisioner.default_server_url` as server `default`, once.
    async fn register_default_server(&self) {
        let Some(url) = self.settings.default_server_url.clone() else {
            return;
        };
        let server = NewServer {
            name: "default".into(),
            admin_url: url,
            capacity: i32::try_from(self.settings.default_server_capacity).unwrap_or(i32::MAX),
        };
        let (db, keyring) = (&self.provisioner.control_db, &self.provisioner.keyring);
        match servers::register(db, keyring, server).await {
            Ok(_) => tracing::info!("database server `default` registered"),
            Err(crate::ProvisionError::ServerNameTaken(_)) => {}
            Err(error) => tracing::warn!("database server `default` not registered: {error}"),
        }
    }
}

/// Waits until the control database is migrated to the schema this binary knows (another
/// process, or the all-in-one bootstrap, migrates it). `false` when shut down first.
async fn wait_for_schema(db: &DatabaseConnection, shutdown: &CancellationToken) -> bool {
    use sea_orm_migration::MigratorTrait as _;
    let mut delay = Duration::from_millis(200);
    let mut told = false;
    loop {
        match migrations::control::Migrator::get_pending_migrations(db).await {
            Ok(pending) if pending.is_empty() => return true,
            Ok(pending) if !told => {
                tracing::info!(
                    pending = pending.len(),
                    "waiting for the control database to be migrated"
                );
                told = true;
            }
            Ok(_) => {}
            Err(error) if !told => {
                tracing::info!("waiting for the control database schema: {error}");
                told = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
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
