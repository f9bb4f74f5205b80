//! Builds the control plane's HTTP server on a bound listener (port 0 in tests) and runs it
//! until the shutdown token fires, with its `/readyz`: the admin API, Stripe's webhook,
//! Swagger UI, and the admin portal at `/`.

use crate::SERVICE;
use crate::state::AppState;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use common::config::Settings;
use common::http::{self, BindError, Check, HttpService, Listen};
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

/// The service, bound and ready to run: see [`HttpService::port`] and
/// [`HttpService::run_until`].
pub type Application = HttpService;

/// Binds `control_plane.host:port` and prepares the server.
pub fn build_app(settings: &Settings, state: AppState) -> Result<Application, BindError> {
    let listen = Listen {
        host: &settings.control_plane.host,
        port: settings.control_plane.port,
        key: "control_plane.port",
        client_request_timeout: std::time::Duration::from_secs(
            settings.control_plane.client_request_timeout_secs,
        ),
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
            .wrap(from_fn(http::refuse_nul))
            .wrap(from_fn(|request, next| {
                common::metrics::track_requests(SERVICE, request, next)
            }))
            .wrap(TracingLogger::<common::trace_context::RootSpan>::new())
            .app_data(state.clone())
            // Registered before the shared `/metrics`, which it renders after refreshing
            // the fleet's backup gauges.
            .route("/metrics", web::get().to(crate::fleet_metrics::metrics))
            .configure(|config| http::configure_basics(config, json_limit))
            .route("/readyz", web::get().to(readyz))
            .configure(crate::api::configure)
            .configure(|config| crate::api::webhooks::configure(config, json_limit))
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
            .configure(crate::portal::configure)
            .default_service(web::to(crate::portal::errors::not_found))
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
