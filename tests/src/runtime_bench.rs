//! The tenant runtime benchmark, against real Postgres, everything measured in one run:
//!
//! - **warm `/me`**: `GET /api/v1/me` through the whole runtime (gate, registry, pool of
//!   the tenant) against the same work on one static deadpool pool (verify the token, get a
//!   connection, load the user with roles and permissions, answer JSON), interleaved in
//!   rounds so drift hits both alike: throughput ratio and p99 ratio;
//! - **churn**: many tenants round-robin over two servers with a connection budget per
//!   server: errors, p50/p99, and the peak of tenant connections `pg_stat_activity` saw
//!   on each server;
//! - **lookup**: the cost of one registry lookup of a warm tenant.

use crate::app::TEST_ENCRYPTION_KEY;
use crate::fleet::{self, Fleet};
use crate::postgres::Server;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use common::config::Settings;
use common::secret::Secret;
use common::tokens::{Claims, TENANT_RUNTIME_AUDIENCE, TokenKeys};
use provisioner::Provisioner;
use sea_orm::ConnectionTrait as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// One tenant ready for requests: slug and an access token of its (activated) first admin.
#[derive(Clone)]
pub(crate) struct Signed {
    pub(crate) slug: String,
    pub(crate) token: String,
}

/// Latencies and throughput of one way of serving.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub sorted: Vec<Duration>,
}

impl Run {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn quantile(&self, q: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * self.sorted.len() as f64).ceil() as usize).clamp(1, self.sorted.len());
        self.sorted[rank - 1]
    }

    fn merge(&mut self, other: Run) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.sorted.extend(other.sorted);
        self.sorted.sort_unstable();
    }
}

#[derive(Debug)]
pub struct Report {
    pub registry: Run,
    pub static_pool: Run,
    /// One churn run per number of clients.
    pub churns: Vec<Churn>,
    pub churn_tenants: usize,
    pub budget: i32,
    pub lookup: Duration,
}

#[derive(Debug)]
pub struct Churn {
    pub clients: usize,
    pub run: Run,
    /// Peak tenant connections seen per server.
    pub peaks: Vec<i64>,
}

/// Concurrent clients of the churn runs: a moderate load, and the warm run's.
const CHURN_CLIENTS: [usize; 2] = [4, CLIENTS];

/// Concurrent clients of the load generator.
const CLIENTS: usize = 16;

pub async fn run(tenants: usize, seconds: u64) -> Report {
    let fleet = Fleet::new().await;
    let budget = 40;
    let urls = [Server::primary().admin_url(), Server::second().admin_url()];
    for (n, url) in urls.iter().enumerate() {
        let capacity = i32::try_from(tenants).unwrap_or(i32::MAX);
        fleet.register(&format!("rt-{n}"), url, capacity).await;
    }
    // Generous limits: the benchmark measures the path, not the plan's throttle; roles
    // (made after this) allow both the registry's pool and the static one.
    fleet
        .exec(
            "UPDATE plans SET api_requests_per_minute = 100000000, max_concurrent_requests = 1000, \
             max_db_connections = 20",
        )
        .await;
    fleet
        .exec(&format!(
            "UPDATE database_servers SET connection_budget = {budget}"
        ))
        .await;
    eprintln!("provisioning {tenants} tenants…");
    let signed = provision(&fleet, tenants).await;
    let settings = settings_for(&fleet);
    let keys = TokenKeys::from_settings(&settings).expect("signing key");
    let signed: Vec<Signed> = signed
        .into_iter()
        .map(|(slug, tenant, user)| Signed {
            token: token(&keys, tenant, user),
            slug,
        })
        .collect();

    let runtime = tenant_runtime::build_app(&settings, fleet.control.clone()).expect("runtime");
    let runtime_port = runtime.port();
    let registry = runtime.state().registry.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(runtime.run_until(stop.clone()));
    let static_port = static_server(&fleet, &signed[0].slug, keys.clone()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS * 2)
        // Under actix's 5 s keep-alive, so an idle connection is never reused as it closes.
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("client");

    eprintln!("warm /me, {seconds} s each way…");
    let warm = signed[0].clone();
    let registry_url = format!("http://127.0.0.1:{runtime_port}/api/v1/me");
    let static_url = format!("http://127.0.0.1:{static_port}/static/me");
    let (mut registry_run, mut static_run) = (Run::default(), Run::default());
    load(
        &client,
        &registry_url,
        std::slice::from_ref(&warm),
        Duration::from_secs(1),
    )
    .await;
    load(
        &client,
        &static_url,
        std::slice::from_ref(&warm),
        Duration::from_secs(1),
    )
    .await;
    let rounds = 5;
    for _ in 0..rounds {
        let slice = Duration::from_secs(seconds) / rounds;
        registry_run.merge(load(&client, &registry_url, std::slice::from_ref(&warm), slice).await);
        static_run.merge(load(&client, &static_url, std::slice::from_ref(&warm), slice).await);
    }

    eprintln!("lookup…");
    let lookup = lookup_cost(&registry, &warm.slug).await;

    let mut churns = Vec::new();
    for clients in CHURN_CLIENTS {
        eprintln!("churn over {} tenants, {clients} clients…", signed.len());
        churns.push(churn_with_watch(&client, &registry_url, &signed, clients, &urls).await);
    }
    stop.cancel();
    Report {
        registry: registry_run,
        static_pool: static_run,
        churns,
        churn_tenants: signed.len(),
        budget,
        lookup,
    }
}

pub(crate) fn settings_for(fleet: &Fleet) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = Secret::new(fleet.db.url());
    settings.tenant_runtime.port = 0;
    settings.secrets.encryption_key = Some(Secret::new(TEST_ENCRYPTION_KEY));
    settings.secrets.encryption_key_id = "test".into();
    settings.data_dir = std::env::temp_dir().join(format!("erp-bench-{}", fleet.db.name()));
    settings
}

/// Provisions `count` tenants with four workers over both servers; activates each first
/// admin (they start invited) and returns (slug, tenant id, user id).
pub(crate) async fn provision(fleet: &Fleet, count: usize) -> Vec<(String, Uuid, Uuid)> {
    for n in 0..count {
        fleet
            .create_tenant(&format!("rt-{n}"))
            .await
            .expect("tenant created");
    }
    let workers: Vec<Provisioner> = (0..4).map(|n| fleet.worker(&format!("rt-{n}"))).collect();
    futures_util::future::join_all(workers.iter().map(|worker| fleet.run_jobs_to_end(worker)))
        .await;
    let rows = fleet
        .control
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT t.slug, t.id, t.db_name, s.host FROM tenants t \
             JOIN database_servers s ON s.id = t.server_id WHERE t.status = 'active' ORDER BY t.slug",
        ))
        .await
        .expect("tenants");
    let mut signed = Vec::new();
    for row in rows {
        let slug: String = row.try_get("", "slug").expect("slug");
        let id: Uuid = row.try_get("", "id").expect("id");
        let database: String = row.try_get("", "db_name").expect("db");
        let tenant = fleet.tenant(id).await;
        let server = server_url_of(fleet, &tenant).await;
        let db = fleet::connect(&crate::postgres::with_database(&server, &database)).await;
        let user: Uuid = db
            .query_one("UPDATE users SET status = 'active' RETURNING id", &[])
            .await
            .expect("first admin")
            .get(0);
        signed.push((slug, id, user));
    }
    signed
}

async fn server_url_of(fleet: &Fleet, tenant: &common::entities::tenants::Model) -> String {
    let server = provisioner::servers::find(&fleet.control, tenant.server_id.expect("placed"))
        .await
        .expect("server");
    provisioner::servers::admin_url(&fleet.keyring, &server)
        .expect("url")
        .expose()
        .to_owned()
}

pub(crate) fn token(keys: &TokenKeys, tenant: Uuid, user: Uuid) -> String {
    let mut claims = Claims::new(TENANT_RUNTIME_AUDIENCE, &user.to_string(), 3600);
    claims.tid = Some(tenant.to_string());
    claims.roles = vec!["admin".into()];
    keys.sign(&claims).expect("token")
}

/// The baseline: the same `/me` work on one static pool to the warm tenant's database.
async fn static_server(fleet: &Fleet, slug: &str, keys: TokenKeys) -> u16 {
    let tenant = fleet
        .count(&format!(
            "SELECT count(*) FROM tenants WHERE slug = '{slug}'"
        ))
        .await;
    assert_eq!(tenant, 1);
    let model = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        common::entities::tenants::Entity::find()
            .filter(common::entities::tenants::Column::Slug.eq(slug))
            .one(&fleet.control)
            .await
            .expect("tenant")
            .expect("exists")
    };
    let server = server_url_of(fleet, &model).await;
    let url = fleet.tenant_url(&model, &server, model.db_name.as_deref().expect("db"));
    let config: tokio_postgres::Config = url.parse().expect("url");
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(10) // the registry's pools: `max_connections_per_pool`
        .build()
        .expect("pool");
    let state = web::Data::new((pool, keys));
    let server = HttpServer::new(move || {
        // The runtime's own middleware, so the comparison isolates the gate and registry.
        App::new()
            .wrap(actix_web::middleware::from_fn(|request, next| {
                common::metrics::track_requests("static-baseline", request, next)
            }))
            .wrap(tracing_actix_web::TracingLogger::<
                common::trace_context::RootSpan,
            >::new())
            .app_data(state.clone())
            .route("/static/me", web::get().to(static_me))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    port
}

async fn static_me(
    request: HttpRequest,
    state: web::Data<(deadpool_postgres::Pool, TokenKeys)>,
) -> HttpResponse {
    let (pool, keys) = state.get_ref();
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Ok(claims) = keys.verify(token, TENANT_RUNTIME_AUDIENCE) else {
        return HttpResponse::Unauthorized().finish();
    };
    let Ok(user_id) = claims.sub.parse::<Uuid>() else {
        return HttpResponse::Unauthorized().finish();
    };
    let client = match pool.get().await {
        Ok(client) => client,
        Err(error) => return HttpResponse::ServiceUnavailable().body(error.to_string()),
    };
    match tenant_runtime::auth::load_user(&**client, user_id).await {
        // The same shape and size as the runtime's `/me` answer.
        Ok(Some(user)) => HttpResponse::Ok().json(serde_json::json!({
            "user": user,
            "tenant": { "id": claims.tid, "slug": "rt-0", "name": "rt-0 Ltd", "plan": "starter",
                        "features": ["master_data", "inventory", "sales", "purchasing"] },
            "impersonated_by": null,
            "limits": { "max_users": 10, "max_storage_mb": 1000, "requests_per_minute": 100000000,
                        "max_concurrent_requests": 1000 },
        })),
        _ => HttpResponse::InternalServerError().finish(),
    }
}

/// `CLIENTS` clients hitting `url` for `duration`, each cycling through `tenants`.
pub(crate) async fn load(
    client: &reqwest::Client,
    url: &str,
    tenants: &[Signed],
    duration: Duration,
) -> Run {
    let started = Instant::now();
    let deadline = started + duration;
    let clients = (0..CLIENTS).map(|n| async move {
        let mut latencies = Vec::new();
        let mut errors = 0;
        let mut next = n;
        while Instant::now() < deadline {
            let tenant = &tenants[next % tenants.len()];
            next += CLIENTS;
            let sent = Instant::now();
            let ok = request(client, url, tenant).await;
            latencies.push(sent.elapsed());
            errors += usize::from(!ok);
        }
        (latencies, errors)
    });
    collect(
        futures_util::future::join_all(clients).await,
        started.elapsed(),
    )
}

/// A churn run while the tenant connections on each server are watched.
async fn churn_with_watch(
    client: &reqwest::Client,
    url: &str,
    tenants: &[Signed],
    clients: usize,
    servers: &[&str],
) -> Churn {
    let peaks: Vec<Arc<AtomicI64>> = servers
        .iter()
        .map(|_| Arc::new(AtomicI64::new(0)))
        .collect();
    let watching = Arc::new(AtomicBool::new(true));
    let watchers: Vec<_> = servers
        .iter()
        .zip(&peaks)
        .map(|(server, peak)| {
            tokio::spawn(watch_connections(
                server.to_string(),
                peak.clone(),
                watching.clone(),
            ))
        })
        .collect();
    let run = churn(client, url, tenants, 5, clients).await;
    watching.store(false, Ordering::Relaxed);
    for watcher in watchers {
        let _ = watcher.await;
    }
    Churn {
        clients,
        run,
        peaks: peaks
            .iter()
            .map(|peak| peak.load(Ordering::Relaxed))
            .collect(),
    }
}

/// Every tenant `passes` times, round-robin, by `clients` clients.
async fn churn(
    client: &reqwest::Client,
    url: &str,
    tenants: &[Signed],
    passes: usize,
    clients: usize,
) -> Run {
    let total = tenants.len() * passes;
    let started = Instant::now();
    let stride = clients;
    let workers = (0..clients).map(|n| async move {
        let mut latencies = Vec::new();
        let mut errors = 0;
        let mut next = n;
        while next < total {
            let sent = Instant::now();
            let ok = request(client, url, &tenants[next % tenants.len()]).await;
            latencies.push(sent.elapsed());
            errors += usize::from(!ok);
            next += stride;
        }
        (latencies, errors)
    });
    collect(
        futures_util::future::join_all(workers).await,
        started.elapsed(),
    )
}

fn collect(results: Vec<(Vec<Duration>, usize)>, elapsed: Duration) -> Run {
    let mut run = Run {
        elapsed,
        ..Run::default()
    };
    for (latencies, errors) in results {
        run.requests += latencies.len();
        run.errors += errors;
        run.sorted.extend(latencies);
    }
    run.sorted.sort_unstable();
    run
}

async fn request(client: &reqwest::Client, url: &str, tenant: &Signed) -> bool {
    let sent = client
        .get(url)
        .header("X-Tenant", &tenant.slug)
        .bearer_auth(&tenant.token)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            let body = response.bytes().await.unwrap_or_default();
            if !status.is_success() {
                report_error_once(&format!("{status} {}", String::from_utf8_lossy(&body)));
            }
            status.is_success()
        }
        Err(error) => {
            report_error_once(&error.to_string());
            false
        }
    }
}

/// Prints the first few failures, so a run with errors says what they were.
fn report_error_once(what: &str) {
    static SHOWN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    if SHOWN.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("request failed: {what}");
    }
}

/// Samples the tenant-runtime connections on one server every 10 ms, keeping the peak.
async fn watch_connections(url: String, peak: Arc<AtomicI64>, watching: Arc<AtomicBool>) {
    let admin = fleet::connect(&url).await;
    while watching.load(Ordering::Relaxed) {
        let open: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tenant-runtime'",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        peak.fetch_max(open, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Mean cost of one warm registry lookup over a million calls.
async fn lookup_cost(registry: &tenant_runtime::registry::Registry, slug: &str) -> Duration {
    registry.lookup(slug).await.expect("warm");
    let calls = 1_000_000_u32;
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(
            registry
                .lookup(std::hint::black_box(slug))
                .await
                .expect("warm"),
        );
    }
    started.elapsed() / calls
}

pub fn report(report: &Report) -> String {
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let (registry, fixed) = (&report.registry, &report.static_pool);
    let mut out = String::new();
    out.push_str("| warm GET /api/v1/me | requests | errors | req/s | p50 | p99 |\n|---|---|---|---|---|---|\n");
    for (name, run) in [
        ("through the registry", registry),
        ("one static pool", fixed),
    ] {
        out.push_str(&format!(
            "| {name} | {} | {} | {:.0} | {} | {} |\n",
            run.requests,
            run.errors,
            run.throughput(),
            ms(run.quantile(0.5)),
            ms(run.quantile(0.99))
        ));
    }
    out.push_str(&format!(
        "\nthroughput ratio (registry / static): {:.3} (target >= 0.95)\np99 ratio (registry / static): {:.3} (target <= 1.1)\n",
        registry.throughput() / fixed.throughput(),
        registry.quantile(0.99).as_secs_f64() / fixed.quantile(0.99).as_secs_f64()
    ));
    for churn in &report.churns {
        let run = &churn.run;
        out.push_str(&format!(
            "\nchurn: {} tenants round-robin over 2 servers, budget {} per server, {} clients: \
             {} requests, {} errors (target 0), {:.0} req/s, p50 {}, p99 {} (target <= 30 ms), \
             peak connections per server {:?} (must stay <= {})\n",
            report.churn_tenants,
            report.budget,
            churn.clients,
            run.requests,
            run.errors,
            run.throughput(),
            ms(run.quantile(0.5)),
            ms(run.quantile(0.99)),
            churn.peaks,
            report.budget
        ));
    }
    out.push_str(&format!(
        "\nwarm registry lookup: {} ns (target <= 1000 ns)\n",
        report.lookup.as_nanos()
    ));
    out
}
