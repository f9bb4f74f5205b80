//! The load benchmark of the reliability suite: the tenant runtime, in its own process as a
//! deployment runs it, driven at twice its capacity measured in the same run, across many
//! tenants of which a few (5 %) are noisy: they send far over their plan's rate limit.
//!
//! One run, in phases, every figure a ratio against the same run's baseline:
//!
//! 1. **capacity**: runtime-bench's closed-loop clients over the quiet tenants, flat out:
//!    requests a second;
//! 2. **baseline**: the quiet tenants alone at a modest open-loop rate (a quarter of capacity
//!    between them), after as long again untimed to warm up: their p50/p99;
//! 3. **overload**: the same quiet load plus the noisy tenants, together twice capacity:
//!    quiet p99 against baseline, every 429 checked for a valid `Retry-After`, 5xx counted.
//!    Quiet tenants call the API (`GET /api/v1/me`); the noisy ones alternate between it
//!    and a page of the ERP web app (`GET /sign-in`), since both doors pass the same gate;
//! 4. **soak**: the overload held for longer while the runtime's RSS is sampled from
//!    `/proc/PID/status`: first, last, max and the least-squares slope;
//! 5. **recovery**: load stopped, the longest `Retry-After` waited, then one request per
//!    noisy tenant (admitted again?) and the quiet load alone once more (p99 against
//!    baseline).
//!
//! The load is open-loop (requests go out on a schedule whatever the answers do) with a cap
//! on requests in flight; a request the cap refuses is counted as shed by the generator,
//! never sent. The runtime process is this benchmark's own executable re-run with
//! [`SERVE_RUNTIME`]: it starts the runtime library exactly as `tenant-runtime`'s `main`
//! does, from `APP_*` variables, so it is always the build under test.

use crate::fleet::Fleet;
use crate::postgres::Server;
use crate::runtime_bench::{self, Run, Signed};
use common::config::Settings;
use common::tokens::TokenKeys;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The argument that makes the benchmark's executable serve as the tenant runtime.
pub const SERVE_RUNTIME: &str = "serve-runtime";

/// One noisy tenant in this many (5 %), at least one.
const NOISY_ONE_IN: usize = 20;

/// The share of capacity the quiet tenants offer between them.
const QUIET_SHARE: f64 = 0.25;

/// Offered load in the overload and soak phases, as a multiple of capacity.
const OVERLOAD: f64 = 2.0;

/// Most requests in flight from the generator; beyond it requests are shed, not sent.
const MAX_IN_FLIGHT: usize = 512;

/// How often the generator releases what is due.
const TICK: Duration = Duration::from_millis(5);

/// Each server's tenant connection budget (the local server is shared with other tests).
const BUDGET: i32 = 30;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub tenants: usize,
    /// Length of the capacity, baseline, overload and recovery phases.
    pub phase: Duration,
    pub soak: Duration,
    /// How often the runtime's RSS is read during overload and soak.
    pub rss_every: Duration,
    /// The executable to run with [`SERVE_RUNTIME`] as the runtime process.
    pub runtime_exe: PathBuf,
}

/// What one phase of offered load got back.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Latencies of the quiet tenants' answered requests (`errors`: not 2xx).
    pub quiet: Run,
    /// Requests of the quiet tenants refused with 429.
    pub quiet_limited: usize,
    pub noisy_sent: usize,
    pub noisy_admitted: usize,
    /// Every 429, whoever got it.
    pub limited: usize,
    /// Of those, the web app's pages.
    pub limited_pages: usize,
    /// 429s without a `Retry-After` of at least one whole second.
    pub limited_without_retry_after: usize,
    pub server_errors: usize,
    /// Answers neither 2xx, 429 nor 5xx, and requests that got no answer.
    pub failed: usize,
    /// Requests the generator did not send: its in-flight cap was reached.
    pub shed: usize,
    /// The longest `Retry-After` seen, in seconds.
    pub max_retry_after: u64,
    /// The first few unexpected answers, to say what they were.
    pub samples: Vec<String>,
}

/// The runtime's resident memory over the overload and soak phases.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// (seconds since the overload started, KiB).
    pub samples: Vec<(f64, u64)>,
}

/// Noisy tenants let in again after waiting out their `Retry-After`.
#[derive(Debug, Clone, Default)]
pub struct Readmission {
    pub waited_secs: u64,
    pub tried: usize,
    pub admitted: usize,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub tenants: usize,
    pub noisy: usize,
    /// Requests a second at saturation (closed loop, quiet tenants).
    pub capacity: f64,
    /// Offered requests a second: by all quiet tenants together, and by the noisy ones.
    pub quiet_rate: f64,
    pub noisy_rate: f64,
    /// The plan's limit every tenant is on.
    pub limit_per_minute: u32,
    pub soak_secs: u64,
    pub baseline: Tally,
    pub overload: Tally,
    pub soak: Tally,
    pub recovery: Tally,
    pub readmission: Readmission,
    pub memory: Memory,
}

/// Runs every phase; panics only when the harness itself cannot go on. The fleet comes
/// back with the report so the caller can print before dropping it: dropping removes
/// every tenant database, which takes minutes for a thousand.
pub async fn run(options: &Options) -> (Report, Fleet) {
    let fleet = Fleet::new().await;
    let report = measure(&fleet, options).await;
    (report, fleet)
}

async fn measure(fleet: &Fleet, options: &Options) -> Report {
    prepare(fleet, options.tenants).await;
    eprintln!("provisioning {} tenants…", options.tenants);
    let signed = signed_tenants(fleet, options.tenants).await;
    let noisy_count = (signed.len() / NOISY_ONE_IN).max(1);
    let (noisy, quiet) = signed.split_at(noisy_count);
    let (noisy, quiet) = (Arc::new(noisy.to_vec()), Arc::new(quiet.to_vec()));
    let settings = runtime_bench::settings_for(fleet);
    let runtime = RuntimeProcess::start(&options.runtime_exe, &settings).await;
    let target = Target::new(&runtime.url);

    // runtime-bench's closed loop (16 clients, no pause) over the quiet tenants.
    eprintln!("capacity: closed-loop clients flat out over the quiet tenants…");
    let capacity = runtime_bench::load(&target.client, &target.url, &quiet, options.phase)
        .await
        .throughput();
    let quiet_rate = capacity * QUIET_SHARE;
    let noisy_rate = capacity * OVERLOAD - quiet_rate;
    let limit = limit_for(quiet_rate / quiet.len() as f64);
    set_limits(fleet, limit).await;
    wait_for_limit(&target, &quiet[0], limit).await;

    let quiet_only = [Offer::quiet(&quiet, quiet_rate)];
    let everyone = [
        Offer::quiet(&quiet, quiet_rate),
        Offer::noisy(&noisy, noisy_rate),
    ];
    // The limit change dropped every cached tenant: the first requests reload them and
    // open connections again, which the baseline must not be charged for.
    eprintln!("warm-up: quiet tenants alone at {quiet_rate:.0} req/s, untimed…");
    offer(&target, &quiet_only, options.phase).await;
    eprintln!("baseline: quiet tenants alone at {quiet_rate:.0} req/s…");
    let baseline = offer(&target, &quiet_only, options.phase).await;
    eprintln!("overload: {:.0} req/s offered…", quiet_rate + noisy_rate);
    let sampler = MemorySampler::start(runtime.pid(), options.rss_every);
    let overload = offer(&target, &everyone, options.phase).await;
    eprintln!("soak: {} s…", options.soak.as_secs());
    let soak = offer(&target, &everyone, options.soak).await;
    let memory = sampler.stop().await;

    eprintln!("recovery…");
    let readmission = readmit(&target, &noisy, soak.max_retry_after).await;
    let recovery = offer(&target, &quiet_only, options.phase).await;
    drop(runtime);
    Report {
        tenants: signed.len(),
        noisy: noisy.len(),
        capacity,
        quiet_rate,
        noisy_rate,
        limit_per_minute: limit,
        soak_secs: options.soak.as_secs(),
        baseline,
        overload,
        soak,
        recovery,
        readmission,
        memory,
    }
}

/// Two servers, each with a connection budget, and plans with no throttle yet (the
/// capacity run measures the runtime, not the plan).
async fn prepare(fleet: &Fleet, tenants: usize) {
    let urls = [Server::primary().admin_url(), Server::second().admin_url()];
    for (n, url) in urls.iter().enumerate() {
        let capacity = i32::try_from(tenants).unwrap_or(i32::MAX);
        fleet.register(&format!("load-{n}"), url, capacity).await;
    }
    fleet
        .exec(&format!(
            "UPDATE database_servers SET connection_budget = {BUDGET}"
        ))
        .await;
    fleet
        .exec(
            "UPDATE plans SET api_requests_per_minute = 100000000, max_concurrent_requests = 1000, \
             max_db_connections = 5",
        )
        .await;
}

async fn signed_tenants(fleet: &Fleet, count: usize) -> Vec<Signed> {
    let settings = runtime_bench::settings_for(fleet);
    let keys = TokenKeys::from_settings(&settings).expect("signing key");
    runtime_bench::provision(fleet, count)
        .await
        .into_iter()
        .map(|(slug, tenant, user)| Signed {
            token: runtime_bench::token(&keys, tenant, user),
            slug,
        })
        .collect()
}

/// The plan limit: four times what a quiet tenant sends, so it never touches it, and no
/// more, since the noisy tenants' bursts (a minute's quota at once) are admitted work; at
/// least one request in ten seconds.
fn limit_for(quiet_per_tenant_per_second: f64) -> u32 {
    let per_minute = (quiet_per_tenant_per_second * 60.0 * 4.0).ceil();
    (per_minute as u32).max(6)
}

/// Every plan gets the limit; the runtime hears of it through `NOTIFY tenant_changed`.
async fn set_limits(fleet: &Fleet, limit: u32) {
    fleet
        .exec(&format!(
            "UPDATE plans SET api_requests_per_minute = {limit}, max_concurrent_requests = 50"
        ))
        .await;
    fleet
        .exec("SELECT pg_notify('tenant_changed', 'plan:' || code) FROM plans")
        .await;
}

/// Waits (10 s at most) until the runtime answers with the new limit.
async fn wait_for_limit(target: &Target, tenant: &Signed, limit: u32) {
    let expected = limit.to_string();
    for _ in 0..200 {
        let reply = target.get_me(tenant).send().await.expect("runtime answers");
        let seen = reply
            .headers()
            .get("ratelimit-limit")
            .and_then(|value| value.to_str().ok());
        if seen == Some(expected.as_str()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the runtime did not take up the limit {limit}/min within 10 s");
}

/// Where requests go, and the client that sends them.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    /// `GET /api/v1/me`: what every tenant asks of the API.
    url: String,
    /// `GET /sign-in`: a page of the ERP web app behind the same gate (no session needed).
    page_url: String,
}

impl Target {
    fn new(runtime_url: &str) -> Self {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            // Under actix's 5 s keep-alive, so an idle connection is never reused as it closes.
            .pool_idle_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            client,
            url: format!("{runtime_url}/api/v1/me"),
            page_url: format!("{runtime_url}/sign-in"),
        }
    }

    fn get_me(&self, tenant: &Signed) -> reqwest::RequestBuilder {
        self.client
            .get(&self.url)
            .header("X-Tenant", &tenant.slug)
            .bearer_auth(&tenant.token)
    }

    fn get(&self, tenant: &Signed, door: Door) -> reqwest::RequestBuilder {
        match door {
            Door::Api => self.get_me(tenant),
            Door::Page => self
                .client
                .get(&self.page_url)
                .header("X-Tenant", &tenant.slug),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Quiet,
    Noisy,
}

/// Which interface a request goes through: both pass the same gate, both must say when
/// to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    Api,
    Page,
}

impl Class {
    /// Quiet tenants use the API only (their latencies stay comparable); the noisy ones
    /// alternate between the API and the web app's pages.
    fn door(self, nth: usize) -> Door {
        match self {
            Class::Noisy if nth % 2 == 1 => Door::Page,
            _ => Door::Api,
        }
    }
}

/// An open-loop stream of requests from some tenants, round-robin among them.
struct Offer {
    class: Class,
    tenants: Arc<Vec<Signed>>,
    per_second: f64,
}

impl Offer {
    fn quiet(tenants: &Arc<Vec<Signed>>, per_second: f64) -> Self {
        Self {
            class: Class::Quiet,
            tenants: tenants.clone(),
            per_second,
        }
    }

    fn noisy(tenants: &Arc<Vec<Signed>>, per_second: f64) -> Self {
        Self {
            class: Class::Noisy,
            tenants: tenants.clone(),
            per_second,
        }
    }
}

/// Sends every offer on its schedule for `duration`, then waits for the answers.
async fn offer(target: &Target, offers: &[Offer], duration: Duration) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut sent = vec![0_usize; offers.len()];
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    while started.elapsed() < duration {
        tick.tick().await;
        let elapsed = started.elapsed().as_secs_f64();
        for (offer, sent) in offers.iter().zip(sent.iter_mut()) {
            let due = (offer.per_second * elapsed) as usize;
            while *sent < due {
                let tenant = offer.tenants[*sent % offer.tenants.len()].clone();
                let door = offer.class.door(*sent);
                *sent += 1;
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    lock(&tally).shed += 1;
                    continue;
                };
                let (target, tally, class) = (target.clone(), tally.clone(), offer.class);
                tokio::spawn(async move {
                    let answer = send(&target, &tenant, door).await;
                    lock(&tally).record(class, door, answer);
                    drop(permit);
                });
            }
        }
    }
    let all = u32::try_from(MAX_IN_FLIGHT).expect("a small cap");
    let _drained = in_flight.acquire_many(all).await.expect("never closed");
    let mut tally = lock(&tally).clone();
    tally.quiet.elapsed = started.elapsed();
    tally.quiet.sorted.sort_unstable();
    tally
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What one request got.
enum Answer {
    Status {
        status: u16,
        retry_after: Option<u64>,
        latency: Duration,
        body: String,
    },
    Failed(String),
}

async fn send(target: &Target, tenant: &Signed, door: Door) -> Answer {
    let sent = Instant::now();
    match target.get(tenant, door).send().await {
        Ok(reply) => {
            let status = reply.status().as_u16();
            let retry_after = reply
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok());
            let body = reply.text().await.unwrap_or_default();
            Answer::Status {
                status,
                retry_after,
                latency: sent.elapsed(),
                body,
            }
        }
        Err(error) => Answer::Failed(error.to_string()),
    }
}

impl Tally {
    fn record(&mut self, class: Class, door: Door, answer: Answer) {
        let (status, retry_after, latency, body) = match answer {
            Answer::Status {
                status,
                retry_after,
                latency,
                body,
            } => (status, retry_after, latency, body),
            Answer::Failed(error) => {
                self.failed += 1;
                self.sample(format!("no answer: {error}"));
                return;
            }
        };
        if class == Class::Quiet {
            self.quiet.requests += 1;
            self.quiet.sorted.push(latency);
            self.quiet.errors += usize::from(!(200..300).contains(&status));
        } else {
            self.noisy_sent += 1;
            self.noisy_admitted += usize::from((200..300).contains(&status));
        }
        match status {
            200..=299 => {}
            429 => self.limited(class, door, retry_after),
            500..=599 => {
                self.server_errors += 1;
                self.sample(format!("{status} {body}"));
            }
            _ => {
                self.failed += 1;
                self.sample(format!("{status} {body}"));
            }
        }
    }

    fn limited(&mut self, class: Class, door: Door, retry_after: Option<u64>) {
        self.limited += 1;
        self.limited_pages += usize::from(door == Door::Page);
        self.quiet_limited += usize::from(class == Class::Quiet);
        match retry_after {
            Some(seconds) if seconds >= 1 => {
                self.max_retry_after = self.max_retry_after.max(seconds);
            }
            _ => self.limited_without_retry_after += 1,
        }
    }

    fn sample(&mut self, what: String) {
        if self.samples.len() < 5 {
            eprintln!("unexpected answer: {what}");
            self.samples.push(what);
        }
    }
}

/// Waits out the longest `Retry-After` the noisy tenants were given, then sends each of
/// them one request.
async fn readmit(target: &Target, noisy: &[Signed], retry_after: u64) -> Readmission {
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let mut admitted = 0;
    for tenant in noisy {
        let reply = target.get_me(tenant).send().await;
        admitted += usize::from(reply.is_ok_and(|reply| reply.status().is_success()));
    }
    Readmission {
        waited_secs: retry_after,
        tried: noisy.len(),
        admitted,
    }
}

/// The tenant runtime in a child process (killed when dropped).
pub struct RuntimeProcess {
    child: Child,
    pub url: String,
}

impl RuntimeProcess {
    /// Starts `exe serve-runtime` configured by `APP_*` variables from `settings` on a free
    /// port, logging to `runtime.log` in its data directory, and waits until it is ready.
    pub async fn start(exe: &Path, settings: &Settings) -> Self {
        let port = crate::moto::free_port().expect("a free port");
        std::fs::create_dir_all(&settings.data_dir).expect("data dir");
        let log_path = settings.data_dir.join("runtime.log");
        let log = std::fs::File::create(&log_path).expect("runtime log");
        let mut command = Command::new(exe);
        command.arg(SERVE_RUNTIME);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("APP_")) {
            command.env_remove(name);
        }
        let child = command
            .envs(runtime_env(settings, port))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("{} did not start: {error}", exe.display()));
        eprintln!(
            "runtime process {} on port {port}, log {}",
            child.id(),
            log_path.display()
        );
        let runtime = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        crate::replicas::wait_ready(&runtime.url).await;
        runtime
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RuntimeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The variables that configure the runtime process as `settings` say.
fn runtime_env(settings: &Settings, port: u16) -> Vec<(&'static str, String)> {
    let key = settings
        .secrets
        .encryption_key
        .as_ref()
        .expect("an encryption key");
    vec![
        (
            "APP_DATABASE__URL",
            settings.database.url.expose().to_owned(),
        ),
        ("APP_SECRETS__ENCRYPTION_KEY", key.expose().to_owned()),
        (
            "APP_SECRETS__ENCRYPTION_KEY_ID",
            settings.secrets.encryption_key_id.clone(),
        ),
        ("APP_TENANT_RUNTIME__PORT", port.to_string()),
        ("APP_DATA_DIR", settings.data_dir.display().to_string()),
        ("APP_LOG__LEVEL", "warn".into()),
    ]
}

/// What `tenant-runtime`'s `main` does, configured from the environment only: the body of
/// the benchmark's `serve-runtime` mode.
pub async fn serve_runtime() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let loaded = common::config::load(None).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let _telemetry = common::telemetry::init(&loaded.settings.log, tenant_runtime::SERVICE);
    let settings = loaded.settings;
    let control_db = common::db::connect_lazy(&settings.database).await?;
    let app = tenant_runtime::build_app(&settings, control_db)?;
    app.run_until(common::shutdown::on_signal()).await?;
    Ok(())
}

/// Reads a process's RSS every so often until stopped.
struct MemorySampler {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<Memory>,
}

impl MemorySampler {
    fn start(pid: u32, every: Duration) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let cancelled = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut memory = Memory::default();
            loop {
                if let Some(kib) = rss_kib(pid) {
                    memory.samples.push((started.elapsed().as_secs_f64(), kib));
                }
                tokio::select! {
                    () = cancelled.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
            }
            if let Some(kib) = rss_kib(pid) {
                memory.samples.push((started.elapsed().as_secs_f64(), kib));
            }
            memory
        });
        Self { stop, task }
    }

    async fn stop(self) -> Memory {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_rss(&status)
}

fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Memory {
    fn mib(kib: u64) -> f64 {
        kib as f64 / 1024.0
    }

    pub fn first_mib(&self) -> f64 {
        self.samples.first().map_or(0.0, |(_, kib)| Self::mib(*kib))
    }

    pub fn last_mib(&self) -> f64 {
        self.samples.last().map_or(0.0, |(_, kib)| Self::mib(*kib))
    }

    pub fn max_mib(&self) -> f64 {
        self.samples
            .iter()
            .map(|(_, kib)| Self::mib(*kib))
            .fold(0.0, f64::max)
    }

    /// Least-squares slope of RSS over time, in MiB a minute (0 with fewer than 2 samples).
    pub fn slope_mib_per_minute(&self) -> f64 {
        let n = self.samples.len() as f64;
        if self.samples.len() < 2 {
            return 0.0;
        }
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .map(|(secs, kib)| (secs / 60.0, Self::mib(*kib)))
            .collect();
        let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / n;
        let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
        let covariance: f64 = points
            .iter()
            .map(|(x, y)| (x - mean_x) * (y - mean_y))
            .sum();
        let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
        if variance == 0.0 {
            0.0
        } else {
            covariance / variance
        }
    }
}

impl Report {
    /// Every phase under load, in order.
    fn loaded(&self) -> [&Tally; 2] {
        [&self.overload, &self.soak]
    }

    pub fn limited(&self) -> usize {
        self.loaded().iter().map(|tally| tally.limited).sum()
    }

    pub fn limited_pages(&self) -> usize {
        self.loaded().iter().map(|tally| tally.limited_pages).sum()
    }

    pub fn limited_without_retry_after(&self) -> usize {
        self.phases()
            .iter()
            .map(|(_, tally)| tally.limited_without_retry_after)
            .sum()
    }

    pub fn server_errors(&self) -> usize {
        self.phases()
            .iter()
            .map(|(_, tally)| tally.server_errors)
            .sum()
    }

    fn phases(&self) -> [(&'static str, &Tally); 4] {
        [
            ("baseline", &self.baseline),
            ("overload", &self.overload),
            ("soak", &self.soak),
            ("recovery", &self.recovery),
        ]
    }

    /// Quiet p99 of a phase over the baseline's.
    pub fn p99_ratio(&self, tally: &Tally) -> f64 {
        let base = self.baseline.quiet.quantile(0.99).as_secs_f64();
        tally.quiet.quantile(0.99).as_secs_f64() / base.max(f64::MIN_POSITIVE)
    }

    /// The behavioural facts: noisy tenants were refused, every refusal said when to come
    /// back, nothing failed with 5xx, and every noisy tenant was let in again after.
    pub fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if self.limited() == 0 {
            broken.push("no 429 under overload: the noisy tenants were never limited".into());
        }
        if self.limited_without_retry_after() > 0 {
            broken.push(format!(
                "{} 429s without a Retry-After",
                self.limited_without_retry_after()
            ));
        }
        if self.server_errors() > 0 {
            broken.push(format!("{} answers were 5xx", self.server_errors()));
        }
        let readmission = &self.readmission;
        if readmission.admitted < readmission.tried {
            broken.push(format!(
                "{} of {} noisy tenants admitted again after their Retry-After",
                readmission.admitted, readmission.tried
            ));
        }
        broken
    }

    /// The reliability table's row.
    pub fn row(&self) -> String {
        let result = if self.violations().is_empty() {
            "✅"
        } else {
            "❌"
        };
        // Capacity is measured in the same build, so a debug build is fair, but say so.
        let build = if cfg!(debug_assertions) {
            ", debug build"
        } else {
            ""
        };
        format!(
            "| Load | {} tenants, {:.0}x capacity ({:.0} req/s offered), {} noisy, {} s soak{build} | \
             quiet p99 {:.1}x baseline under load (worst phase), {:.1}x after; {} 429s ({} of pages), {} without Retry-After; \
             {} 5xx; {}/{} noisy readmitted; RSS {:+.1} MiB ({:+.2} MiB/min) | {result} |",
            group(self.tenants),
            OVERLOAD,
            self.quiet_rate + self.noisy_rate,
            self.noisy,
            self.soak_secs,
            self.p99_ratio(&self.overload)
                .max(self.p99_ratio(&self.soak)),
            self.p99_ratio(&self.recovery),
            group(self.limited()),
            group(self.limited_pages()),
            self.limited_without_retry_after(),
            self.server_errors(),
            self.readmission.admitted,
            self.readmission.tried,
            self.memory.last_mib() - self.memory.first_mib(),
            self.memory.slope_mib_per_minute(),
        )
    }
}

/// `1234567` as `1,234,567`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The full report: the set-up, a table of the phases, memory, the row.
pub fn report(report: &Report) -> String {
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let mut out = format!(
        "{} tenants ({} noisy), plan limit {}/min each; capacity {:.0} req/s; offered: quiet \
         {:.0} req/s ({:.2}/s per tenant), noisy {:.0} req/s ({:.1}/s per tenant)\n\n",
        report.tenants,
        report.noisy,
        report.limit_per_minute,
        report.capacity,
        report.quiet_rate,
        report.quiet_rate / (report.tenants - report.noisy).max(1) as f64,
        report.noisy_rate,
        report.noisy_rate / report.noisy.max(1) as f64,
    );
    out.push_str(
        "| phase | quiet requests | quiet p50 ms | quiet p99 ms | p99 / baseline | quiet 429 | \
         noisy sent / admitted | 429: all / pages / no Retry-After | 5xx | other failures | shed |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, tally) in report.phases() {
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {:.2} | {} | {} / {} | {} / {} / {} | {} | {} | {} |\n",
            tally.quiet.requests,
            ms(tally.quiet.quantile(0.5)),
            ms(tally.quiet.quantile(0.99)),
            report.p99_ratio(tally),
            tally.quiet_limited,
            tally.noisy_sent,
            tally.noisy_admitted,
            tally.limited,
            tally.limited_pages,
            tally.limited_without_retry_after,
            tally.server_errors,
            tally.failed,
            tally.shed,
        ));
    }
    let memory = &report.memory;
    out.push_str(&format!(
        "\nruntime RSS over overload + soak ({} samples): first {:.1} MiB, last {:.1} MiB, \
         max {:.1} MiB, slope {:+.2} MiB/min\n",
        memory.samples.len(),
        memory.first_mib(),
        memory.last_mib(),
        memory.max_mib(),
        memory.slope_mib_per_minute(),
    ));
    let readmission = &report.readmission;
    out.push_str(&format!(
        "recovery: after waiting {} s (the longest Retry-After), {}/{} noisy tenants admitted\n",
        readmission.waited_secs, readmission.admitted, readmission.tried
    ));
    for violation in report.violations() {
        out.push_str(&format!("BROKEN: {violation}\n"));
    }
    out.push('\n');
    out.push_str(&report.row());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_the_vmrss_line() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(vm_rss(status), Some(12345));
        assert_eq!(vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn the_slope_is_mib_per_minute_by_least_squares() {
        let memory = Memory {
            samples: vec![(0.0, 10240), (30.0, 11264), (60.0, 12288)],
        };
        assert!((memory.slope_mib_per_minute() - 2.0).abs() < 1e-9);
        let flat = Memory {
            samples: vec![(0.0, 2048), (60.0, 2048)],
        };
        assert_eq!(flat.slope_mib_per_minute(), 0.0);
    }

    #[test]
    fn the_limit_leaves_quiet_tenants_four_times_headroom_and_at_least_one_in_ten_seconds() {
        assert_eq!(limit_for(0.04), 10);
        assert_eq!(limit_for(0.001), 6);
        assert_eq!(limit_for(10.0), 2400);
    }

    #[test]
    fn a_429_without_a_whole_second_retry_after_is_counted() {
        let mut tally = Tally::default();
        for retry_after in [Some(2), None, Some(0)] {
            tally.record(
                Class::Noisy,
                Door::Page,
                Answer::Status {
                    status: 429,
                    retry_after,
                    latency: Duration::ZERO,
                    body: String::new(),
                },
            );
        }
        assert_eq!(tally.limited, 3);
        assert_eq!(tally.limited_pages, 3);
        assert_eq!(tally.limited_without_retry_after, 2);
        assert_eq!(tally.max_retry_after, 2);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(4210), "4,210");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
