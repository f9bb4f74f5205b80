//! The worker loop: waits for the control database, then runs jobs one after another,
//! sleeping for the poll interval only when none is due, until shutdown. A job in flight
//! at shutdown finishes its current step; an interrupted one resumes elsewhere after its
//! lease expires.

use crate::saga::{Executed, Provisioner};
use common::config::Settings;
use common::crypto::{CryptoError, Keyring};
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One provisioner worker, named in job leases by its id.
pub struct Worker {
    provisioner: Provisioner,
    poll_interval: Duration,
}

impl Worker {
    /// Fails only when no encryption key is configured (tenant secrets must be sealed).
    pub fn new(settings: &Settings, control_db: DatabaseConnection) -> Result<Self, CryptoError> {
        let keyring = Keyring::from_settings(settings)?;
        let id = settings
            .provisioner
            .worker_id
            .clone()
            .unwrap_or_else(default_worker_id);
        let provisioner = Provisioner::new(control_db, keyring, &id)
            .with_backup_dir(settings.data_dir.join("backups"));
        Ok(Self {
            provisioner,
            poll_interval: Duration::from_millis(settings.provisioner.poll_interval_ms),
        })
    }

    pub fn id(&self) -> &str {
        self.provisioner.worker_id()
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let db = self.provisioner.control_db.clone();
        if !common::db::wait_until_reachable(&db, "control", &shutdown).await {
            return;
        }
        tracing::info!(worker = %self.id(), "provisioner worker ready");
        while !shutdown.is_cancelled() {
            let idle = match self.provisioner.try_execute_job().await {
                Ok(Executed::Idle) => true,
                Ok(outcome) => {
                    tracing::info!(?outcome, "job step run");
                    false
                }
                Err(error) => {
                    tracing::warn!("job queue unavailable: {error}");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = tokio::time::sleep(self.poll_interval) => {}
                }
            }
        }
        tracing::info!(worker = %self.id(), "provisioner worker stopped");
    }
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}
