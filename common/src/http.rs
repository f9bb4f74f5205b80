//! What every HTTP service shares: how a connection is served (every request head timed),
//! the health, readiness and metrics endpoints, JSON and routing errors as problem+json,
//! and a clear error when the listen port is taken.

use crate::head_deadline::HeadDeadline;
use crate::problem::{FieldError, Problem};
use actix_http::error::DispatchError;
use actix_server::GracefulShutdownSignal;
use actix_service::{ServiceFactoryExt as _, fn_service, map_config};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{AppConfig, Server, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use std::fmt::Debug;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// A bound, not yet running HTTP service.
pub struct HttpService {
    port: u16,
    server: Server,
}

/// Where a service listens, and the config key that sets it (named in bind errors).
#[derive(Debug, Clone, Copy)]
pub struct Listen<'a> {
    pub host: &'a str,
    pub port: u16,
    pub key: &'static str,
    /// How long a client has to send a request's whole head: from connecting for the
    /// first request (actix answers 408 and closes), from its first byte for every later
    /// one on a kept-alive connection ([`HeadDeadline`] closes). Slow clients cannot pile up.
    pub client_request_timeout: std::time::Duration,
}

/// The request-head timeout of a service whose configuration names none (the provisioner's
/// health listener): actix's own default, written down.
pub const DEFAULT_CLIENT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl HttpService {
    /// Binds first (so a taken port fails here, clearly), then builds the server. Signals
    /// are not watched by actix: the caller's shutdown token decides when to stop.
    pub fn bind<F, I, S, B>(listen: Listen<'_>, app: F) -> Result<Self, BindError>
    where
        F: Fn() -> I + Send + Clone + 'static,
        I: actix_service::IntoServiceFactory<S, actix_http::Request>,
        S: ServiceFactory<actix_http::Request, Config = AppConfig> + 'static,
        S::Error: Into<actix_web::Error> + 'static,
        S::InitError: Debug,
        S::Response: Into<actix_http::Response<B>> + 'static,
        <S::Service as Service<actix_http::Request>>::Future: 'static,
        S::Service: 'static,
        B: MessageBody + 'static,
    {
        let listener = bind(listen.host, listen.port, listen.key)?;
        let address = listener.local_addr().map_err(|source| BindError::Other {
            address: format!("{}:{}", listen.host, listen.port),
            key: listen.key,
            source,
        })?;
        let port = address.port();
        let builder = actix_server::Server::build();
        let draining = builder.graceful_shutdown_signal();
        let head_timeout = listen.client_request_timeout;
        let server = builder
            .listen(format!("http-{address}"), listener, move || {
                connection_service(app(), address, head_timeout, draining.clone())
            })
            .map_err(|source| BindError::Other {
                address: address.to_string(),
                key: listen.key,
                source,
            })?
            .disable_signals()
            .shutdown_timeout(10)
            .run();
        Ok(Self { port, server })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests.
    pub async fn run_until(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let handle = self.server.handle();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            handle.stop(true).await;
        });
        self.server.await
    }
}

/// What serves one accepted connection: actix-web's own HTTP/1 service (as `HttpServer`
/// builds it, with its defaults) over the connection wrapped in a [`HeadDeadline`], so that
/// `head_timeout` bounds the head of every request on a kept-alive connection, not only
/// the first one's as actix does (`HttpServer` has no way to wrap the stream, hence this).
fn connection_service<I, S, B>(
    app: I,
    address: SocketAddr,
    head_timeout: Duration,
    draining: GracefulShutdownSignal,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = DispatchError, InitError = ()>
where
    I: actix_service::IntoServiceFactory<S, actix_http::Request>,
    S: ServiceFactory<actix_http::Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: Debug,
    S::Response: Into<actix_http::Response<B>> + 'static,
    <S::Service as Service<actix_http::Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let app = app
        .into_factory()
        .map_err(|error| error.into().error_response());
    let http = actix_http::HttpService::build()
        .graceful_shutdown_signal(move || {
            let draining = draining.clone();
            async move { draining.notified().await }
        })
        .client_request_timeout(head_timeout)
        // actix-web's `HttpServer` default (actix-http's own is none).
        .client_disconnect_timeout(Duration::from_secs(1))
        .local_addr(address)
        // `HttpServer` puts the bound address in the app config, but only actix-web may
        // make one; the default differs only in the host actix falls back to for a request
        // without `Host`, which names no company either way.
        .finish(map_config(app, |_| AppConfig::default()));
    fn_service(move |stream: TcpStream| async move {
        let peer = stream.peer_addr().ok();
        Ok((
            HeadDeadline::new(stream, head_timeout),
            actix_http::Protocol::Http1,
            peer,
        ))
    })
    .and_then(http)
}

/// Whether a service finished what it must do at start (reach its database, migrate,
/// seed). Shared between the start-up task that sets it and `/readyz` that reads it.
#[derive(Debug, Clone)]
pub struct StartupStatus(Arc<RwLock<Result<(), String>>>);

impl StartupStatus {
    /// Not ready yet, for the reason given.
    pub fn waiting(reason: &str) -> Self {
        Self(Arc::new(RwLock::new(Err(reason.to_owned()))))
    }

    pub fn set_waiting(&self, reason: impl Into<String>) {
        if let Ok(mut state) = self.0.write() {
            *state = Err(reason.into());
        }
    }

    pub fn set_ready(&self) {
        if let Ok(mut state) = self.0.write() {
            *state = Ok(());
        }
    }

    pub fn check(&self) -> Result<(), String> {
        self.0.read().map_or_else(
            |_| Err("start-up state poisoned".into()),
            |state| state.clone(),
        )
    }

    pub fn is_ready(&self) -> bool {
        self.0.read().is_ok_and(|state| state.is_ok())
    }
}

/// Middleware: until `status` is ready, every request under `/api/` (what needs the
/// control schema) answers 503 `starting` with `Retry-After: 1` instead of failing on a
/// missing table; health, readiness, metrics and the documents answer as usual.
pub async fn until_started(
    status: StartupStatus,
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if status.is_ready() || !request.path().starts_with("/api/") {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let reason = status.check().err().unwrap_or_default();
    let response = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "starting",
        format!("the service is starting ({reason}); try again in a moment"),
    )
    .with_retry_after(1)
    .to_response();
    Ok(request.into_response(response))
}

/// Middleware: a NUL character (`%00`) in the path answers 404 `not_found`, and in the
/// query or in a form's fields (`application/x-www-form-urlencoded`, read here and handed
/// on) 422 `validation_failed` (as any other malformed path, query or field does), before
/// a handler could pass it to Postgres, which cannot store it and would make it a 500.
/// (JSON bodies are checked by [`Body`].)
pub async fn refuse_nul(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let problem = if request.path().contains("%00") {
        Some(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the path holds a NUL character",
        ))
    } else if request.query_string().contains("%00") {
        Some(nul_refused("query"))
    } else if is_form(&request) {
        let fields = request.extract::<web::Bytes>().await?;
        let holds_nul = form_holds_nul(&fields);
        request.set_payload(actix_web::dev::Payload::from(fields));
        holds_nul.then(|| nul_refused("form"))
    } else {
        None
    };
    match problem {
        Some(problem) => Ok(request.into_response(problem.to_response())),
        None => Ok(next.call(request).await?.map_into_boxed_body()),
    }
}

fn nul_refused(field: &str) -> Problem {
    Problem::validation(vec![FieldError {
        field: field.into(),
        message: "a NUL character is not allowed".into(),
    }])
}

fn is_form(request: &ServiceRequest) -> bool {
    request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// Whether url-encoded `fields` decode to text holding a NUL (`%00`, or a raw zero byte).
fn form_holds_nul(fields: &[u8]) -> bool {
    fields.contains(&0)
        || fields
            .windows(3)
            .any(|window| window.eq_ignore_ascii_case(b"%00"))
}

/// Registers what every service has: `/healthz`, `/metrics`, and problem+json for JSON,
/// path and query errors. Each service adds its own `/readyz` (its checks differ).
pub fn configure_basics(config: &mut web::ServiceConfig, json_limit: usize) {
    config
        .app_data(json_config(json_limit))
        .app_data(path_config())
        .app_data(query_config())
        .route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics));
}

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}

/// The outcome of one readiness check (a database, a migration state).
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub result: Result<(), String>,
}

/// `GET /readyz` body: 200 when every check passed, else 503 `not_ready` naming the failures.
pub fn readiness_response(checks: &[Check]) -> HttpResponse {
    let failures: Vec<String> = checks
        .iter()
        .filter_map(|check| match &check.result {
            Ok(()) => None,
            Err(reason) => Some(format!("{}: {reason}", check.name)),
        })
        .collect();
    if failures.is_empty() {
        let names: Vec<&str> = checks.iter().map(|check| check.name).collect();
        return HttpResponse::Ok().json(json!({ "status": "ready", "checks": names }));
    }
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        failures.join("; "),
    )
    .with_retry_after(5)
    .to_response()
}

/// JSON bodies: malformed -> 400 `malformed_json`, too large -> 413 `payload_too_large`,
/// wrong content type -> 415, well-formed but wrong shape -> 422 `validation_failed`.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _request| json_problem(&error).into())
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error: PathError, _| {
        Problem::new(StatusCode::NOT_FOUND, "not_found", error.to_string()).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error: QueryPayloadError, _| {
        Problem::validation(vec![FieldError {
            field: "query".into(),
            message: error.to_string(),
        }])
        .into()
    })
}

fn json_problem(error: &JsonPayloadError) -> Problem {
    match error {
        JsonPayloadError::OverflowKnownLength { length, limit } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body of {length} bytes exceeds the limit of {limit}"),
        ),
        JsonPayloadError::Overflow { limit } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body exceeds the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(cause) if cause.is_data() => {
            Problem::validation(vec![FieldError {
                field: "body".into(),
                message: cause.to_string(),
            }])
        }
        other => Problem::new(StatusCode::BAD_REQUEST, "malformed_json", other.to_string()),
    }
}

/// The default service: unknown routes get problem+json 404 instead of an empty body.
/// The client's IP, for per-IP limits and the audit log: the peer address, or the first
/// `X-Forwarded-For` hop when the service sits behind a proxy it trusts to set it.
pub fn client_ip(request: &HttpRequest, trust_forwarded: bool) -> Option<std::net::IpAddr> {
    if trust_forwarded {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .and_then(|first| first.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    request.peer_addr().map(|address| address.ip())
}

pub async fn not_found(request: HttpRequest) -> HttpResponse {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", request.method(), request.path()),
    )
    .to_response()
}

/// Why a service could not start listening.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot listen on {address}: the port is already in use (set `{key}` to another port)")]
    PortInUse { address: String, key: &'static str },
    #[error("cannot listen on {address} (`{key}`): {source}")]
    Other {
        address: String,
        key: &'static str,
        source: std::io::Error,
    },
}

/// Binds a listener, turning "address in use" into an error that names the config key.
pub fn bind(host: &str, port: u16, key: &'static str) -> Result<TcpListener, BindError> {
    let address = format!("{host}:{port}");
    TcpListener::bind(&address).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => BindError::PortInUse { address, key },
        _ => BindError::Other {
            address,
            key,
            source,
        },
    })
}

/// A JSON body whose parse error waits until the handler asks for it. Actix runs a
/// handler's extractors together, so with a plain `web::Json` a malformed body could
/// answer 422 to a caller who is not even allowed to make the request; with `Body`,
/// authentication and authorization (extractors) speak first.
pub struct Body<T>(Result<T, actix_web::Error>);

impl<T> Body<T> {
    /// The parsed body, or the problem+json error the JSON configuration made of it.
    pub fn into_inner(self) -> Result<T, actix_web::Error> {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Body<T> {
    type Error = std::convert::Infallible;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(
        request: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let json = actix_web::web::Json::<serde_json::Value>::from_request(request, payload);
        Box::pin(async move { Ok(Self(json.await.and_then(|json| typed(json.into_inner())))) })
    }
}

/// The body as `T`, with whole-number floats (`2.0`) read as the integers they are: JSON
/// (and JSON Schema's `integer`) make no difference between the two spellings.
/// Text with a NUL character is refused here: Postgres cannot store one (it would be a 500).
fn typed<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, actix_web::Error> {
    if holds_nul(&body) {
        return Err(Problem::validation(vec![FieldError {
            field: "body".into(),
            message: "text may not contain a NUL character (\\u0000)".into(),
        }])
        .into());
    }
    serde_json::from_value(whole_numbers(body))
        .map_err(|error| json_problem(&JsonPayloadError::Deserialize(error)).into())
}

fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        _ => false,
    }
}

fn whole_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(number) => match number.as_f64() {
            // Only floats within the range where every integer is exactly a float.
            Some(float)
                if number.is_f64() && float.fract() == 0.0 && float.abs() <= 2f64.powi(53) =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Value::from(float as i64)
            }
            _ => Value::Number(number),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, whole_numbers(value)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_number_floats_become_integers_and_others_stay() {
        let body = json!({ "days": 174.0, "nested": [2.0, 2.5], "big": 1e300, "text": "1.0" });
        let read = whole_numbers(body);
        assert_eq!(
            read,
            json!({ "days": 174, "nested": [2, 2.5], "big": 1e300, "text": "1.0" })
        );
        assert!(read["days"].is_i64());
    }

    #[test]
    fn a_nul_anywhere_in_the_body_is_refused_as_invalid() {
        let refused = typed::<serde_json::Value>(json!({ "a": [{ "b": "x\u{0}y" }] }));
        let error = refused.expect_err("refused");
        assert_eq!(
            error.as_response_error().status_code(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert!(typed::<serde_json::Value>(json!({ "a": "fine" })).is_ok());
    }

    #[test]
    fn a_form_holds_a_nul_when_a_field_decodes_to_one() {
        assert!(form_holds_nul(b"email=a%00b&password=x"));
        assert!(form_holds_nul(b"email=a\0b"));
        assert!(!form_holds_nul(b"email=a%2500b&note=100%25"));
    }

    #[test]
    fn binding_a_taken_port_names_the_key() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let error = bind("127.0.0.1", port, "control_plane.port").expect_err("in use");
        let text = error.to_string();
        assert!(text.contains("already in use"), "{text}");
        assert!(text.contains("control_plane.port"), "{text}");
    }

    #[test]
    fn readiness_fails_when_any_check_fails() {
        let checks = [
            Check {
                name: "control_db",
                result: Err("refused".into()),
            },
            Check {
                name: "migrations",
                result: Ok(()),
            },
        ];
        assert_eq!(
            readiness_response(&checks).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(readiness_response(&checks[1..]).status(), StatusCode::OK);
    }
}
