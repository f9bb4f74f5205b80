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
use sea_orm::DatabaseConnection;
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
}

/// The settings handlers read, resolved once at start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub trust_forwarded_for: bool,
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
                tenant_origin: settings.tenant_runtime.tenant_origin(runtime_port),
            }),
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
    HttpService::bind(listen, move || {
        App::new()
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

/// `GET /readyz`: the control database answers and the schema is migrated and seeded.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let checks = [
        Check {
            name: "control_db",
            result: common::db::ping(&state.db).await,
        },
        Check {
            name: "bootstrap",
            result: state.bootstrap.check(),
        },
    ];
    http::readiness_response(&checks)
}
