//! The admin API as tests use it: a running platform with its bootstrap owner logged in,
//! typed helpers for requests, and clean-up of the tenant databases its tests provision
//! (on the servers registered through it).

use crate::app::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, spawn_app_with};
use crate::postgres::Server;
use common::config::Settings;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A password every admin made by [`AdminApi::admin_with_role`] gets.
pub const STAFF_PASSWORD: &str = "staff password of decent length";

pub struct AdminApi {
    pub app: TestApp,
    /// The bootstrap owner's access token.
    pub token: String,
    servers: Mutex<Vec<(Uuid, String)>>,
}

/// A response: status and JSON body (`Null` when empty), plus its headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The problem+json `code`, if any.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl AdminApi {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(customize: impl FnOnce(&mut Settings)) -> Self {
        let app = spawn_app_with(customize).await;
        let mut api = Self {
            app,
            token: String::new(),
            servers: Mutex::new(Vec::new()),
        };
        api.token = api.token_for(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        api
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.control_plane_url)
    }

    /// Any request; `token: None` sends no Authorization header.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.app.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Some(&self.token), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, body: Value) -> Reply {
        self.call(Method::DELETE, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn login(&self, email: &str, password: &str, totp: Option<&str>) -> Reply {
        let mut body = json!({ "email": email, "password": password });
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    pub async fn token_for(&self, email: &str, password: &str) -> String {
        let reply = self.login(email, password, None).await;
        assert_eq!(reply.status, 200, "login of {email}: {:?}", reply.body);
        reply.body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Enrols the bootstrap owner in TOTP (confirmed with the previous period's code, so
    /// the current one is still unused); returns the secret, for
    /// `control_plane::auth::totp::current_code`.
    pub async fn enrol_totp(&self) -> Vec<u8> {
        let enrolled = self.post("/api/v1/me/2fa/enroll", json!({})).await;
        assert_eq!(enrolled.status, 200, "{:?}", enrolled.body);
        let secret =
            totp_rs::Secret::try_from_base32(enrolled.body["secret"].as_str().expect("secret"))
                .expect("base32")
                .as_bytes()
                .to_vec();
        let code = control_plane::auth::totp::current_code(&secret, unix_now() - 30).expect("code");
        let confirmed = self
            .post("/api/v1/me/2fa/confirm", json!({ "code": code }))
            .await;
        assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
        secret
    }

    /// Creates an admin with `role` (as the owner) and returns their access token.
    pub async fn admin_with_role(&self, role: &str) -> String {
        let email = format!("{role}-{}@tests.example", Uuid::new_v4().simple());
        let created = self
            .post(
                "/api/v1/admins",
                json!({ "email": email, "password": STAFF_PASSWORD, "role": role }),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        self.token_for(&email, STAFF_PASSWORD).await
    }

    /// Registers the primary test server (so tenants can be placed) and remembers it for
    /// clean-up.
    pub async fn register_primary(&self) -> Uuid {
        let url = Server::primary().admin_url().to_owned();
        let reply = self
            .post(
                "/api/v1/servers",
                json!({ "name": "primary", "admin_url": url, "capacity": 100 }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let id: Uuid = reply.body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        self.servers.lock().expect("lock").push((id, url));
        id
    }

    /// Registers a server under `name` at `url` (which may go through a proxy), dropping
    /// its tenants at the end through `direct_url`.
    pub async fn register_server(
        &self,
        name: &str,
        url: &str,
        direct_url: &str,
        capacity: i32,
    ) -> Uuid {
        let reply = self
            .post(
                "/api/v1/servers",
                json!({ "name": name, "admin_url": url, "capacity": capacity }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let id: Uuid = reply.body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        self.servers
            .lock()
            .expect("lock")
            .push((id, direct_url.to_owned()));
        id
    }

    /// `POST /api/v1/tenants` for `slug` on the `starter` plan.
    pub async fn create_tenant(&self, slug: &str) -> Reply {
        self.post(
            "/api/v1/tenants",
            json!({ "slug": slug, "name": format!("{slug} Ltd"), "plan": "starter",
                    "admin_email": format!("admin@{slug}.example") }),
        )
        .await
    }

    /// Polls `GET /api/v1/jobs/{id}` until it is finished (a minute at most).
    pub async fn wait_for_job(&self, job_id: &str) -> Value {
        let started = Instant::now();
        loop {
            let job = self.get(&format!("/api/v1/jobs/{job_id}")).await;
            assert_eq!(job.status, 200, "{:?}", job.body);
            let state = job.body["state"].as_str().unwrap_or_default().to_owned();
            if ["succeeded", "failed", "cancelled"].contains(&state.as_str()) {
                return job.body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "job {job_id} still {state} after a minute: {:?}",
                job.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates a tenant and waits until it is active; returns its id.
    pub async fn active_tenant(&self, slug: &str) -> String {
        let created = self.create_tenant(slug).await;
        assert_eq!(created.status, 202, "{:?}", created.body);
        let job = self
            .wait_for_job(created.body["job_id"].as_str().expect("job id"))
            .await;
        assert_eq!(job["state"], "succeeded", "{job:?}");
        created.body["id"].as_str().expect("id").to_owned()
    }

    /// A superuser connection to a tenant's own database (on the primary server).
    pub async fn tenant_db(&self, tenant_id: &str) -> tokio_postgres::Client {
        let control = crate::fleet::connect(&self.app.db.url()).await;
        let id: Uuid = tenant_id.parse().expect("a tenant id");
        let database: String = control
            .query_one("SELECT db_name FROM tenants WHERE id = $1", &[&id])
            .await
            .expect("the tenant exists")
            .get(0);
        crate::fleet::connect(&Server::primary().url_for(&database)).await
    }

    /// Audit entries with `action`, newest first.
    pub async fn audit(&self, action: &str) -> Vec<Value> {
        let reply = self.get(&format!("/api/v1/audit?action={action}")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["items"].as_array().cloned().unwrap_or_default()
    }
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        body,
        headers,
    }
}

impl Drop for AdminApi {
    /// Stops the worker, then drops the tenant databases and roles made on the servers
    /// registered through this API.
    fn drop(&mut self) {
        self.app.cancel();
        let servers = self.servers.lock().map(|s| s.clone()).unwrap_or_default();
        if servers.is_empty() {
            return;
        }
        let control_url = self.app.db.url();
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(crate::fleet::clean_servers(control_url, servers))
        })
        .join();
        if !matches!(cleaned, Ok(Some(()))) {
            eprintln!("the admin API test's tenant databases were not all dropped");
        }
    }
}

/// Seconds since 1970, as TOTP counts them.
pub fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970")
}
