//! The platform under test: launched in-process through the same `all_in_one::launch` that
//! `scripts/up` runs, on port 0, against the test's own control database.

use crate::postgres::TestDb;
use common::Secret;
use common::config::Settings;
use control_plane::all_in_one::{self, Parts, Platform};
use control_plane::bootstrap::CreatedAdmin;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The bootstrap super-admin every test app starts with.
pub const ADMIN_EMAIL: &str = "root@tests.example";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A running platform and what a test needs to talk to it.
pub struct TestApp {
    pub settings: Settings,
    pub control_plane_url: String,
    pub tenant_runtime_url: String,
    pub client: reqwest::Client,
    /// What bootstrap created (`None` until [`TestApp::wait_bootstrapped`]).
    pub created_admin: Option<CreatedAdmin>,
    platform: Option<Platform>,
    /// Kept last so the database outlives the services using it.
    pub db: TestDb,
}

/// Launches every service on a fresh control database and waits for bootstrap.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with settings adjusted first (for example a database that is down).
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    crate::init();
    let db = TestDb::control().await;
    let mut settings = test_settings(&db);
    customize(&mut settings);
    let mut app = launch(settings, db).await;
    app.wait_bootstrapped().await;
    app
}

/// Launches without waiting for bootstrap: for tests of a platform that cannot start yet.
pub async fn launch(settings: Settings, db: TestDb) -> TestApp {
    crate::init();
    let platform = all_in_one::launch(&settings, Parts::ALL, CancellationToken::new())
        .await
        .expect("platform launches");
    let runtime_port = platform.tenant_runtime_port.expect("runtime enabled");
    TestApp {
        control_plane_url: format!("http://127.0.0.1:{}", platform.control_plane_port),
        tenant_runtime_url: format!("http://127.0.0.1:{runtime_port}"),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        created_admin: None,
        platform: Some(platform),
        settings,
        db,
    }
}

/// Settings for a test: port 0 everywhere, this test's database, a known super-admin.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut settings = Settings::default();
    settings.control_plane.port = 0;
    settings.tenant_runtime.port = 0;
    settings.database.url = Secret::new(db.url());
    settings.database.max_connections = 5;
    settings.database.connect_timeout_secs = 2;
    settings.bootstrap.admin_email = Some(ADMIN_EMAIL.into());
    settings.bootstrap.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    settings.provisioner.poll_interval_ms = 100;
    settings.secrets.encryption_key = Some(Secret::new(TEST_ENCRYPTION_KEY));
    settings.data_dir = std::env::temp_dir().join(format!("erp-test-data-{}", db.name()));
    settings
}

/// Base64 of 32 bytes: the key tests seal tenant secrets with (never used outside tests).
pub const TEST_ENCRYPTION_KEY: &str = "dGVzdC1vbmx5LWtleS0zMi1ieXRlcy1sb25nLi4uLi4=";

impl TestApp {
    /// Waits (at most a minute) for the control database to be migrated and seeded.
    pub async fn wait_bootstrapped(&mut self) {
        let platform = self.platform.as_mut().expect("running");
        let created = tokio::time::timeout(Duration::from_secs(60), &mut platform.bootstrap)
            .await
            .expect("bootstrap finishes within a minute")
            .expect("bootstrap task does not panic");
        self.created_admin = created;
    }

    pub async fn get_control_plane(&self, path: &str) -> reqwest::Response {
        self.get(&format!("{}{path}", self.control_plane_url)).await
    }

    pub async fn get_tenant_runtime(&self, path: &str) -> reqwest::Response {
        self.get(&format!("{}{path}", self.tenant_runtime_url))
            .await
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.expect("request sent")
    }

    /// Polls `url` until it answers `status` or `deadline` passes; returns the last status.
    pub async fn wait_for_status(&self, url: &str, status: u16, deadline: Duration) -> u16 {
        let started = std::time::Instant::now();
        loop {
            let last = match self.client.get(url).send().await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            if last == status || started.elapsed() > deadline {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks every service to stop, without waiting (the worker stops claiming jobs).
    pub fn cancel(&self) {
        if let Some(platform) = &self.platform {
            platform.cancel();
        }
    }

    /// Stops every service (graceful drain) and reports how they ended.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop_then(async |_| {}).await
    }

    /// Stops every service, then runs `after` while the control database still exists
    /// (to clean up what the platform's own worker made, now that it can make no more).
    pub async fn stop_then(mut self, after: impl AsyncFnOnce(&TestDb)) -> anyhow::Result<()> {
        let stopped = match self.platform.take() {
            Some(platform) => platform.stop().await,
            None => Ok(()),
        };
        after(&self.db).await;
        stopped
    }
}

impl Drop for TestApp {
    /// A test that ends without [`TestApp::stop`] still stops its servers' threads.
    fn drop(&mut self) {
        if let Some(platform) = &self.platform {
            platform.cancel();
        }
    }
}

/// More replicas of the services on a running platform's control database: the parts
/// given, launched through the same `all_in_one::launch`, with their own shutdown token.
pub struct Replica {
    pub control_plane_url: String,
    /// Empty when the runtime is not among the parts.
    pub tenant_runtime_url: String,
    platform: Option<Platform>,
}

impl Replica {
    /// Launches `parts` with `settings` (the first platform's, adjusted: port 0 is needed)
    /// and waits (a minute at most) until its services answer `/readyz`.
    pub async fn launch(settings: &Settings, parts: Parts) -> Replica {
        crate::init();
        let platform = all_in_one::launch(settings, parts, CancellationToken::new())
            .await
            .expect("replica launches");
        let replica = Replica {
            control_plane_url: format!("http://127.0.0.1:{}", platform.control_plane_port),
            tenant_runtime_url: platform
                .tenant_runtime_port
                .map(|port| format!("http://127.0.0.1:{port}"))
                .unwrap_or_default(),
            platform: Some(platform),
        };
        let client = reqwest::Client::new();
        for base in [&replica.control_plane_url, &replica.tenant_runtime_url] {
            if base.is_empty() {
                continue;
            }
            let started = std::time::Instant::now();
            while !client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success())
            {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "{base} not ready"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        replica
    }

    /// Stops the replica's services and waits for them to drain.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        match self.platform.take() {
            Some(platform) => platform.stop().await,
            None => Ok(()),
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(platform) = &self.platform {
            platform.cancel();
        }
    }
}
