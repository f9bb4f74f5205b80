//! Follows `NOTIFY tenant_changed` on the control database and drops the registry entries
//! it names ([`TenantChange`]: a tenant id, or `plan:<code>` for every tenant on a plan; a
//! payload it does not understand drops everything). When the connection is lost the feed may have gaps, so
//! after every (re)connect the whole registry is dropped; entries also expire on their own.

use crate::registry::Registry;
use common::changes::{CHANNEL, TenantChange};
use futures_util::StreamExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

/// Names the listening session in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "tenant-runtime-listener";
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether the change feed is connected (for `/readyz`).
#[derive(Default)]
pub struct FeedState {
    connected: AtomicBool,
}

impl FeedState {
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// Listens until `shutdown`, reconnecting with backoff.
pub async fn follow_changes(
    control_url: String,
    registry: Arc<Registry>,
    feed: Arc<FeedState>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        if let Err(error) = listen(&control_url, &registry, &feed, &shutdown).await {
            tracing::warn!(error = format!("{error:#}"), "tenant change feed lost");
        }
        // A session that got as far as listening starts the backoff over.
        if feed.connected.swap(false, Ordering::Relaxed) {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One session: LISTEN, drop everything (what happened before is unknown), then apply
/// each notification until the connection ends (error) or shutdown (Ok).
async fn listen(
    control_url: &str,
    registry: &Registry,
    feed: &FeedState,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut config: tokio_postgres::Config = control_url.parse()?;
    // Keepalives notice a half-open connection within about a minute; the default
    // (two hours) would leave the feed silently deaf.
    config
        .application_name(APPLICATION_NAME)
        .connect_timeout(Duration::from_secs(5))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (payloads, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message? {
                let _ = payloads.send(notification.payload().to_owned());
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    registry.invalidate_all().await;
    feed.connected.store(true, Ordering::Relaxed);
    tracing::info!("following tenant changes");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                driver.abort();
                return Ok(());
            }
            payload = received.recv() => match payload {
                Some(payload) => apply(registry, &payload).await,
                None => break,
            },
        }
    }
    driver.await??;
    anyhow::bail!("the control database closed the connection")
}

async fn apply(registry: &Registry, payload: &str) {
    metrics::counter!("runtime_tenant_changes_total").increment(1);
    match TenantChange::parse(payload) {
        TenantChange::Plan(plan) => registry.invalidate_plan(&plan).await,
        TenantChange::Tenant(tenant) => registry.invalidate_tenant(tenant).await,
        TenantChange::All => {
            tracing::warn!(payload, "dropping every cached tenant");
            registry.invalidate_all().await;
        }
    }
}
