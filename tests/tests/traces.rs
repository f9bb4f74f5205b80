//! One trace across processes: an admin's request that queues a job, the worker's run of
//! that job, and a runtime request carrying the same trace context, all exported as one
//! trace. Its own test binary, because it installs a global tracing subscriber with an
//! OpenTelemetry layer that exports into memory: the system binary's tests must not
//! carry one (nor pay for it).

use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use reqwest::Method;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use system_tests::admin::AdminApi;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Every span the process ended, kept in memory.
#[derive(Clone, Debug, Default)]
struct Collected(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collected {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().expect("spans").extend(batch);
        Ok(())
    }
}

impl Collected {
    /// The spans of `trace` ended so far.
    fn of_trace(&self, trace: TraceId) -> Vec<SpanData> {
        let spans = self.0.lock().expect("spans");
        spans
            .iter()
            .filter(|span| span.span_context.trace_id() == trace)
            .cloned()
            .collect()
    }
}

/// Installs the process's subscriber once: the same OpenTelemetry layer production
/// installs (`common::telemetry`), exporting each span into memory as it ends.
fn collected() -> &'static Collected {
    static INSTALLED: OnceLock<(Collected, SdkTracerProvider)> = OnceLock::new();
    let (spans, _) = INSTALLED.get_or_init(|| {
        let spans = Collected::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("info"))
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("system-tests")))
            .init();
        (spans, provider)
    });
    spans
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|pair| pair.key.as_str() == key)
        .map(|pair| pair.value.to_string())
}

/// Waits until `found` accepts the trace's spans (spans are exported as they end, and a
/// job's span ends after its job row is settled).
async fn spans_when(
    spans: &Collected,
    trace: TraceId,
    found: impl Fn(&[SpanData]) -> bool,
) -> Vec<SpanData> {
    let started = Instant::now();
    loop {
        let of_trace = spans.of_trace(trace);
        if found(&of_trace) {
            return of_trace;
        }
        let names: Vec<_> = of_trace.iter().map(|span| span.name.clone()).collect();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the trace holds only {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_the_admin_request_its_provisioning_job_and_the_runtime() {
    let spans = collected();
    let api = AdminApi::start().await;
    api.register_primary().await;
    let trace = TraceId::from(uuid::Uuid::new_v4().as_u128());
    let caller = SpanId::from(0x00f0_67aa_0ba9_02b7_u64);
    let traceparent = |parent: SpanId| format!("00-{trace}-{parent}-01");

    let created = api
        .app
        .client
        .post(api.url("/api/v1/tenants"))
        .bearer_auth(&api.token)
        .header("traceparent", traceparent(caller))
        .json(
            &serde_json::json!({ "slug": "traced", "name": "Traced Ltd", "plan": "starter",
            "admin_email": "admin@traced.example" }),
        )
        .send()
        .await
        .expect("request sent");
    let created = system_tests::admin::read(created).await;
    assert_eq!(created.status, 202, "{:?}", created.body);
    let job = api
        .wait_for_job(created.body["job_id"].as_str().expect("job id"))
        .await;
    assert_eq!(job["state"], "succeeded", "{job:?}");

    // A runtime request the same caller makes next, in the same trace.
    let runtime_caller = SpanId::from(0x0a0b_0c0d_0e0f_1011_u64);
    let reply = api
        .app
        .client
        .request(
            Method::GET,
            format!("{}/api/v1/me", api.app.tenant_runtime_url),
        )
        .header("x-tenant", "traced")
        .header("traceparent", traceparent(runtime_caller))
        .send()
        .await
        .expect("request sent");
    assert_eq!(reply.status(), 401, "no token: refused, and still traced");

    let job_span = |spans: &[SpanData]| {
        spans
            .iter()
            .find(|span| {
                span.name == "job" && attribute(span, "kind").as_deref() == Some("provision")
            })
            .cloned()
    };
    let of_trace = spans_when(spans, trace, |spans| {
        job_span(spans).is_some()
            && spans
                .iter()
                .any(|span| span.parent_span_id == runtime_caller)
    })
    .await;

    // The control plane's request span continues the caller's.
    let request = of_trace
        .iter()
        .find(|span| span.parent_span_id == caller)
        .expect("the control plane's request span is the caller's child");
    assert_eq!(
        attribute(request, "http.route").as_deref(),
        Some("/api/v1/tenants"),
        "{request:?}"
    );
    // The job's span, run by the worker after the request ended, descends from it.
    let job = job_span(&of_trace).expect("the provisioning job's span");
    let mut parent = job.parent_span_id;
    let mut hops = 0;
    while parent != request.span_context.span_id() {
        let next = of_trace
            .iter()
            .find(|span| span.span_context.span_id() == parent)
            .unwrap_or_else(|| panic!("the job span's ancestry leaves the trace at {parent}"));
        parent = next.parent_span_id;
        hops += 1;
        assert!(
            hops < 16,
            "the job span does not descend from the request span"
        );
    }
    assert!(
        job.parent_span_is_remote,
        "the job continues a context stored on its row"
    );
    // The runtime continues its caller's context.
    let runtime = of_trace
        .iter()
        .find(|span| span.parent_span_id == runtime_caller)
        .expect("the runtime's request span");
    assert_eq!(
        attribute(runtime, "http.route").as_deref(),
        Some("/api/v1/me")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_traceparent_starts_a_new_trace_and_the_request_is_served() {
    let spans = collected();
    let api = AdminApi::start().await;
    let reply = api
        .app
        .client
        .get(api.url("/api/v1/tenants"))
        .bearer_auth(&api.token)
        .header("traceparent", "00-zzzz-not-a-trace-01")
        .send()
        .await
        .expect("request sent");
    assert_eq!(reply.status(), 200);
    let listed = |span: &SpanData| {
        attribute(span, "http.route").as_deref() == Some("/api/v1/tenants")
            && attribute(span, "http.method").as_deref() == Some("GET")
    };
    let started = Instant::now();
    let roots = loop {
        let roots: Vec<SpanData> = spans
            .0
            .lock()
            .expect("spans")
            .iter()
            .filter(|span| listed(span))
            .cloned()
            .collect();
        if !roots.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break roots;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!roots.is_empty(), "the request was traced");
    for root in roots {
        assert_eq!(root.parent_span_id, SpanId::INVALID, "a new root: {root:?}");
    }
}
