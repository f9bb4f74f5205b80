//! The worker loop: waits for the control database, then polls for work until shutdown.
//! Job claiming and the provisioning saga arrive with the tenant-lifecycle issue; today the
//! loop only proves the process lifecycle (start, reach the database, stop on signal).

use common::config::Settings;
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One provisioner worker, named in job leases by [`Worker::id`].
pub struct Worker {
    control_db: DatabaseConnection,
    id: String,
    poll_interval: Duration,
}

impl Worker {
    pub fn new(settings: &Settings, control_db: DatabaseConnection) -> Self {
        let id = settings
            .provisioner
            .worker_id
            .clone()
            .unwrap_or_else(default_worker_id);
        Self {
            control_db,
            id,
            poll_interval: Duration::from_millis(settings.provisioner.poll_interval_ms),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        if !common::db::wait_until_reachable(&self.control_db, "control", &shutdown).await {
            return;
        }
        tracing::info!(worker = %self.id, "provisioner worker ready");
        while !shutdown.is_cancelled() {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
        tracing::info!(worker = %self.id, "provisioner worker stopped");
    }
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}
