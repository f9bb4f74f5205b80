//! The per-server connection budget: every connection any tenant pool opens on a database
//! server holds one [`BudgetPermit`], so the total stays under the server's
//! `connection_budget`, for the whole fleet of runtimes:
//!
//! - with Redis (`common::limits`), each permit is also a **lease** in a sorted set per
//!   server, granted by one Lua script only while the fleet holds fewer than the budget;
//!   leases carry a TTL that this process renews from housekeeping, so a crashed runtime's
//!   share comes back by itself, and a permit's drop gives its lease back at once;
//! - without Redis, or while it does not answer, this process keeps to its share
//!   (`budget / limits.replicas`, at least 1).
//!
//! When the budget is full, a connection request first takes one idle connection away from
//! the least recently used other tenant on the same server (and, with Redis, raises a
//! "wanted" flag that makes the other runtimes give back their idle connections); only then
//! does it wait, and never longer than `budget_wait`. The budget is resized live when the
//! server's row changes ([`ServerBudget::set_budget`]).
//!
//! **Fair shares.** A busy tenant's connections are never idle: its own queued requests
//! take each one back the moment it is returned, so taking idle connections alone would let
//! one noisy tenant hold the whole budget while a quiet one waits. So while a tenant holding
//! less than its fair share (this process's cap divided among the tenants holding or
//! waiting) waits, a tenant holding more than its share neither takes a new permit nor
//! reuses a pooled connection ([`ServerBudget::owes_a_connection`], asked by the pool
//! before it hands a connection out): that connection closes and its permit goes to the
//! waiter.
//!
//! The budget knows the pools that draw on it only as [`IdleConnections`] (implemented by
//! `pool::TenantPool`), so the pool depends on the budget and not the other way round.

use common::limits::{Limits, SharedStore};
use dashmap::{DashMap, DashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use uuid::Uuid;

/// How often a waiting request looks again for an idle connection to take (and, with
/// Redis, for a lease given back by another runtime).
const RECLAIM_TICK: Duration = Duration::from_millis(5);
/// How long a lease lives unless renewed: housekeeping renews every few seconds, so only a
/// runtime that stopped renewing (crashed, cut off) loses its leases.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// Connections idle this long are given back when another runtime wants budget.
const GIVE_BACK_IDLE: Duration = Duration::from_millis(100);

/// One database server's budget and the pools that draw on it.
pub struct ServerBudget {
    pub server_id: Uuid,
    /// The server's `connection_budget` for the whole fleet.
    budget: AtomicUsize,
    /// Permits held by this process.
    in_use: AtomicUsize,
    freed: Notify,
    wait: Duration,
    pools: DashMap<Uuid, PoolUse>,
    limits: Limits,
    /// The leases of this process's permits (renewed by housekeeping).
    leases: DashSet<String>,
    /// Names this budget's leases apart from other runtimes'.
    holder: Uuid,
    next_lease: AtomicU64,
    /// Permits held, per tenant (entries at zero are removed).
    held: DashMap<Uuid, usize>,
    /// Requests waiting for a permit, per tenant, and in all (the cheap check first).
    waiting: DashMap<Uuid, usize>,
    waiting_total: AtomicUsize,
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

/// The right to keep one connection open on the server; dropping it gives the right back
/// (here and, with Redis, fleet-wide).
pub struct BudgetPermit {
    budget: Arc<ServerBudget>,
    tenant: Uuid,
    lease: String,
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(1, Ordering::AcqRel);
        decrement(&self.budget.held, self.tenant);
        self.budget.leases.remove(&self.lease);
        self.budget.freed.notify_one();
        if let Some(shared) = self.budget.limits.shared().cloned() {
            let (set, lease) = (self.budget.lease_set(), std::mem::take(&mut self.lease));
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                // A lease not given back (Redis away) lapses after its TTL.
                runtime.spawn(async move { shared.release_lease(&set, &lease).await });
            }
        }
    }
}

/// What one attempt to take a permit found.
enum Attempt {
    Taken(BudgetPermit),
    /// This process's cap is reached.
    LocalFull,
    /// The fleet holds the whole budget (Redis said so).
    FleetFull,
    /// The requester holds more than its share while a tenant under its share waits.
    Yields,
}

impl ServerBudget {
    pub fn new(server_id: Uuid, budget: usize, wait: Duration, limits: Limits) -> Self {
        Self {
            server_id,
            budget: AtomicUsize::new(budget.max(1)),
            in_use: AtomicUsize::new(0),
            freed: Notify::new(),
            wait,
            pools: DashMap::new(),
            limits,
            leases: DashSet::new(),
            holder: Uuid::now_v7(),
            next_lease: AtomicU64::new(0),
            held: DashMap::new(),
            waiting: DashMap::new(),
            waiting_total: AtomicUsize::new(0),
        }
    }

    /// The server's budget for the fleet.
    pub fn budget(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    /// Resizes the budget (the server's row changed). A smaller budget is reached as
    /// connections close: none is taken away from a request.
    pub fn set_budget(&self, budget: usize) {
        let before = self.budget.swap(budget.max(1), Ordering::AcqRel);
        if before != budget {
            tracing::info!(server = %self.server_id, before, budget, "connection budget resized");
            self.freed.notify_waiters();
        }
    }

    /// How many connections this process may hold now: the whole budget while Redis counts
    /// the fleet's, else this process's share.
    pub fn local_cap(&self) -> usize {
        let budget = self.budget();
        match self.limits.shared() {
            Some(shared) if shared.is_up() => budget,
            _ => self.limits.local_share_of(budget),
        }
    }

    /// Connections open on this server right now (through this process).
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
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
    pub async fn acquire(
        self: &Arc<Self>,
        requester: Uuid,
    ) -> Result<BudgetPermit, BudgetExhausted> {
        let deadline = Instant::now() + self.wait;
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            let (local_full, reclaimed) = match self.try_take(requester).await {
                Attempt::Taken(permit) => return Ok(permit),
                Attempt::LocalFull => (true, self.close_one_idle_connection(requester)),
                Attempt::FleetFull => (false, self.close_one_idle_connection(requester)),
                // Taking another tenant's idle connection would undo the yielding.
                Attempt::Yields => (true, false),
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                metrics::counter!("runtime_budget_exhausted_total").increment(1);
                return Err(BudgetExhausted);
            }
            if waiting.is_none() {
                waiting = Some(Waiting::new(self, requester));
                metrics::counter!("runtime_budget_waits_total").increment(1);
            }
            // Wake on a freed permit here, or soon: a connection gone idle meanwhile, a
            // lease given back by another runtime, the one just closed coming back.
            let tick = if local_full && !reclaimed {
                RECLAIM_TICK
            } else {
                RECLAIM_TICK * 2
            };
            tokio::select! {
                () = self.freed.notified() => {}
                () = tokio::time::sleep(remaining.min(tick)) => {}
            }
        }
    }

    /// One try: a slot under this process's cap, then (with Redis) a lease under the
    /// fleet's budget. Redis not answering: the slot counts only within the local share.
    /// A `requester` over its fair share while another tenant under it waits takes none.
    async fn try_take(self: &Arc<Self>, requester: Uuid) -> Attempt {
        if self.owes_a_connection(requester) {
            return Attempt::Yields;
        }
        let cap = self.local_cap();
        let Ok(held) = self
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < cap).then_some(held + 1)
            })
        else {
            return Attempt::LocalFull;
        };
        let lease = format!(
            "{}:{}",
            self.holder,
            self.next_lease.fetch_add(1, Ordering::Relaxed)
        );
        let Some(shared) = self.limits.shared() else {
            return Attempt::Taken(self.permit(requester, lease));
        };
        match shared
            .take_lease(&self.lease_set(), self.budget(), &lease, LEASE_TTL)
            .await
        {
            Ok(true) => Attempt::Taken(self.permit(requester, lease)),
            Ok(false) => {
                self.in_use.fetch_sub(1, Ordering::AcqRel);
                Attempt::FleetFull
            }
            Err(_) if held < self.limits.local_share_of(self.budget()) => {
                metrics::counter!("limits_local_fallbacks_total", "limit" => "connection_budget")
                    .increment(1);
                // Recorded as a lease all the same: renewal adds it once Redis is back.
                Attempt::Taken(self.permit(requester, lease))
            }
            Err(_) => {
                self.in_use.fetch_sub(1, Ordering::AcqRel);
                Attempt::LocalFull
            }
        }
    }

    fn permit(self: &Arc<Self>, tenant: Uuid, lease: String) -> BudgetPermit {
        self.leases.insert(lease.clone());
        *self.held.entry(tenant).or_default() += 1;
        BudgetPermit {
            budget: self.clone(),
            tenant,
            lease,
        }
    }

    /// Connections `tenant` holds on this server (through this process).
    pub fn held_by(&self, tenant: Uuid) -> usize {
        self.held.get(&tenant).map_or(0, |held| *held)
    }

    /// Each tenant's fair share of this process's cap: the cap divided among the tenants
    /// holding a connection or waiting for one (at least one each).
    pub fn fair_share(&self) -> usize {
        let waiting_only = self
            .waiting
            .iter()
            .filter(|waiter| !self.held.contains_key(waiter.key()))
            .count();
        let tenants = (self.held.len() + waiting_only).max(1);
        (self.local_cap() / tenants).max(1)
    }

    /// Whether `tenant` holds more than its fair share while another tenant, holding less,
    /// waits for a connection: then `tenant` should give one back (not reuse it, not open
    /// another). Cheap when nobody waits, which is the usual case: the pool asks before
    /// handing out every connection.
    pub fn owes_a_connection(&self, tenant: Uuid) -> bool {
        if self.waiting_total.load(Ordering::Acquire) == 0 {
            return false;
        }
        let share = self.fair_share();
        self.held_by(tenant) > share
            && self
                .waiting
                .iter()
                .any(|waiter| *waiter.key() != tenant && self.held_by(*waiter.key()) < share)
    }

    /// The Redis set of this server's leases.
    fn lease_set(&self) -> String {
        format!("budget:{}", self.server_id)
    }

    fn shared(&self) -> Option<&Arc<SharedStore>> {
        self.limits.shared()
    }

    /// Renews this process's leases (housekeeping, well within [`LEASE_TTL`]).
    pub async fn renew_leases(&self) {
        let Some(shared) = self.shared() else {
            return;
        };
        let leases: Vec<String> = self.leases.iter().map(|lease| lease.clone()).collect();
        if let Err(error) = shared
            .renew_leases(&self.lease_set(), leases, LEASE_TTL)
            .await
        {
            tracing::debug!(%error, server = %self.server_id, "renewing connection leases failed");
        }
    }

    /// Connections open on the server through every runtime, as Redis counts them (`None`
    /// without Redis, or when it does not answer).
    pub async fn fleet_in_use(&self) -> Option<usize> {
        self.shared()?.leases_held(&self.lease_set()).await.ok()
    }

    /// Gives back idle connections when another runtime was refused a lease lately.
    pub async fn give_back_if_wanted(&self) {
        let Some(shared) = self.shared() else {
            return;
        };
        if matches!(shared.lease_wanted(&self.lease_set()).await, Ok(true)) {
            self.close_idle_connections(GIVE_BACK_IDLE);
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

/// A request of `tenant` waiting for a permit, counted while it waits (also when its future
/// is dropped: the pool's create timeout cancels it).
struct Waiting<'a> {
    budget: &'a ServerBudget,
    tenant: Uuid,
}

impl<'a> Waiting<'a> {
    fn new(budget: &'a ServerBudget, tenant: Uuid) -> Self {
        *budget.waiting.entry(tenant).or_default() += 1;
        budget.waiting_total.fetch_add(1, Ordering::AcqRel);
        Self { budget, tenant }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.budget.waiting_total.fetch_sub(1, Ordering::AcqRel);
        decrement(&self.budget.waiting, self.tenant);
    }
}

/// Counts one fewer for `tenant`, removing its entry at zero (the fair share counts the
/// tenants present).
fn decrement(counts: &DashMap<Uuid, usize>, tenant: Uuid) {
    counts.remove_if_mut(&tenant, |_, count| {
        *count = count.saturating_sub(1);
        *count == 0
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A budget of `cap` connections in a single runtime (no Redis).
    fn budget(cap: usize, wait: Duration) -> Arc<ServerBudget> {
        Arc::new(ServerBudget::new(
            Uuid::now_v7(),
            cap,
            wait,
            Limits::local(1),
        ))
    }

    #[tokio::test]
    async fn a_tenant_over_its_share_gives_way_to_a_waiting_tenant_under_it() {
        let budget = budget(4, Duration::from_secs(5));
        let (noisy, quiet) = (Uuid::now_v7(), Uuid::now_v7());
        let mut noisy_permits = Vec::new();
        for _ in 0..4 {
            noisy_permits.push(budget.acquire(noisy).await.expect("free"));
        }
        // Alone on the server, the noisy tenant may hold everything.
        assert_eq!(budget.fair_share(), 4);
        assert!(!budget.owes_a_connection(noisy));

        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.acquire(quiet).await.map(|permit| (permit, budget)) }
        });
        while budget.waiting_total.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        // Two tenants now: a share of two each; noisy holds four, quiet none and waits.
        assert_eq!(budget.fair_share(), 2);
        assert!(budget.owes_a_connection(noisy));
        assert!(!budget.owes_a_connection(quiet));

        // A permit noisy gives back goes to quiet, and noisy cannot take it first.
        drop(noisy_permits.pop());
        let noisy_again = budget.try_take(noisy).await;
        assert!(matches!(noisy_again, Attempt::Yields), "noisy took it back");
        let (quiet_permit, budget) = waiter.await.expect("joins").expect("quiet served");
        assert_eq!((budget.held_by(noisy), budget.held_by(quiet)), (3, 1));
        // Nobody waits any more: noisy keeps its three.
        assert!(!budget.owes_a_connection(noisy));
        drop(quiet_permit);
        assert_eq!(budget.held_by(quiet), 0);
        assert_eq!(
            budget.fair_share(),
            4,
            "a tenant holding nothing is not counted"
        );
    }

    #[tokio::test]
    async fn within_their_shares_nobody_owes_and_a_cancelled_wait_is_forgotten() {
        let budget = budget(2, Duration::from_millis(50));
        let (one, two, three) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let _first = budget.acquire(one).await.expect("free");
        let _second = budget.acquire(two).await.expect("free");
        // A third tenant waits in vain: the others hold one each, no more than a share.
        let refused = budget.acquire(three).await;
        assert!(refused.is_err(), "the budget stayed full");
        assert!(!budget.owes_a_connection(one) && !budget.owes_a_connection(two));
        // Its wait ended: it counts no longer.
        assert_eq!(budget.waiting_total.load(Ordering::Acquire), 0);
        assert!(budget.waiting.is_empty());
        let cancelled =
            tokio::time::timeout(Duration::from_millis(10), budget.acquire(three)).await;
        assert!(cancelled.is_err());
        assert_eq!(
            budget.waiting_total.load(Ordering::Acquire),
            0,
            "a dropped wait counts no longer"
        );
    }
}
