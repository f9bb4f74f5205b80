//! More than one process of a service against one control database, for the limits that
//! must hold across replicas: a second platform (control plane and runtime, through
//! `all_in_one::launch` as `scripts/up` runs it), a bare extra runtime whose registry a
//! test can look into, and the local Redis with a key prefix of the test's own.

use common::Secret;
use common::config::Settings;
use control_plane::all_in_one::{self, Parts, Platform};
use std::sync::Arc;
use std::time::Duration;
use tenant_runtime::registry::Registry;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where the machine's Redis listens.
pub const REDIS_ADDRESS: &str = "127.0.0.1:6379";

/// Whether Redis answers `PING` at [`REDIS_ADDRESS`]; when not, prints why the calling
/// test is skipped (tests needing Redis skip, nothing else does).
pub async fn redis_or_skip(test: &str) -> bool {
    let answered = tokio::time::timeout(Duration::from_secs(2), ping()).await;
    match answered {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            eprintln!("SKIPPED {test}: Redis does not answer at {REDIS_ADDRESS} ({error})");
            false
        }
        Err(_) => {
            eprintln!("SKIPPED {test}: Redis does not answer at {REDIS_ADDRESS} (timed out)");
            false
        }
    }
}

async fn ping() -> std::io::Result<()> {
    let mut stream = tokio::net::TcpStream::connect(REDIS_ADDRESS).await?;
    stream.write_all(b"PING\r\n").await?;
    let mut reply = [0_u8; 7];
    stream.read_exact(&mut reply).await?;
    if &reply == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(std::io::Error::other("not a Redis PONG"))
    }
}

/// Points `settings` at the local Redis under a prefix no other test uses.
pub fn use_redis(settings: &mut Settings) {
    settings.redis.url = Some(Secret::new(format!("redis://{REDIS_ADDRESS}")));
    settings.redis.key_prefix = format!("erp-test:{}:", uuid::Uuid::now_v7());
}

/// A second control plane and runtime on the same control database (no provisioner: the
/// first platform's worker does the jobs).
pub struct SecondPlatform {
    pub control_plane_url: String,
    pub tenant_runtime_url: String,
    platform: Option<Platform>,
}

impl SecondPlatform {
    pub async fn launch(settings: &Settings) -> Self {
        let parts = Parts {
            tenant_runtime: true,
            provisioner: false,
        };
        let mut platform = all_in_one::launch(settings, parts, CancellationToken::new())
            .await
            .expect("second platform launches");
        tokio::time::timeout(Duration::from_secs(60), &mut platform.bootstrap)
            .await
            .expect("the second platform's bootstrap finishes within a minute")
            .expect("bootstrap task does not panic");
        let runtime = platform.tenant_runtime_port.expect("runtime part");
        let second = Self {
            control_plane_url: format!("http://127.0.0.1:{}", platform.control_plane_port),
            tenant_runtime_url: format!("http://127.0.0.1:{runtime}"),
            platform: Some(platform),
        };
        for url in [&second.control_plane_url, &second.tenant_runtime_url] {
            wait_ready(url).await;
        }
        second
    }

    pub async fn stop(mut self) {
        if let Some(platform) = self.platform.take() {
            let _ = platform.stop().await;
        }
    }
}

impl Drop for SecondPlatform {
    fn drop(&mut self) {
        if let Some(platform) = &self.platform {
            platform.cancel();
        }
    }
}

/// Waits (10 s at most) until the service at `url` answers `/readyz` with 200.
pub async fn wait_ready(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client.get(format!("{url}/readyz")).send().await;
        if ready.is_ok_and(|reply| reply.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not become ready in 10 s");
}

/// A runtime alone, whose registry the test can look into (servers' budgets).
pub struct ExtraRuntime {
    pub url: String,
    pub registry: Arc<Registry>,
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl ExtraRuntime {
    pub async fn start(settings: &Settings) -> Self {
        let db = common::db::connect_lazy(&settings.database)
            .await
            .expect("control database pool");
        let app = tenant_runtime::build_app(settings, db).expect("runtime builds");
        let url = format!("http://127.0.0.1:{}", app.port());
        let registry = app.registry();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run_until(stop.clone()));
        let runtime = Self {
            url,
            registry,
            stop,
            task: Some(task),
        };
        wait_ready(&runtime.url).await;
        runtime
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ExtraRuntime {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A provisioner worker on its own, as the standalone `provisioner` binary runs it (with
/// its health listener when started by [`StandaloneWorker::start_with_health`]), that a
/// test can kill: with a fail point armed
/// ([`provisioner::Provisioner::crash_at`]) it dies at that step as a killed process would,
/// its job still leased; [`StandaloneWorker::stop`] stops it as SIGTERM does.
pub struct StandaloneWorker {
    pub provisioner: provisioner::Provisioner,
    /// The health listener's base URL, when it has one.
    pub health_url: Option<String>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl StandaloneWorker {
    /// Starts a worker named by `settings.provisioner.worker_id`.
    pub async fn start(settings: &Settings) -> Self {
        Self::launch(settings, false).await
    }

    /// Like [`Self::start`], with the health listener (`/healthz`, `/readyz`, `/metrics`).
    pub async fn start_with_health(settings: &Settings) -> Self {
        Self::launch(settings, true).await
    }

    async fn launch(settings: &Settings, with_health: bool) -> Self {
        let db = common::db::connect_lazy(&settings.database)
            .await
            .expect("control database pool");
        let worker = provisioner::Worker::new(settings, db.clone()).expect("worker");
        let provisioner = worker.provisioner().clone();
        let stop = CancellationToken::new();
        let health_url = with_health.then(|| {
            let health = provisioner::health::bind(settings, db, worker.startup_status())
                .expect("health listener");
            let url = format!("http://127.0.0.1:{}", health.port());
            tokio::spawn(health.run_until(stop.clone()));
            url
        });
        let task = tokio::spawn(worker.run(stop.clone()));
        Self {
            provisioner,
            health_url,
            stop,
            task: Some(task),
        }
    }

    /// Whether it has stopped (a fail point fired, or it was stopped).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops it (the step in flight finishes) and waits until it has.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StandaloneWorker {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
