//! Builds the control plane's HTTP server on a bound listener (port 0 in tests) and runs it
//! until the shutdown token fires; [`AppState`] is what every handler can reach.

use crate::SERVICE;
use crate::limits::IpLimiter;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use anyhow::Context as _;
use common::config::{Settings, TenantOrigin};
use common::crypto::Keyring;
use common::http::{self, BindError, Check, HttpService, Listen, StartupStatus};
use common::mail::Mailer;
use common::tokens::TokenKeys;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use std::sync::Arc;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

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
    pub signup_limiter: Arc<IpLimiter>,
    pub config: Arc<ApiConfig>,
    /// Set once the configured `default` server is registered (readiness waits for it).
    pub default_server: StartupStatus,
}

/// The settings handlers read, resolved once at start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub trust_forwarded_for: bool,
    /// `provisioner.default_server_url` is set: ready only once `default` is registered.
    pub expects_default_server: bool,
    /// Where tenants reach the runtime (sign-in URLs).
    pub tenant_origin: TenantOrigin,
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
        Ok(Self {
            db,
            bootstrap: StartupStatus::waiting("control database not migrated yet"),
            keyring: Arc::new(keyring),
            tokens,
            mailer: Mailer::from_settings(settings)?,
            signup_limiter: Arc::new(IpLimiter::per_hour(control_plane.signups_per_ip_per_hour)),
            config: Arc::new(ApiConfig {
                access_token_ttl_secs: control_plane.access_token_ttl_secs,
                refresh_token_ttl_secs: control_plane.refresh_token_ttl_secs,
                trust_forwarded_for: control_plane.trust_forwarded_for,
                expects_default_server: settings.provisioner.default_server_url.is_some(),
                tenant_origin: settings.tenant_runtime.tenant_origin(runtime_port),
            }),
            default_server: StartupStatus::waiting("server `default` not registered yet"),
        })
    }
}

/// The service, bound and ready to run: see [`HttpService::port`] and
/// [`HttpService::run_until`].
pub type Application = HttpService;

/// Binds `control_plane.host:port` and prepares the server.
pub fn build_app(settings: &Settings, state: AppState) -> Result<Application, BindError> {
    let listen = Listen {
        host: &settings.control_plane.host,
        port: settings.control_plane.port,
        key: "control_plane.port",
    };
    let state = web::Data::new(state);
    let json_limit = settings.control_plane.max_body_bytes;
    let openapi = crate::api::openapi::ApiDoc::openapi();
    let bootstrap = state.bootstrap.clone();
    HttpService::bind(listen, move || {
        let bootstrap = bootstrap.clone();
        App::new()
            .wrap(from_fn(move |request, next| {
                http::until_started(bootstrap.clone(), request, next)
            }))
            .wrap(from_fn(|request, next| {
                common::metrics::track_requests(SERVICE, request, next)
            }))
            .wrap(TracingLogger::default())
            .app_data(state.clone())
            .configure(|config| http::configure_basics(config, json_limit))
            .route("/readyz", web::get().to(readyz))
            .configure(crate::api::configure)
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
            .default_service(web::to(http::not_found))
    })
}

/// `GET /readyz`: the control database answers, the schema is migrated and seeded, and
/// the configured `default` server (if any) is registered, so a tenant created the moment
/// this answers 200 has somewhere to go.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = vec![
        Check {
            name: "control_db",
            result: common::db::ping(&state.db).await,
        },
        Check {
            name: "bootstrap",
            result: state.bootstrap.check(),
        },
    ];
    if state.config.expects_default_server {
        checks.push(Check {
            name: "default_server",
            result: default_server_registered(&state).await,
        });
    }
    http::readiness_response(&checks)
}

/// Whether server `default` exists, remembered once it does (it is never unregistered).
async fn default_server_registered(state: &AppState) -> Result<(), String> {
    if state.default_server.is_ready() {
        return Ok(());
    }
    state.bootstrap.check()?;
    let statement = Statement::from_string(
        DbBackend::Postgres,
        "SELECT 1 AS found FROM database_servers WHERE name = 'default'",
    );
    match state.db.query_one_raw(statement).await {
        Ok(Some(_)) => {
            state.default_server.set_ready();
            Ok(())
        }
        Ok(None) => state.default_server.check(),
        Err(error) => Err(error.to_string()),
    }
}
