//! Builds the tenant runtime: its state (`state`), the HTTP server on a bound listener
//! (port 0 in tests), and the background tasks that run
//! beside it (change feed, usage flush and sampling, idle-connection housekeeping, giving
//! budget back to other runtimes, the webhook delivery worker) until
//! shutdown, when the last usage counts are flushed.

use crate::state::AppState;
use crate::{SERVICE, api, gate, listener, usage};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use common::config::{DatabaseSettings, Settings};
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
            .wrap(TracingLogger::<common::trace_context::RootSpan>::new())
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
        final_flush(&self.state, &self.settings.database).await;
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
    let flush_every = Duration::from_secs(runtime.usage_flush_secs);
    let flush = every(stop, flush_every, AtShutdown::Finish, {
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
    let sample = every(
        stop,
        Duration::from_secs(runtime.usage_sample_secs),
        AtShutdown::Abandon,
        {
            let state = state.clone();
            move || {
                let state = state.clone();
                async move { usage::sample(&state.registry, &state.control_db).await }
            }
        },
    );
    let housekeeping = every(stop, HOUSEKEEPING_EVERY, AtShutdown::Abandon, {
        let registry = state.registry.clone();
        move || {
            let registry = registry.clone();
            async move { registry.housekeeping().await }
        }
    });
    let share = every(stop, SHARE_BUDGETS_EVERY, AtShutdown::Abandon, {
        let registry = state.registry.clone();
        move || {
            let registry = registry.clone();
            async move { registry.share_budgets().await }
        }
    });
    let webhooks = tokio::spawn(state.webhooks.clone().run(stop.clone()));
    vec![schema, feed, flush, sample, housekeeping, share, webhooks]
}

/// What becomes of a round in flight when shutdown comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtShutdown {
    /// Dropped: shutdown must not wait for a slow round.
    Abandon,
    /// Finished first. A usage flush has taken its counts out of memory: dropped while its
    /// write is on the way, they would be lost, so it runs to its end (keeping its batch
    /// for a retry when the write fails) before the final flush.
    Finish,
}

/// Runs `work` every `period` until `stop`.
fn every<F, Fut>(
    stop: &CancellationToken,
    period: Duration,
    at_shutdown: AtShutdown,
    work: F,
) -> tokio::task::JoinHandle<()>
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
            match at_shutdown {
                AtShutdown::Finish => work().await,
                AtShutdown::Abandon => tokio::select! {
                    () = stop.cancelled() => return,
                    () = work() => {}
                },
            }
        }
    })
}

/// The shutdown flush: a few tries, since a lost count is lost revenue. Through a
/// connection of its own: the pool's may have been opened by an HTTP worker, whose Tokio
/// runtime has stopped by now, and their I/O fails then ("a Tokio 1.x context was found,
/// but it is being shutdown"), possibly after the write went out (the batch id keeps such
/// a retry from counting twice, but the try is wasted).
async fn final_flush(state: &AppState, database: &DatabaseSettings) {
    let own = common::db::connect_lazy(&DatabaseSettings {
        max_connections: 1,
        ..database.clone()
    })
    .await;
    let db = match &own {
        Ok(db) => db,
        Err(error) => {
            tracing::warn!(%error, "no connection of its own for the shutdown flush; using the pool");
            &state.control_db
        }
    };
    flush_with_retries(state, db).await;
    if let Ok(own) = own {
        let _ = own.close().await;
    }
}

async fn flush_with_retries(state: &AppState, db: &DatabaseConnection) {
    for attempt in 1..=3 {
        match state.usage.flush(db).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::sync::Notify;

    type Round = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

    /// A round that signals its start and takes a while; `done` is set only at its end.
    fn slow_round(started: Arc<Notify>, done: Arc<AtomicBool>) -> impl Fn() -> Round {
        move || {
            let (started, done) = (started.clone(), done.clone());
            Box::pin(async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(200)).await;
                done.store(true, Ordering::SeqCst);
            })
        }
    }

    async fn stop_mid_round(at_shutdown: AtShutdown) -> bool {
        let stop = CancellationToken::new();
        let (started, done) = (Arc::new(Notify::new()), Arc::new(AtomicBool::new(false)));
        let task = every(
            &stop,
            Duration::from_millis(10),
            at_shutdown,
            slow_round(started.clone(), done.clone()),
        );
        started.notified().await;
        stop.cancel();
        task.await.expect("the loop ends");
        done.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_usage_flush_in_flight_at_shutdown_finishes_before_the_loop_ends() {
        assert!(stop_mid_round(AtShutdown::Finish).await);
    }

    #[tokio::test]
    async fn other_rounds_in_flight_at_shutdown_are_dropped() {
        assert!(!stop_mid_round(AtShutdown::Abandon).await);
    }
}
