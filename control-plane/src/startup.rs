//! Builds the control plane's HTTP server on a bound listener (port 0 in tests) and runs it
//! until the shutdown token fires.

use crate::SERVICE;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use common::config::Settings;
use common::http::{self, BindError, Check, HttpService, Listen, StartupStatus};
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// Set once the control schema is migrated and seeded.
    pub bootstrap: StartupStatus,
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
    HttpService::bind(listen, move || {
        App::new()
            .wrap(from_fn(|request, next| {
                common::metrics::track_requests(SERVICE, request, next)
            }))
            .wrap(TracingLogger::default())
            .app_data(state.clone())
            .configure(|config| http::configure_basics(config, json_limit))
            .route("/readyz", web::get().to(readyz))
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
