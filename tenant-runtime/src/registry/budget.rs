//! The per-server connection budget: every connection any tenant pool opens on a database
//! server holds one permit of that server's semaphore, so the total stays under the budget.
//! When the budget is full, a connection request first takes one idle connection away from
//! the least recently used other tenant on the same server; only then does it wait, and
//! never longer than `budget_wait`.
//!
//! The budget knows the pools that draw on it only as [`IdleConnections`] (implemented by
//! `pool::TenantPool`), so the pool depends on the budget and not the other way round.

use dashmap::DashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// How often a waiting request looks again for an idle connection to take.
const RECLAIM_TICK: Duration = Duration::from_millis(5);

/// One database server's budget and the pools that draw on it.
pub struct ServerBudget {
    pub server_id: Uuid,
    pub budget: usize,
    permits: Arc<Semaphore>,
    wait: Duration,
    pools: DashMap<Uuid, PoolUse>,
}

/// What the budget asks of a pool that draws on it.
pub trait IdleConnections: Send + Sync {
    /// Closes one idle connection (its permit returns once it has closed); whether the
    /// pool had one.
    fn close_one_idle(&self) -> bool;
    /// Closes every connection idle for longer than `idle`.
    fn close_idle_for(&self, idle: Duration);
}

/// A pool on this server, and when its tenant last made a request (for picking whom to
/// shrink first).
struct PoolUse {
    pool: Arc<dyn IdleConnections>,
    last_used: Arc<AtomicU64>,
}

/// The budget was full for the whole wait.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the database server's connection budget stayed full")]
pub struct BudgetExhausted;

impl ServerBudget {
    pub fn new(server_id: Uuid, budget: usize, wait: Duration) -> Self {
        Self {
            server_id,
            budget,
            permits: Arc::new(Semaphore::new(budget)),
            wait,
            pools: DashMap::new(),
        }
    }

    /// Connections open on this server right now (through this process).
    pub fn in_use(&self) -> usize {
        self.budget - self.permits.available_permits()
    }

    pub fn attach(&self, tenant: Uuid, pool: Arc<dyn IdleConnections>, last_used: Arc<AtomicU64>) {
        self.pools.insert(tenant, PoolUse { pool, last_used });
    }

    /// Forgets the pool of an evicted handle, identified by its `last_used` cell, so that
    /// a newer handle's pool attached meanwhile stays.
    pub fn detach(&self, tenant: Uuid, last_used: &Arc<AtomicU64>) {
        self.pools
            .remove_if(&tenant, |_, used| Arc::ptr_eq(&used.last_used, last_used));
    }

    /// A permit for one new connection of `requester`: free, or taken from another
    /// tenant's idle connection, or waited for until `wait` runs out.
    pub async fn acquire(&self, requester: Uuid) -> Result<OwnedSemaphorePermit, BudgetExhausted> {
        let deadline = Instant::now() + self.wait;
        let mut waited = false;
        loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return Ok(permit);
            }
            if self.close_one_idle_connection(requester) {
                continue;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                metrics::counter!("runtime_budget_exhausted_total").increment(1);
                return Err(BudgetExhausted);
            }
            if !waited {
                waited = true;
                metrics::counter!("runtime_budget_waits_total").increment(1);
            }
            // Wake on a freed permit, or soon, to look for a connection gone idle meanwhile.
            tokio::select! {
                permit = self.permits.clone().acquire_owned() => {
                    return permit.map_err(|_| BudgetExhausted);
                }
                () = tokio::time::sleep(remaining.min(RECLAIM_TICK)) => {}
            }
        }
    }

    /// Closes one idle connection: of the least recently used other tenant that has one,
    /// else of the requester itself (its waiting request holds a pool slot, so it would
    /// not be handed that idle connection). Whether one was closed; its permit returns
    /// as it is dropped, here.
    fn close_one_idle_connection(&self, requester: Uuid) -> bool {
        let mut candidates: Vec<(bool, u64, Arc<dyn IdleConnections>)> = self
            .pools
            .iter()
            // No filter on `status().available`: it subtracts waiting requests, so a pool
            // with waiters reports none idle even when some are.
            .map(|entry| {
                let own = *entry.key() == requester;
                (
                    own,
                    entry.last_used.load(Ordering::Relaxed),
                    entry.pool.clone(),
                )
            })
            .collect();
        candidates.sort_unstable_by_key(|(own, last_used, _)| (*own, *last_used));
        candidates.into_iter().any(|(_, _, pool)| {
            let closed = pool.close_one_idle();
            if closed {
                metrics::counter!("runtime_connections_reclaimed_total").increment(1);
            }
            closed
        })
    }

    /// Closes connections idle for longer than `idle`, in every pool on this server.
    pub fn close_idle_connections(&self, idle: Duration) {
        for entry in &self.pools {
            entry.pool.close_idle_for(idle);
        }
    }
}
