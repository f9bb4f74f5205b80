//! Fault injection under load, with invariants (a Jepsen-style check of the whole
//! platform): while a seeded workload runs (signups through two control planes, deletes,
//! signed Stripe webhook deliveries, a fleet migration run, tenant API traffic over two
//! extra runtimes), one fault per round is injected (a provisioner worker, runtime or
//! control plane killed and replaced, a tenant server stopped and restarted, the control
//! database's `LISTEN` connections cut, a tenant server filled to its connection limit);
//! after the last round and a settle period, the invariants are checked and every broken
//! one is named with the seed that broke it.
//!
//! The platform: platform A (control plane, runtime, worker A: never killed, so work always
//! progresses), control plane B, two extra runtimes and a standalone worker (the killable
//! ones), the fake Stripe, the primary test server and a private cluster of this module's
//! own (`$TEST_PG_DIR/chaos`), which it stops, restarts and floods.
//!
//! This module owns the run and its report; [`schedule`] draws everything random from the
//! seed, `faults` injects, `workload` drives the load and keeps the tally of what was
//! sent, `invariants` checks.

mod faults;
mod invariants;
pub mod schedule;
mod server;
mod workload;

use crate::admin::AdminApi;
use crate::app::Replica;
use crate::fake_stripe::FakeStripe;
use crate::replicas::{ExtraRuntime, StandaloneWorker};
use common::Secret;
use common::config::Settings;
use control_plane::all_in_one::Parts;
use schedule::{Round, Schedule};
use serde_json::json;
use server::ChaosServer;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use workload::Tally;

/// How many extra (killable) runtimes carry the tenant traffic.
const RUNTIMES: usize = 2;
/// The webhook signing secret the platform is configured with.
const WEBHOOK_SECRET: &str = "whsec_chaos";
/// The Stripe price of the `starter` plan.
const PRICE: &str = "price_chaos_starter";

/// What a run found.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    pub rounds: usize,
    /// Faults injected, by kind.
    pub faults: Vec<(&'static str, usize)>,
    /// Names of the invariants checked.
    pub checked: Vec<&'static str>,
    /// Each broken invariant, with what broke it.
    pub violations: Vec<String>,
    /// What the workload did (signups, deletes, deliveries, calls), for the log.
    pub load: String,
    /// What the faults did (a worker dying mid-saga, listeners cut, connections held).
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn faults_injected(&self) -> usize {
        self.faults.iter().map(|(_, count)| count).sum()
    }

    /// The faults as `12 worker kills, 8 server restarts, ...`.
    pub fn fault_summary(&self) -> String {
        self.faults
            .iter()
            .map(|(kind, count)| format!("{count} {kind}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The reliability table's row for these runs (one seed or several):
/// `| Faults | 40 faults (12 worker kills, ...) under load, seeds 1-5 | 9 invariants checked, 0 broken | ✅ |`.
pub fn table_row(reports: &[Report]) -> String {
    let mut faults: Vec<(&'static str, usize)> = Vec::new();
    for (kind, count) in reports.iter().flat_map(|report| report.faults.iter()) {
        match faults.iter_mut().find(|(seen, _)| seen == kind) {
            Some((_, total)) => *total += count,
            None => faults.push((kind, *count)),
        }
    }
    faults.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let total: usize = faults.iter().map(|(_, count)| count).sum();
    let kinds: Vec<String> = faults.iter().map(|(k, c)| format!("{c} {k}")).collect();
    let seeds: Vec<u64> = reports.iter().map(|report| report.seed).collect();
    let seeds = match (seeds.first(), seeds.last()) {
        (Some(first), Some(last)) if first != last => format!("seeds {first}-{last}"),
        (Some(seed), _) => format!("seed {seed}"),
        _ => "no seed".to_owned(),
    };
    let rounds: usize = reports.iter().map(|report| report.rounds).sum();
    let checked = reports.first().map_or(0, |report| report.checked.len());
    let broken: usize = reports.iter().map(|report| report.violations.len()).sum();
    let mark = if broken == 0 && !reports.is_empty() {
        "✅"
    } else {
        "❌"
    };
    format!(
        "| Faults | {total} faults ({}) under load over {rounds} rounds, {seeds} | \
         {checked} invariants checked, {broken} broken | {mark} |",
        kinds.join(", ")
    )
}

/// Runs `rounds` rounds of the schedule of `seed` against a fresh platform and checks the
/// invariants; never panics on a broken invariant (the caller decides), only on a harness
/// that cannot start.
pub async fn run(seed: u64, rounds: usize) -> Report {
    let started = Instant::now();
    let schedule = Schedule::from_seed(seed, rounds, RUNTIMES);
    eprintln!("{schedule}");
    let chaos = Chaos::start(seed).await;
    for (index, round) in schedule.rounds.iter().enumerate() {
        eprintln!("chaos seed {seed}: round {index}: {:?}", round.fault);
        chaos.round(index, round).await;
    }
    let violations = chaos.settle_and_check().await;
    let report = Report {
        seed,
        rounds,
        faults: schedule.fault_counts(),
        checked: invariants::NAMES.to_vec(),
        violations,
        load: chaos.tally.lock().expect("tally").summary(),
        notes: chaos.notes.lock().expect("notes").clone(),
        elapsed: started.elapsed(),
    };
    chaos.stop().await;
    report
}

/// The platform under chaos and what the run has seen.
struct Chaos {
    seed: u64,
    api: AdminApi,
    stripe: FakeStripe,
    server: ChaosServer,
    settings: Settings,
    procs: tokio::sync::Mutex<Procs>,
    tally: Mutex<Tally>,
    notes: Mutex<Vec<String>>,
    control: tokio_postgres::Client,
    /// For the runtimes: short timeouts, so a request to a dying runtime fails fast.
    client: reqwest::Client,
}

/// The killable processes, replaced as they are killed.
struct Procs {
    control_plane_b: Option<Replica>,
    control_plane_b_url: String,
    runtimes: Vec<ExtraRuntime>,
    worker: Option<StandaloneWorker>,
    /// Incarnations of the standalone worker, for unique lease owners.
    worker_generation: usize,
}

impl Chaos {
    async fn start(seed: u64) -> Chaos {
        crate::init();
        let server = ChaosServer::start().await;
        let stripe = FakeStripe::start().await;
        let base = stripe.base_url();
        let api = AdminApi::start_with(move |settings| {
            settings.billing.secret_key = Some(Secret::new("sk_test_chaos"));
            settings.billing.webhook_secrets = Some(Secret::new(WEBHOOK_SECRET));
            settings.billing.api_base_url = Some(base);
            settings.billing.request_timeout_secs = 2;
            settings.provisioner.worker_id = Some("worker-a".into());
            settings.provisioner.maintenance_interval_secs = 1;
            settings.tenant_runtime.usage_flush_secs = 1;
            settings.control_plane.signups_per_ip_per_hour = 1_000_000;
            settings.limits.sign_ins_per_ip_per_minute = 1_000_000;
        })
        .await;
        api.register_primary().await;
        api.register_server("chaos", server.url(), server.url(), 100)
            .await;
        let priced = api
            .patch(
                "/api/v1/plans/starter",
                json!({ "stripe_price_id": PRICE, "trial_days": 14 }),
            )
            .await;
        assert_eq!(priced.status, 200, "{:?}", priced.body);
        let settings = api.app.settings.clone();
        let procs = Procs::start(&settings).await;
        let control = crate::fleet::connect(&api.app.db.url()).await;
        Chaos {
            seed,
            api,
            stripe,
            server,
            settings,
            procs: tokio::sync::Mutex::new(procs),
            tally: Mutex::new(Tally::default()),
            notes: Mutex::new(Vec::new()),
            control,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .expect("http client"),
        }
    }

    /// One round: its operations, all at once, while its fault comes and goes.
    async fn round(&self, index: usize, round: &Round) {
        let load = futures_util::future::join_all(
            round
                .ops
                .iter()
                .enumerate()
                .map(|(op_index, op)| self.perform(index, op_index, op)),
        );
        let fault = async {
            tokio::time::sleep(Duration::from_millis(round.after_ms)).await;
            self.inject(&round.fault, Duration::from_millis(round.hold_ms))
                .await;
        };
        tokio::join!(load, fault);
    }

    fn note(&self, note: String) {
        eprintln!("chaos seed {}: {note}", self.seed);
        self.notes.lock().expect("notes").push(note);
    }

    /// Control plane URLs now running: A always, B unless it is being replaced.
    async fn control_planes(&self) -> Vec<String> {
        let procs = self.procs.lock().await;
        let mut urls = vec![self.api.app.control_plane_url.clone()];
        if procs.control_plane_b.is_some() {
            urls.push(procs.control_plane_b_url.clone());
        }
        urls
    }

    /// Extra runtime URLs now running.
    async fn runtimes(&self) -> Vec<String> {
        let procs = self.procs.lock().await;
        procs.runtimes.iter().map(|r| r.url.clone()).collect()
    }

    async fn stop(self) {
        let mut procs = self.procs.into_inner();
        procs.stop_all().await;
        if let Some(b) = procs.control_plane_b.take() {
            let _ = b.stop().await;
        }
        self.api.app.cancel();
        self.stripe.stop().await;
    }
}

impl Procs {
    async fn start(settings: &Settings) -> Procs {
        let b = Replica::launch(
            settings,
            Parts {
                tenant_runtime: false,
                provisioner: false,
            },
        )
        .await;
        let mut runtimes = Vec::new();
        for _ in 0..RUNTIMES {
            runtimes.push(ExtraRuntime::start(settings).await);
        }
        let mut procs = Procs {
            control_plane_b_url: b.control_plane_url.clone(),
            control_plane_b: Some(b),
            runtimes,
            worker: None,
            worker_generation: 0,
        };
        procs.worker = Some(procs.next_worker(settings).await);
        procs
    }

    /// A new incarnation of the standalone worker.
    async fn next_worker(&mut self, settings: &Settings) -> StandaloneWorker {
        self.worker_generation += 1;
        let mut settings = settings.clone();
        settings.provisioner.worker_id = Some(format!("worker-b{}", self.worker_generation));
        StandaloneWorker::start(&settings).await
    }

    /// Stops the runtimes (each flushes its usage counts) and the worker.
    async fn stop_all(&mut self) {
        for runtime in self.runtimes.drain(..) {
            runtime.stop().await;
        }
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
    }
}
