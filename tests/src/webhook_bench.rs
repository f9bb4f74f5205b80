//! The webhook ingest benchmark: Stripe's side of the platform under a burst. EVENTS
//! signed events (a fifth of the deliveries duplicates of others, sent at the same time
//! as their originals) are posted to `POST /webhooks/stripe` by CLIENTS concurrent
//! clients, through the whole platform as `scripts/up` runs it with billing enabled (the
//! fake Stripe in place of Stripe). Measured in the same run:
//!
//! - **ingest**: deliveries acknowledged per second and the latency of each 2xx;
//! - **baseline**: the same number of `GET /healthz` requests with the same clients, so the
//!   figure reads as a ratio to what the server does for a request that does nothing;
//! - **apply**: how long the worker takes until every stored event is applied.
//!
//! Then it checks what must hold: the ledger holds exactly the distinct events, every one
//! applied once (`processed`, one attempt), none failed.

use crate::app::{TestApp, spawn_app_with};
use crate::bench::Latencies;
use crate::fake_stripe::{self, FakeStripe};
use common::Secret;
use futures_util::{StreamExt as _, stream};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_bench_secret";
/// Companies the events are about (each has a customer and a subscription at the fake).
const TENANTS: usize = 20;
/// One delivery in this many is a duplicate of an earlier event.
const DUPLICATE_EVERY: usize = 5;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct WebhookRun {
    pub deliveries: usize,
    pub distinct: usize,
    pub clients: usize,
    pub ingest: Latencies,
    pub ingest_elapsed: Duration,
    pub baseline: Latencies,
    pub baseline_elapsed: Duration,
    /// From the last acknowledgement until the ledger had nothing pending.
    pub apply_elapsed: Duration,
    pub ledger: LedgerCount,
}

/// What the ledger holds at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCount {
    pub rows: i64,
    pub processed: i64,
    pub applied_more_than_once: i64,
    pub failed: i64,
    pub deliveries: i64,
}

/// Posts `deliveries` deliveries with `clients` clients; see the module doc.
pub async fn run(deliveries: usize, clients: usize) -> WebhookRun {
    let stripe = FakeStripe::start().await;
    let app = billing_platform(&stripe).await;
    let customers = seed_tenants(&app, &stripe).await;
    let bodies = deliveries_for(&stripe, &customers, deliveries);
    let distinct = bodies.len() - bodies.len() / DUPLICATE_EVERY;
    let (baseline, baseline_elapsed) = baseline(&app, deliveries, clients).await;
    let started = Instant::now();
    let ingest = post_all(&app, bodies, clients).await;
    let ingest_elapsed = started.elapsed();
    let applied_at = Instant::now();
    let ledger = wait_until_applied(&app).await;
    let apply_elapsed = applied_at.elapsed();
    app.stop().await.expect("platform stops");
    WebhookRun {
        deliveries,
        distinct,
        clients,
        ingest: sorted("webhook", ingest),
        ingest_elapsed,
        baseline: sorted("GET /healthz", baseline),
        baseline_elapsed,
        apply_elapsed,
        ledger,
    }
}

/// The whole platform with billing on, talking to `stripe`.
pub async fn billing_platform(stripe: &FakeStripe) -> TestApp {
    let base = stripe.base_url();
    spawn_app_with(move |settings| {
        settings.billing.secret_key = Some(Secret::new("sk_test_bench"));
        settings.billing.webhook_secrets = Some(Secret::new(SECRET));
        settings.billing.api_base_url = Some(base);
    })
    .await
}

/// Companies with a customer and an active subscription at the fake; answers the
/// customer ids. The rows are written directly: the benchmark is about billing, so the
/// companies need no databases.
async fn seed_tenants(app: &TestApp, stripe: &FakeStripe) -> Vec<(String, String)> {
    let control = crate::fleet::connect(&app.db.url()).await;
    let mut customers = Vec::new();
    for n in 0..TENANTS {
        let customer = format!("cus_bench_{n}");
        let subscription = stripe.create_subscription(&customer, "price_bench", "active");
        let subscription_id = subscription["id"].as_str().expect("id").to_owned();
        control
            .execute(
                "INSERT INTO tenants (slug, name, status, plan_code, admin_email, \
                   stripe_customer_id, stripe_subscription_id, billing_state) \
                 VALUES ($1, $1, 'active', 'starter', 'owner@bench.example', $2, $3, 'active')",
                &[&format!("bench-{n}"), &customer, &subscription_id],
            )
            .await
            .expect("tenant row");
        customers.push((customer, subscription_id));
    }
    customers
}

/// The bodies to post: distinct `customer.subscription.updated` events, with every
/// [`DUPLICATE_EVERY`]th delivery a copy of the one before it (so the two race).
fn deliveries_for(
    stripe: &FakeStripe,
    customers: &[(String, String)],
    deliveries: usize,
) -> Vec<String> {
    let mut bodies: Vec<String> = Vec::with_capacity(deliveries);
    for n in 0..deliveries {
        if n % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 {
            let previous = bodies[n - 1].clone();
            bodies.push(previous);
            continue;
        }
        let (_, subscription_id) = &customers[n % customers.len()];
        let object = stripe.subscription(subscription_id).expect("subscription");
        bodies.push(stripe.event("customer.subscription.updated", object));
    }
    bodies
}

/// Posts every body (signed at send time) with `clients` in flight; answers each 2xx's
/// latency.
async fn post_all(app: &TestApp, bodies: Vec<String>, clients: usize) -> Vec<Duration> {
    let url = format!("{}/webhooks/stripe", app.control_plane_url);
    stream::iter(bodies)
        .map(|body| {
            let client = app.client.clone();
            let url = url.clone();
            async move {
                let header = fake_stripe::signature(&body, SECRET, chrono::Utc::now().timestamp());
                let started = Instant::now();
                let response = client
                    .post(&url)
                    .header("Stripe-Signature", header)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("delivery sent");
                let status = response.status().as_u16();
                assert_eq!(
                    status,
                    200,
                    "delivery refused: {}",
                    response.text().await.unwrap_or_default()
                );
                started.elapsed()
            }
        })
        .buffer_unordered(clients)
        .collect()
        .await
}

async fn baseline(app: &TestApp, requests: usize, clients: usize) -> (Vec<Duration>, Duration) {
    let url = format!("{}/healthz", app.control_plane_url);
    let started = Instant::now();
    let samples = stream::iter(0..requests)
        .map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            async move {
                let started = Instant::now();
                let response = client.get(&url).send().await.expect("healthz sent");
                assert_eq!(response.status(), 200);
                started.elapsed()
            }
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    (samples, started.elapsed())
}

/// Waits (at most 10 minutes) until no event is pending, then counts the ledger.
async fn wait_until_applied(app: &TestApp) -> LedgerCount {
    let control = crate::fleet::connect(&app.db.url()).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let pending: i64 = control
            .query_one(
                "SELECT count(*) FROM stripe_events WHERE state = 'pending'",
                &[],
            )
            .await
            .expect("pending count")
            .get(0);
        if pending == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = control
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE state = 'processed'), \
               count(*) FILTER (WHERE attempts > 1), count(*) FILTER (WHERE state = 'failed'), \
               coalesce(sum(deliveries), 0)::bigint FROM stripe_events",
            &[],
        )
        .await
        .expect("ledger count");
    LedgerCount {
        rows: row.get(0),
        processed: row.get(1),
        applied_more_than_once: row.get(2),
        failed: row.get(3),
        deliveries: row.get(4),
    }
}

fn sorted(way: &'static str, mut samples: Vec<Duration>) -> Latencies {
    samples.sort();
    Latencies {
        way,
        sorted: samples,
    }
}

/// The report: throughput, latency, their ratios to the baseline, and the ledger check.
pub fn report(run: &WebhookRun) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let ingest_rate = rate(run.deliveries, run.ingest_elapsed);
    let baseline_rate = rate(run.deliveries, run.baseline_elapsed);
    let mut lines = vec![format!(
        "{} deliveries ({} distinct events, {} duplicates), {} concurrent clients",
        run.deliveries,
        run.distinct,
        run.deliveries - run.distinct,
        run.clients
    )];
    lines.push(format!(
        "{:<14} {:>9} {:>9} {:>9}",
        "", "req/s", "p50 ms", "p99 ms"
    ));
    for (latencies, per_sec) in [(&run.ingest, ingest_rate), (&run.baseline, baseline_rate)] {
        lines.push(format!(
            "{:<14} {:>9.0} {:>9.2} {:>9.2}",
            latencies.way,
            per_sec,
            ms(latencies.quantile(0.5)),
            ms(latencies.quantile(0.99))
        ));
    }
    lines.push(format!(
        "webhook / baseline: throughput {:.3}, p99 {:.2}x",
        ingest_rate / baseline_rate,
        ms(run.ingest.quantile(0.99)) / ms(run.baseline.quantile(0.99))
    ));
    lines.push(format!(
        "applied: {} events in {:.1} s after the last ack ({:.0} events/s)",
        run.ledger.processed,
        run.apply_elapsed.as_secs_f64(),
        rate(
            run.ledger.processed as usize,
            run.apply_elapsed.max(Duration::from_millis(1))
        )
    ));
    lines.push(format!(
        "ledger: {} rows for {} distinct events, {} deliveries recorded, {} processed, \
         {} applied more than once, {} failed",
        run.ledger.rows,
        run.distinct,
        run.ledger.deliveries,
        run.ledger.processed,
        run.ledger.applied_more_than_once,
        run.ledger.failed
    ));
    lines.join("\n")
}

/// Whether the ledger ended as it must: exactly the distinct events, each applied once.
pub fn ledger_holds(run: &WebhookRun) -> bool {
    let distinct = i64::try_from(run.distinct).unwrap_or(i64::MAX);
    run.ledger.rows == distinct
        && run.ledger.processed == distinct
        && run.ledger.applied_more_than_once == 0
        && run.ledger.failed == 0
        && run.ledger.deliveries == i64::try_from(run.deliveries).unwrap_or(i64::MAX)
}
