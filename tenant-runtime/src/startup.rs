//! Builds the tenant runtime: its state (`state`), the HTTP server on a bound listener
//! (port 0 in tests), and the background tasks that run
//! beside it (change feed, usage flush and sampling, idle-connection housekeeping, giving
//! budget back to other runtimes, the webhook delivery worker) until
//! shutdown, when the last usage counts are flushed.

use crate::state::AppState;
use crate::{SERVICE, api, gate, listener, usage};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use common::config::Settings;
use common::http::{self, Check, HttpService, Listen};
use sea_orm::DatabaseConnection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

/// How often idle connections are closed and gauges refreshed.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);
/// How often this runtime looks whether another one waits for a server's budget (with
/// Redis), to give back its idle connections: well within `budget_wait`.
const SHARE_BUDGETS_EVERY: Duration = Duration::from_millis(200);

/// The runtime, bound and ready to run.
pub struct Application {
    http: HttpService,
    state: web::Data<AppState>,
    settings: Settings,
}

/// Binds `tenant_runtime.host:port` and prepares the server and its background tasks.
pub fn build_app(
    settings: &Settings,
    control_db: DatabaseConnection,
) -> anyhow::Result<Application> {
    let state = web::Data::new(AppState::new(settings, control_db)?);
    let listen = Listen {
        host: &settings.tenant_runtime.host,
        port: settings.tenant_runtime.port,
        key: "tenant_runtime.port",
        client_request_timeout: Duration::from_secs(
            settings.tenant_runtime.client_request_timeout_secs,
        ),
    };
    let json_limit = settings.tenant_runtime.max_body_bytes;
    let app_state = state.clone();
    let http = HttpService::bind(listen, move || {
        let control_schema = app_state.control_schema.clone();
        App::new()
            .wrap(from_fn(move |request, next| {
                http::until_started(control_schema.clone(), request, next)
            }))
            .wrap(from_fn(http::refuse_nul))
            .wrap(from_fn(|request, next| {
                common::metrics::track_requests(SERVICE, request, next)
            }))
            .wrap(TracingLogger::default())
            .app_data(app_state.clone())
            .configure(|config| http::configure_basics(config, json_limit))
            .route("/readyz", web::get().to(readyz))
            .route("/openapi.json", web::get().to(openapi))
            .service(
                SwaggerUi::new("/docs/{_:.*}").url("/docs/openapi.json", api::ApiDoc::openapi()),
            )
            .service(
                web::scope("/api/v1")
                    .wrap(from_fn(crate::erp::webhooks::nudge_after_events))
                    .wrap(from_fn(gate::gate))
                    .configure(api::routes)
                    .default_service(web::to(http::not_found)),
            )
            .configure(common::web::assets::configure)
            .configure(crate::web::routes)
            .default_service(web::to(http::not_found))
    })?;
    state.bind_origin(
        settings,
        settings.tenant_runtime.tenant_origin(Some(http.port())),
    )?;
    Ok(Application {
        http,
        state,
        settings: settings.clone(),
    })
}

impl Application {
    pub fn port(&self) -> u16 {
        self.http.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The registry, kept after [`Application::run_until`] takes the application (tests
    /// and benchmarks look at its servers' budgets).
    pub fn registry(&self) -> std::sync::Arc<crate::registry::Registry> {
        self.state.registry.clone()
    }

    /// Serves until `shutdown`, then drains requests and flushes the last usage counts.
    pub async fn run_until(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let background = CancellationToken::new();
        let tasks = spawn_background(&self.state, &self.settings, &background);
        let served = self.http.run_until(shutdown).await;
        background.cancel();
        for task in tasks {
            let _ = task.await;
        }
        final_flush(&self.state).await;
        served
    }
}

fn spawn_background(
    state: &web::Data<AppState>,
    settings: &Settings,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let runtime = &settings.tenant_runtime;
    let schema = tokio::spawn({
        let (state, stop) = (state.clone(), stop.clone());
        async move {
            if common::db::wait_for_control_schema(&state.control_db, &stop).await {
                state.control_schema.set_ready();
            }
        }
    });
    let feed = tokio::spawn(listener::follow_changes(
        settings.database.url.expose().to_owned(),
        state.registry.clone(),
        state.feed.clone(),
        stop.clone(),
    ));
    let flush = every(stop, Duration::from_secs(runtime.usage_flush_secs), {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move {
                if let Err(error) = state.usage.flush(&state.control_db).await {
                    tracing::warn!(%error, "flushing usage failed; the counts wait for the next try");
                }
            }
        }
    });
    let sample = every(stop, Duration::from_secs(runtime.usage_sample_secs), {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move { usage::sample(&state.registry, &state.control_db).await }
        }
    });
    let housekeeping = every(stop, HOUSEKEEPING_EVERY, {
        let registry = state.registry.clone();
        move || {
            let registry = registry.clone();
            async move { registry.housekeeping().await }
        }
    });
    let share = every(stop, SHARE_BUDGETS_EVERY, {
        let registry = state.registry.clone();
        move || {
            let registry = registry.clone();
            async move { registry.share_budgets().await }
        }
    });
    let webhooks = tokio::spawn(state.webhooks.clone().run(stop.clone()));
    vec![schema, feed, flush, sample, housekeeping, share, webhooks]
}

/// Runs `work` every `period` until `stop`.
fn every<F, Fut>(stop: &CancellationToken, period: Duration, work: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stop = stop.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // Shutdown must not wait for a slow round (the final usage flush comes after).
            tokio::select! {
                () = stop.cancelled() => return,
                () = work() => {}
            }
        }
    })
}

/// The shutdown flush: a few tries, since a lost count is lost revenue.
async fn final_flush(state: &AppState) {
    for attempt in 1..=3 {
        match state.usage.flush(&state.control_db).await {
            Ok(calls) => {
                tracing::info!(calls, "usage flushed at shutdown");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, attempt, "flushing usage at shutdown failed");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
        }
    }
    tracing::error!(
        calls = state.usage.pending(),
        "usage counts lost at shutdown"
    );
}

/// `GET /readyz`: the control database answers, its schema is current and the change feed
/// is connected.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let control_db = Check {
        name: "control_db",
        result: common::db::ping(&state.control_db).await,
    };
    let control_schema = Check {
        name: "control_schema",
        result: state.control_schema.check(),
    };
    let feed = Check {
        name: "tenant_change_feed",
        result: if state.feed.is_connected() {
            Ok(())
        } else {
            Err("not listening to tenant_changed yet".into())
        },
    };
    http::readiness_response(&[control_db, control_schema, feed])
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(api::document())
}
