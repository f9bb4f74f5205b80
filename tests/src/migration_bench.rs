//! The fleet migration benchmark: TENANTS tenant databases over the two test servers, each
//! with SETTINGS rows in `settings`, brought to the test upgrade (a column and an index on
//! that table, see [`crate::upgrade`]) by one migration run on one worker, as a deploy
//! would. Measured in the same run:
//!
//! - **run**: from the run's start to its end; tenants per second;
//! - **reads**: one warm tenant's read (`SELECT` of one setting, over its own role's open
//!   connection) in a loop, first with no run (the baseline), then during the run; the
//!   p50/p99 ratio says what a run costs the tenants it is not migrating.
//!
//! The tenants are made the fast way (their databases cloned from a template that
//! already holds the rows, their control rows inserted directly): the benchmark is about
//! the run, not provisioning. Everything is dropped at the end.

use crate::bench::Latencies;
use crate::fleet::{self, Fleet};
use crate::postgres::{Server, with_database};
use crate::upgrade::upgraded;
use common::entities::tenants;
use provisioner::fleet::{Canary, RunRequest};
use provisioner::servers;
use sea_orm::{ConnectionTrait, EntityTrait, TransactionTrait};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Rows in each tenant's `settings`.
pub const SETTINGS: i64 = 1000;
const BENCH_TEMPLATE: &str = "erp_bench_mig_tmpl";
const PREFIX: &str = "erp_bench_mig_";

/// What one run measured.
#[derive(Debug, Clone)]
pub struct MigrationRun {
    pub tenants: usize,
    pub max_per_server: u32,
    pub elapsed: Duration,
    pub succeeded: i64,
    pub baseline: Latencies,
    pub during: Latencies,
}

/// Migrates `tenants` tenants over the two servers with `max_per_server` at once.
pub async fn run(tenants: usize, max_per_server: u32) -> MigrationRun {
    let fleet = Fleet::new().await;
    let servers = [Server::primary().admin_url(), Server::second().admin_url()];
    let mut ids = Vec::new();
    for (n, url) in servers.iter().enumerate() {
        let server = fleet.register(&format!("bench-{n}"), url, 100_000).await;
        let share = tenants / 2 + (n == 0) as usize * (tenants % 2);
        ids.extend(make_tenants(&fleet, server, url, share, n).await);
    }
    let warm = fleet.tenant(ids[0]).await;
    let reader = warm_reader(&fleet, &warm).await;
    let baseline = read_for(&reader, Duration::from_secs(5)).await;

    let worker = fleet.worker("bench").with_tenant_schema(upgraded());
    let request = RunRequest {
        canary: Canary::Percent(1),
        max_per_server,
        max_failure_ratio: Some(0.01),
        ..RunRequest::default()
    };
    let txn = fleet.control.begin().await.expect("txn");
    let run = provisioner::fleet::start(&txn, &upgraded(), &request, "bench")
        .await
        .expect("run starts");
    txn.commit().await.expect("commit");
    let started = Instant::now();
    let reading = tokio::spawn(async move {
        let mut samples = Vec::new();
        while samples.len() < 1_000_000 {
            samples.push(timed_read(&reader).await);
            if READ_STOP.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
        }
        samples
    });
    worker.try_execute_fleet_job().await.expect("run executes");
    let elapsed = started.elapsed();
    READ_STOP.store(true, std::sync::atomic::Ordering::Relaxed);
    let during = reading.await.expect("reader");
    let done = provisioner::fleet::get(&fleet.control, run.id)
        .await
        .expect("run");
    drop_tenants(&fleet, &servers).await;
    MigrationRun {
        tenants,
        max_per_server,
        elapsed,
        succeeded: done.counts.succeeded,
        baseline,
        during: sorted("during the run", during),
    }
}

static READ_STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `count` tenants on `server`: a bench template with the rows (once per server), then
/// one clone, one role and one control row per tenant.
async fn make_tenants(
    fleet: &Fleet,
    server: Uuid,
    url: &str,
    count: usize,
    salt: usize,
) -> Vec<Uuid> {
    let admin = fleet::connect(url).await;
    build_bench_template(&admin, url).await;
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let id = Uuid::now_v7();
        let name = format!("{PREFIX}{}", id.simple());
        // One statement each: `CREATE DATABASE` refuses to share a query string.
        for sql in [
            format!("CREATE ROLE \"{name}\" LOGIN PASSWORD '{name}'"),
            format!(
                "CREATE DATABASE \"{name}\" TEMPLATE {BENCH_TEMPLATE} OWNER \"{name}\" \
                 STRATEGY WAL_LOG"
            ),
        ] {
            admin.batch_execute(&sql).await.expect("tenant database");
        }
        let tenant_db = fleet::connect(&with_database(url, &name)).await;
        tenant_db
            .batch_execute(&format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{name}\""
            ))
            .await
            .expect("grants");
        let sealed = fleet.keyring.seal_str(&name, id.as_bytes()).expect("seal");
        fleet
            .control
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "INSERT INTO tenants (id, slug, name, status, plan_code, admin_email, server_id, \
                   db_name, db_role, db_password_ciphertext, db_password_key_id, schema_version) \
                 VALUES ($1, $2, $2, 'active', 'starter', 'owner@bench.example', $3, $4, $4, $5, $6, $7)",
                [
                    id.into(),
                    format!("mig-{salt}-{n}").into(),
                    server.into(),
                    name.clone().into(),
                    sealed.ciphertext.into(),
                    sealed.key_id.into(),
                    migrations::latest_tenant_version().into(),
                ],
            ))
            .await
            .expect("tenant row");
        ids.push(id);
    }
    ids
}

/// A template at this build's tenant schema with [`SETTINGS`] rows in `settings`.
async fn build_bench_template(admin: &tokio_postgres::Client, url: &str) {
    for sql in [
        format!("DROP DATABASE IF EXISTS {BENCH_TEMPLATE} WITH (FORCE)"),
        format!("CREATE DATABASE {BENCH_TEMPLATE}"),
    ] {
        admin.batch_execute(&sql).await.expect("bench template");
    }
    let db = sea_orm::Database::connect(with_database(url, BENCH_TEMPLATE))
        .await
        .expect("bench template");
    migrations::up_exclusively::<migrations::tenant::Migrator>(&db, None)
        .await
        .expect("migrated");
    db.execute_unprepared(&format!(
        "INSERT INTO settings (key, value) SELECT 'key-' || g, to_jsonb(g) \
         FROM generate_series(1, {SETTINGS}) g"
    ))
    .await
    .expect("rows");
    db.close().await.ok();
}

/// A connection as the tenant's own role, as the runtime would hold it.
async fn warm_reader(fleet: &Fleet, tenant: &tenants::Model) -> tokio_postgres::Client {
    let server = servers::find(&fleet.control, tenant.server_id.expect("placed"))
        .await
        .expect("server");
    let url = servers::admin_url(&fleet.keyring, &server).expect("url");
    let name = tenant.db_name.clone().expect("database");
    let (scheme, rest) = url.expose().split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = host.split('/').next().unwrap_or_default();
    fleet::connect(&format!("{scheme}://{name}:{name}@{host}/{name}")).await
}

async fn timed_read(reader: &tokio_postgres::Client) -> Duration {
    let started = Instant::now();
    reader
        .query_one("SELECT value FROM settings WHERE key = 'key-500'", &[])
        .await
        .expect("read");
    started.elapsed()
}

async fn read_for(reader: &tokio_postgres::Client, period: Duration) -> Latencies {
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < period {
        samples.push(timed_read(reader).await);
    }
    sorted("no run", samples)
}

fn sorted(way: &'static str, mut samples: Vec<Duration>) -> Latencies {
    samples.sort();
    Latencies {
        way,
        sorted: samples,
    }
}

/// Drops every bench database and role on both servers.
async fn drop_tenants(fleet: &Fleet, servers: &[&str]) {
    let rows = tenants::Entity::find()
        .all(&fleet.control)
        .await
        .unwrap_or_default();
    for url in servers {
        let admin = fleet::connect(url).await;
        for tenant in &rows {
            if let Some(name) = &tenant.db_name {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                let _ = admin
                    .batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""))
                    .await;
            }
        }
        let _ = admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {BENCH_TEMPLATE} WITH (FORCE)"
            ))
            .await;
    }
}

/// The report's lines.
pub fn report(run: &MigrationRun) -> String {
    let secs = run.elapsed.as_secs_f64();
    let ratio = |q: f64| {
        run.during.quantile(q).as_secs_f64() / run.baseline.quantile(q).as_secs_f64().max(1e-9)
    };
    format!(
        "fleet migration: {} tenants over 2 servers ({} rows each), {} at once per server\n\
         run: {:.1} s, {:.0} tenants/s, {} succeeded\n\
         warm tenant reads: no run p50 {:?} p99 {:?} ({} reads); during the run p50 {:?} p99 {:?} ({} reads)\n\
         ratio during/no run: p50 {:.2}x, p99 {:.2}x",
        run.tenants,
        SETTINGS,
        run.max_per_server,
        secs,
        run.tenants as f64 / secs,
        run.succeeded,
        run.baseline.quantile(0.5),
        run.baseline.quantile(0.99),
        run.baseline.sorted.len(),
        run.during.quantile(0.5),
        run.during.quantile(0.99),
        run.during.sorted.len(),
        ratio(0.5),
        ratio(0.99),
    )
}
