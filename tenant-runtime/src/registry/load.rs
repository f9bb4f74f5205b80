//! Loading a [`TenantHandle`] on a registry miss: the tenant and its plan in one query, its
//! server (`servers`: connection settings and budget, kept fresh there), and (for a tenant
//! whose database may be used) a pool that opens connections lazily.

use super::pool::{self, PoolShape};
use super::servers::KnownServer;
use super::{LookupError, PlanLimits, Registry, TenantHandle};
use anyhow::{Context as _, anyhow};
use common::crypto::Sealed;
use common::entities::{TenantStatus, plans, tenants};
use common::limits::Rate;
use governor::RateLimiter;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::Semaphore;

impl Registry {
    pub(super) async fn load(&self, slug: &str) -> Result<Arc<TenantHandle>, LookupError> {
        let generation = self.freshness.current();
        let found = tenants::Entity::find()
            .filter(tenants::Column::Slug.eq(slug))
            .find_also_related(plans::Entity)
            .one(&self.control_db)
            .await
            .map_err(|error| load_error(anyhow!(error).context("reading the tenant")))?;
        let Some((tenant, Some(plan))) = found else {
            return Err(LookupError::NotFound);
        };
        self.build_handle(tenant, plan, generation)
            .await
            .map(Arc::new)
            .map_err(load_error)
    }

    async fn build_handle(
        &self,
        tenant: tenants::Model,
        plan: plans::Model,
        generation: u64,
    ) -> anyhow::Result<TenantHandle> {
        let plan = plan_limits(plan);
        let last_used = Arc::new(AtomicU64::new(0));
        let (pool, server) = match (opens_database(&tenant), tenant.server_id) {
            (true, Some(server_id)) => {
                let server = self.server(server_id).await?;
                let pool = self.tenant_pool(&tenant, &server, &plan)?;
                server
                    .budget
                    .attach(tenant.id, Arc::new(pool.clone()), last_used.clone());
                (Some(pool), Some(server.budget.clone()))
            }
            _ => (None, None),
        };
        Ok(TenantHandle {
            id: tenant.id,
            slug: tenant.slug,
            name: tenant.name,
            status: tenant.status,
            suspension_kind: tenant.suspension_kind,
            billing_state: tenant.billing_state,
            billing_past_due_since: tenant.billing_past_due_since.map(|at| at.to_utc()),
            frozen: tenant.frozen_at.is_some(),
            storage_bytes: AtomicI64::new(tenant.storage_bytes.unwrap_or(-1)),
            schema_behind: migrations::is_behind(
                tenant.schema_version.as_deref(),
                &REQUIRED_SCHEMA,
            ),
            // This process's share: what it enforces alone (no Redis, or Redis down).
            rate: RateLimiter::direct(
                Rate::per_minute(self.limits.local_share(plan.requests_per_minute)).quota(),
            )
            .with_middleware(),
            in_flight: Arc::new(Semaphore::new(plan.max_concurrent_requests as usize)),
            plan,
            pool,
            server,
            last_used,
            generation,
        })
    }

    fn tenant_pool(
        &self,
        tenant: &tenants::Model,
        server: &KnownServer,
        plan: &PlanLimits,
    ) -> anyhow::Result<pool::TenantPool> {
        let sealed = Sealed {
            key_id: tenant
                .db_password_key_id
                .clone()
                .context("the tenant has no database password")?,
            ciphertext: tenant
                .db_password_ciphertext
                .clone()
                .context("the tenant has no database password")?,
        };
        let password = self
            .keyring
            .open_str(&sealed, tenant.id.as_bytes())
            .context("opening the tenant's database password")?;
        // The database's name is the row's: a restore or relocation gives it a new one (the
        // change is announced, and the new handle gets a new pool).
        let database = tenant
            .db_name
            .as_deref()
            .context("the tenant has no database name")?;
        let role = tenant
            .db_role
            .as_deref()
            .context("the tenant has no role")?;
        let mut config = server.config.clone();
        config
            .user(role)
            .password(password.expose())
            .dbname(database)
            .application_name(crate::SERVICE)
            .connect_timeout(self.config.connect_timeout);
        let plan_cap = u32::try_from(plan.max_db_connections.max(1)).unwrap_or(1);
        let shape = PoolShape {
            max_size: self.config.max_connections_per_pool.min(plan_cap) as usize,
            wait: self.config.budget_wait + self.config.connect_timeout + Duration::from_secs(1),
        };
        Ok(pool::build(tenant.id, config, server.budget.clone(), shape))
    }
}

/// Whether requests may reach the tenant's database: when it is active, and when it is
/// suspended for billing, since sign-in, `/me` and the billing routes (which the gate
/// still lets through) read its users. An admin suspension keeps the database closed:
/// the gate refuses everything then, and no connection is opened for nothing.
fn opens_database(tenant: &tenants::Model) -> bool {
    // A frozen tenant's role cannot log in; its next handle (after the switch) opens the
    // pool to wherever the tenant lives then.
    tenant.frozen_at.is_none()
        && (tenant.status == TenantStatus::Active
            || common::entities::suspended_for_payment(tenant.status, tenant.suspension_kind))
}

/// The tenant schema this build's code needs: its newest tenant migration.
static REQUIRED_SCHEMA: LazyLock<String> = LazyLock::new(migrations::latest_tenant_version);

fn plan_limits(plan: plans::Model) -> PlanLimits {
    let features = plan
        .features
        .as_array()
        .map(|modules| {
            modules
                .iter()
                .filter_map(|module| module.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    PlanLimits {
        code: plan.code,
        max_users: plan.max_users,
        max_storage_mb: plan.max_storage_mb,
        requests_per_minute: u32::try_from(plan.api_requests_per_minute)
            .unwrap_or(1)
            .max(1),
        max_concurrent_requests: u32::try_from(plan.max_concurrent_requests)
            .unwrap_or(1)
            .max(1),
        max_db_connections: plan.max_db_connections,
        features,
    }
}

fn load_error(error: anyhow::Error) -> LookupError {
    LookupError::Load(Arc::new(error))
}
