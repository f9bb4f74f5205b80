//! Typed, layered configuration shared by every binary: built-in defaults, then an optional
//! TOML file (`--config FILE`), then `APP_`-prefixed environment variables, where `__`
//! separates nesting levels (`APP_DATABASE__URL` sets `database.url`).
//!
//! Environment variables read here: `APP_DATA_DIR`, `APP_LOG__FORMAT`, `APP_LOG__LEVEL`,
//! `APP_DATABASE__URL`, `APP_DATABASE__MAX_CONNECTIONS`, `APP_DATABASE__CONNECT_TIMEOUT_SECS`,
//! `APP_DATABASE__MIGRATE_ON_START`, `APP_CONTROL_PLANE__HOST`, `APP_CONTROL_PLANE__PORT`,
//! `APP_CONTROL_PLANE__MAX_BODY_BYTES`, `APP_CONTROL_PLANE__ACCESS_TOKEN_TTL_SECS`,
//! `APP_CONTROL_PLANE__REFRESH_TOKEN_TTL_SECS`, `APP_CONTROL_PLANE__SIGNUPS_PER_IP_PER_HOUR`,
//! `APP_CONTROL_PLANE__TRUST_FORWARDED_FOR`, `APP_MAIL__SMTP_URL`, `APP_MAIL__FROM`,
//! `APP_TENANT_RUNTIME__PUBLIC_BASE_URL`, `APP_TENANT_RUNTIME__HOST`, `APP_TENANT_RUNTIME__PORT`,
//! `APP_TENANT_RUNTIME__BASE_DOMAIN`, `APP_TENANT_RUNTIME__MAX_BODY_BYTES`,
//! `APP_TENANT_RUNTIME__MAX_POOLS`, `APP_TENANT_RUNTIME__POOL_IDLE_SECS`,
//! `APP_TENANT_RUNTIME__REGISTRY_TTL_SECS`, `APP_TENANT_RUNTIME__MAX_CONNECTIONS_PER_POOL`,
//! `APP_TENANT_RUNTIME__CONNECTION_IDLE_SECS`, `APP_TENANT_RUNTIME__BUDGET_WAIT_MS`,
//! `APP_TENANT_RUNTIME__CONNECT_TIMEOUT_SECS`, `APP_TENANT_RUNTIME__USAGE_FLUSH_SECS`,
//! `APP_TENANT_RUNTIME__USAGE_SAMPLE_SECS`, `APP_TENANT_RUNTIME__ACCESS_TOKEN_TTL_SECS`,
//! `APP_TENANT_RUNTIME__REFRESH_TOKEN_TTL_SECS`,
//! `APP_PROVISIONER__HOST`, `APP_PROVISIONER__PORT`,
//! `APP_PROVISIONER__POLL_INTERVAL_MS`, `APP_PROVISIONER__WORKER_ID`,
//! `APP_PROVISIONER__MAINTENANCE_INTERVAL_SECS`, `APP_PROVISIONER__TRIAL_GRACE_DAYS`,
//! `APP_PROVISIONER__DELETED_RETENTION_DAYS`, `APP_PROVISIONER__RECONCILE_REPAIR`,
//! `APP_PROVISIONER__DEFAULT_SERVER_URL`, `APP_PROVISIONER__DEFAULT_SERVER_CAPACITY`,
//! `APP_BOOTSTRAP__ADMIN_EMAIL`, `APP_BOOTSTRAP__ADMIN_PASSWORD`, `APP_BOOTSTRAP__SEED_PLANS`,
//! `APP_SECRETS__ENCRYPTION_KEY`, `APP_SECRETS__ENCRYPTION_KEY_ID`,
//! `APP_SECRETS__PREVIOUS_KEYS`, `APP_SECRETS__TOKEN_SIGNING_KEY`, `APP_BILLING__SECRET_KEY`,
//! `APP_BILLING__WEBHOOK_SECRETS`, `APP_BILLING__API_BASE_URL`, `APP_BILLING__GRACE_PERIOD_DAYS`,
//! `APP_BILLING__CANCELED_RETENTION_DAYS`, `APP_BILLING__SUCCESS_URL`, `APP_BILLING__CANCEL_URL`,
//! `APP_BILLING__METER_EVENT_NAME`, `APP_BILLING__USAGE_REPORT_INTERVAL_SECS`,
//! `APP_BILLING__RECONCILE_INTERVAL_SECS`, `APP_BILLING__REQUEST_TIMEOUT_SECS`,
//! `APP_TENANT_RUNTIME__TRUST_FORWARDED_FOR`, `APP_TENANT_RUNTIME__TRUST_FORWARDED_HOST`,
//! `APP_TENANT_RUNTIME__CLIENT_REQUEST_TIMEOUT_SECS`,
//! `APP_CONTROL_PLANE__CLIENT_REQUEST_TIMEOUT_SECS`, `APP_REDIS__URL`, `APP_REDIS__KEY_PREFIX`,
//! `APP_REDIS__TIMEOUT_MS`, `APP_LIMITS__REPLICAS`, `APP_LIMITS__SIGN_INS_PER_IP_PER_MINUTE`,
//! `APP_BACKUPS__STORE`, `APP_BACKUPS__S3__BUCKET`, `APP_BACKUPS__S3__PREFIX`,
//! `APP_BACKUPS__S3__REGION`, `APP_BACKUPS__S3__ENDPOINT`, `APP_BACKUPS__S3__PATH_STYLE`,
//! `APP_BACKUPS__S3__PART_SIZE_MIB`, `APP_BACKUPS__S3__ACCESS_KEY_ID`,
//! `APP_BACKUPS__S3__SECRET_ACCESS_KEY` (unset, the S3 client reads the usual `AWS_*`
//! variables, a web identity token or the instance's role). The README's configuration
//! reference documents each one; keep the two lists in step.
//!
//! Loading never panics: a malformed value or a failed check comes back as [`ConfigErrors`]
//! naming the key and where its value came from; binaries print it and exit with status 2.
//! Unknown keys are not fatal (a typo should not take production down) but come back as
//! warnings naming the key, for the binary to log once telemetry is up.

use crate::secret::Secret;
use base64::Engine as _;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Everything any of the binaries can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where local state lives: the private Postgres cluster, mail drops, backups.
    pub data_dir: PathBuf,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub control_plane: ControlPlaneSettings,
    pub tenant_runtime: TenantRuntimeSettings,
    pub provisioner: ProvisionerSettings,
    pub bootstrap: BootstrapSettings,
    pub secrets: SecretsSettings,
    pub mail: MailSettings,
    pub billing: BillingSettings,
    pub backups: BackupSettings,
    pub redis: RedisSettings,
    pub limits: LimitSettings,
}

/// Redis, where limits that must hold for the whole fleet are kept (`common::limits`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `redis://[:password@]host:port[/db]`; unset: every process enforces its share of
    /// each limit (`limits.replicas`).
    pub url: Option<Secret>,
    /// Put before every key this platform writes, so several platforms (or tests) can share
    /// one Redis.
    pub key_prefix: String,
    /// Bound on one Redis call (and on connecting); past it the local share decides.
    pub timeout_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "erp:".into(),
            timeout_ms: 250,
        }
    }
}

/// Limits that hold across replicas.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// How many processes of this service run: without Redis (or while it is down) each
    /// enforces `limit / replicas` (at least 1) of every fleet-wide limit.
    pub replicas: u32,
    /// Sign-in attempts per client IP per minute (a burst of as many), on the admin login
    /// and every tenant's sign-in alike.
    pub sign_ins_per_ip_per_minute: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            sign_ins_per_ip_per_minute: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter directive (`info`, `control_plane=debug,sqlx=warn`); `RUST_LOG` wins.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The control database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`; a secret because it may hold a password.
    pub url: Secret,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    /// Bring the control schema to the newest version at start (off when a deploy job does it).
    pub migrate_on_start: bool,
}

/// Where the control plane listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlPlaneSettings {
    pub host: String,
    pub port: u16,
    /// Largest request body accepted; bigger ones get 413.
    pub max_body_bytes: usize,
    /// Lifetime of an admin access token (JWT).
    pub access_token_ttl_secs: u64,
    /// Lifetime of an admin refresh token (each use rotates it).
    pub refresh_token_ttl_secs: u64,
    /// Self-serve signups accepted per client IP per hour (a burst of as many is allowed).
    pub signups_per_ip_per_hour: u32,
    /// Take the client IP from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// A client must send a request's whole head within this long: of connecting for a
    /// connection's first request (else 408), of the head's first byte for every later one;
    /// past it the connection is closed (slow clients cannot hold connections open).
    pub client_request_timeout_secs: u64,
    /// An admin portal session ends after this long without a request.
    pub portal_idle_timeout_secs: u64,
    /// An admin portal session ends this long after sign-in, however busy.
    pub portal_session_max_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantRuntimeSettings {
    pub host: String,
    pub port: u16,
    pub max_body_bytes: usize,
    /// Tenants are served at `{slug}.{base_domain}`.
    pub base_domain: String,
    /// How tenants reach the runtime from outside, as `scheme://host[:port]` of the base
    /// domain (`https://erp.example.com` puts tenant `acme` at `https://acme.erp.example.com`).
    /// Unset: `http://{slug}.{base_domain}:{port}` of this runtime.
    pub public_base_url: Option<String>,
    /// Most tenant pools kept open at once; the least recently used beyond it is closed.
    pub max_pools: u64,
    /// A tenant's pool is closed after this long without a request.
    pub pool_idle_secs: u64,
    /// A cached tenant is reloaded from the control database at least this often, as a
    /// backstop to `NOTIFY tenant_changed`.
    pub registry_ttl_secs: u64,
    /// Most connections one tenant's pool opens (further capped by the plan).
    pub max_connections_per_pool: u32,
    /// An idle connection is closed after this long, giving its budget back.
    pub connection_idle_secs: u64,
    /// How long a request waits for a server's connection budget before 503.
    pub budget_wait_ms: u64,
    /// Bound on opening one tenant connection (TCP and handshake).
    pub connect_timeout_secs: u64,
    /// How often API-call counts are written to the control database.
    pub usage_flush_secs: u64,
    /// How often each open tenant's database size and user count are sampled.
    pub usage_sample_secs: u64,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// A web app session ends after this long without a request.
    pub web_idle_timeout_secs: u64,
    /// A web app session ends this long after sign-in in any case.
    pub web_session_max_secs: u64,
    /// Outbound webhooks' delivery worker (`tenant_runtime.webhooks.*`).
    pub webhooks: WebhookSettings,
    /// Take the client IP (for the per-IP sign-in limit) from `X-Forwarded-For` (only
    /// behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Take the host that names the tenant from `X-Forwarded-Host` (or `Forwarded: host=`)
    /// rather than `Host`: only behind a proxy that sets it and strips the client's own.
    pub trust_forwarded_host: bool,
    /// A client must send a request's whole head within this long: of connecting for a
    /// connection's first request (else 408), of the head's first byte for every later one;
    /// past it the connection is closed (slow clients cannot hold connections open).
    pub client_request_timeout_secs: u64,
}

/// The outbound webhooks' delivery worker: `APP_TENANT_RUNTIME__WEBHOOKS__TIMEOUT_SECS`,
/// `..._CONCURRENCY`, `..._SCAN_SECS`, `..._ALLOWED_NETWORKS`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// Bound on one delivery attempt, connecting included (1 to 60).
    pub timeout_secs: u64,
    /// Most deliveries this runtime sends at once, over every tenant.
    pub concurrency: u32,
    /// How often the worker looks for tenants with deliveries due (the durable wake-ups in
    /// the control database), beside the instant nudge a request that raised an event gives.
    pub scan_secs: u64,
    /// Networks (CIDR, e.g. `127.0.0.1/32`) a webhook may target although they are private,
    /// loopback or otherwise refused, and to which plain `http://` is allowed. Empty in
    /// production: only for tests and local development.
    pub allowed_networks: Vec<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            timeout_secs: 10,
            concurrency: 16,
            scan_secs: 5,
            allowed_networks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ProvisionerSettings {
    /// Where the standalone worker (`provisioner`) serves `/healthz`, `/readyz` and
    /// `/metrics` (the all-in-one process serves its worker's metrics on the control plane).
    pub host: String,
    pub port: u16,
    /// How often an idle worker looks for new jobs.
    pub poll_interval_ms: u64,
    /// Names this worker in job leases; defaults to `hostname-pid`.
    pub worker_id: Option<String>,
    /// How often a worker runs housekeeping: spare refill, trial sweep, purge, reconcile.
    pub maintenance_interval_secs: u64,
    /// Days a tenant stays suspended after its trial ended before it is deleted.
    pub trial_grace_days: u32,
    /// Days a deleted tenant's final backup is kept before it is purged.
    pub deleted_retention_days: u32,
    /// Hours the database a restore or relocation replaced is kept (closed) before it is
    /// dropped, so a bad switch can still be undone by hand.
    pub retired_database_keep_hours: u32,
    /// Whether the reconciler drops orphan databases and roles (otherwise it only reports).
    pub reconcile_repair: bool,
    /// A superuser URL of a Postgres server registered as `default` (capacity
    /// `default_server_capacity`) at start when no server of that name exists; `scripts/up`
    /// sets it to its private cluster so a fresh platform can provision at once.
    pub default_server_url: Option<Secret>,
    pub default_server_capacity: u32,
    /// Spare databases kept ready on the `default` server when it is first registered
    /// (then edited with `PATCH /servers/{id}`): a signup claims one instead of cloning.
    pub default_server_spare_target: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BootstrapSettings {
    /// When set, this super-admin is created at start unless it exists. When unset, a
    /// super-admin `admin@example.com` is created only if there is no admin at all.
    pub admin_email: Option<String>,
    /// The bootstrap super-admin's password; generated and printed once when unset.
    pub admin_password: Option<Secret>,
    /// Create the default plans (`trial`, `starter`, `growth`, `enterprise`) when missing.
    pub seed_plans: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SecretsSettings {
    /// Base64 of 32 random bytes: the AES-256-GCM key for secrets kept in the control DB.
    pub encryption_key: Option<Secret>,
    /// Stored beside every ciphertext so keys can rotate.
    pub encryption_key_id: String,
    /// Keys that sealed older secrets, still able to open them while they are re-sealed:
    /// `id:base64` entries separated by commas (`k1:AAAA...,k0:BBBB...`). To rotate, make a
    /// new key current and move the old one here under its old id.
    pub previous_keys: Option<Secret>,
    /// Base64 of at least 32 random bytes: the HMAC key that signs access tokens (admin and
    /// tenant). Unset: derived from `encryption_key` (HKDF), so one secret is enough.
    pub token_signing_key: Option<Secret>,
}

/// Outgoing email (welcome, invitations, password resets).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    /// `smtp://user:password@host:587` (STARTTLS) or `smtps://...:465`; unset: messages are
    /// written as files under `{data_dir}/mail/`.
    pub smtp_url: Option<Secret>,
    /// The `From:` of every message.
    pub from: String,
}

/// Where the provisioner keeps tenant backups.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupSettings {
    /// `local` (`{data_dir}/backups`, what `scripts/up` uses) or `s3`.
    pub store: BackupStoreKind,
    pub s3: S3Settings,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupStoreKind {
    #[default]
    Local,
    S3,
}

/// An S3 bucket (or any S3-compatible service) for backups, used when `backups.store` is
/// `s3`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Settings {
    /// Required with `backups.store = "s3"`.
    pub bucket: Option<String>,
    /// Keys are `{prefix}/{tenant}/{backup}.dump` (a trailing `/` is optional); empty: at
    /// the bucket's root.
    pub prefix: String,
    pub region: String,
    /// `http(s)://host[:port]` of an S3-compatible service; unset: AWS's endpoint for the
    /// region.
    pub endpoint: Option<String>,
    /// Address the bucket in the path (`endpoint/bucket/key`) rather than the host name, as
    /// most S3-compatible services want.
    pub path_style: bool,
    /// Size of each part of a multipart upload (a dump larger than one part is uploaded in
    /// parts, streamed from its file): 5 to 5120 MiB.
    pub part_size_mib: u32,
    /// Static credentials; unset: the usual `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
    /// a web identity token (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`) or the
    /// instance's role.
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            bucket: None,
            prefix: String::new(),
            region: "us-east-1".into(),
            endpoint: None,
            path_style: false,
            part_size_mib: 16,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".data"),
            log: LogSettings::default(),
            database: DatabaseSettings::default(),
            control_plane: ControlPlaneSettings::default(),
            tenant_runtime: TenantRuntimeSettings::default(),
            provisioner: ProvisionerSettings::default(),
            bootstrap: BootstrapSettings::default(),
            secrets: SecretsSettings::default(),
            mail: MailSettings::default(),
            billing: BillingSettings::default(),
            backups: BackupSettings::default(),
            redis: RedisSettings::default(),
            limits: LimitSettings::default(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/erp_control"),
            max_connections: 10,
            connect_timeout_secs: 5,
            migrate_on_start: true,
        }
    }
}

impl Default for ControlPlaneSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            max_body_bytes: 256 * 1024,
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            signups_per_ip_per_hour: 10,
            trust_forwarded_for: false,
            client_request_timeout_secs: 5,
            portal_idle_timeout_secs: 30 * 60,
            portal_session_max_secs: 12 * 60 * 60,
        }
    }
}

impl TenantRuntimeSettings {
    /// Where tenants reach the runtime: from `public_base_url`, else the base domain on
    /// `runtime_port` (the port actually bound) or the configured port.
    pub fn tenant_origin(&self, runtime_port: Option<u16>) -> TenantOrigin {
        if let Some((scheme, host)) = self
            .public_base_url
            .as_deref()
            .and_then(|url| url.split_once("://"))
        {
            return TenantOrigin {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
            };
        }
        let port = runtime_port.unwrap_or(self.port);
        TenantOrigin {
            scheme: "http".to_owned(),
            host: format!("{}:{port}", self.base_domain),
        }
    }
}

/// `scheme` and `host[:port]` that a tenant's slug is put in front of: the one builder of
/// the URLs people are sent to (sign-in, set-password links in invitations and resets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantOrigin {
    pub scheme: String,
    pub host: String,
}

impl TenantOrigin {
    /// Where a tenant's users sign in: `{scheme}://{slug}.{host}`.
    pub fn tenant_url(&self, slug: &str) -> String {
        format!("{}://{slug}.{}", self.scheme, self.host)
    }

    /// The link an invitation or password-reset email carries.
    pub fn set_password_link(&self, slug: &str, token: &str) -> String {
        format!("{}/set-password?token={token}", self.tenant_url(slug))
    }
}

impl Default for TenantRuntimeSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8081,
            max_body_bytes: 1024 * 1024,
            base_domain: "localhost".into(),
            public_base_url: None,
            max_pools: 10_000,
            pool_idle_secs: 300,
            registry_ttl_secs: 600,
            max_connections_per_pool: 10,
            connection_idle_secs: 60,
            budget_wait_ms: 2000,
            connect_timeout_secs: 5,
            usage_flush_secs: 10,
            usage_sample_secs: 300,
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            web_idle_timeout_secs: 2 * 3600,
            web_session_max_secs: 12 * 3600,
            webhooks: WebhookSettings::default(),
            trust_forwarded_for: false,
            trust_forwarded_host: false,
            client_request_timeout_secs: 5,
        }
    }
}

impl Default for ProvisionerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8082,
            poll_interval_ms: 1000,
            worker_id: None,
            maintenance_interval_secs: 60,
            trial_grace_days: 14,
            deleted_retention_days: 30,
            retired_database_keep_hours: 24,
            reconcile_repair: false,
            default_server_url: None,
            default_server_capacity: 500,
            default_server_spare_target: 3,
        }
    }
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        Self {
            admin_email: None,
            admin_password: None,
            seed_plans: true,
        }
    }
}

impl Default for SecretsSettings {
    fn default() -> Self {
        Self {
            encryption_key: None,
            encryption_key_id: "k1".into(),
            previous_keys: None,
            token_signing_key: None,
        }
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "ERP Platform <no-reply@localhost>".into(),
        }
    }
}

/// Billing through Stripe. With no `secret_key` the platform runs billing-disabled: plans
/// are assigned by admins, trials expire by the sweeper, and every billing endpoint
/// answers 409 `billing_disabled`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BillingSettings {
    /// Stripe's secret API key (`sk_live_...`, `sk_test_...`); unset: billing disabled.
    pub secret_key: Option<Secret>,
    /// Webhook signing secrets (`whsec_...`), separated by commas: an event signed with
    /// any of them is accepted, so a secret can rotate (list old and new, then drop the
    /// old one).
    pub webhook_secrets: Option<Secret>,
    /// Where the Stripe API is reached; unset: `https://api.stripe.com/` (tests point it
    /// at a fake).
    pub api_base_url: Option<String>,
    /// Days a tenant whose payment failed is still served before it is suspended.
    pub grace_period_days: u32,
    /// Days a tenant whose subscription was canceled stays suspended before it is deleted
    /// (its final backup kept as for any deletion).
    pub canceled_retention_days: u32,
    /// Where Checkout sends the customer back after paying; `{tenant_url}` is replaced by
    /// the company's address. Unset: `{tenant_url}/billing?checkout=success`.
    pub success_url: Option<String>,
    /// Where Checkout sends the customer when they give up. Unset:
    /// `{tenant_url}/billing?checkout=canceled`.
    pub cancel_url: Option<String>,
    /// The Stripe billing meter's event name that API calls are reported under.
    pub meter_event_name: String,
    /// How often finished days of API calls are reported to the meter.
    pub usage_report_interval_secs: u64,
    /// How often every subscription is compared with Stripe's and drift repaired.
    pub reconcile_interval_secs: u64,
    /// Bound on one Stripe API call.
    pub request_timeout_secs: u64,
}

impl BillingSettings {
    /// Whether a Stripe key is configured.
    pub fn enabled(&self) -> bool {
        self.secret_key.is_some()
    }

    /// The webhook signing secrets, in the order given.
    pub fn webhook_secret_list(&self) -> Vec<String> {
        self.webhook_secrets
            .as_ref()
            .map(|secrets| {
                secrets
                    .expose()
                    .split(',')
                    .map(str::trim)
                    .filter(|secret| !secret.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            secret_key: None,
            webhook_secrets: None,
            api_base_url: None,
            grace_period_days: 7,
            canceled_retention_days: 30,
            success_url: None,
            cancel_url: None,
            meter_event_name: "api_calls".into(),
            usage_report_interval_secs: 3600,
            reconcile_interval_secs: 3600,
            request_timeout_secs: 10,
        }
    }
}

/// Settings that loaded, plus the unknown keys met on the way (to be logged as warnings).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

/// One bad configuration value: which key, where it came from, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub source: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration key `{}`", self.key)?;
        if let Some(source) = &self.source {
            write!(f, " (from {source})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every bad value found; never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// The keys named, for tests and for callers that want to point at one.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|error| error.key.as_str()).collect()
    }
}

/// The standard layering: an optional file, then the process environment.
pub fn layered(file: Option<&Path>) -> Figment {
    let mut figment = Figment::new();
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment.merge(Env::prefixed("APP_").split("__"))
}

/// Loads from the file (if any) and the environment, then validates.
pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigErrors> {
    load_from(&layered(file))
}

/// Loads from any figment (tests build their own), then validates.
pub fn load_from(figment: &Figment) -> Result<Loaded, ConfigErrors> {
    let settings: Settings = figment
        .extract()
        .map_err(|error| extraction_errors(figment, error))?;
    let problems = settings.problems();
    if !problems.is_empty() {
        let errors = problems
            .into_iter()
            .map(|(key, message)| ConfigError {
                source: source_of(figment, key),
                key: key.to_owned(),
                message,
            })
            .collect();
        return Err(ConfigErrors(errors));
    }
    let warnings = unknown_keys(figment)
        .into_iter()
        .map(|key| match source_of(figment, &key) {
            Some(source) => format!("unknown configuration key `{key}` (from {source}) ignored"),
            None => format!("unknown configuration key `{key}` ignored"),
        })
        .collect();
    Ok(Loaded { settings, warnings })
}

/// The effective configuration as TOML, secrets redacted (for `--print-config`).
pub fn render(settings: &Settings) -> String {
    toml::to_string(settings).unwrap_or_else(|error| format!("# cannot render: {error}\n"))
}

fn extraction_errors(figment: &Figment, error: figment::Error) -> ConfigErrors {
    let errors = error
        .into_iter()
        .map(|error| {
            let key = error.path.join(".");
            let source = error
                .metadata
                .as_ref()
                .map(|metadata| describe_source(metadata, &key))
                .or_else(|| source_of(figment, &key));
            ConfigError {
                key: if key.is_empty() { "(root)".into() } else { key },
                source,
                message: error.kind.to_string(),
            }
        })
        .collect();
    ConfigErrors(errors)
}

/// Names the environment variable or file a key came from, if any provider set it.
fn source_of(figment: &Figment, key: &str) -> Option<String> {
    figment.find_value(key).ok()?;
    figment
        .find_metadata(key)
        .map(|metadata| describe_source(metadata, key))
}

/// `APP_SECTION__KEY` for the environment (figment's own rendering loses the prefix and
/// separator), the file path for a file.
fn describe_source(metadata: &figment::Metadata, key: &str) -> String {
    if metadata.name.contains("environment") {
        return format!("APP_{}", key.to_uppercase().replace('.', "__"));
    }
    match &metadata.source {
        Some(source) => source.to_string(),
        None => metadata.name.to_string(),
    }
}

fn unknown_keys(figment: &Figment) -> Vec<String> {
    let Ok(value) = figment.extract::<serde_json::Value>() else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    let _: Result<Settings, _> =
        serde_ignored::deserialize(value, |path| unknown.push(path.to_string()));
    unknown
}

impl Settings {
    /// Every (key, what is wrong) pair; empty when the settings are usable.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let mut check = |key: &'static str, result: Result<(), String>| {
            if let Err(message) = result {
                problems.push((key, message));
            }
        };
        check("log.level", valid_filter(&self.log.level));
        check(
            "database.url",
            valid_postgres_url(self.database.url.expose()),
        );
        check(
            "database.max_connections",
            at_least(u64::from(self.database.max_connections), 1),
        );
        check(
            "database.connect_timeout_secs",
            at_least(self.database.connect_timeout_secs, 1),
        );
        check("control_plane.host", valid_host(&self.control_plane.host));
        check("tenant_runtime.host", valid_host(&self.tenant_runtime.host));
        check("provisioner.host", valid_host(&self.provisioner.host));
        check(
            "tenant_runtime.port",
            distinct_ports(self.control_plane.port, self.tenant_runtime.port),
        );
        check(
            "control_plane.max_body_bytes",
            at_least(self.control_plane.max_body_bytes as u64, 1024),
        );
        check(
            "tenant_runtime.max_body_bytes",
            at_least(self.tenant_runtime.max_body_bytes as u64, 1024),
        );
        check(
            "tenant_runtime.base_domain",
            valid_hostname(&self.tenant_runtime.base_domain),
        );
        check(
            "control_plane.client_request_timeout_secs",
            within(self.control_plane.client_request_timeout_secs, 1, 300),
        );
        check(
            "tenant_runtime.client_request_timeout_secs",
            within(self.tenant_runtime.client_request_timeout_secs, 1, 300),
        );
        check(
            "provisioner.poll_interval_ms",
            at_least(self.provisioner.poll_interval_ms, 10),
        );
        check(
            "provisioner.maintenance_interval_secs",
            at_least(self.provisioner.maintenance_interval_secs, 1),
        );
        check(
            "provisioner.default_server_spare_target",
            match self.provisioner.default_server_spare_target {
                0..=100 => Ok(()),
                other => Err(format!("must be at most 100, got {other}")),
            },
        );
        check(
            "provisioner.default_server_url",
            self.provisioner
                .default_server_url
                .as_ref()
                .map_or(Ok(()), |url| valid_postgres_url(url.expose())),
        );
        check(
            "bootstrap.admin_email",
            self.bootstrap
                .admin_email
                .as_deref()
                .map_or(Ok(()), valid_email),
        );
        check(
            "bootstrap.admin_password",
            self.bootstrap
                .admin_password
                .as_ref()
                .map_or(Ok(()), |password| strong_enough(password.expose())),
        );
        check(
            "secrets.encryption_key",
            self.secrets
                .encryption_key
                .as_ref()
                .map_or(Ok(()), |key| aes_256_key(key.expose()).map(drop)),
        );
        check(
            "secrets.encryption_key_id",
            valid_key_id(&self.secrets.encryption_key_id),
        );
        check(
            "secrets.previous_keys",
            self.secrets.previous_keys.as_ref().map_or(Ok(()), |keys| {
                previous_keys(keys.expose(), &self.secrets.encryption_key_id).map(drop)
            }),
        );
        check(
            "secrets.token_signing_key",
            self.secrets
                .token_signing_key
                .as_ref()
                .map_or(Ok(()), |key| signing_key(key.expose()).map(drop)),
        );
        check(
            "control_plane.access_token_ttl_secs",
            within(self.control_plane.access_token_ttl_secs, 30, 3600),
        );
        check(
            "control_plane.refresh_token_ttl_secs",
            within(
                self.control_plane.refresh_token_ttl_secs,
                300,
                90 * 24 * 3600,
            ),
        );
        check(
            "control_plane.portal_idle_timeout_secs",
            within(self.control_plane.portal_idle_timeout_secs, 60, 24 * 3600),
        );
        check(
            "control_plane.portal_session_max_secs",
            within(
                self.control_plane.portal_session_max_secs,
                300,
                30 * 24 * 3600,
            ),
        );
        check(
            "control_plane.signups_per_ip_per_hour",
            at_least(u64::from(self.control_plane.signups_per_ip_per_hour), 1),
        );
        let runtime = &self.tenant_runtime;
        check("tenant_runtime.max_pools", at_least(runtime.max_pools, 1));
        check(
            "tenant_runtime.max_connections_per_pool",
            within(u64::from(runtime.max_connections_per_pool), 1, 1000),
        );
        check(
            "tenant_runtime.budget_wait_ms",
            within(runtime.budget_wait_ms, 1, 60_000),
        );
        check(
            "tenant_runtime.usage_flush_secs",
            within(runtime.usage_flush_secs, 1, 10),
        );
        for (key, value) in [
            ("tenant_runtime.pool_idle_secs", runtime.pool_idle_secs),
            (
                "tenant_runtime.registry_ttl_secs",
                runtime.registry_ttl_secs,
            ),
            (
                "tenant_runtime.connection_idle_secs",
                runtime.connection_idle_secs,
            ),
            (
                "tenant_runtime.connect_timeout_secs",
                runtime.connect_timeout_secs,
            ),
            (
                "tenant_runtime.usage_sample_secs",
                runtime.usage_sample_secs,
            ),
        ] {
            check(key, at_least(value, 1));
        }
        check(
            "tenant_runtime.access_token_ttl_secs",
            within(runtime.access_token_ttl_secs, 30, 3600),
        );
        check(
            "tenant_runtime.refresh_token_ttl_secs",
            within(runtime.refresh_token_ttl_secs, 300, 90 * 24 * 3600),
        );
        check(
            "tenant_runtime.web_idle_timeout_secs",
            within(runtime.web_idle_timeout_secs, 60, 24 * 3600),
        );
        check(
            "tenant_runtime.web_session_max_secs",
            within(runtime.web_session_max_secs, 300, 30 * 24 * 3600),
        );
        check(
            "tenant_runtime.webhooks.timeout_secs",
            within(runtime.webhooks.timeout_secs, 1, 60),
        );
        check(
            "tenant_runtime.webhooks.concurrency",
            within(u64::from(runtime.webhooks.concurrency), 1, 1000),
        );
        check(
            "tenant_runtime.webhooks.scan_secs",
            within(runtime.webhooks.scan_secs, 1, 300),
        );
        check(
            "tenant_runtime.webhooks.allowed_networks",
            runtime
                .webhooks
                .allowed_networks
                .iter()
                .try_for_each(|network| parse_cidr(network).map(|_| ())),
        );
        check(
            "tenant_runtime.public_base_url",
            self.tenant_runtime
                .public_base_url
                .as_deref()
                .map_or(Ok(()), valid_base_url),
        );
        check(
            "mail.smtp_url",
            self.mail
                .smtp_url
                .as_ref()
                .map_or(Ok(()), |url| valid_smtp_url(url.expose())),
        );
        self.billing_problems(&mut check);
        self.backup_problems(&mut check);
        self.limit_problems(&mut check);
        problems
    }

    fn backup_problems(&self, check: &mut impl FnMut(&'static str, Result<(), String>)) {
        let s3 = &self.backups.s3;
        check(
            "backups.s3.bucket",
            match (self.backups.store, s3.bucket.as_deref()) {
                (_, Some(bucket)) => valid_bucket(bucket),
                (BackupStoreKind::S3, None) => {
                    Err("must be set when `backups.store` is `s3`".into())
                }
                (BackupStoreKind::Local, None) => Ok(()),
            },
        );
        check(
            "backups.s3.prefix",
            if s3
                .prefix
                .trim_end_matches('/')
                .split('/')
                .any(str::is_empty)
                && !s3.prefix.is_empty()
            {
                Err("must be path segments separated by `/`, without a leading `/`".into())
            } else {
                Ok(())
            },
        );
        check(
            "backups.s3.region",
            if s3.region.is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(())
            },
        );
        check(
            "backups.s3.endpoint",
            s3.endpoint
                .as_deref()
                .map_or(Ok(()), |url| valid_base_url(url.trim_end_matches('/'))),
        );
        check(
            "backups.s3.part_size_mib",
            within(u64::from(s3.part_size_mib), 5, 5120),
        );
        check(
            "backups.s3.secret_access_key",
            match (&s3.access_key_id, &s3.secret_access_key) {
                (Some(_), None) | (None, Some(_)) => Err(
                    "`backups.s3.access_key_id` and `backups.s3.secret_access_key` go together"
                        .into(),
                ),
                _ => Ok(()),
            },
        );
    }

    fn billing_problems(&self, check: &mut impl FnMut(&'static str, Result<(), String>)) {
        let billing = &self.billing;
        check(
            "billing.webhook_secrets",
            if billing.enabled() && billing.webhook_secret_list().is_empty() {
                Err("must name at least one signing secret when `billing.secret_key` is set".into())
            } else {
                Ok(())
            },
        );
        check(
            "billing.api_base_url",
            billing.api_base_url.as_deref().map_or(Ok(()), |url| {
                if url.starts_with("http://") || url.starts_with("https://") {
                    Ok(())
                } else {
                    Err("must start with http:// or https://".into())
                }
            }),
        );
        for (key, template) in [
            ("billing.success_url", &billing.success_url),
            ("billing.cancel_url", &billing.cancel_url),
        ] {
            check(key, template.as_deref().map_or(Ok(()), valid_return_url));
        }
        check(
            "billing.grace_period_days",
            within(u64::from(billing.grace_period_days), 0, 90),
        );
        check(
            "billing.usage_report_interval_secs",
            at_least(billing.usage_report_interval_secs, 1),
        );
        check(
            "billing.reconcile_interval_secs",
            at_least(billing.reconcile_interval_secs, 1),
        );
        check(
            "billing.request_timeout_secs",
            within(billing.request_timeout_secs, 1, 120),
        );
        check(
            "billing.meter_event_name",
            if billing.meter_event_name.trim().is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(())
            },
        );
    }

    fn limit_problems(&self, check: &mut impl FnMut(&'static str, Result<(), String>)) {
        check(
            "limits.replicas",
            within(u64::from(self.limits.replicas), 1, 10_000),
        );
        check(
            "limits.sign_ins_per_ip_per_minute",
            at_least(u64::from(self.limits.sign_ins_per_ip_per_minute), 1),
        );
        check(
            "redis.url",
            self.redis
                .url
                .as_ref()
                .map_or(Ok(()), |url| valid_redis_url(url.expose())),
        );
        check("redis.timeout_ms", within(self.redis.timeout_ms, 1, 10_000));
        check(
            "redis.key_prefix",
            if self.redis.key_prefix.len() <= 64 {
                Ok(())
            } else {
                Err("must be at most 64 bytes".into())
            },
        );
    }

    /// The key that signs access tokens: `secrets.token_signing_key`, else one derived
    /// from the encryption key; `None` when neither is configured.
    pub fn token_signing_key(&self) -> Option<Vec<u8>> {
        if let Some(key) = &self.secrets.token_signing_key {
            return signing_key(key.expose()).ok();
        }
        let master = self.encryption_key()?;
        let mut derived = vec![0_u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(None, &master)
            .expand(b"erp-platform access-token signing key v1", &mut derived)
            .ok()?;
        Some(derived)
    }

    /// The older keys (id, key) that may still open secrets (validated at load).
    pub fn previous_encryption_keys(&self) -> Vec<(String, [u8; 32])> {
        let current = &self.secrets.encryption_key_id;
        self.secrets
            .previous_keys
            .as_ref()
            .and_then(|keys| previous_keys(keys.expose(), current).ok())
            .unwrap_or_default()
    }

    /// The 32-byte data-encryption key, when one is configured (validated at load).
    pub fn encryption_key(&self) -> Option<[u8; 32]> {
        let key = self.secrets.encryption_key.as_ref()?;
        aes_256_key(key.expose()).ok()
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`): its address and prefix length.
pub fn parse_cidr(text: &str) -> Result<(std::net::IpAddr, u8), String> {
    let invalid = || format!("`{text}` is not a network in CIDR notation (e.g. 127.0.0.1/32)");
    let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
    let address: std::net::IpAddr = address.parse().map_err(|_| invalid())?;
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    let bits = if address.is_ipv4() { 32 } else { 128 };
    if prefix > bits {
        return Err(invalid());
    }
    Ok((address, prefix))
}

fn at_least(value: u64, minimum: u64) -> Result<(), String> {
    if value >= minimum {
        Ok(())
    } else {
        Err(format!("must be at least {minimum}, got {value}"))
    }
}

fn valid_filter(directive: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(directive)
        .map(drop)
        .map_err(|error| format!("not a log filter ({error}); try `info` or `debug`"))
}

fn valid_postgres_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or("must start with postgres:// or postgresql://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return Err("names no host".into());
    }
    Ok(())
}

fn valid_host(host: &str) -> Result<(), String> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    valid_hostname(host)
}

fn within(value: u64, minimum: u64, maximum: u64) -> Result<(), String> {
    if (minimum..=maximum).contains(&value) {
        Ok(())
    } else {
        Err(format!("must be from {minimum} to {maximum}, got {value}"))
    }
}

fn valid_base_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    let host = rest.split(':').next().unwrap_or_default();
    if rest.contains('/') {
        return Err("must be scheme://host[:port] with no path".into());
    }
    valid_hostname(host)
}

/// A URL Stripe sends a customer back to: absolute, or starting with `{tenant_url}`.
fn valid_return_url(url: &str) -> Result<(), String> {
    if ["https://", "http://", "{tenant_url}"]
        .iter()
        .any(|start| url.starts_with(start))
    {
        Ok(())
    } else {
        Err("must start with https://, http:// or {tenant_url}".into())
    }
}

fn valid_redis_url(url: &str) -> Result<(), String> {
    // `rediss://` (TLS) is refused: the client is built without a TLS stack.
    let rest = url
        .strip_prefix("redis://")
        .ok_or("must start with redis:// (rediss:// is not supported)")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.rsplit('@').next().unwrap_or_default().is_empty() {
        return Err("names no host".into());
    }
    Ok(())
}

fn valid_smtp_url(url: &str) -> Result<(), String> {
    if url.starts_with("smtp://") || url.starts_with("smtps://") {
        Ok(())
    } else {
        Err("must start with smtp:// or smtps://".into())
    }
}

fn signing_key(encoded: &str) -> Result<Vec<u8>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "must be base64 (try `openssl rand -base64 32`)".to_owned())?;
    if bytes.len() < 32 {
        return Err(format!(
            "must decode to at least 32 bytes, got {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// An S3 bucket name: 3 to 63 lowercase letters, digits, `.` and `-`.
fn valid_bucket(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a bucket name (3 to 63 of a-z 0-9 . -)"
        ))
    }
}

fn valid_hostname(name: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid host name"))
    }
}

fn distinct_ports(control_plane: u16, tenant_runtime: u16) -> Result<(), String> {
    if control_plane != 0 && control_plane == tenant_runtime {
        Err(format!(
            "must differ from control_plane.port ({control_plane})"
        ))
    } else {
        Ok(())
    }
}

fn valid_email(email: &str) -> Result<(), String> {
    match crate::ids::normalize_email(email) {
        Some(_) => Ok(()),
        None => Err(format!("`{email}` is not an email address")),
    }
}

/// The smallest password length accepted for any admin.
pub const MIN_PASSWORD_LEN: usize = 12;

fn strong_enough(password: &str) -> Result<(), String> {
    if password.chars().count() >= MIN_PASSWORD_LEN {
        Ok(())
    } else {
        Err(format!(
            "must be at least {MIN_PASSWORD_LEN} characters long"
        ))
    }
}

fn aes_256_key(encoded: &str) -> Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "must be base64 (try `openssl rand -base64 32`)".to_owned())?;
    bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| format!("must decode to 32 bytes, got {}", bytes.len()))
}

/// Parses `id:base64,id:base64`; ids must be valid, distinct and not the current one.
/// Messages never quote the keys.
fn previous_keys(list: &str, current: &str) -> Result<Vec<(String, [u8; 32])>, String> {
    let mut keys: Vec<(String, [u8; 32])> = Vec::new();
    for (n, entry) in list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let (id, key) = entry
            .split_once(':')
            .ok_or_else(|| format!("entry {} must be `id:base64`", n + 1))?;
        valid_key_id(id).map_err(|message| format!("entry {}: the id {message}", n + 1))?;
        if id == current || keys.iter().any(|(seen, _)| seen == id) {
            return Err(format!("entry {}: the id `{id}` is used twice", n + 1));
        }
        let key =
            aes_256_key(key).map_err(|message| format!("entry {}: the key {message}", n + 1))?;
        keys.push((id.to_owned(), key));
    }
    Ok(keys)
}

fn valid_key_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err("must be 1-32 characters of [A-Za-z0-9_-]".into())
    }
}

#[cfg(test)]
// figment::Jail fixes the closure's error type; it is large by figment's design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    #[test]
    fn webhook_allowed_networks_must_be_cidr_networks() {
        assert!(parse_cidr("127.0.0.1/32").is_ok());
        assert!(parse_cidr("fd00::/8").is_ok());
        for bad in ["127.0.0.1", "10.0.0.0/33", "::1/129", "localhost/8"] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
        let mut settings = Settings::default();
        settings.tenant_runtime.webhooks.allowed_networks = vec!["127.0.0.1".into()];
        let keys: Vec<&str> = settings.problems().iter().map(|(key, _)| *key).collect();
        assert!(
            keys.contains(&"tenant_runtime.webhooks.allowed_networks"),
            "{keys:?}"
        );
    }

    fn with(pairs: &[(&str, serde_json::Value)]) -> Figment {
        pairs.iter().fold(Figment::new(), |figment, (key, value)| {
            figment.merge(Serialized::default(key, value.clone()))
        })
    }

    #[test]
    fn an_s3_backup_store_needs_a_bucket_and_both_keys_or_none() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP_BACKUPS__STORE", "s3");
            jail.set_env("APP_BACKUPS__S3__ACCESS_KEY_ID", "AKIDEXAMPLE");
            let errors = load(None).expect_err("no bucket, half the credentials");
            assert_eq!(
                errors.keys(),
                ["backups.s3.bucket", "backups.s3.secret_access_key"]
            );
            jail.set_env("APP_BACKUPS__S3__BUCKET", "erp-backups");
            jail.set_env("APP_BACKUPS__S3__SECRET_ACCESS_KEY", "secret");
            jail.set_env("APP_BACKUPS__S3__ENDPOINT", "http://127.0.0.1:9000");
            let loaded = load(None).expect("loads");
            assert_eq!(loaded.settings.backups.store, BackupStoreKind::S3);
            assert!(!render(&loaded.settings).contains("secret\""), "redacted");
            jail.set_env("APP_BACKUPS__S3__BUCKET", "Not_A_Bucket");
            jail.set_env("APP_BACKUPS__S3__PART_SIZE_MIB", "4");
            let errors = load(None).expect_err("bad bucket, part too small");
            assert_eq!(
                errors.keys(),
                ["backups.s3.bucket", "backups.s3.part_size_mib"]
            );
            Ok(())
        });
    }

    #[test]
    fn defaults_are_valid() {
        let loaded = load_from(&Figment::new()).expect("defaults load");
        assert_eq!(loaded.settings.control_plane.port, 8080);
        assert_eq!(loaded.settings.tenant_runtime.port, 8081);
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn a_malformed_port_names_its_key() {
        let figment = with(&[("control_plane.port", "eighty".into())]);
        let errors = load_from(&figment).expect_err("must fail");
        assert_eq!(errors.keys(), vec!["control_plane.port"]);
    }

    #[test]
    fn an_environment_value_names_its_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP_TENANT_RUNTIME__PORT", "99999");
            let errors = load(None).expect_err("out of range");
            let text = errors.to_string();
            assert!(text.contains("tenant_runtime.port"), "{text}");
            assert!(text.contains("APP_TENANT_RUNTIME__PORT"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_a_warning_not_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP_LOG__FROMAT", "json");
            let loaded = load(None).expect("loads");
            assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
            assert!(loaded.warnings[0].contains("log.fromat"));
            assert!(loaded.warnings[0].contains("APP_LOG__FROMAT"));
            Ok(())
        });
    }

    #[test]
    fn a_file_is_read_and_the_environment_overrides_it() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "app.toml",
                "[control_plane]\nport = 9000\n[log]\nformat = \"json\"\n",
            )?;
            jail.set_env("APP_CONTROL_PLANE__PORT", "9001");
            let loaded = load(Some(Path::new("app.toml"))).expect("loads");
            assert_eq!(loaded.settings.control_plane.port, 9001);
            assert_eq!(loaded.settings.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        assert!(load(Some(Path::new("/nonexistent/app.toml"))).is_err());
    }

    #[test]
    fn validation_reports_every_bad_key() {
        let figment = with(&[
            ("database.url", "mysql://x".into()),
            ("tenant_runtime.base_domain", "bad domain".into()),
            ("secrets.encryption_key", "c2hvcnQ=".into()),
            ("bootstrap.admin_password", "short".into()),
        ]);
        let errors = load_from(&figment).expect_err("must fail");
        assert_eq!(
            errors.keys(),
            vec![
                "database.url",
                "tenant_runtime.base_domain",
                "bootstrap.admin_password",
                "secrets.encryption_key",
            ]
        );
    }

    #[test]
    fn a_numeric_secret_from_the_environment_is_still_a_string() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP_BOOTSTRAP__ADMIN_PASSWORD", "123456789012345");
            let loaded = load(None).expect("loads");
            let password = loaded.settings.bootstrap.admin_password.expect("set");
            assert_eq!(password.expose(), "123456789012345");
            Ok(())
        });
    }

    #[test]
    fn rendering_redacts_secrets() {
        let figment = with(&[
            ("database.url", "postgres://u:topsecret@h/db".into()),
            ("bootstrap.admin_password", "another-secret-pw".into()),
        ]);
        let text = render(&load_from(&figment).expect("loads").settings);
        assert!(!text.contains("topsecret"), "{text}");
        assert!(!text.contains("another-secret-pw"), "{text}");
        assert!(text.contains("[redacted]"));
    }

    #[test]
    fn previous_keys_are_parsed_and_checked_without_quoting_them() {
        let key = "dGVzdC1vbmx5LWtleS0zMi1ieXRlcy1sb25nLi4uLi4=";
        let parsed = previous_keys(&format!("k0:{key}, old:{key}"), "k1").unwrap();
        assert_eq!(
            parsed.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["k0", "old"]
        );
        assert!(
            previous_keys(&format!("k1:{key}"), "k1").is_err(),
            "the current id"
        );
        assert!(
            previous_keys(&format!("k0:{key},k0:{key}"), "k1").is_err(),
            "twice"
        );
        let bad = previous_keys("k0:c2hvcnQ=", "k1").unwrap_err();
        assert!(
            bad.contains("32 bytes") && !bad.contains("c2hvcnQ"),
            "{bad}"
        );
        assert!(previous_keys("no-colon", "k1").is_err());
    }

    #[test]
    fn limits_need_at_least_one_replica_and_a_redis_url() {
        let figment = with(&[
            ("limits.replicas", 0.into()),
            ("redis.url", "http://cache:6379".into()),
        ]);
        let errors = load_from(&figment).expect_err("must fail");
        assert_eq!(errors.keys(), vec!["limits.replicas", "redis.url"]);
        let figment = with(&[("redis.url", "redis://:pw@cache:6379/2".into())]);
        let loaded = load_from(&figment).expect("loads");
        assert_eq!(loaded.settings.limits.replicas, 1);
    }

    #[test]
    fn the_same_port_for_both_services_is_refused() {
        let figment = with(&[
            ("control_plane.port", 9000.into()),
            ("tenant_runtime.port", 9000.into()),
        ]);
        let errors = load_from(&figment).expect_err("must fail");
        assert_eq!(errors.keys(), vec!["tenant_runtime.port"]);
    }
}
