//! What every handler can reach ([`AppState`]: the registry, usage counters, token keys,
//! mailer, change-feed and schema status, billing) and the settings they read, built once
//! at start. Handlers depend on this module, not on `startup`, which depends on them.

use crate::listener::FeedState;
use crate::registry::{Registry, RegistryConfig};
use crate::usage::Usage;
use anyhow::Context as _;
use common::config::{Settings, TenantOrigin};
use common::crypto::Keyring;
use common::http::StartupStatus;
use common::limits::{IpLimiter, Limits, Rate};
use common::mail::Mailer;
use common::tokens::TokenKeys;
use provisioner::billing::Billing;
use sea_orm::DatabaseConnection;
use std::sync::{Arc, OnceLock};

/// What every handler can reach.
pub struct AppState {
    pub control_db: DatabaseConnection,
    pub registry: Arc<Registry>,
    /// Fleet-wide limits: Redis when configured, else this process's share.
    pub limits: Limits,
    /// Sign-in attempts per client IP, over every tenant (API and web app).
    pub sign_in_limiter: Arc<IpLimiter>,
    pub usage: Arc<Usage>,
    pub tokens: TokenKeys,
    pub mailer: Mailer,
    pub feed: Arc<FeedState>,
    /// Set once the control schema is at the version this binary knows; until then
    /// `/api/` answers 503 `starting`.
    pub control_schema: StartupStatus,
    pub config: RuntimeConfig,
    /// Outbound webhooks: endpoint checks and the delivery worker (`erp::webhooks`).
    pub webhooks: Arc<crate::erp::webhooks::Webhooks>,
}

pub struct RuntimeConfig {
    pub base_domain: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub web_idle_timeout_secs: u64,
    pub web_session_max_secs: u64,
    /// Take the client IP from `X-Forwarded-For` (behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Name the tenant by `X-Forwarded-Host` / `Forwarded: host=` (behind a proxy that
    /// sets it); otherwise only `Host` (or an absolute request target) counts.
    pub trust_forwarded_host: bool,
    /// What depends on where tenants reach this runtime; set once the port is bound.
    bound: OnceLock<Bound>,
}

/// Known once the port is bound (port 0 in tests): the public origin, and billing, whose
/// Checkout and portal return URLs are built from it.
struct Bound {
    origin: TenantOrigin,
    billing: Billing,
}

/// What [`AppState::billing`] answers before the port is bound (no request comes then).
static NOT_BOUND: std::sync::LazyLock<Billing> = std::sync::LazyLock::new(Billing::disabled);

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
        let limits = Limits::from_settings(settings)?;
        let registry = Registry::new(
            control_db.clone(),
            keyring,
            RegistryConfig::from_settings(runtime),
            limits.clone(),
        );
        let registry = Arc::new(registry);
        let mailer = Mailer::from_settings(settings)?;
        let webhooks = crate::erp::webhooks::Webhooks::new(
            settings,
            control_db.clone(),
            registry.clone(),
            mailer.clone(),
        )?;
        Ok(Self {
            control_db,
            registry,
            sign_in_limiter: Arc::new(IpLimiter::new(
                &limits,
                "tenant_sign_in_ip",
                Rate::per_minute(settings.limits.sign_ins_per_ip_per_minute),
                "too many sign-in attempts from this address; retry shortly",
            )),
            limits,
            usage: Arc::new(Usage::default()),
            tokens,
            mailer,
            webhooks: Arc::new(webhooks),
            feed: Arc::new(FeedState::default()),
            control_schema: StartupStatus::waiting("control database not migrated yet"),
            config: RuntimeConfig {
                base_domain: runtime.base_domain.clone(),
                access_token_ttl_secs: runtime.access_token_ttl_secs,
                refresh_token_ttl_secs: runtime.refresh_token_ttl_secs,
                web_idle_timeout_secs: runtime.web_idle_timeout_secs,
                web_session_max_secs: runtime.web_session_max_secs,
                trust_forwarded_for: runtime.trust_forwarded_for,
                trust_forwarded_host: runtime.trust_forwarded_host,
                bound: OnceLock::new(),
            },
        })
    }

    /// Records where tenants reach this runtime, once its port is bound, and sets billing
    /// up from `billing.*` for that origin (disabled without a Stripe key).
    pub(crate) fn bind_origin(
        &self,
        settings: &Settings,
        origin: TenantOrigin,
    ) -> anyhow::Result<()> {
        let billing = Billing::from_settings(settings, origin.clone())
            .context("setting up the Stripe client from `billing.*`")?;
        let _ = self.config.bound.set(Bound { origin, billing });
        Ok(())
    }

    /// Where tenants reach this runtime (the base domain until the port is bound).
    pub fn tenant_origin(&self) -> TenantOrigin {
        self.config
            .bound
            .get()
            .map(|bound| bound.origin.clone())
            .unwrap_or_else(|| TenantOrigin {
                scheme: "http".into(),
                host: self.config.base_domain.clone(),
            })
    }

    /// Billing through Stripe, or billing-disabled mode (every billing call answers 409
    /// `billing_disabled`).
    pub fn billing(&self) -> &Billing {
        self.config
            .bound
            .get()
            .map_or(&*NOT_BOUND, |bound| &bound.billing)
    }
}
