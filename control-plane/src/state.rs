//! What every handler can reach ([`AppState`]) and the settings they read ([`ApiConfig`]),
//! built once at start. Handlers depend on this module, not on `startup`, which depends on
//! them.

use anyhow::Context as _;
use common::config::{Settings, TenantOrigin};
use common::crypto::Keyring;
use common::http::StartupStatus;
use common::limits::{IpLimiter, Limits, Rate};
use common::mail::Mailer;
use common::tokens::TokenKeys;
use provisioner::billing::Billing;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// Set once the control schema is migrated and seeded.
    pub bootstrap: StartupStatus,
    /// Seals server URLs and TOTP secrets.
    pub keyring: Arc<Keyring>,
    /// Signs admin tokens and impersonation tokens.
    pub tokens: TokenKeys,
    pub mailer: Mailer,
    /// Self-serve signups per client IP (fleet-wide through Redis, else this process's share).
    pub signup_limiter: Arc<IpLimiter>,
    /// Admin sign-in attempts per client IP (API and portal), likewise.
    pub sign_in_limiter: Arc<IpLimiter>,
    pub config: Arc<ApiConfig>,
    /// Set once the configured `default` server is registered (readiness waits for it).
    pub default_server: StartupStatus,
    /// Billing through Stripe; disabled (every billing route answers 409) without a key.
    pub billing: Billing,
}

/// The settings handlers read, resolved once at start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub trust_forwarded_for: bool,
    /// `provisioner.default_server_url` is set: ready only once `default` is registered.
    pub expects_default_server: bool,
    /// Where tenants reach the runtime (sign-in URLs, billing return URLs).
    pub tenant_origin: TenantOrigin,
    /// Largest request body accepted (JSON bodies and Stripe's webhook alike).
    pub max_body_bytes: usize,
    /// A portal session lapses after this many idle seconds...
    pub portal_idle_timeout_secs: u64,
    /// ...and this many seconds after sign-in in any case.
    pub portal_session_max_secs: u64,
}

impl AppState {
    /// `runtime_port` is where this process's tenant runtime listens, if it runs one.
    pub fn new(
        settings: &Settings,
        db: DatabaseConnection,
        runtime_port: Option<u16>,
    ) -> anyhow::Result<Self> {
        let keyring = Keyring::from_settings(settings).context(
            "the control plane needs `secrets.encryption_key` (APP_SECRETS__ENCRYPTION_KEY)",
        )?;
        let tokens = TokenKeys::from_settings(settings).context(
            "no key to sign tokens: set `secrets.token_signing_key` or `secrets.encryption_key`",
        )?;
        let control_plane = &settings.control_plane;
        let tenant_origin = settings.tenant_runtime.tenant_origin(runtime_port);
        let billing = Billing::from_settings(settings, tenant_origin.clone())
            .context("the Stripe client cannot be built from `billing.*`")?;
        let limits = Limits::from_settings(settings)?;
        Ok(Self {
            db,
            bootstrap: StartupStatus::waiting("control database not migrated yet"),
            keyring: Arc::new(keyring),
            tokens,
            mailer: Mailer::from_settings(settings)?,
            signup_limiter: Arc::new(IpLimiter::new(
                &limits,
                "signup_ip",
                Rate::per_hour(control_plane.signups_per_ip_per_hour),
                "too many signups from this address",
            )),
            sign_in_limiter: Arc::new(IpLimiter::new(
                &limits,
                "admin_sign_in_ip",
                Rate::per_minute(settings.limits.sign_ins_per_ip_per_minute),
                "too many sign-in attempts from this address; retry shortly",
            )),
            config: Arc::new(ApiConfig {
                access_token_ttl_secs: control_plane.access_token_ttl_secs,
                refresh_token_ttl_secs: control_plane.refresh_token_ttl_secs,
                trust_forwarded_for: control_plane.trust_forwarded_for,
                expects_default_server: settings.provisioner.default_server_url.is_some(),
                tenant_origin,
                max_body_bytes: control_plane.max_body_bytes,
                portal_idle_timeout_secs: control_plane.portal_idle_timeout_secs,
                portal_session_max_secs: control_plane.portal_session_max_secs,
            }),
            default_server: StartupStatus::waiting("server `default` not registered yet"),
            billing,
        })
    }
}
