//! What every handler can reach ([`AppState`]: the registry, usage counters, token keys,
//! mailer, change-feed and schema status) and the settings they read, built once at
//! start. Handlers depend on this module, not on `startup`, which depends on them.

use crate::listener::FeedState;
use crate::registry::{Registry, RegistryConfig};
use crate::usage::Usage;
use anyhow::Context as _;
use common::config::{Settings, TenantOrigin};
use common::crypto::Keyring;
use common::http::StartupStatus;
use common::mail::Mailer;
use common::tokens::TokenKeys;
use sea_orm::DatabaseConnection;
use std::sync::{Arc, OnceLock};

/// What every handler can reach.
pub struct AppState {
    pub control_db: DatabaseConnection,
    pub registry: Arc<Registry>,
    pub usage: Arc<Usage>,
    pub tokens: TokenKeys,
    pub mailer: Mailer,
    pub feed: Arc<FeedState>,
    /// Set once the control schema is at the version this binary knows; until then
    /// `/api/` answers 503 `starting`.
    pub control_schema: StartupStatus,
    pub config: RuntimeConfig,
}

pub struct RuntimeConfig {
    pub base_domain: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Where tenants reach this runtime; set once the port is bound.
    tenant_origin: OnceLock<TenantOrigin>,
}

impl AppState {
    pub fn new(settings: &Settings, control_db: DatabaseConnection) -> anyhow::Result<Self> {
        let keyring = Keyring::from_settings(settings).context(
            "the tenant runtime needs `secrets.encryption_key` (APP_SECRETS__ENCRYPTION_KEY) \
             to open tenant database passwords",
        )?;
        let tokens = TokenKeys::from_settings(settings).context(
            "no key to verify tokens: set `secrets.token_signing_key` or `secrets.encryption_key`",
        )?;
        let runtime = &settings.tenant_runtime;
        let registry = Registry::new(
            control_db.clone(),
            keyring,
            RegistryConfig::from_settings(runtime),
        );
        Ok(Self {
            control_db,
            registry: Arc::new(registry),
            usage: Arc::new(Usage::default()),
            tokens,
            mailer: Mailer::from_settings(settings)?,
            feed: Arc::new(FeedState::default()),
            control_schema: StartupStatus::waiting("control database not migrated yet"),
            config: RuntimeConfig {
                base_domain: runtime.base_domain.clone(),
                access_token_ttl_secs: runtime.access_token_ttl_secs,
                refresh_token_ttl_secs: runtime.refresh_token_ttl_secs,
                tenant_origin: OnceLock::new(),
            },
        })
    }

    /// Records where tenants reach this runtime, once its port is bound.
    pub(crate) fn set_tenant_origin(&self, origin: TenantOrigin) {
        let _ = self.config.tenant_origin.set(origin);
    }

    /// Where tenants reach this runtime (the base domain until the port is bound).
    pub fn tenant_origin(&self) -> TenantOrigin {
        self.config
            .tenant_origin
            .get()
            .cloned()
            .unwrap_or_else(|| TenantOrigin {
                scheme: "http".into(),
                host: self.config.base_domain.clone(),
            })
    }
}
