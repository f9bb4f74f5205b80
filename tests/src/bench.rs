//! The provisioning benchmark: latency of one whole provisioning job (claim to `active`)
//! on a real server, three ways in the same run, interleaved tenant by tenant so that
//! drift in the machine's load hits all three alike:
//!
//! - `migrate`: an empty database migrated from scratch (the baseline);
//! - `clone`: `CREATE DATABASE ... TEMPLATE` of the server's template;
//! - `spare`: a pre-cloned spare claimed by a rename (spares refilled beforehand, as the
//!   worker does in the background; the refill is not timed).
//!
//! [`bulk`] provisions many tenants at once with several workers across both test servers
//! and reports the throughput and what it cost each server in checkpoints and WAL.
//!
//! Each way has its own registration of the same server, and the other two are drained
//! while a job runs, so placement sends every tenant where its way says. Each tenant's
//! database and role are dropped right after it is measured (untimed), so the server does
//! not fill up with hundreds of databases.

use crate::fleet::{self, Fleet};
use crate::postgres::Server;
use common::ids::TenantId;
use provisioner::DatabaseSource;
use provisioner::{Executed, Provisioner, servers};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The ways of making a tenant database, in the order they are reported.
pub const WAYS: [&str; 3] = ["migrate", "clone", "spare"];

/// Latencies of one way, sorted.
#[derive(Debug, Clone)]
pub struct Latencies {
    pub way: &'static str,
    pub sorted: Vec<Duration>,
}

impl Latencies {
    /// The `q`-quantile (nearest rank).
    pub fn quantile(&self, q: f64) -> Duration {
        let rank = ((q * self.sorted.len() as f64).ceil() as usize).clamp(1, self.sorted.len());
        self.sorted[rank - 1]
    }
}

/// Provisions `tenants` tenants each way on the primary test server.
pub async fn run(tenants: usize) -> Vec<Latencies> {
    let fleet = Fleet::new().await;
    let url = Server::primary().admin_url();
    let capacity = i32::try_from(tenants + 10).unwrap_or(i32::MAX);
    let mut registrations = Vec::new();
    for way in WAYS {
        registrations.push(fleet.register(&format!("bench-{way}"), url, capacity).await);
    }
    servers::set_spare_target(
        &fleet.control,
        registrations[2],
        i32::try_from(tenants).unwrap_or(100).min(100),
    )
    .await
    .expect("spare target");
    let workers = [
        fleet
            .worker("bench-migrate")
            .with_database_source(DatabaseSource::Migrate),
        fleet.worker("bench-clone"),
        fleet.worker("bench-spare"),
    ];
    workers[1]
        .refill_spares()
        .await
        .expect("template built, spares made");
    let admin = fleet::connect(url).await;
    let mut samples: [Vec<Duration>; 3] = Default::default();
    for n in 0..tenants {
        for (way, worker) in workers.iter().enumerate() {
            let only = registrations[way];
            for (other, id) in registrations.iter().enumerate() {
                servers::set_draining(&fleet.control, *id, other != way)
                    .await
                    .expect("drain");
            }
            if way == 2 {
                worker.refill_spares().await.expect("spares refilled");
            }
            let tenant = fleet
                .create_tenant(&format!("bench-{}-{n}", WAYS[way]))
                .await
                .expect("tenant created");
            samples[way].push(time_job(worker).await);
            let placed = fleet.tenant(tenant.tenant_id).await;
            assert_eq!(placed.server_id, Some(only), "placed by its way");
            drop_tenant(&admin, tenant.tenant_id).await;
        }
    }
    WAYS.iter()
        .zip(samples)
        .map(|(way, mut sorted)| {
            sorted.sort();
            Latencies { way, sorted }
        })
        .collect()
}

/// What a bulk run did.
#[derive(Debug, Clone)]
pub struct Bulk {
    pub tenants: usize,
    pub workers: usize,
    pub elapsed: Duration,
    pub servers: Vec<ServerLoad>,
}

/// One server's share of a bulk run and what it cost it.
#[derive(Debug, Clone)]
pub struct ServerLoad {
    pub name: String,
    pub tenants: i64,
    pub checkpoints: i64,
    pub wal_bytes: i64,
}

/// Creates `tenants` tenants, then lets `workers` workers provision them all at once on the
/// primary and second test servers (templates are built beforehand, untimed, as they are
/// once per server and schema in production).
pub async fn bulk(tenants: usize, workers: usize) -> Bulk {
    let fleet = Fleet::new().await;
    let capacity = i32::try_from(tenants + 1).unwrap_or(i32::MAX);
    let urls = [Server::primary().admin_url(), Server::second().admin_url()];
    for (n, url) in urls.iter().enumerate() {
        fleet
            .register(&format!("bulk-{}", n + 1), url, capacity)
            .await;
        fleet.active_tenant(&format!("warm-{n}")).await;
    }
    for n in 0..tenants {
        fleet
            .create_tenant(&format!("bulk-{n}"))
            .await
            .expect("tenant created");
    }
    let mut admins = Vec::new();
    for url in urls {
        admins.push(fleet::connect(url).await);
    }
    let before = futures_util::future::join_all(admins.iter().map(server_counters)).await;
    let started = Instant::now();
    let pool: Vec<Provisioner> = (0..workers)
        .map(|n| fleet.worker(&format!("bulk-{n}")))
        .collect();
    futures_util::future::join_all(pool.iter().map(|worker| fleet.run_jobs_to_end(worker))).await;
    let elapsed = started.elapsed();
    let after = futures_util::future::join_all(admins.iter().map(server_counters)).await;
    let active = fleet
        .count("SELECT count(*) FROM tenants WHERE status = 'active'")
        .await;
    assert_eq!(
        active,
        i64::try_from(tenants + 2).unwrap_or(i64::MAX),
        "every tenant active"
    );
    let mut servers = Vec::new();
    for (n, ((checkpoints_0, wal_0), (checkpoints_1, wal_1))) in
        before.into_iter().zip(after).enumerate()
    {
        let name = format!("bulk-{}", n + 1);
        let placed = fleet
            .count(&format!(
                "SELECT count(*) FROM tenants t JOIN database_servers s ON s.id = t.server_id \
                 WHERE s.name = '{name}' AND t.slug LIKE 'bulk-%'"
            ))
            .await;
        servers.push(ServerLoad {
            name,
            tenants: placed,
            checkpoints: checkpoints_1 - checkpoints_0,
            wal_bytes: wal_1 - wal_0,
        });
    }
    Bulk {
        tenants,
        workers,
        elapsed,
        servers,
    }
}

/// Checkpoints so far and the current WAL position, in bytes.
async fn server_counters(admin: &tokio_postgres::Client) -> (i64, i64) {
    let row = admin
        .query_one(
            "SELECT checkpoints_timed + checkpoints_req, \
             pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint FROM pg_stat_bgwriter",
            &[],
        )
        .await
        .expect("server counters");
    (row.get(0), row.get(1))
}

/// The bulk report.
pub fn bulk_report(bulk: &Bulk) -> String {
    let seconds = bulk.elapsed.as_secs_f64();
    let mut lines = vec![format!(
        "{} tenants, {} workers, 2 servers: {:.1} s, {:.1} tenants/s",
        bulk.tenants,
        bulk.workers,
        seconds,
        bulk.tenants as f64 / seconds
    )];
    for server in &bulk.servers {
        lines.push(format!(
            "  {}: {} tenants, {} checkpoints, {:.0} MiB of WAL ({:.1} MiB per tenant)",
            server.name,
            server.tenants,
            server.checkpoints,
            server.wal_bytes as f64 / 1_048_576.0,
            server.wal_bytes as f64 / 1_048_576.0 / (server.tenants.max(1) as f64),
        ));
    }
    lines.join("\n")
}

/// Runs the one due job and returns how long it took; panics unless it succeeded.
async fn time_job(worker: &Provisioner) -> Duration {
    let started = Instant::now();
    let outcome = worker.try_execute_job().await.expect("job queue");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            outcome,
            Executed::Finished {
                state: "succeeded",
                ..
            }
        ),
        "{outcome:?}"
    );
    elapsed
}

async fn drop_tenant(admin: &tokio_postgres::Client, tenant: Uuid) {
    let name = TenantId(tenant).database_name();
    provisioner::servers::drop_database_and_role(admin, &name)
        .await
        .expect("drop measured tenant");
}

/// The report: one line per way, then the ratios the targets are stated in.
pub fn report(results: &[Latencies]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut lines = vec![format!(
        "{:<8} {:>6} {:>9} {:>9} {:>9}",
        "way", "n", "p50 ms", "p95 ms", "max ms"
    )];
    for way in results {
        lines.push(format!(
            "{:<8} {:>6} {:>9.1} {:>9.1} {:>9.1}",
            way.way,
            way.sorted.len(),
            ms(way.quantile(0.5)),
            ms(way.quantile(0.95)),
            ms(way.quantile(1.0)),
        ));
    }
    if let [migrate, clone, spare] = results {
        let ratio = |a: &Latencies, b: &Latencies| ms(a.quantile(0.5)) / ms(b.quantile(0.5));
        lines.push(format!(
            "p50 migrate / clone = {:.2}x",
            ratio(migrate, clone)
        ));
        lines.push(format!("p50 clone / spare   = {:.2}x", ratio(clone, spare)));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let latencies = Latencies {
            way: "x",
            sorted: (1..=20).map(Duration::from_millis).collect(),
        };
        assert_eq!(latencies.quantile(0.5), Duration::from_millis(10));
        assert_eq!(latencies.quantile(0.95), Duration::from_millis(19));
        assert_eq!(latencies.quantile(1.0), Duration::from_millis(20));
        assert_eq!(latencies.quantile(0.0), Duration::from_millis(1));
    }
}
