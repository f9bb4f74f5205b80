//! Tracing set-up, done once per process: human-readable or JSON logs, and OpenTelemetry
//! traces over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! Environment variables read here: `RUST_LOG` (overrides `log.level`),
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (and the other standard `OTEL_*` variables the exporter
//! reads), `TEST_LOG` (see [`init_for_tests`]).

use crate::config::{LogFormat, LogSettings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Flushes and stops the trace exporter when dropped; keep it alive in `main`.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("trace exporter did not shut down cleanly: {error}");
        }
    }
}

/// Installs the global subscriber. `service` names the process in traces.
pub fn init(settings: &LogSettings, service: &'static str) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let mut layers = vec![format_layer(settings.format)];
    let tracer_provider = otlp_provider(service);
    if let Some(provider) = &tracer_provider {
        let tracer = provider.tracer(service);
        layers.push(tracing_opentelemetry::layer().with_tracer(tracer).boxed());
    }
    let result = Registry::default()
        .with(layers.with_filter(filter))
        .try_init();
    if let Err(error) = result {
        eprintln!("tracing was already initialised: {error}");
    }
    TelemetryGuard { tracer_provider }
}

/// For test binaries: logs only when `TEST_LOG` is set, and never fails when called twice.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = Registry::default()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_test_writer())
        .try_init();
}

fn format_layer(format: LogFormat) -> Box<dyn Layer<Registry> + Send + Sync> {
    match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(true).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    }
}

fn otlp_provider(service: &'static str) -> Option<SdkTracerProvider> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()?;
    if endpoint.trim().is_empty() {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("OTLP exporter for {endpoint} not started: {error}");
            return None;
        }
    };
    let resource = Resource::builder().with_service_name(service).build();
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    )
}
