//! Follows `NOTIFY tenant_changed` on the control database and drops the registry entries
//! it names ([`TenantChange`]: a tenant id, or `plan:<code>` for every tenant on a plan),
//! or re-reads a server (`server:<id>`: its budget or address changed); a payload it does
//! not understand drops everything. When the connection is lost the feed
//! may have gaps, so after every (re)connect the whole registry is dropped; entries also
//! expire on their own.

use crate::registry::Registry;
use common::changes::{CHANNEL, TenantChange};
use common::pg_listen::{self, FeedEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Names the listening session in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "tenant-runtime-listener";

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

/// Follows the feed until `shutdown` (reconnecting with backoff, in `common::pg_listen`):
/// every (re)connect drops the whole registry, since what happened meanwhile is unknown;
/// each notification drops what it names.
pub async fn follow_changes(
    control_url: String,
    registry: Arc<Registry>,
    feed: Arc<FeedState>,
    shutdown: CancellationToken,
) {
    let (events, mut received) = mpsc::unbounded_channel();
    let channel = pg_listen::Channel {
        database_url: control_url,
        channel: CHANNEL,
        application_name: APPLICATION_NAME,
    };
    let following = tokio::spawn(pg_listen::follow(channel, events, shutdown));
    while let Some(event) = received.recv().await {
        match event {
            FeedEvent::Listening => {
                registry.invalidate_all().await;
                registry.refresh_servers().await;
                feed.connected.store(true, Ordering::Relaxed);
                tracing::info!("following tenant changes");
            }
            FeedEvent::Notification(payload) => apply(&registry, &payload).await,
            FeedEvent::Lost => feed.connected.store(false, Ordering::Relaxed),
        }
    }
    feed.connected.store(false, Ordering::Relaxed);
    let _ = following.await;
}

async fn apply(registry: &Registry, payload: &str) {
    metrics::counter!("runtime_tenant_changes_total").increment(1);
    match TenantChange::parse(payload) {
        TenantChange::Plan(plan) => registry.invalidate_plan(&plan).await,
        TenantChange::Tenant(tenant) => registry.invalidate_tenant(tenant).await,
        TenantChange::Server(server) => registry.refresh_server(server).await,
        TenantChange::All => {
            tracing::warn!(payload, "dropping every cached tenant");
            registry.invalidate_all().await;
            registry.refresh_servers().await;
        }
    }
}
