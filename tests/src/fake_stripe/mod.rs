//! A fake Stripe API server for tests: an in-process actix-web server on `127.0.0.1:0`,
//! state in memory, that the pinned `async-stripe` client (API version
//! `2026-09-30.endive`) talks to and parses. It answers the calls the platform's billing
//! code makes (customers, Checkout and billing portal sessions, subscriptions, invoices,
//! meter events), honours idempotency keys, records every request, fails or delays
//! requests on demand, plays Stripe's own moves (a checkout paid, a payment failing) and
//! builds signed webhook events.
//!
//! ```ignore
//! let fake = FakeStripe::start().await;
//! let client = stripe::ClientBuilder::new("sk_test_fake").url(fake.base_url()).build()?;
//! ```

mod form;
mod objects;
mod routes;
mod server;
mod state;
#[cfg(test)]
mod tests;

use actix_web::dev::ServerHandle;
use serde_json::{Map, Value};
use state::Shared;
use std::time::Duration;

/// The version the pinned client was generated for (a `static`, so it can lend a `&'static str`).
static PINNED_VERSION: stripe_shared::ApiVersion = stripe_shared::version::VERSION;

/// The Stripe API version the pinned client sends (`2026-09-30.endive`) and the fake's
/// events carry.
pub fn api_version() -> &'static str {
    PINNED_VERSION.as_str()
}

/// How a queued failure answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answer this status with a Stripe-shaped error (`api_error` for 5xx,
    /// `invalid_request_error` otherwise); nothing happens.
    Status(u16),
    /// Do what was asked at once, but answer only after this long (to make the client
    /// time out after the change was made, the hardest case for a caller).
    Delay(Duration),
}

/// A request the fake received, whatever it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Such as `/v1/customers`.
    pub path: String,
    /// Decoded query pairs, keys with their brackets (`expand[0]`).
    pub query: Vec<(String, String)>,
    /// Decoded form pairs of the body, keys with their brackets (`metadata[tenant_id]`).
    pub form: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    /// Whether it carried `Authorization: Bearer <something>`.
    pub authorized: bool,
}

impl RecordedRequest {
    /// The first form value sent under `key`.
    pub fn form_value(&self, key: &str) -> Option<&str> {
        first(&self.form, key)
    }

    /// The first query value sent under `key`.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        first(&self.query, key)
    }
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// The running fake. Dropping it stops the server.
pub struct FakeStripe {
    port: u16,
    shared: Shared,
    handle: ServerHandle,
}

impl FakeStripe {
    /// Starts a fake on a free port, served by the current Tokio runtime.
    ///
    /// # Panics
    /// If no port on 127.0.0.1 can be bound.
    pub async fn start() -> FakeStripe {
        let shared = Shared::default();
        let running = server::start(shared.clone()).expect("bind the fake Stripe on 127.0.0.1");
        FakeStripe {
            port: running.port,
            shared,
            handle: running.handle,
        }
    }

    /// `http://127.0.0.1:PORT/`, what `stripe::ClientBuilder::url` wants.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Stops the server and waits until it has.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The next `count` requests answer per `failure`.
    pub fn fail_next(&self, count: usize, failure: Failure) {
        self.fail_next_on("/", count, failure);
    }

    /// The next `count` requests whose path starts with `path_prefix` (such as
    /// `/v1/customers`) answer per `failure`; others are not affected.
    pub fn fail_next_on(&self, path_prefix: &str, count: usize, failure: Failure) {
        self.shared
            .lock()
            .queue_failure(path_prefix, count, failure);
    }

    pub fn customers(&self) -> Vec<Value> {
        self.shared.lock().customers.clone()
    }

    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.shared.lock().subscription(id).cloned()
    }

    pub fn subscriptions(&self) -> Vec<Value> {
        self.shared.lock().subscriptions.clone()
    }

    pub fn checkout_sessions(&self) -> Vec<Value> {
        let state = self.shared.lock();
        state
            .checkouts
            .iter()
            .map(|record| record.session.clone())
            .collect()
    }

    pub fn portal_sessions(&self) -> Vec<Value> {
        self.shared.lock().portal_sessions.clone()
    }

    pub fn invoices(&self) -> Vec<Value> {
        self.shared.lock().invoices.clone()
    }

    /// The meter events accepted (a refused duplicate is not among them).
    pub fn meter_events(&self) -> Vec<Value> {
        self.shared.lock().meter_events.clone()
    }

    /// Completes an open Checkout Session as the customer paying would: a customer if the
    /// session had only `customer_email`, the subscription (price and quantity of
    /// `line_items[0]`, metadata from `subscription_data[metadata]`, `active`, or
    /// `trialing` until `subscription_data[trial_end]` / `trial_period_days`), a paid
    /// first invoice as its `latest_invoice`; the session becomes `complete` with its
    /// `subscription`. The first period runs from now for 30 days (to the trial's end
    /// when there is one). Returns the completed session.
    ///
    /// # Panics
    /// If there is no such session or it is not open (a mistake in the test).
    pub fn complete_checkout(&self, session_id: &str) -> Value {
        let completed = self.shared.lock().complete_checkout(session_id);
        completed.unwrap_or_else(|problem| panic!("complete_checkout: {problem}"))
    }

    /// Creates a subscription directly (for tests that skip Checkout), quantity 1.
    pub fn create_subscription(&self, customer: &str, price: &str, status: &str) -> Value {
        self.shared
            .lock()
            .add_subscription(objects::SubscriptionFields {
                customer: customer.to_owned(),
                price: price.to_owned(),
                quantity: 1,
                status: status.to_owned(),
                metadata: Map::new(),
                trial_end: None,
            })
    }

    /// Changes a subscription's status as Stripe does on its own (`past_due`, `unpaid`,
    /// `canceled` (sets `canceled_at` and `ended_at`), `paused`, `active`, `trialing`
    /// (starts a 30-day trial if none), ...). Returns it.
    ///
    /// # Panics
    /// If there is no such subscription.
    pub fn set_subscription_status(&self, id: &str, status: &str) -> Value {
        let changed = self.shared.lock().set_subscription_status(id, status);
        changed.unwrap_or_else(|| panic!("set_subscription_status: no subscription {id}"))
    }

    /// An invoice for the subscription (`paid` or `open`), kept so that
    /// `GET /v1/invoices/{id}` finds it; for `invoice.*` events.
    ///
    /// # Panics
    /// If there is no such subscription.
    pub fn invoice_for(&self, subscription_id: &str, status: &str) -> Value {
        let invoice = self.shared.lock().add_invoice(subscription_id, status);
        invoice.unwrap_or_else(|| panic!("invoice_for: no subscription {subscription_id}"))
    }

    /// A whole event envelope as Stripe posts it (a fresh `evt_` id), as the JSON text
    /// to sign with [`signature`] and post.
    pub fn event(&self, event_type: &str, object: Value) -> String {
        self.event_with_id(&objects::new_id("evt"), event_type, object)
    }

    /// Like [`FakeStripe::event`] with the id given, to deliver the same event twice.
    pub fn event_with_id(&self, id: &str, event_type: &str, object: Value) -> String {
        objects::event(id, event_type, api_version(), object).to_string()
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        // The stop command is sent at once; waiting for it is what `stop` is for.
        drop(self.handle.stop(false));
    }
}

/// The `Stripe-Signature` header for `payload`, signed with HMAC-SHA256 under `secret` at
/// `timestamp` (seconds; `construct_event` accepts 5 minutes either side of now).
pub fn signature(payload: &str, secret: &str, timestamp: i64) -> String {
    stripe_webhook::Webhook::generate_test_header(payload, secret, Some(timestamp))
}
