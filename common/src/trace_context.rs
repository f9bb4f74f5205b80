//! W3C trace context across process boundaries, so one trace follows a request from the
//! process it reached to the work it started elsewhere:
//!
//! - every HTTP service continues the caller's `traceparent` header ([`RootSpan`], the
//!   root span builder of `TracingLogger`), so a trace begun at an ingress or a client
//!   spans the control plane and the runtime;
//! - a job row carries the `traceparent` of the request that queued it ([`current`] at
//!   enqueue), and the worker's job span continues it ([`continue_from`]);
//! - the runtime's outgoing webhook deliveries send the delivering span's `traceparent`.
//!
//! With traces off (no OpenTelemetry layer installed) spans have no valid context:
//! [`current`] answers `None` and nothing is stored or sent.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The W3C header (and the job column) holding the trace context.
pub const HEADER: &str = "traceparent";

/// The `traceparent` of the current span, when traces are on and it has a valid context.
pub fn current() -> Option<String> {
    of(&Span::current())
}

/// The `traceparent` of `span`, when traces are on and it has a valid context.
pub fn of(span: &Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(HEADER)
}

/// Makes `span` a child of the remote span `traceparent` names. A missing or malformed
/// value leaves `span` a root: a bad header from a client must never fail its request.
pub fn continue_from(span: &Span, traceparent: Option<&str>) {
    let Some(value) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(HEADER.to_owned(), value.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        // Fails only when `span` is disabled or traces are off: nothing to continue then.
        let _ = span.set_parent(context);
    }
}

/// `TracingLogger`'s root span, continuing the caller's `traceparent`.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let span = tracing_actix_web::root_span!(request);
        let traceparent = request
            .headers()
            .get(HEADER)
            .and_then(|value| value.to_str().ok());
        continue_from(&span, traceparent);
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_trace_layer_nothing_is_carried_and_nothing_fails() {
        let span = tracing::info_span!("job");
        continue_from(&span, Some("00-not-a-trace-01"));
        continue_from(&span, None);
        assert_eq!(of(&span), None);
        assert_eq!(current(), None);
    }
}
