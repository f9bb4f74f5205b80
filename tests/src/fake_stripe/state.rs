//! The fake's memory: the objects it made, every request it saw, the failures a test
//! queued and the answers saved under idempotency keys; and the changes Stripe makes on
//! its own (a checkout paid, a subscription's status moving), shared by the HTTP
//! endpoints and the test-facing methods.

use super::objects::{self, SubscriptionFields};
use super::routes::Reply;
use super::{Failure, RecordedRequest};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The state, shared by the server's workers and the test's handle.
#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<State>>);

impl Shared {
    /// The state, locked. A panic while it was held (a bug in a test) poisons it for good.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .expect("fake Stripe state poisoned by an earlier panic")
    }
}

/// A Checkout Session with what the API does not show but completing it needs.
#[derive(Debug, Clone)]
pub struct CheckoutRecord {
    pub session: Value,
    pub price: String,
    pub quantity: i64,
    pub subscription_metadata: Map<String, Value>,
    pub trial_end: Option<i64>,
}

/// A failure queued by a test, for requests whose path starts with `prefix`.
#[derive(Debug, Clone)]
struct PendingFailure {
    prefix: String,
    remaining: usize,
    failure: Failure,
}

/// An answer saved under an idempotency key, with the request it answered.
#[derive(Debug, Clone)]
struct Saved {
    fingerprint: String,
    reply: Reply,
}

/// What an idempotency key says about a request.
#[derive(Debug, Clone)]
pub enum Replay {
    /// The key is new (or absent): run the request.
    Fresh,
    /// Same key, same request: answer what was answered.
    Same(Reply),
    /// Same key, different request: Stripe refuses it.
    Mismatch,
}

#[derive(Default)]
pub struct State {
    pub customers: Vec<Value>,
    pub checkouts: Vec<CheckoutRecord>,
    pub portal_sessions: Vec<Value>,
    pub subscriptions: Vec<Value>,
    pub invoices: Vec<Value>,
    pub meter_events: Vec<Value>,
    pub requests: Vec<RecordedRequest>,
    failures: Vec<PendingFailure>,
    saved: HashMap<String, Saved>,
}

impl State {
    /// Queues `failure` for the next `count` requests whose path starts with `prefix`.
    pub fn queue_failure(&mut self, prefix: &str, count: usize, failure: Failure) {
        self.failures.push(PendingFailure {
            prefix: prefix.to_owned(),
            remaining: count,
            failure,
        });
    }

    /// The failure this request gets, if one is queued for its path (used up by it).
    pub fn take_failure(&mut self, path: &str) -> Option<Failure> {
        let pending = self
            .failures
            .iter_mut()
            .find(|pending| pending.remaining > 0 && path.starts_with(&pending.prefix))?;
        pending.remaining -= 1;
        let failure = pending.failure.clone();
        self.failures.retain(|pending| pending.remaining > 0);
        Some(failure)
    }

    /// Whether `key` was used before, and for the same request (`fingerprint`).
    pub fn replay(&self, key: &str, fingerprint: &str) -> Replay {
        match self.saved.get(key) {
            None => Replay::Fresh,
            Some(saved) if saved.fingerprint == fingerprint => Replay::Same(saved.reply.clone()),
            Some(_) => Replay::Mismatch,
        }
    }

    /// Saves the answer to a request made with an idempotency key.
    pub fn save(&mut self, key: &str, fingerprint: &str, reply: &Reply) {
        let saved = Saved {
            fingerprint: fingerprint.to_owned(),
            reply: reply.clone(),
        };
        self.saved.insert(key.to_owned(), saved);
    }

    pub fn customer(&self, id: &str) -> Option<&Value> {
        find(&self.customers, id)
    }

    pub fn subscription(&self, id: &str) -> Option<&Value> {
        find(&self.subscriptions, id)
    }

    pub fn subscription_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.subscriptions
            .iter_mut()
            .find(|object| object["id"] == id)
    }

    pub fn invoice(&self, id: &str) -> Option<&Value> {
        find(&self.invoices, id)
    }

    pub fn checkout(&self, id: &str) -> Option<&CheckoutRecord> {
        self.checkouts
            .iter()
            .find(|record| record.session["id"] == id)
    }

    /// Makes and keeps a customer.
    pub fn add_customer(
        &mut self,
        email: Value,
        name: Value,
        metadata: Map<String, Value>,
    ) -> Value {
        let customer = objects::customer(&objects::new_id("cus"), email, name, metadata);
        self.customers.push(customer.clone());
        customer
    }

    /// Makes and keeps a subscription.
    pub fn add_subscription(&mut self, fields: SubscriptionFields) -> Value {
        let subscription = objects::subscription(&objects::new_id("sub"), fields);
        self.subscriptions.push(subscription.clone());
        subscription
    }

    /// Makes and keeps an invoice for a subscription; `None` if there is no such one.
    pub fn add_invoice(&mut self, subscription_id: &str, status: &str) -> Option<Value> {
        let invoice = objects::invoice(
            &objects::new_id("in"),
            self.subscription(subscription_id)?,
            status,
        );
        self.invoices.push(invoice.clone());
        Some(invoice)
    }

    /// The customer paying an open Checkout Session: a customer if the session had none,
    /// the subscription, a paid first invoice, and the session marked complete.
    pub fn complete_checkout(&mut self, session_id: &str) -> Result<Value, String> {
        let record = self
            .checkout(session_id)
            .cloned()
            .ok_or_else(|| format!("no checkout session {session_id}"))?;
        if record.session["status"] != "open" {
            return Err(format!("checkout session {session_id} is not open"));
        }
        let customer = self.checkout_customer(&record);
        let subscription = self.add_subscription(SubscriptionFields {
            customer: customer.clone(),
            price: record.price.clone(),
            quantity: record.quantity,
            status: if record.trial_end.is_some() {
                "trialing"
            } else {
                "active"
            }
            .to_owned(),
            metadata: record.subscription_metadata.clone(),
            trial_end: record.trial_end,
        });
        let subscription_id = subscription["id"].as_str().unwrap_or_default().to_owned();
        let invoice = self
            .add_invoice(&subscription_id, "paid")
            .unwrap_or_default();
        if let Some(subscription) = self.subscription_mut(&subscription_id) {
            subscription["latest_invoice"] = invoice["id"].clone();
        }
        Ok(self.mark_complete(session_id, &customer, &subscription_id, &invoice, &record))
    }

    /// The session's customer, or a new one made from its `customer_email`.
    fn checkout_customer(&mut self, record: &CheckoutRecord) -> String {
        if let Some(customer) = record.session["customer"].as_str() {
            return customer.to_owned();
        }
        let email = record.session["customer_email"].clone();
        let customer = self.add_customer(email, Value::Null, Map::new());
        customer["id"].as_str().unwrap_or_default().to_owned()
    }

    fn mark_complete(
        &mut self,
        session_id: &str,
        customer: &str,
        subscription: &str,
        invoice: &Value,
        record: &CheckoutRecord,
    ) -> Value {
        let payment_status = if record.trial_end.is_some() {
            "no_payment_required"
        } else {
            "paid"
        };
        let Some(stored) = self
            .checkouts
            .iter_mut()
            .find(|stored| stored.session["id"] == session_id)
        else {
            return Value::Null;
        };
        let session = &mut stored.session;
        session["status"] = json!("complete");
        session["payment_status"] = json!(payment_status);
        session["customer"] = json!(customer);
        session["subscription"] = json!(subscription);
        session["invoice"] = invoice["id"].clone();
        session["url"] = Value::Null;
        session.clone()
    }

    /// Moves a subscription to `status` as Stripe would on its own; `None` if unknown.
    pub fn set_subscription_status(&mut self, id: &str, status: &str) -> Option<Value> {
        let subscription = self.subscription_mut(id)?;
        apply_status(subscription, status, objects::now());
        Some(subscription.clone())
    }
}

fn find<'a>(objects: &'a [Value], id: &str) -> Option<&'a Value> {
    objects.iter().find(|object| object["id"] == id)
}

/// Sets `status` and the timestamps that go with it.
pub fn apply_status(subscription: &mut Value, status: &str, now: i64) {
    subscription["status"] = json!(status);
    match status {
        "canceled" | "incomplete_expired" => {
            if subscription["canceled_at"].is_null() {
                subscription["canceled_at"] = json!(now);
            }
            subscription["ended_at"] = json!(now);
            subscription["cancel_at_period_end"] = json!(false);
        }
        "trialing" if subscription["trial_end"].is_null() => {
            subscription["trial_start"] = json!(now);
            subscription["trial_end"] = json!(now + objects::PERIOD);
        }
        _ => {}
    }
}
