//! The standalone worker's own HTTP endpoints, on `provisioner.host:provisioner.port`, for
//! probes and scraping: `/healthz` (the process serves), `/readyz` (the control database
//! answers and the worker is past its start-up waits: database reachable, control schema
//! current) and `/metrics` (the job counters and durations `saga` records). The all-in-one
//! process has no such listener: its worker's metrics are on the control plane's
//! `/metrics`.

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use common::config::Settings;
use common::http::{self, BindError, Check, HttpService, Listen, StartupStatus};
use sea_orm::DatabaseConnection;

/// Bodies the worker accepts: none of its routes reads one.
const JSON_LIMIT: usize = 1024;

#[derive(Clone)]
struct HealthState {
    control_db: DatabaseConnection,
    started: StartupStatus,
}

/// Binds the health listener (a taken port fails here, naming `provisioner.port`).
pub fn bind(
    settings: &Settings,
    control_db: DatabaseConnection,
    started: StartupStatus,
) -> Result<HttpService, BindError> {
    let listen = Listen {
        host: &settings.provisioner.host,
        port: settings.provisioner.port,
        key: "provisioner.port",
        client_request_timeout: http::DEFAULT_CLIENT_REQUEST_TIMEOUT,
    };
    let state = web::Data::new(HealthState {
        control_db,
        started,
    });
    HttpService::bind(listen, move || {
        App::new()
            .wrap(from_fn(|request, next| {
                common::metrics::track_requests(crate::SERVICE, request, next)
            }))
            .app_data(state.clone())
            .configure(|config| http::configure_basics(config, JSON_LIMIT))
            .route("/readyz", web::get().to(readyz))
            .default_service(web::to(http::not_found))
    })
}

/// `GET /readyz`: the control database answers and the worker has started its job loop.
async fn readyz(state: web::Data<HealthState>) -> HttpResponse {
    let control_db = Check {
        name: "control_db",
        result: common::db::ping(&state.control_db).await,
    };
    let worker = Check {
        name: "worker",
        result: state.started.check(),
    };
    http::readiness_response(&[control_db, worker])
}
