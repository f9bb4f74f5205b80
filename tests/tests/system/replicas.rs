//! Two of every service on one control database and two tenant servers: control planes A
//! and B, runtimes A and B, and two provisioner workers (A inside platform A, B on its own
//! so the test can kill it). Tenants created or signed up through either control plane are
//! provisioned by both workers onto both servers; a suspension reaches both runtimes within
//! a second; the schedule and the spare keeper, run by both workers every second, do each
//! piece of work once; and a worker killed in the middle of a provisioning saga has its job
//! taken over by the other, the tenant ending active with no orphan database or role.

use control_plane::all_in_one::Parts;
use provisioner::{Provisioner, ReconcileReport};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use system_tests::admin::Reply;
use system_tests::fleet;
use system_tests::replicas::StandaloneWorker;
use system_tests::{AdminApi, Replica, Server};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The whole set: platform A (control plane, runtime, worker A, through [`AdminApi`]),
/// replica B (control plane, runtime) and worker B.
struct Replicas {
    api: AdminApi,
    b: Replica,
    worker_b: StandaloneWorker,
}

impl Replicas {
    async fn start() -> Replicas {
        let api = AdminApi::start_with(|settings| {
            settings.provisioner.worker_id = Some("worker-a".into());
            settings.provisioner.maintenance_interval_secs = 1;
        })
        .await;
        let mut settings = api.app.settings.clone();
        settings.provisioner.worker_id = Some("worker-b".into());
        settings.provisioner.port = 0;
        let parts = Parts {
            tenant_runtime: true,
            provisioner: false,
        };
        let b = Replica::launch(&settings, parts).await;
        let worker_b = StandaloneWorker::start_with_health(&settings).await;
        api.register_primary().await;
        let second = Server::second().admin_url();
        api.register_server("second", second, second, 100).await;
        Replicas { api, b, worker_b }
    }

    /// A request to control plane B as the owner.
    async fn call_b(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .api
            .app
            .client
            .request(method, format!("{}{path}", self.b.control_plane_url))
            .bearer_auth(&self.api.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        system_tests::admin::read(request.send().await.expect("sent")).await
    }

    /// `GET /api/v1/me` of `slug` (no token) on a runtime: the tenant gate answers first.
    async fn gate(&self, runtime_url: &str, slug: &str) -> Reply {
        let response = self
            .api
            .app
            .client
            .get(format!("{runtime_url}/api/v1/me"))
            .header("X-Tenant", slug)
            .send()
            .await
            .expect("sent");
        system_tests::admin::read(response).await
    }

    async fn control(&self) -> tokio_postgres::Client {
        fleet::connect(&self.api.app.db.url()).await
    }

    async fn stop(self) {
        self.worker_b.stop().await;
        self.b.stop().await.expect("replica B stops cleanly");
        self.api.app.cancel();
    }
}

/// Notes every worker seen holding a provisioning job's lease until `stop` fires.
fn watch_lease_owners(
    control_url: String,
    stop: CancellationToken,
) -> (Arc<Mutex<BTreeSet<String>>>, JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let into = seen.clone();
    let task = tokio::spawn(async move {
        let control = fleet::connect(&control_url).await;
        while !stop.is_cancelled() {
            let rows = control
                .query(
                    "SELECT DISTINCT lease_owner FROM jobs \
                     WHERE kind = 'provision' AND lease_owner IS NOT NULL",
                    &[],
                )
                .await
                .expect("jobs");
            into.lock()
                .expect("set")
                .extend(rows.iter().map(|row| row.get::<_, String>(0)));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    (seen, task)
}

fn signup_body(slug: &str) -> Value {
    json!({ "company_name": format!("{slug} Works"), "slug": slug,
            "admin_email": format!("boss@{slug}.example"),
            "admin_password": "a long enough password", "plan": "starter" })
}

/// Polls the gate of `slug` on `runtime_url` until it answers `status`; how long it took.
async fn seen_within(
    set: &Replicas,
    runtime_url: &str,
    slug: &str,
    status: u16,
    code: &str,
) -> Duration {
    let started = Instant::now();
    loop {
        let reply = set.gate(runtime_url, slug).await;
        if reply.status == status && reply.code() == code {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{runtime_url} still answers {} {:?}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_clean(report: &ReconcileReport) {
    assert!(report.orphan_databases.is_empty(), "{report:?}");
    assert!(report.orphan_roles.is_empty(), "{report:?}");
    assert!(report.missing_databases.is_empty(), "{report:?}");
    assert!(report.unreachable_servers.is_empty(), "{report:?}");
}

/// Creates tenants through both control planes at once and waits for every job.
async fn provision_through_both(set: &Replicas) -> Vec<(String, String)> {
    let mut created = Vec::new();
    for n in 0..3 {
        let slug = format!("via-a-{n}");
        let reply = set.api.create_tenant(&slug).await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        created.push((slug, reply.body["job_id"].as_str().unwrap().to_owned()));
        let slug = format!("via-b-{n}");
        let reply = set
            .call_b(Method::POST, "/api/v1/signup", Some(signup_body(&slug)))
            .await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        created.push((slug, reply.body["job_id"].as_str().unwrap().to_owned()));
    }
    for (slug, job) in &created {
        let done = set.api.wait_for_job(job).await;
        assert_eq!(done["state"], "succeeded", "{slug}: {done:?}");
    }
    created
}

#[tokio::test]
async fn two_of_every_service_share_the_work_and_do_each_piece_once() {
    let set = Replicas::start().await;
    let control = set.control().await;

    // Provisioning: both workers take jobs, tenants land on both servers.
    let stop_watching = CancellationToken::new();
    let (owners, watcher) = watch_lease_owners(set.api.app.db.url(), stop_watching.clone());
    let created = provision_through_both(&set).await;
    stop_watching.cancel();
    watcher.await.unwrap();
    let owners = owners.lock().unwrap().clone();
    assert_eq!(
        owners,
        BTreeSet::from(["worker-a".to_owned(), "worker-b".to_owned()]),
        "both workers provisioned some"
    );
    let servers: i64 = control
        .query_one(
            "SELECT count(DISTINCT server_id) FROM tenants WHERE status = 'active'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(servers, 2, "placed on both servers");

    // Worker B's own endpoints: alive, ready, and counting its jobs.
    let client = &set.api.app.client;
    let health = set
        .worker_b
        .health_url
        .as_deref()
        .expect("worker B's health listener");
    for (path, status) in [("/healthz", 200), ("/readyz", 200), ("/nowhere", 404)] {
        let response = client.get(format!("{health}{path}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    let metrics = client
        .get(format!("{health}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("provisioner_jobs_total{kind=\"provision\",outcome=\"succeeded\"}")
            && metrics.contains("provisioner_job_duration_seconds_bucket"),
        "{metrics}"
    );

    // A suspension through control plane B reaches both runtimes within a second.
    let (slug, _) = &created[0];
    let id: Uuid = control
        .query_one("SELECT id FROM tenants WHERE slug = $1", &[slug])
        .await
        .unwrap()
        .get(0);
    for runtime in [&set.api.app.tenant_runtime_url, &set.b.tenant_runtime_url] {
        assert_eq!(
            set.gate(runtime, slug).await.status,
            401,
            "served, not signed in"
        );
    }
    let suspended = set
        .call_b(
            Method::POST,
            &format!("/api/v1/tenants/{id}/suspend"),
            Some(json!({ "reason": "replica test" })),
        )
        .await;
    assert_eq!(suspended.status, 200, "{:?}", suspended.body);
    let (a, b) = tokio::join!(
        seen_within(
            &set,
            &set.api.app.tenant_runtime_url,
            slug,
            403,
            "tenant_suspended"
        ),
        seen_within(
            &set,
            &set.b.tenant_runtime_url,
            slug,
            403,
            "tenant_suspended"
        ),
    );
    println!("suspension seen by runtime A in {a:?}, by runtime B in {b:?}");
    assert!(a < Duration::from_secs(1) && b < Duration::from_secs(1));

    // The spare keeper and the backup schedule run on both workers every second: each
    // piece of work is done once.
    let primary_id: Uuid = control
        .query_one(
            "SELECT id FROM database_servers WHERE name = 'primary'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let patched = set
        .call_b(
            Method::PATCH,
            &format!("/api/v1/servers/{primary_id}"),
            Some(json!({ "spare_target": 2 })),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    control
        .batch_execute("UPDATE plans SET backup_interval_hours = 1 WHERE code = 'starter'")
        .await
        .unwrap();
    let tenants: i64 = control
        .query_one(
            "SELECT count(*) FROM tenants WHERE status IN ('active', 'suspended')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let scheduled = "SELECT count(*) FROM tenant_backups WHERE kind = 'scheduled'";
    let started = Instant::now();
    while control
        .query_one(scheduled, &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
        < tenants
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no schedule");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Several more passes of both workers.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let per_tenant = control
        .query(
            "SELECT tenant_id, count(*) FROM tenant_backups WHERE kind = 'scheduled' \
             GROUP BY tenant_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(per_tenant.len() as i64, tenants);
    for row in &per_tenant {
        assert_eq!(row.get::<_, i64>(1), 1, "one scheduled backup per tenant");
    }
    let jobs: i64 = control
        .query_one("SELECT count(*) FROM jobs WHERE kind = 'backup'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(jobs, tenants, "one backup job per tenant");
    let admin = fleet::connect(Server::primary().admin_url()).await;
    assert_eq!(
        provisioner::list_spares(&admin, primary_id)
            .await
            .unwrap()
            .len(),
        2,
        "two spares, not four"
    );

    set.stop().await;
}

#[tokio::test]
async fn a_worker_killed_mid_saga_is_taken_over_by_the_other() {
    let set = Replicas::start().await;
    set.worker_b.provisioner.crash_at("create_database");
    let control = set.control().await;

    // Worker B dies at `create_database` of whichever job it takes first (worker A may
    // take some before it does).
    let mut doomed = None;
    for n in 0..8 {
        let reply = set
            .call_b(
                Method::POST,
                "/api/v1/tenants",
                Some(
                    json!({ "slug": format!("doomed-{n}"), "name": "Doomed", "plan": "starter",
                             "admin_email": format!("admin@doomed-{n}.example") }),
                ),
            )
            .await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        let job = reply.body["job_id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        loop {
            if set.worker_b.is_finished() {
                doomed = Some(job.clone());
                break;
            }
            let state = set.api.get(&format!("/api/v1/jobs/{job}")).await.body["state"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if state == "succeeded" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "job {job}: {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if doomed.is_some() {
            break;
        }
    }
    let job = doomed.expect("worker B took a job within eight tries");
    let job_id: Uuid = job.parse().unwrap();
    let row = control
        .query_one(
            "SELECT state, lease_owner, completed_steps::text FROM jobs WHERE id = $1",
            &[&job_id],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "running",
        "left as a dead worker leaves it"
    );
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("worker-b"));
    println!("worker B died with steps {}", row.get::<_, String>(2));

    // Its lease runs out (a minute in production; here at once), and worker A resumes it.
    control
        .batch_execute(&format!(
            "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = '{job_id}'"
        ))
        .await
        .unwrap();
    let done = set.api.wait_for_job(&job).await;
    assert_eq!(done["state"], "succeeded", "{done:?}");
    assert_eq!(done["attempts"], 2, "{done:?}");
    let tenant_id = done["tenant_id"].as_str().unwrap();
    let tenant = set.api.get(&format!("/api/v1/tenants/{tenant_id}")).await;
    assert_eq!(tenant.body["status"], "active");

    let keyring = common::crypto::Keyring::from_settings(&set.api.app.settings).unwrap();
    let auditor = Provisioner::new(set.api.app.db.connect().await, keyring, "auditor");
    assert_clean(&auditor.reconcile(false).await.unwrap());
    set.stop().await;
}
