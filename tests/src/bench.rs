//! The provisioning benchmark: latency of one whole provisioning job (claim to `active`)
//! on a real server, three ways in the same run, interleaved tenant by tenant so that
//! drift in the machine's load hits all three alike:
//!
//! - `migrate`: an empty database migrated from scratch (the baseline);
//! - `clone`: `CREATE DATABASE ... TEMPLATE` of the server's template;
//! - `spare`: a pre-cloned spare claimed by a rename (spares refilled beforehand, as the
//!   worker does in the background; the refill is not timed).
//!
//! Each way has its own registration of the same server, and the other two are drained
//! while a job runs, so placement sends every tenant where its way says. Each tenant's
//! database and role are dropped right after it is measured (untimed), so the server does
//! not fill up with hundreds of databases.

use crate::fleet::{self, Fleet};
use crate::postgres::Server;
use common::ids::TenantId;
use provisioner::provision::DatabaseSource;
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
    let statements = [
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS \"{name}\""),
    ];
    provisioner::servers::run_each(admin, &statements)
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
