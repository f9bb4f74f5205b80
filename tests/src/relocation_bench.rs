//! The backup, restore and relocation benchmark (`relocation-bench [ROWS]`): one tenant
//! with ROWS settings rows on the primary server, then, timed in one run:
//!
//! - a backup (`pg_dump -Fc` with row counts from its snapshot, stored, checksummed);
//! - a verified restore of it (fetched, checksum checked, restored into a new database,
//!   row counts compared, switched under a freeze);
//! - a relocation to the second server, while a writer inserts a row after row as the
//!   tenant's own role (as the runtime would), reconnecting to wherever the control
//!   database says the tenant lives after each failure.
//!
//! Printed: each total, the write freeze of the restore and of the relocation (from
//! `frozen_at` to the switch's commit, by the control database's clock), the longest gap
//! the writer saw between two acknowledged writes, and whether every acknowledged write is
//! on the target (the one figure asserted).

use crate::Server;
use crate::fleet::{self, Fleet};
use provisioner::{backups, relocation, restore, servers};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub rows: i64,
    /// `pg_database_size` of the tenant's database before the backup.
    pub database_bytes: i64,
    pub backup: Duration,
    pub backup_bytes: i64,
    pub restore: Duration,
    pub restore_freeze_ms: i64,
    pub relocation: Duration,
    pub relocation_freeze_ms: i64,
    pub longest_write_gap: Duration,
    pub writes_acknowledged: usize,
    /// Acknowledged writes not found on the target (must be 0).
    pub writes_lost: usize,
}

/// Runs the benchmark with a tenant of `rows` settings rows.
pub async fn run(rows: i64) -> Figures {
    let fleet = Fleet::on_primary(10).await;
    let second = fleet
        .register("pg-2", Server::second().admin_url(), 10)
        .await;
    servers::set_draining(&fleet.control, second, true)
        .await
        .expect("drain");
    let tenant = fleet.active_tenant("bench-move").await;
    let primary = Server::primary().admin_url();
    let live = fleet.live_db(tenant.id, primary).await;
    fleet::fill_settings(&live, rows).await;
    live.batch_execute("VACUUM ANALYZE").await.expect("vacuum");
    let database_bytes: i64 = live
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await
        .expect("size")
        .get(0);
    servers::set_draining(&fleet.control, second, false)
        .await
        .expect("activate");
    let worker = fleet.worker("bench");

    let started = Instant::now();
    let backup = backups::request(&fleet.control, tenant.id)
        .await
        .expect("backup");
    fleet.run_jobs(&worker).await;
    let backup_time = started.elapsed();
    let stored = backups::find(&fleet.control, tenant.id, backup.id)
        .await
        .expect("backup row");

    let started = Instant::now();
    let job = restore::request(&fleet.control, tenant.id, backup.id)
        .await
        .expect("restore");
    fleet.run_jobs(&worker).await;
    let restore_time = started.elapsed();
    let restore_freeze_ms = freeze_ms(&fleet, job).await;

    let writer = Writer::start(&fleet, tenant.id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let job = relocation::request(&fleet.control, tenant.id, Some(second))
        .await
        .expect("relocate");
    fleet.run_jobs(&worker).await;
    let relocation_time = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (acknowledged, longest_gap) = writer.stop().await;
    let target = fleet.live_db(tenant.id, Server::second().admin_url()).await;
    let lost = lost_writes(&target, &acknowledged).await;
    Figures {
        rows,
        database_bytes,
        backup: backup_time,
        backup_bytes: stored.size_bytes.unwrap_or_default(),
        restore: restore_time,
        restore_freeze_ms,
        relocation: relocation_time,
        relocation_freeze_ms: freeze_ms(&fleet, job).await,
        longest_write_gap: longest_gap,
        writes_acknowledged: acknowledged.len(),
        writes_lost: lost,
    }
}

async fn freeze_ms(fleet: &Fleet, job: Uuid) -> i64 {
    let job = fleet.job(job).await;
    assert_eq!(job.state.as_str(), "succeeded", "{:?}", job.last_error);
    job.payload["freeze_ms"].as_i64().unwrap_or(-1)
}

async fn lost_writes(target: &tokio_postgres::Client, acknowledged: &[String]) -> usize {
    let found: i64 = target
        .query_one(
            "SELECT count(*) FROM settings WHERE key = ANY($1)",
            &[&acknowledged],
        )
        .await
        .expect("count")
        .get(0);
    acknowledged.len() - usize::try_from(found).unwrap_or(0)
}

/// A client writing one row at a time as the tenant's role, following the tenant.
struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Vec<String>, Duration)>,
}

impl Writer {
    async fn start(fleet: &Fleet, tenant: Uuid) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let control = fleet::connect(&fleet.db.url()).await;
        let urls = Arc::new(Mutex::new(ServerUrls::new(fleet).await));
        let keyring_tenant = fleet.tenant(tenant).await;
        let password = fleet.role_password(&keyring_tenant).expose().to_owned();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut longest = Duration::ZERO;
            let mut last_ack = Instant::now();
            let mut client: Option<tokio_postgres::Client> = None;
            while !flag.load(Ordering::Relaxed) {
                if client.is_none() {
                    let url = urls
                        .lock()
                        .await
                        .tenant_url(&control, tenant, &password)
                        .await;
                    client = fleet::try_connect(&url).await.ok();
                }
                let key = format!("w-{}", Uuid::now_v7());
                let written = match &client {
                    Some(db) => db
                        .execute(
                            "INSERT INTO settings (key, value) VALUES ($1, '0')",
                            &[&key],
                        )
                        .await
                        .is_ok(),
                    None => false,
                };
                if written {
                    longest = longest.max(last_ack.elapsed());
                    last_ack = Instant::now();
                    acknowledged.push(key);
                } else {
                    client = None;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            (acknowledged, longest)
        });
        Writer { stop, task }
    }

    async fn stop(self) -> (Vec<String>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("writer")
    }
}

/// Each registered server's address, to build the tenant's own URL from its row.
struct ServerUrls(Vec<(Uuid, String)>);

impl ServerUrls {
    async fn new(fleet: &Fleet) -> ServerUrls {
        ServerUrls(vec![
            (
                fleet.server_id("pg-1").await,
                Server::primary().admin_url().to_owned(),
            ),
            (
                fleet.server_id("pg-2").await,
                Server::second().admin_url().to_owned(),
            ),
        ])
    }

    async fn tenant_url(
        &self,
        control: &tokio_postgres::Client,
        tenant: Uuid,
        password: &str,
    ) -> String {
        let row = control
            .query_one(
                "SELECT server_id, db_name, db_role FROM tenants WHERE id = $1",
                &[&tenant],
            )
            .await
            .expect("tenant row");
        let (server, database, role): (Uuid, String, String) = (row.get(0), row.get(1), row.get(2));
        let admin = &self
            .0
            .iter()
            .find(|(id, _)| *id == server)
            .expect("a known server")
            .1;
        let host = admin.split('@').next_back().unwrap_or_default();
        let host = host.split('/').next().unwrap_or_default();
        format!("postgres://{role}:{password}@{host}/{database}")
    }
}

/// The figures as a table.
pub fn report(figures: &Figures) -> String {
    let ms = |duration: Duration| format!("{:.0} ms", duration.as_secs_f64() * 1000.0);
    [
        format!(
            "tenant rows (settings)            {}  (database {:.1} MiB)",
            figures.rows,
            figures.database_bytes as f64 / 1_048_576.0
        ),
        format!(
            "backup (dump, store, checksum)    {}  ({} bytes)",
            ms(figures.backup),
            figures.backup_bytes
        ),
        format!("verified restore, total           {}", ms(figures.restore)),
        format!(
            "  write freeze                    {} ms",
            figures.restore_freeze_ms
        ),
        format!(
            "relocation, total                 {}",
            ms(figures.relocation)
        ),
        format!(
            "  write freeze                    {} ms",
            figures.relocation_freeze_ms
        ),
        format!(
            "  longest gap between two writes  {}",
            ms(figures.longest_write_gap)
        ),
        format!(
            "  writes acknowledged / lost      {} / {}",
            figures.writes_acknowledged, figures.writes_lost
        ),
    ]
    .join("\n")
}
