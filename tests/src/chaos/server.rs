//! The chaos run's own tenant server: a private cluster (`$TEST_PG_DIR/chaos`, started
//! through `scripts/pg-cluster` like the second test server, with a small connection
//! limit) that the run may stop, restart and flood, since no other test uses it.

use crate::postgres::{start_private_cluster_with, stop_private_cluster};
use std::time::Duration;

const NAME: &str = "chaos";
/// Small, so that flooding it takes a moment, yet room for the platform's own pools.
const OPTIONS: &str = "-c max_connections=80";
/// Bound on the flood (far over `max_connections`, in case a limit is not reached).
const FLOOD_CAP: usize = 200;

pub struct ChaosServer {
    url: String,
}

impl ChaosServer {
    pub async fn start() -> ChaosServer {
        let url = tokio::task::spawn_blocking(|| start_private_cluster_with(NAME, OPTIONS))
            .await
            .expect("pg-cluster start");
        ChaosServer { url }
    }

    /// The superuser URL (the same across restarts: the cluster keeps its port).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fast shutdown: every session ended, nothing accepted until [`Self::bring_up`].
    pub async fn take_down(&self) {
        tokio::task::spawn_blocking(|| stop_private_cluster(NAME))
            .await
            .expect("pg-cluster stop");
    }

    pub async fn bring_up(&self) {
        let url = tokio::task::spawn_blocking(|| start_private_cluster_with(NAME, OPTIONS))
            .await
            .expect("pg-cluster start");
        assert_eq!(url, self.url, "the chaos cluster came back elsewhere");
    }

    /// Opens connections from outside (as its superuser, who may take the reserved slots
    /// too) until the server refuses one; they are held until the answer is dropped.
    pub async fn flood(&self) -> Vec<tokio_postgres::Client> {
        let mut held = Vec::new();
        while held.len() < FLOOD_CAP {
            let batch = futures_util::future::join_all(
                (0..10).map(|_| crate::fleet::try_connect(&self.url)),
            )
            .await;
            let mut refused = false;
            for connected in batch {
                match connected {
                    Ok(client) => held.push(client),
                    Err(_) => refused = true,
                }
            }
            if refused {
                break;
            }
        }
        // The connection tasks need a moment to be established server-side.
        tokio::time::sleep(Duration::from_millis(50)).await;
        held
    }
}
