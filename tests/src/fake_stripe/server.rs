//! The HTTP side: binds `127.0.0.1:0` and answers every request in one handler that
//! records it, then refuses it without a Bearer key (401), fails it if a test queued a
//! failure, replays the answer saved under its `Idempotency-Key`, or runs its endpoint.

use super::form::Form;
use super::objects;
use super::routes::{self, Call, Reply};
use super::state::{Replay, Shared, State};
use super::{Failure, RecordedRequest};
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::time::Duration;

/// A started server: where it listens and how to stop it.
pub struct Running {
    pub port: u16,
    pub handle: ServerHandle,
}

/// Binds a free port on 127.0.0.1 and serves `shared` on the current Tokio runtime.
pub fn start(shared: Shared) -> std::io::Result<Running> {
    let data = web::Data::new(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(answer))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs().first().map_or(0, |address| address.port());
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(Running { port, handle })
}

/// A request, read once.
struct Incoming {
    method: String,
    path: String,
    query: Form,
    form: Form,
    body: String,
    idempotency_key: Option<String>,
    stripe_version: Option<String>,
    authorized: bool,
}

impl Incoming {
    fn read(request: &HttpRequest, body: &[u8]) -> Incoming {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let body = String::from_utf8_lossy(body).into_owned();
        let authorized = header("authorization")
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .map(|key| !key.trim().is_empty())
            })
            .unwrap_or(false);
        Incoming {
            method: request.method().as_str().to_owned(),
            path: request.path().to_owned(),
            query: Form::parse(request.query_string()),
            form: Form::parse(&body),
            body,
            idempotency_key: header("idempotency-key"),
            stripe_version: header("stripe-version"),
            authorized,
        }
    }

    fn record(&self) -> RecordedRequest {
        RecordedRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.pairs().to_vec(),
            form: self.form.pairs().to_vec(),
            idempotency_key: self.idempotency_key.clone(),
            stripe_version: self.stripe_version.clone(),
            authorized: self.authorized,
        }
    }

    fn call(&self) -> Call<'_> {
        Call {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            form: &self.form,
        }
    }

    /// The key Stripe honours: on POST only (it has no effect on GET and DELETE).
    fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key
            .as_deref()
            .filter(|_| self.method == "POST")
    }

    /// What must match for a saved answer to be replayed.
    fn fingerprint(&self) -> String {
        format!(
            "{} {}?{}\n{}",
            self.method,
            self.path,
            self.query_string(),
            self.body
        )
    }

    fn query_string(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.query.pairs())
            .finish()
    }
}

/// An answer and whether it was replayed from an idempotency key.
struct Answer {
    reply: Reply,
    replayed: bool,
}

async fn answer(request: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let incoming = Incoming::read(&request, &body);
    let (answer, delay) = decide(&shared, &incoming);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    respond(answer)
}

/// Records the request and decides the answer. A delayed request takes effect at once;
/// only its answer is late (so a client that times out has still changed the state).
fn decide(shared: &Shared, incoming: &Incoming) -> (Answer, Option<Duration>) {
    let mut state = shared.lock();
    state.requests.push(incoming.record());
    if !incoming.authorized {
        return (fresh(Reply::unauthorized()), None);
    }
    match state.take_failure(&incoming.path) {
        Some(Failure::Status(status)) => (fresh(Reply::injected(status)), None),
        Some(Failure::Delay(delay)) => (run(&mut state, incoming), Some(delay)),
        None => (run(&mut state, incoming), None),
    }
}

fn fresh(reply: Reply) -> Answer {
    Answer {
        reply,
        replayed: false,
    }
}

/// Runs the endpoint, or replays the answer saved under the request's idempotency key.
/// Answers refused for a missing or malformed parameter are not saved (as on Stripe).
fn run(state: &mut State, incoming: &Incoming) -> Answer {
    let Some(key) = incoming.idempotency_key() else {
        return fresh(routes::route(state, incoming.call()));
    };
    let fingerprint = incoming.fingerprint();
    match state.replay(key, &fingerprint) {
        Replay::Same(reply) => Answer {
            reply,
            replayed: true,
        },
        Replay::Mismatch => fresh(Reply::idempotency_mismatch(key)),
        Replay::Fresh => {
            let reply = routes::route(state, incoming.call());
            if !is_parameter_error(&reply) {
                state.save(key, &fingerprint, &reply);
            }
            fresh(reply)
        }
    }
}

fn is_parameter_error(reply: &Reply) -> bool {
    reply.body["error"]["code"]
        .as_str()
        .is_some_and(|code| code.starts_with("parameter_"))
}

fn respond(answer: Answer) -> HttpResponse {
    let status =
        StatusCode::from_u16(answer.reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.insert_header(("request-id", objects::new_id("req")));
    if answer.replayed {
        response.insert_header(("idempotent-replayed", "true"));
    }
    response.json(answer.reply.body)
}
