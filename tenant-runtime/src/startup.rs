//! Builds the tenant runtime's HTTP server on a bound listener (port 0 in tests) and runs it
//! until the shutdown token fires.

use crate::SERVICE;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use common::config::Settings;
use common::http::{self, BindError, Check, HttpService, Listen};
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub control_db: DatabaseConnection,
}

/// The service, bound and ready to run: see [`HttpService::port`] and
/// [`HttpService::run_until`].
pub type Application = HttpService;

/// Binds `tenant_runtime.host:port` and prepares the server.
pub fn build_app(
    settings: &Settings,
    control_db: DatabaseConnection,
) -> Result<Application, BindError> {
    let listen = Listen {
        host: &settings.tenant_runtime.host,
        port: settings.tenant_runtime.port,
        key: "tenant_runtime.port",
    };
    let state = web::Data::new(AppState { control_db });
    let json_limit = settings.tenant_runtime.max_body_bytes;
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

/// `GET /readyz`: the control database answers.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let control_db = Check {
        name: "control_db",
        result: common::db::ping(&state.control_db).await,
    };
    http::readiness_response(&[control_db])
}
