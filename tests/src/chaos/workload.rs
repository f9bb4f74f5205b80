//! The load of a chaos run and its tally: what was sent and what the platform answered,
//! so the invariants can compare it with what the platform recorded. A request whose
//! fate is unknown (its answer lost to a fault) is kept apart from one known to have
//! been counted.

use super::schedule::Op;
use super::{Chaos, PRICE, WEBHOOK_SECRET};
use crate::admin::{Reply, read};
use crate::runtime::OWNER_PASSWORD;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// API calls of one tenant: known to be counted, and of unknown fate; and the answers
/// that were not counted (`status code` each), to tell what a miscount was.
#[derive(Debug, Default, Clone)]
pub struct Calls {
    pub counted: u64,
    pub uncertain: u64,
    pub not_counted: Vec<String>,
}

/// A webhook event sent, and how many of its deliveries were acknowledged.
#[derive(Debug, Clone)]
pub struct SentEvent {
    pub id: String,
    pub acked: i32,
}

#[derive(Debug, Default)]
pub struct Tally {
    /// Slugs signed up (acknowledged, or taken by an earlier attempt whose answer was lost).
    pub signups: Vec<String>,
    pub deletes: usize,
    pub events: Vec<SentEvent>,
    /// API calls per slug.
    pub calls: BTreeMap<String, Calls>,
    tokens: BTreeMap<String, String>,
    /// Requests that failed in transit (and were retried or given up).
    pub transport_errors: usize,
    /// Answers of the migration runs started.
    pub migration_runs: Vec<u16>,
}

impl Tally {
    pub fn summary(&self) -> String {
        let calls: u64 = self.calls.values().map(|c| c.counted).sum();
        let uncertain: u64 = self.calls.values().map(|c| c.uncertain).sum();
        let deliveries: i32 = self.events.iter().map(|e| e.acked).sum();
        format!(
            "{} signups, {} deletes, {} events ({deliveries} deliveries), {calls} API calls \
             counted (+{uncertain} uncertain), {} transport errors, migration runs {:?}",
            self.signups.len(),
            self.deletes,
            self.events.len(),
            self.transport_errors,
            self.migration_runs
        )
    }
}

/// How the runtime treated an API call, for the usage tally.
enum Fate {
    Counted,
    NotCounted,
    Uncertain,
}

impl Chaos {
    pub(super) async fn perform(&self, round: usize, index: usize, op: &Op) {
        match op {
            Op::Signup { pick } => self.signup(&format!("c{round}x{index}"), *pick).await,
            Op::Delete { pick } => self.delete(*pick).await,
            Op::Webhook {
                pick,
                status,
                twice,
            } => self.webhook(*pick, status, *twice).await,
            Op::Traffic { pick, calls } => self.traffic(*pick, *calls).await,
            Op::MigrationRun => self.migration_run().await,
        }
    }

    fn transport_error(&self) {
        self.tally.lock().expect("tally").transport_errors += 1;
    }

    /// A request to control plane `pick` (of those running), retried on platform A when
    /// it fails in transit, as a client would.
    pub(super) async fn control_call(
        &self,
        pick: usize,
        method: Method,
        path: &str,
        body: Value,
    ) -> Option<Reply> {
        let planes = self.control_planes().await;
        let first = &planes[pick % planes.len()];
        for base in [first, &planes[0]] {
            let request = self
                .api
                .app
                .client
                .request(method.clone(), format!("{base}{path}"))
                .bearer_auth(&self.api.token)
                .json(&body);
            match request.send().await {
                Ok(response) => return Some(read(response).await),
                Err(_) => self.transport_error(),
            }
        }
        None
    }

    async fn signup(&self, slug: &str, pick: usize) {
        let body = json!({ "company_name": format!("{slug} Works"), "slug": slug,
                           "admin_email": format!("boss@{slug}.example"),
                           "admin_password": OWNER_PASSWORD, "plan": "starter" });
        let reply = self
            .control_call(pick, Method::POST, "/api/v1/signup", body)
            .await;
        // 409 `slug_taken`: an earlier attempt went through, its answer lost.
        if reply.is_some_and(|reply| reply.status == 202 || reply.status == 409) {
            self.tally
                .lock()
                .expect("tally")
                .signups
                .push(slug.to_owned());
        }
    }

    /// The id and slug of signed-up tenant `pick` among those not deleted (and matching
    /// `extra`, more SQL conditions).
    async fn pick_tenant(&self, pick: usize, extra: &str) -> Option<(uuid::Uuid, String)> {
        let slugs = self.tally.lock().expect("tally").signups.clone();
        let sql = format!(
            "SELECT id, slug FROM tenants WHERE slug = ANY($1) \
             AND status NOT IN ('deleting', 'deleted') {extra} ORDER BY slug"
        );
        let rows = self.control.query(&sql, &[&slugs]).await.ok()?;
        let row = rows.get(pick % rows.len().max(1))?;
        Some((row.get(0), row.get(1)))
    }

    async fn delete(&self, pick: usize) {
        let Some((id, _)) = self.pick_tenant(pick, "").await else {
            return;
        };
        let reply = self
            .control_call(
                pick,
                Method::DELETE,
                &format!("/api/v1/tenants/{id}"),
                json!({ "reason": "chaos" }),
            )
            .await;
        if reply.is_some_and(|reply| reply.status == 202) {
            self.tally.lock().expect("tally").deletes += 1;
        }
    }

    /// Stripe moves the tenant's subscription to `status` and posts the event (twice:
    /// a redelivery) to a control plane.
    async fn webhook(&self, pick: usize, status: &str, twice: bool) {
        let extra = "AND stripe_customer_id IS NOT NULL";
        let Some((id, _)) = self.pick_tenant(pick, extra).await else {
            return;
        };
        let customer: String = self
            .control
            .query_one(
                "SELECT stripe_customer_id FROM tenants WHERE id = $1",
                &[&id],
            )
            .await
            .expect("tenant")
            .get(0);
        let existing = self
            .stripe
            .subscriptions()
            .into_iter()
            .find(|s| s["customer"] == customer.as_str());
        let subscription = match existing {
            Some(s) => self
                .stripe
                .set_subscription_status(s["id"].as_str().unwrap_or_default(), status),
            None => self.stripe.create_subscription(&customer, PRICE, status),
        };
        let payload = self
            .stripe
            .event("customer.subscription.updated", subscription);
        let event_id = serde_json::from_str::<Value>(&payload).expect("event")["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let deliveries = if twice { 2 } else { 1 };
        let mut acked = 0;
        for delivery in 0..deliveries {
            if self.deliver(pick + delivery, &payload).await {
                acked += 1;
            }
        }
        self.tally.lock().expect("tally").events.push(SentEvent {
            id: event_id,
            acked,
        });
    }

    /// One signed delivery (retried on platform A if it fails in transit, as Stripe
    /// retries); whether it was acknowledged.
    async fn deliver(&self, pick: usize, payload: &str) -> bool {
        let planes = self.control_planes().await;
        let first = &planes[pick % planes.len()];
        for base in [first, &planes[0]] {
            let now = chrono::Utc::now().timestamp();
            let header = crate::fake_stripe::signature(payload, WEBHOOK_SECRET, now);
            let sent = self
                .api
                .app
                .client
                .post(format!("{base}/webhooks/stripe"))
                .header("Stripe-Signature", header)
                .header("Content-Type", "application/json")
                .body(payload.to_owned())
                .send()
                .await;
            match sent {
                Ok(response) => return response.status() == 200,
                Err(_) => self.transport_error(),
            }
        }
        false
    }

    /// Signs in (once per tenant) and makes `calls` API calls spread over the runtimes.
    async fn traffic(&self, pick: usize, calls: usize) {
        let Some((_, slug)) = self.pick_tenant(pick, "AND status = 'active'").await else {
            return;
        };
        let Some(token) = self.token(&slug, pick).await else {
            return;
        };
        for call in 0..calls {
            self.api_call(
                &slug,
                pick + call,
                Method::GET,
                "/api/v1/me",
                Some(&token),
                None,
            )
            .await;
        }
    }

    /// The owner's access token of `slug`, signing in on a runtime the first time.
    pub(super) async fn token(&self, slug: &str, pick: usize) -> Option<String> {
        if let Some(token) = self.tally.lock().expect("tally").tokens.get(slug) {
            return Some(token.clone());
        }
        let reply = self.sign_in(slug, pick).await?;
        let token = reply.body["access_token"].as_str()?.to_owned();
        let mut tally = self.tally.lock().expect("tally");
        tally.tokens.insert(slug.to_owned(), token.clone());
        Some(token)
    }

    /// The owner of `slug` signs in on extra runtime `pick`.
    pub(super) async fn sign_in(&self, slug: &str, pick: usize) -> Option<Reply> {
        let body = json!({ "email": format!("boss@{slug}.example"), "password": OWNER_PASSWORD });
        let path = "/api/v1/auth/login";
        self.api_call(slug, pick, Method::POST, path, None, Some(body))
            .await
    }

    /// An API call of `slug` on extra runtime `pick` (of those running), tallied by how
    /// the runtime's usage meter saw it.
    pub(super) async fn api_call(
        &self,
        slug: &str,
        pick: usize,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Option<Reply> {
        let runtimes = self.runtimes().await;
        if runtimes.is_empty() {
            return None;
        }
        let base = &runtimes[pick % runtimes.len()];
        let mut request = self
            .client
            .request(method, format!("{base}{path}"))
            .header("X-Tenant", slug);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (fate, reply) = match request.send().await {
            Ok(response) => {
                let reply = read(response).await;
                (fate_of(&reply), Some(reply))
            }
            // Refused at connect: it never reached the runtime.
            Err(error) if error.is_connect() => (Fate::NotCounted, None),
            Err(_) => (Fate::Uncertain, None),
        };
        let answer = reply.as_ref().map_or("no answer".to_owned(), |r| {
            format!("{} {}", r.status, r.code())
        });
        if reply.is_none() {
            self.transport_error();
        }
        let mut tally = self.tally.lock().expect("tally");
        let calls = tally.calls.entry(slug.to_owned()).or_default();
        match fate {
            Fate::Counted => calls.counted += 1,
            Fate::Uncertain => calls.uncertain += 1,
            Fate::NotCounted => calls.not_counted.push(answer),
        }
        reply
    }

    async fn migration_run(&self) {
        let reply = self
            .control_call(0, Method::POST, "/api/v1/migrations/runs", json!({}))
            .await;
        let status = reply.map_or(0, |reply| reply.status);
        self.tally
            .lock()
            .expect("tally")
            .migration_runs
            .push(status);
    }
}

/// The codes of the refusals answered before the gate counts a call.
const REFUSED_UNCOUNTED: [&str; 11] = [
    "starting",
    "tenant_required",
    "tenant_conflict",
    "tenant_not_found",
    "service_unavailable",
    "tenant_maintenance",
    "tenant_provisioning",
    "tenant_suspended",
    "payment_required",
    "tenant_migrating",
    "too_many_concurrent_requests",
];

/// The gate counts a call once it admits it: admitted answers carry the rate headers (a
/// rate refusal, 429, carries them too but is not counted), and one that failed in its
/// handler may not, but is none of the gate's refusals.
fn fate_of(reply: &Reply) -> Fate {
    let refused = reply.status == 429 || REFUSED_UNCOUNTED.contains(&reply.code());
    if reply.header("ratelimit-limit").is_some() && reply.status != 429 || !refused {
        Fate::Counted
    } else {
        Fate::NotCounted
    }
}
