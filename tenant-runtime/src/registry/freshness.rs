//! Which cached handles an invalidation has overtaken. A load reads the tenant, then moka
//! inserts the handle; a `NOTIFY` handled in between would drop nothing (the entry is not
//! there yet) and the stale handle would live until its TTL. So every invalidation takes
//! a new generation number and marks what it covers (a tenant, a plan, or everything);
//! each handle remembers the generation its load started at, and a lookup that finds a
//! handle older than a mark covering it reloads.

use super::TenantHandle;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

#[derive(Default)]
pub struct Freshness {
    generation: AtomicU64,
    everything: AtomicU64,
    tenants: DashMap<Uuid, u64>,
    plans: DashMap<String, u64>,
}

impl Freshness {
    /// The generation a load starting now records.
    pub fn current(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn next(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn mark_tenant(&self, tenant: Uuid) {
        let generation = self.next();
        self.tenants.insert(tenant, generation);
    }

    pub fn mark_plan(&self, plan: &str) {
        let generation = self.next();
        self.plans.insert(plan.to_owned(), generation);
    }

    /// Everything is stale; the finer marks are covered by this one and can go.
    pub fn mark_everything(&self) {
        let generation = self.next();
        self.everything.store(generation, Ordering::SeqCst);
        self.tenants.clear();
        self.plans.clear();
    }

    pub fn is_stale(&self, handle: &TenantHandle) -> bool {
        let loaded = handle.generation;
        self.everything.load(Ordering::SeqCst) > loaded
            || self
                .tenants
                .get(&handle.id)
                .is_some_and(|mark| *mark > loaded)
            || self
                .plans
                .get(&handle.plan.code)
                .is_some_and(|mark| *mark > loaded)
    }
}
