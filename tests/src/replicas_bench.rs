//! The replicas benchmark (issue 17), two tenant runtimes on one control database:
//!
//! - **rate**: one tenant limited to 600 requests a minute, requests sent round-robin to
//!   both runtimes well above that rate; once the burst is spent, the admitted requests
//!   over a window, per minute. Measured with the limit shared in Redis, with no Redis and
//!   the quota split by `limits.replicas = 2`, and (for contrast) with no Redis and no split,
//!   which admits twice the limit;
//! - **budget**: many tenants churned round-robin over both runtimes with the primary
//!   server's budget shared through Redis: the peak of tenant connections
//!   `pg_stat_activity` saw against the budget, errors and latency;
//! - **latency**: what Redis costs a request: `GET /api/v1/me` of one tenant on a runtime
//!   with Redis (the GCRA round trip, the connection lease) and on one without, requests
//!   alternating between the two in the same run, p50 and p99 of each.

use crate::fleet::Fleet;
use crate::postgres::Server;
use crate::replicas;
use crate::runtime_bench::{self, Signed};
use common::config::Settings;
use common::tokens::TokenKeys;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The plan limit of the rate part.
pub const LIMIT_PER_MINUTE: u32 = 600;
/// Requests sent per second in the rate part: three times the limit's 10 a second.
const SEND_PER_SECOND: u32 = 30;
/// The budget of the primary server in the budget part.
pub const BUDGET: i32 = 8;

#[derive(Debug)]
pub struct RateRun {
    pub mode: &'static str,
    pub sent: usize,
    pub admitted: usize,
    pub window: Duration,
    /// Admitted per runtime.
    pub by_runtime: [usize; 2],
}

impl RateRun {
    pub fn per_minute(&self) -> f64 {
        self.admitted as f64 * 60.0 / self.window.as_secs_f64()
    }
}

#[derive(Debug)]
pub struct BudgetRun {
    pub tenants: usize,
    pub clients: usize,
    pub requests: usize,
    pub errors: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub peak: i64,
}

/// Sequential `/me` latency on a runtime without Redis and on one with it.
#[derive(Debug)]
pub struct LatencyRun {
    pub requests: usize,
    pub without_redis: Quantiles,
    pub with_redis: Quantiles,
}

#[derive(Debug, Clone, Copy)]
pub struct Quantiles {
    pub p50: Duration,
    pub p99: Duration,
}

#[derive(Debug)]
pub struct Report {
    pub rates: Vec<RateRun>,
    pub budget: Option<BudgetRun>,
    pub latency: Option<LatencyRun>,
}

/// Requests per side in the latency part.
const LATENCY_REQUESTS: usize = 2_000;

/// `window` of measured rate per mode, and a churn over `tenants` tenants.
pub async fn run(window: Duration, tenants: usize) -> Report {
    let redis = replicas::redis_or_skip("the shared (Redis) runs of replicas-bench").await;
    let fleet = Fleet::on_primary(i32::try_from(tenants).unwrap_or(i32::MAX)).await;
    // No rate limit refuses the latency part's requests; the rate parts' limit comes after.
    fleet
        .exec(
            "UPDATE plans SET api_requests_per_minute = 1000000, \
             max_concurrent_requests = 1000, max_db_connections = 20",
        )
        .await;
    fleet
        .exec(&format!(
            "UPDATE database_servers SET connection_budget = {BUDGET}"
        ))
        .await;
    eprintln!("provisioning {tenants} tenants…");
    let base = runtime_bench::settings_for(&fleet);
    let keys = TokenKeys::from_settings(&base).expect("signing key");
    let provisioned = runtime_bench::provision(&fleet, tenants).await;
    let databases: Vec<String> = provisioned
        .iter()
        .map(|(_, tenant, _)| common::ids::TenantId(*tenant).database_name())
        .collect();
    let signed: Vec<Signed> = provisioned
        .into_iter()
        .map(|(slug, tenant, user)| Signed {
            token: runtime_bench::token(&keys, tenant, user),
            slug,
        })
        .collect();

    let latency = if redis {
        eprintln!("latency: {LATENCY_REQUESTS} requests with Redis and without, alternating…");
        Some(latency_run(&fleet, &base, &signed[3], LATENCY_REQUESTS).await)
    } else {
        None
    };
    fleet
        .exec(&format!(
            "UPDATE plans SET api_requests_per_minute = {LIMIT_PER_MINUTE}"
        ))
        .await;

    let mut rates = Vec::new();
    let modes: [(&'static str, bool, u32); 3] = [
        ("shared in Redis", true, 1),
        ("no Redis, split by replicas = 2", false, 2),
        (
            "no Redis, no split (what a per-process limit gives)",
            false,
            1,
        ),
    ];
    for (n, (mode, shared, replicas)) in modes.into_iter().enumerate() {
        if shared && !redis {
            continue;
        }
        let mut settings = base.clone();
        settings.limits.replicas = replicas;
        if shared {
            replicas::use_redis(&mut settings);
        }
        eprintln!("rate, {mode}: {} s…", window.as_secs());
        // A tenant of its own per mode, so no mode starts on another's spent quota.
        rates.push(rate_run(&fleet, &settings, mode, &signed[n], window).await);
    }
    let budget = if redis {
        let mut settings = base.clone();
        replicas::use_redis(&mut settings);
        eprintln!("budget churn over {} tenants…", signed.len());
        Some(budget_run(&fleet, &settings, &signed[3..], &databases).await)
    } else {
        None
    };
    Report {
        rates,
        budget,
        latency,
    }
}

/// Two runtimes with `settings`, on one control database: their `/api/v1/me` URLs.
async fn two_runtimes(fleet: &Fleet, settings: &Settings) -> ([String; 2], CancellationToken) {
    let stop = CancellationToken::new();
    let urls = [
        runtime(fleet, settings, &stop).await,
        runtime(fleet, settings, &stop).await,
    ];
    (urls, stop)
}

/// One runtime with `settings`, ready, stopped by `stop`: its `/api/v1/me` URL.
async fn runtime(fleet: &Fleet, settings: &Settings, stop: &CancellationToken) -> String {
    let runtime =
        tenant_runtime::build_app(settings, fleet.control.clone()).expect("runtime builds");
    let port = runtime.port();
    tokio::spawn(runtime.run_until(stop.clone()));
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    for _ in 0..200 {
        if client
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    format!("http://127.0.0.1:{port}/api/v1/me")
}

/// `/me` of one tenant on a runtime without Redis and on one with it, one request at a
/// time, alternating (so both see the same machine load), after a warm-up of each.
async fn latency_run(
    fleet: &Fleet,
    base: &Settings,
    tenant: &Signed,
    requests: usize,
) -> LatencyRun {
    let mut shared = base.clone();
    replicas::use_redis(&mut shared);
    let stop = CancellationToken::new();
    let urls = [
        runtime(fleet, base, &stop).await,
        runtime(fleet, &shared, &stop).await,
    ];
    let client = reqwest::Client::new();
    let mut samples = [Vec::new(), Vec::new()];
    for n in 0..(requests + 50) * 2 {
        // Alternate which side goes first in each pair, so neither always follows the other.
        let side = (n + n / 2) % 2;
        let sent = Instant::now();
        let code = status(&client, &urls[side], tenant).await;
        assert_eq!(code, 200, "latency run: {}", urls[side]);
        if n >= 100 {
            samples[side].push(sent.elapsed());
        }
    }
    stop.cancel();
    let [without, with] = samples;
    LatencyRun {
        requests,
        without_redis: quantiles(without),
        with_redis: quantiles(with),
    }
}

fn quantiles(mut samples: Vec<Duration>) -> Quantiles {
    samples.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1));
        samples.get(rank - 1).copied().unwrap_or_default()
    };
    Quantiles {
        p50: at(0.5),
        p99: at(0.99),
    }
}

async fn status(client: &reqwest::Client, url: &str, tenant: &Signed) -> u16 {
    client
        .get(url)
        .header("X-Tenant", &tenant.slug)
        .bearer_auth(&tenant.token)
        .send()
        .await
        .map_or(0, |response| response.status().as_u16())
}

async fn rate_run(
    fleet: &Fleet,
    settings: &Settings,
    mode: &'static str,
    tenant: &Signed,
    window: Duration,
) -> RateRun {
    let (urls, stop) = two_runtimes(fleet, settings).await;
    let client = reqwest::Client::new();
    // Spend the burst (the whole minute's quota may go at once) until both runtimes refuse.
    let mut refused = [false, false];
    let mut n = 0;
    while !(refused[0] && refused[1]) {
        let side = n % 2;
        refused[side] |= status(&client, &urls[side], tenant).await == 429;
        n += 1;
    }
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / SEND_PER_SECOND);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut sent, mut by_runtime) = (0, [0, 0]);
    let started = Instant::now();
    while started.elapsed() < window {
        ticks.tick().await;
        let side = sent % 2;
        let code = status(&client, &urls[side], tenant).await;
        assert!(matches!(code, 200 | 429), "unexpected {code}");
        by_runtime[side] += usize::from(code == 200);
        sent += 1;
    }
    let window = started.elapsed();
    stop.cancel();
    RateRun {
        mode,
        sent,
        admitted: by_runtime[0] + by_runtime[1],
        window,
        by_runtime,
    }
}

/// Clients of the budget churn.
const CLIENTS: usize = 16;

async fn budget_run(
    fleet: &Fleet,
    settings: &Settings,
    tenants: &[Signed],
    databases: &[String],
) -> BudgetRun {
    let (urls, stop) = two_runtimes(fleet, settings).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS * 2)
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let peak = Arc::new(AtomicI64::new(0));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = tokio::spawn(watch(databases.to_vec(), peak.clone(), watching.clone()));
    let total = tenants.len() * 5;
    let (client, urls) = (&client, &urls);
    let workers = (0..CLIENTS).map(|first| async move {
        let (mut latencies, mut errors) = (Vec::new(), 0);
        let mut next = first;
        while next < total {
            let sent = Instant::now();
            let code = status(client, &urls[next % 2], &tenants[next % tenants.len()]).await;
            latencies.push(sent.elapsed());
            errors += usize::from(code != 200);
            next += CLIENTS;
        }
        (latencies, errors)
    });
    let results = futures_util::future::join_all(workers).await;
    watching.store(false, Ordering::Relaxed);
    let _ = watcher.await;
    stop.cancel();
    let errors = results.iter().map(|(_, errors)| errors).sum();
    let latencies: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
    let requests = latencies.len();
    let Quantiles { p50, p99 } = quantiles(latencies);
    BudgetRun {
        tenants: tenants.len(),
        clients: CLIENTS,
        requests,
        errors,
        p50,
        p99,
        peak: peak.load(Ordering::Relaxed),
    }
}

/// Samples this run's tenant connections on the primary server (which other runs may share)
/// every 10 ms, keeping the peak.
async fn watch(databases: Vec<String>, peak: Arc<AtomicI64>, watching: Arc<AtomicBool>) {
    let admin = crate::fleet::connect(Server::primary().admin_url()).await;
    while watching.load(Ordering::Relaxed) {
        let open: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'tenant-runtime' AND datname = ANY($1)",
                &[&databases],
            )
            .await
            .expect("count")
            .get(0);
        peak.fetch_max(open, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn report(report: &Report) -> String {
    let mut out = format!(
        "| rate: one tenant limited to {LIMIT_PER_MINUTE}/min, two runtimes round-robin | sent | admitted (runtime 1 + 2) | window | admitted per minute | ratio to the limit |\n|---|---|---|---|---|---|\n"
    );
    for run in &report.rates {
        out.push_str(&format!(
            "| {} | {} | {} ({} + {}) | {:.1} s | {:.0} | {:.3} |\n",
            run.mode,
            run.sent,
            run.admitted,
            run.by_runtime[0],
            run.by_runtime[1],
            run.window.as_secs_f64(),
            run.per_minute(),
            run.per_minute() / f64::from(LIMIT_PER_MINUTE),
        ));
    }
    out.push_str("\n(goal: 600 ± 5% per minute, a ratio of 0.95 to 1.05, not 1,200)\n");
    match &report.budget {
        Some(run) => out.push_str(&format!(
            "\nbudget: {} tenants churned over two runtimes by {} clients, one server with a \
             budget of {BUDGET} shared through Redis: {} requests, {} errors, p50 {:.2} ms, \
             p99 {:.2} ms, peak tenant connections {} (must stay <= {BUDGET})\n",
            run.tenants,
            run.clients,
            run.requests,
            run.errors,
            run.p50.as_secs_f64() * 1000.0,
            run.p99.as_secs_f64() * 1000.0,
            run.peak,
        )),
        None => out.push_str("\nbudget: skipped (Redis does not answer)\n"),
    }
    match &report.latency {
        Some(run) => {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let ratio = |with: Duration, without: Duration| {
                with.as_secs_f64() / without.as_secs_f64().max(f64::EPSILON)
            };
            out.push_str(&format!(
                "\nlatency of GET /api/v1/me, {} sequential requests each, alternating: \
                 without Redis p50 {:.2} ms, p99 {:.2} ms; with Redis p50 {:.2} ms, p99 {:.2} ms \
                 (ratio p50 {:.2}x, p99 {:.2}x)\n",
                run.requests,
                ms(run.without_redis.p50),
                ms(run.without_redis.p99),
                ms(run.with_redis.p50),
                ms(run.with_redis.p99),
                ratio(run.with_redis.p50, run.without_redis.p50),
                ratio(run.with_redis.p99, run.without_redis.p99),
            ));
        }
        None => out.push_str("\nlatency: skipped (Redis does not answer)\n"),
    }
    out
}
