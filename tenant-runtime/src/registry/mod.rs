//! The registry: tenant slug -> [`TenantHandle`] (status, billing state, plan limits, and
//! for a tenant whose database is reachable — active, or suspended for billing so its
//! admin can sign in and pay — a connection pool to it), in a bounded moka cache. A miss
//! loads once however many requests wait for it (single flight); idle and least recently
//! used pools are closed; [`Registry::invalidate`] drops entries when the control
//! database announces a change, and a TTL reloads every entry as a backstop.

pub mod budget;
mod freshness;
mod load;
pub mod pool;
mod servers;

use budget::ServerBudget;
use chrono::{DateTime, Utc};
use common::crypto::Keyring;
use common::entities::{BillingState, SuspensionKind, TenantStatus};
use common::limits::Limits;
use dashmap::DashMap;
use governor::middleware::StateInformationMiddleware;
use governor::{RateLimiter, clock, state};
use moka::future::Cache;
use moka::notification::RemovalCause;
use pool::TenantPool;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use uuid::Uuid;

/// A tenant's per-minute request limiter; the middleware reports the remaining burst for
/// the `RateLimit-*` headers.
pub type RequestLimiter = RateLimiter<
    state::NotKeyed,
    state::InMemoryState,
    clock::QuantaClock,
    StateInformationMiddleware,
>;

/// The plan limits a tenant runs under.
#[derive(Debug, Clone)]
pub struct PlanLimits {
    pub code: String,
    pub max_users: i32,
    pub max_storage_mb: i32,
    pub requests_per_minute: u32,
    pub max_concurrent_requests: u32,
    pub max_db_connections: i32,
    /// Enabled ERP modules.
    pub features: Vec<String>,
}

/// Everything the request path needs to know about one tenant.
pub struct TenantHandle {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub suspension_kind: Option<SuspensionKind>,
    /// The mirrored Stripe subscription state (`none` when billing never started).
    pub billing_state: BillingState,
    /// When payments started failing (the grace period runs from here).
    pub billing_past_due_since: Option<DateTime<Utc>>,
    pub plan: PlanLimits,
    /// The tenant's database lacks a tenant migration this build's code holds (decided
    /// once, when the handle is loaded from the ledger's `schema_version`): the gate
    /// answers 503 `tenant_migrating` until the migration's `NOTIFY` reloads the handle.
    pub schema_behind: bool,
    /// Writes are frozen for a restore's or relocation's switch (a few seconds): every
    /// request is answered 503 `tenant_maintenance` until the switch announces the end.
    pub frozen: bool,
    /// Sampled database size in bytes, for the storage limit (-1: not sampled yet).
    pub storage_bytes: AtomicI64,
    /// Present only for a tenant with a database that may be used: active, or suspended
    /// for billing (see [`TenantHandle::suspended_for_billing`]).
    pub pool: Option<TenantPool>,
    pub server: Option<Arc<ServerBudget>>,
    pub rate: RequestLimiter,
    /// Requests of this tenant in flight; a full cap answers 429 at once.
    pub in_flight: Arc<Semaphore>,
    /// When the tenant last made a request (ms since the registry started).
    last_used: Arc<AtomicU64>,
    /// The registry's invalidation generation when this handle's load started.
    generation: u64,
}

impl TenantHandle {
    /// Suspended because of billing (an unpaid subscription or an ended trial): its users
    /// may still sign in, see why and pay, so its database stays reachable.
    pub fn suspended_for_billing(&self) -> bool {
        common::entities::suspended_for_payment(self.status, self.suspension_kind)
    }

    pub fn over_storage_limit(&self) -> bool {
        let limit = i64::from(self.plan.max_storage_mb) * 1024 * 1024;
        self.storage_bytes.load(Ordering::Relaxed) > limit
    }
}

/// Why a tenant could not be looked up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    #[error("no tenant is called that")]
    NotFound,
    #[error("loading the tenant failed: {0}")]
    Load(Arc<anyhow::Error>),
}

/// Sizes and timeouts of the registry and its pools.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub max_pools: u64,
    pub pool_idle: Duration,
    pub ttl: Duration,
    pub max_connections_per_pool: u32,
    pub connection_idle: Duration,
    pub budget_wait: Duration,
    pub connect_timeout: Duration,
}

impl RegistryConfig {
    pub fn from_settings(settings: &common::config::TenantRuntimeSettings) -> Self {
        Self {
            max_pools: settings.max_pools,
            pool_idle: Duration::from_secs(settings.pool_idle_secs),
            ttl: Duration::from_secs(settings.registry_ttl_secs),
            max_connections_per_pool: settings.max_connections_per_pool,
            connection_idle: Duration::from_secs(settings.connection_idle_secs),
            budget_wait: Duration::from_millis(settings.budget_wait_ms),
            connect_timeout: Duration::from_secs(settings.connect_timeout_secs),
        }
    }
}

/// How long an unknown slug is remembered as unknown (a creation also clears it).
const UNKNOWN_TTL: Duration = Duration::from_secs(10);

pub struct Registry {
    handles: Cache<String, Arc<TenantHandle>>,
    /// Slugs recently found not to exist, so a flood of them does not reach the control DB.
    unknown: Cache<String, ()>,
    servers: DashMap<Uuid, Arc<servers::KnownServer>>,
    control_db: DatabaseConnection,
    keyring: Keyring,
    config: RegistryConfig,
    /// Fleet-wide limits (a tenant's local rate share, the servers' budgets).
    limits: Limits,
    started: Instant,
    freshness: freshness::Freshness,
    /// Registered once: looking a counter up by name costs more than the lookup it counts.
    hits: metrics::Counter,
    misses: metrics::Counter,
}

impl Registry {
    pub fn new(
        control_db: DatabaseConnection,
        keyring: Keyring,
        config: RegistryConfig,
        limits: Limits,
    ) -> Self {
        // The counters below are registered once; before the recorder exists they would be
        // no-ops for good.
        common::metrics::handle();
        let handles = Cache::builder()
            .max_capacity(config.max_pools)
            .time_to_idle(config.pool_idle)
            .time_to_live(config.ttl)
            .support_invalidation_closures()
            .eviction_listener(forget_evicted)
            .build();
        let unknown = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(UNKNOWN_TTL)
            .build();
        Self {
            handles,
            unknown,
            servers: DashMap::new(),
            control_db,
            keyring,
            config,
            limits,
            started: Instant::now(),
            freshness: freshness::Freshness::default(),
            hits: metrics::counter!("runtime_registry_hits_total"),
            misses: metrics::counter!("runtime_registry_misses_total"),
        }
    }

    /// The tenant called `slug` (lower case), loaded once on a miss.
    pub async fn lookup(&self, slug: &str) -> Result<Arc<TenantHandle>, LookupError> {
        if let Some(handle) = self.handles.get(slug).await {
            if !self.freshness.is_stale(&handle) {
                self.hits.increment(1);
                self.touch(&handle);
                return Ok(handle);
            }
            self.handles.invalidate(slug).await;
        }
        if self.unknown.contains_key(slug) {
            return Err(LookupError::NotFound);
        }
        self.misses.increment(1);
        let before = self.freshness.current();
        let loaded = self
            .handles
            .try_get_with_by_ref(slug, self.load(slug))
            .await
            .map_err(|error| (*error).clone());
        match loaded {
            Ok(handle) => {
                self.touch(&handle);
                Ok(handle)
            }
            Err(LookupError::NotFound) => {
                // Not remembered when a change (maybe this tenant's creation) came meanwhile.
                if self.freshness.current() == before {
                    self.unknown.insert(slug.to_owned(), ()).await;
                }
                Err(LookupError::NotFound)
            }
            Err(error) => Err(error),
        }
    }

    fn touch(&self, handle: &TenantHandle) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        handle.last_used.store(now, Ordering::Relaxed);
    }

    /// Drops the entry of one tenant (and every "unknown" slug, since the change may be
    /// its creation).
    pub async fn invalidate_tenant(&self, tenant: Uuid) {
        self.freshness.mark_tenant(tenant);
        self.drop_where(move |handle| handle.id == tenant).await;
        self.unknown.invalidate_all();
    }

    /// Drops the entries of every tenant on a plan.
    pub async fn invalidate_plan(&self, plan: &str) {
        self.freshness.mark_plan(plan);
        let plan = plan.to_owned();
        self.drop_where(move |handle| handle.plan.code == plan)
            .await;
    }

    /// Drops everything (after the change feed was interrupted).
    pub async fn invalidate_all(&self) {
        self.freshness.mark_everything();
        self.handles.invalidate_all();
        self.unknown.invalidate_all();
        self.handles.run_pending_tasks().await;
    }

    async fn drop_where(&self, predicate: impl Fn(&TenantHandle) -> bool + Send + Sync + 'static) {
        // Only fails when closures are not enabled, which `new` does.
        let _ = self
            .handles
            .invalidate_entries_if(move |_, handle| predicate(handle));
        self.handles.run_pending_tasks().await;
    }

    /// Closes idle connections everywhere, lets moka evict idle pools, re-reads the servers
    /// (a backstop to their change notices) and renews this process's connection leases;
    /// run periodically.
    pub async fn housekeeping(&self) {
        self.handles.run_pending_tasks().await;
        self.refresh_servers().await;
        let budgets: Vec<Arc<ServerBudget>> = self
            .servers
            .iter()
            .map(|server| server.budget.clone())
            .collect();
        for budget in budgets {
            budget.close_idle_connections(self.config.connection_idle);
            budget.renew_leases().await;
            let server = budget.server_id.to_string();
            metrics::gauge!("runtime_server_connections", "server" => server.clone())
                .set(budget.in_use() as f64);
            metrics::gauge!("runtime_server_connection_budget", "server" => server.clone())
                .set(budget.budget() as f64);
            if let Some(fleet) = budget.fleet_in_use().await {
                metrics::gauge!("runtime_server_connections_fleet", "server" => server)
                    .set(fleet as f64);
            }
        }
        metrics::gauge!("runtime_open_pools").set(self.handles.entry_count() as f64);
    }

    /// Gives back idle connections on servers where another runtime waits for budget (with
    /// Redis; nothing without). Run often: a waiting request gives up after `budget_wait`.
    pub async fn share_budgets(&self) {
        let budgets: Vec<Arc<ServerBudget>> = self
            .servers
            .iter()
            .map(|server| server.budget.clone())
            .collect();
        for budget in budgets {
            budget.give_back_if_wanted().await;
        }
    }

    /// The budget of a server this runtime has used (for tests and the benchmarks).
    pub fn server_budget(&self, server: Uuid) -> Option<Arc<ServerBudget>> {
        self.servers.get(&server).map(|known| known.budget.clone())
    }

    /// The open handles (for sampling usage).
    pub fn handles(&self) -> Vec<Arc<TenantHandle>> {
        self.handles.iter().map(|(_, handle)| handle).collect()
    }
}

/// Eviction listener: the evicted handle's pool leaves its server's list (unless a newer
/// handle of the same tenant already replaced it there). The pool itself closes when the
/// last request holding the handle ends: its idle connections are dropped with it, and a
/// connection still in use is dropped, not pooled, when that request returns it.
fn forget_evicted(_slug: Arc<String>, handle: Arc<TenantHandle>, cause: RemovalCause) {
    metrics::counter!("runtime_registry_evictions_total", "cause" => cause_label(cause))
        .increment(1);
    if let Some(server) = &handle.server {
        server.detach(handle.id, &handle.last_used);
    }
}

fn cause_label(cause: RemovalCause) -> &'static str {
    match cause {
        RemovalCause::Expired => "expired",
        RemovalCause::Explicit => "invalidated",
        RemovalCause::Replaced => "replaced",
        RemovalCause::Size => "size",
    }
}
