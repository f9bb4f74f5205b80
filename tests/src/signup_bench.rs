//! The signup benchmark: what a new customer waits for, from `POST /signup` to the first
//! authenticated `GET /api/v1/me` answered by their own company's runtime, measured through
//! the whole platform as `scripts/up` runs it (all-in-one, the worker's own `default`
//! server with its spare pool, the production poll interval), one signup after another.
//!
//! Beside it, in the same run, the provisioning job's own time (queued to finished, by the
//! control database's clock): the difference is what the platform adds around the saga
//! (waking the worker, the client noticing the tenant is active, signing in).
//!
//! The client does what an app would: after the 202 it signs in, and while the company is
//! still provisioning (503 `tenant_provisioning`) it tries again after 5 ms.

use crate::app::{TestApp, spawn_app_with};
use crate::bench::Latencies;
use crate::fleet;
use crate::postgres::Server;
use common::Secret;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "a long enough password";
/// Signups made before measuring, so the template and connections are warm.
const WARM_UP: usize = 3;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct SignupRun {
    /// `POST /signup` sent -> first `/me` answered 200.
    pub signup_to_me: Latencies,
    /// The provisioning job, queued -> finished (server clock).
    pub job: Latencies,
    /// The fewest spare databases the `default` server had ready before a signup.
    pub fewest_spares: usize,
}

/// Signs up `signups` companies one after another and times each.
pub async fn run(signups: usize) -> SignupRun {
    let app = spawn_app_with(|settings| {
        settings.provisioner.default_server_url = Some(Secret::new(Server::primary().admin_url()));
        settings.provisioner.poll_interval_ms = 1000;
        settings.control_plane.signups_per_ip_per_hour = 1_000_000;
    })
    .await;
    let spares = SpareGauge::connect(&app).await;
    spares.wait_for(3).await;
    let mut to_me = Vec::new();
    let mut jobs = Vec::new();
    let mut fewest_spares = usize::MAX;
    for n in 0..WARM_UP + signups {
        if n >= WARM_UP {
            fewest_spares = fewest_spares.min(spares.count().await);
        }
        let (took, job_id) = sign_up_and_see_me(&app, &format!("bench-co-{n}")).await;
        let job = job_time(&app, &job_id).await;
        if n >= WARM_UP {
            to_me.push(took);
            jobs.push(job);
        }
    }
    app.stop_then(async |db| fleet::clean_default_server(&db.url()).await)
        .await
        .expect("platform stops");
    SignupRun {
        signup_to_me: sorted("signup -> /me", to_me),
        job: sorted("job queued -> finished", jobs),
        fewest_spares,
    }
}

fn sorted(way: &'static str, mut samples: Vec<Duration>) -> Latencies {
    samples.sort();
    Latencies {
        way,
        sorted: samples,
    }
}

/// One customer: signup, sign in as soon as the company is active, `/me`.
async fn sign_up_and_see_me(app: &TestApp, slug: &str) -> (Duration, String) {
    let email = format!("owner@{slug}.example");
    let started = Instant::now();
    let signup = app
        .client
        .post(format!("{}/api/v1/signup", app.control_plane_url))
        .json(
            &json!({ "company_name": slug, "slug": slug, "admin_email": email,
                        "admin_password": PASSWORD, "plan": "trial" }),
        )
        .send()
        .await
        .expect("signup sent");
    assert_eq!(signup.status(), 202, "signup of {slug}");
    let reply: Value = signup.json().await.expect("signup body");
    let token = sign_in_when_active(app, slug, &email).await;
    let me = app
        .client
        .get(format!("{}/api/v1/me", app.tenant_runtime_url))
        .header("X-Tenant", slug)
        .bearer_auth(token)
        .send()
        .await
        .expect("/me sent");
    assert_eq!(me.status(), 200, "/me of {slug}");
    let took = started.elapsed();
    (took, reply["job_id"].as_str().expect("job id").to_owned())
}

async fn sign_in_when_active(app: &TestApp, slug: &str, email: &str) -> String {
    let url = format!("{}/api/v1/auth/login", app.tenant_runtime_url);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = app
            .client
            .post(&url)
            .header("X-Tenant", slug)
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("login sent");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        match status {
            200 => return body["access_token"].as_str().expect("token").to_owned(),
            503 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ => panic!("sign-in to {slug}: {status} {body}"),
        }
    }
}

async fn job_time(app: &TestApp, job_id: &str) -> Duration {
    let control = fleet::connect(&app.db.url()).await;
    let id: uuid::Uuid = job_id.parse().expect("job id");
    let row = control
        .query_one(
            "SELECT EXTRACT(EPOCH FROM finished_at - created_at)::float8 FROM jobs WHERE id = $1",
            &[&id],
        )
        .await
        .expect("job row");
    Duration::from_secs_f64(row.get::<_, f64>(0))
}

/// Counts the `default` server's spare databases.
struct SpareGauge {
    admin: tokio_postgres::Client,
    server_id: uuid::Uuid,
}

impl SpareGauge {
    async fn connect(app: &TestApp) -> Self {
        for _ in 0..600 {
            if let Some(server_id) = fleet::default_server_id(&app.db.url()).await {
                return Self {
                    admin: fleet::connect(Server::primary().admin_url()).await,
                    server_id,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the worker never registered `default`");
    }

    async fn count(&self) -> usize {
        provisioner::list_spares(&self.admin, self.server_id)
            .await
            .expect("spares")
            .len()
    }

    async fn wait_for(&self, spares: usize) {
        for _ in 0..600 {
            if self.count().await >= spares {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the spare keeper never made {spares} spares");
    }
}

/// The report: both figures and their ratio.
pub fn report(run: &SignupRun) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut lines = vec![format!(
        "{} signups, one after another (fewest spares ready before one: {})",
        run.signup_to_me.sorted.len(),
        run.fewest_spares
    )];
    lines.push(format!("{:<24} {:>9} {:>9}", "", "p50 ms", "p95 ms"));
    for latencies in [&run.signup_to_me, &run.job] {
        lines.push(format!(
            "{:<24} {:>9.1} {:>9.1}",
            latencies.way,
            ms(latencies.quantile(0.5)),
            ms(latencies.quantile(0.95))
        ));
    }
    lines.push(format!(
        "p50 signup->/me / job = {:.2}x",
        ms(run.signup_to_me.quantile(0.5)) / ms(run.job.quantile(0.5))
    ));
    lines.join("\n")
}
