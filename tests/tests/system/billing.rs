//! Billing end to end, against the fake Stripe (`system_tests::fake_stripe`) with webhooks
//! signed for real: the walk from a paid signup through Checkout, a failed payment, its
//! grace period, the 402 and the recovery; faults on the way (Stripe down while a customer
//! is made, a missed webhook, events out of order and twice); metered usage.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use system_tests::AdminApi;
use system_tests::admin::Reply;
use system_tests::fake_stripe::{self, FakeStripe};
use system_tests::runtime::Company;

const SECRET: &str = "whsec_walk_current";
const OLD_SECRET: &str = "whsec_walk_old";
const PRICE_STARTER: &str = "price_starter_monthly";
const PRICE_GROWTH: &str = "price_growth_monthly";

/// The platform with billing on, pointed at `stripe`, sweeping every second.
async fn platform(stripe: &FakeStripe) -> AdminApi {
    let base = stripe.base_url();
    let api = AdminApi::start_with(move |settings| {
        settings.billing.secret_key = Some(common::Secret::new("sk_test_walk"));
        settings.billing.webhook_secrets =
            Some(common::Secret::new(format!("{SECRET},{OLD_SECRET}")));
        settings.billing.api_base_url = Some(base);
        settings.billing.request_timeout_secs = 2;
        settings.provisioner.maintenance_interval_secs = 1;
    })
    .await;
    api.register_primary().await;
    for (plan, price) in [("starter", PRICE_STARTER), ("growth", PRICE_GROWTH)] {
        let reply = api
            .patch(
                &format!("/api/v1/plans/{plan}"),
                json!({ "stripe_price_id": price, "trial_days": 0 }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    api
}

/// Posts `payload` to the webhook signed with `secret` now.
async fn deliver(api: &AdminApi, payload: &str, secret: &str) -> Reply {
    let header = fake_stripe::signature(payload, secret, chrono::Utc::now().timestamp());
    let response = api
        .app
        .client
        .post(api.url("/webhooks/stripe"))
        .header("Stripe-Signature", header)
        .header("Content-Type", "application/json")
        .body(payload.to_owned())
        .send()
        .await
        .expect("delivery sent");
    system_tests::admin::read(response).await
}

/// Signs up on `starter` (paid, no trial); answers the company once active and the
/// Checkout URL the signup answered.
async fn paid_signup(api: &AdminApi, slug: &str) -> (Company, String) {
    let admin_email = format!("boss@{slug}.example");
    let body = json!({ "company_name": slug, "slug": slug, "admin_email": admin_email,
                       "admin_password": system_tests::runtime::OWNER_PASSWORD,
                       "plan": "starter" });
    let reply = api
        .call(Method::POST, "/api/v1/signup", None, Some(body))
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    assert_eq!(reply.body["checkout_required"], true, "{:?}", reply.body);
    let url = reply.body["checkout_url"]
        .as_str()
        .expect("a Checkout URL")
        .to_owned();
    let job = api
        .wait_for_job(reply.body["job_id"].as_str().expect("job"))
        .await;
    assert_eq!(job["state"], "succeeded", "{job:?}");
    let company = Company {
        id: reply.body["tenant_id"].as_str().expect("id").to_owned(),
        slug: slug.to_owned(),
        admin_email,
    };
    (company, url)
}

async fn billing_call(
    api: &AdminApi,
    company: &Company,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    api.tenant_call(&company.slug, method, path, Some(token), body)
        .await
}

/// Polls `probe` until it answers true (30 s at most: CI runs many platforms at once on
/// two cores); answers how long it took.
async fn eventually<F, Fut>(what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !probe().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not happen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

async fn billing_state(api: &AdminApi, company: &Company) -> String {
    let reply = api
        .get(&format!("/api/v1/tenants/{}/billing", company.id))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["state"].as_str().unwrap_or_default().to_owned()
}

/// Subjects of the mails written for `email`.
fn mail_subjects(api: &AdminApi, email: &str) -> Vec<String> {
    let dir = api.app.settings.data_dir.join("mail");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .filter(|text| text.contains(email))
        .filter_map(|text| {
            text.lines()
                .find(|line| line.starts_with("Subject: "))
                .map(|line| line.trim_start_matches("Subject: ").to_owned())
        })
        .collect()
}

async fn count(api: &AdminApi, sql: &str) -> i64 {
    let control = system_tests::fleet::connect(&api.app.db.url()).await;
    control.query_one(sql, &[]).await.expect("count").get(0)
}

#[tokio::test]
async fn a_paying_company_walks_through_checkout_a_failed_payment_its_grace_the_402_and_recovery() {
    let stripe = FakeStripe::start().await;
    let api = platform(&stripe).await;

    // Signup on a paid plan without a trial answers a Checkout URL.
    let (company, url) = paid_signup(&api, "walk").await;
    let token = api.owner_token(&company).await;
    let session = stripe
        .checkout_sessions()
        .into_iter()
        .find(|session| session["url"] == url.as_str())
        .expect("the session behind the URL");
    let completed = stripe.complete_checkout(session["id"].as_str().expect("id"));
    let subscription_id = completed["subscription"]
        .as_str()
        .expect("subscription")
        .to_owned();
    let stale_active = stripe.subscription(&subscription_id).expect("subscription");

    // checkout.session.completed, signed with the old secret (rotation), then the same
    // event again: one effect.
    let event = stripe.event("checkout.session.completed", completed.clone());
    assert_eq!(deliver(&api, &event, OLD_SECRET).await.status, 200);
    eventually("the company is active", || async {
        billing_state(&api, &company).await == "active"
    })
    .await;
    let again = deliver(&api, &event, SECRET).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["duplicate"], true);

    // The payment fails: past_due, still served, and /me says so.
    stripe.set_subscription_status(&subscription_id, "past_due");
    let failed = stripe.event(
        "invoice.payment_failed",
        stripe.invoice_for(&subscription_id, "open"),
    );
    assert_eq!(deliver(&api, &failed, SECRET).await.status, 200);
    // An older `updated` event arriving late must not undo the newer state.
    let late = stripe.event("customer.subscription.updated", stale_active);
    assert_eq!(deliver(&api, &late, SECRET).await.status, 200);
    eventually("the company is past due", || async {
        billing_state(&api, &company).await == "past_due"
    })
    .await;
    eventually("every event applied", || async {
        count(
            &api,
            "SELECT count(*) FROM stripe_events WHERE state = 'pending'",
        )
        .await
            == 0
    })
    .await;
    assert_eq!(
        billing_state(&api, &company).await,
        "past_due",
        "the late event changed nothing"
    );
    let me = billing_call(&api, &company, &token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["billing"]["state"], "past_due", "{:?}", me.body);
    assert!(
        me.body["billing"]["grace_ends_at"].is_string(),
        "{:?}",
        me.body
    );
    let users = billing_call(&api, &company, &token, Method::GET, "/api/v1/users", None).await;
    assert_eq!(
        users.status, 200,
        "served during the grace period: {:?}",
        users.body
    );

    // The grace period ends (moved into the past): the sweep suspends, the runtime says 402.
    let control = system_tests::fleet::connect(&api.app.db.url()).await;
    control
        .execute(
            "UPDATE tenants SET billing_past_due_since = now() - interval '8 days' WHERE slug = 'walk'",
            &[],
        )
        .await
        .expect("grace moved");
    eventually("the runtime answers 402", || async {
        billing_call(&api, &company, &token, Method::GET, "/api/v1/users", None)
            .await
            .status
            == 402
    })
    .await;
    let refused = billing_call(&api, &company, &token, Method::GET, "/api/v1/users", None).await;
    assert_eq!(refused.code(), "payment_required");
    let me = billing_call(&api, &company, &token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me.status, 200, "/me still answers: {:?}", me.body);
    let page = billing_call(&api, &company, &token, Method::GET, "/api/v1/billing", None).await;
    assert_eq!(
        page.status, 200,
        "the billing page still answers: {:?}",
        page.body
    );

    // invoice.paid: served again (how soon is a figure, not an assertion: printed).
    stripe.set_subscription_status(&subscription_id, "active");
    let paid = stripe.event("invoice.paid", stripe.invoice_for(&subscription_id, "paid"));
    assert_eq!(deliver(&api, &paid, SECRET).await.status, 200);
    let restored_in = eventually("served again", || async {
        billing_call(&api, &company, &token, Method::GET, "/api/v1/users", None)
            .await
            .status
            == 200
    })
    .await;
    assert!(
        restored_in < Duration::from_secs(1),
        "restored after {restored_in:?}"
    );

    // Emails, once each.
    eventually("the billing emails are written", || async {
        mail_subjects(&api, &company.admin_email)
            .iter()
            .any(|subject| subject.contains("access restored"))
    })
    .await;
    let subjects = mail_subjects(&api, &company.admin_email);
    for wanted in ["a payment failed", "access suspended", "access restored"] {
        let sent = subjects
            .iter()
            .filter(|subject| subject.contains(wanted))
            .count();
        assert_eq!(sent, 1, "`{wanted}` sent once: {subjects:?}");
    }

    // The audit log has Stripe's changes and the grace sweep's.
    let synced = api.audit("billing.synced").await;
    assert!(
        synced
            .iter()
            .any(|entry| entry["actor_kind"] == "stripe"
                && entry["target_id"] == company.id.as_str()),
        "{synced:?}"
    );
    let grace = api.audit("billing.grace_ended").await;
    assert_eq!(grace.len(), 1, "{grace:?}");
    assert_eq!(
        count(&api, "SELECT count(*) FROM stripe_events").await,
        4,
        "four distinct events in the ledger"
    );
}

/// A company known only to billing: a control row (no database: billing never needs
/// one) with a customer and a subscription in `status` at the fake.
async fn billed_company(
    api: &AdminApi,
    stripe: &FakeStripe,
    slug: &str,
    status: &str,
) -> (uuid::Uuid, String) {
    let customer = format!("cus_{slug}");
    let subscription = stripe.create_subscription(&customer, PRICE_STARTER, status);
    let subscription_id = subscription["id"].as_str().expect("id").to_owned();
    let control = system_tests::fleet::connect(&api.app.db.url()).await;
    let id: uuid::Uuid = control
        .query_one(
            "INSERT INTO tenants (slug, name, status, plan_code, admin_email, \
               stripe_customer_id, stripe_subscription_id, billing_state) \
             VALUES ($1, $1, 'active', 'starter', $2, $3, $4, $5) RETURNING id",
            &[
                &slug,
                &format!("boss@{slug}.example"),
                &customer,
                &subscription_id,
                &status,
            ],
        )
        .await
        .expect("tenant row")
        .get(0);
    (id, subscription_id)
}

async fn tenant_row(api: &AdminApi, id: uuid::Uuid) -> (String, String, Option<String>) {
    let control = system_tests::fleet::connect(&api.app.db.url()).await;
    let row = control
        .query_one(
            "SELECT status, billing_state, suspension_kind FROM tenants WHERE id = $1",
            &[&id],
        )
        .await
        .expect("tenant");
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn events_out_of_order_or_unparsable_are_applied_from_what_stripe_says_now() {
    let stripe = FakeStripe::start().await;
    let api = platform(&stripe).await;
    let (tenant, subscription_id) = billed_company(&api, &stripe, "order", "active").await;
    let object = stripe.set_subscription_status(&subscription_id, "unpaid");

    // `.updated` before `.created`, and an `.updated` whose object the pinned client
    // cannot parse: all stored, acknowledged and applied.
    let updated = stripe.event("customer.subscription.updated", object.clone());
    let created = stripe.event("customer.subscription.created", object);
    let garbled = stripe.event(
        "customer.subscription.updated",
        json!({ "id": subscription_id, "object": "subscription", "customer": "cus_order" }),
    );
    for payload in [&updated, &created, &garbled] {
        let reply = deliver(&api, payload, SECRET).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    eventually("every event applied", || async {
        count(
            &api,
            "SELECT count(*) FROM stripe_events WHERE state = 'processed'",
        )
        .await
            == 3
    })
    .await;
    assert_eq!(
        count(
            &api,
            "SELECT count(*) FROM stripe_events WHERE parse_error IS NOT NULL"
        )
        .await,
        1,
        "the unparsable event is flagged"
    );
    let (status, state, kind) = tenant_row(&api, tenant).await;
    assert_eq!(
        (status.as_str(), state.as_str(), kind.as_deref()),
        ("suspended", "unpaid", Some("billing"))
    );
}

#[tokio::test]
async fn reconciliation_repairs_what_a_missed_webhook_left_behind() {
    let stripe = FakeStripe::start().await;
    let base = stripe.base_url();
    let api = AdminApi::start_with(move |settings| {
        settings.billing.secret_key = Some(common::Secret::new("sk_test_reconcile"));
        settings.billing.webhook_secrets = Some(common::Secret::new(SECRET));
        settings.billing.api_base_url = Some(base);
        settings.billing.reconcile_interval_secs = 1;
    })
    .await;
    let (canceled, canceled_sub) = billed_company(&api, &stripe, "gone", "active").await;
    let (paying, _) = billed_company(&api, &stripe, "paying", "active").await;
    // Stripe canceled one and nobody told us; we suspended the other by mistake.
    stripe.set_subscription_status(&canceled_sub, "canceled");
    provisioner::tenants::suspend(
        &api_db(&api).await,
        paying,
        common::entities::SuspensionKind::Billing,
        "lost event",
    )
    .await
    .expect("suspended");
    eventually("both repaired", || async {
        tenant_row(&api, canceled).await.0 == "suspended"
            && tenant_row(&api, paying).await.0 == "active"
    })
    .await;
    let repaired = api.audit("billing.repaired").await;
    for tenant in [canceled, paying] {
        assert!(
            repaired
                .iter()
                .any(|entry| entry["target_id"] == tenant.to_string()),
            "{tenant} repaired: {repaired:?}"
        );
    }
}

async fn api_db(api: &AdminApi) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(api.app.db.url())
        .await
        .expect("control db")
}

#[tokio::test]
async fn a_customer_is_made_once_though_stripe_fails_and_times_out_meanwhile() {
    let stripe = FakeStripe::start().await;
    let api = platform(&stripe).await;
    let company = api.company("flaky", "starter").await;
    let token = api.owner_token(&company).await;

    stripe.fail_next(1, fake_stripe::Failure::Delay(Duration::from_secs(3)));
    stripe.fail_next(2, fake_stripe::Failure::Status(500));
    let portal = billing_call(
        &api,
        &company,
        &token,
        Method::POST,
        "/api/v1/billing/portal",
        None,
    )
    .await;
    assert_eq!(portal.status, 503, "{:?}", portal.body);
    assert_eq!(portal.code(), "billing_unavailable");
    assert!(portal.header("retry-after").is_some());

    eventually("the customer job made the customer", || async {
        count(
            &api,
            "SELECT count(*) FROM tenants WHERE slug = 'flaky' AND stripe_customer_id IS NOT NULL",
        )
        .await
            == 1
    })
    .await;
    let portal = billing_call(
        &api,
        &company,
        &token,
        Method::POST,
        "/api/v1/billing/portal",
        None,
    )
    .await;
    assert_eq!(portal.status, 200, "{:?}", portal.body);
    assert_eq!(stripe.customers().len(), 1, "one customer");
    let keys: std::collections::BTreeSet<_> = stripe
        .requests()
        .into_iter()
        .filter(|request| request.method == "POST" && request.path == "/v1/customers")
        .map(|request| request.idempotency_key)
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every attempt carried the same key: {keys:?}"
    );

    let unpriced = api
        .patch("/api/v1/plans/growth", json!({ "stripe_price_id": null }))
        .await;
    assert_eq!(unpriced.status, 200, "{:?}", unpriced.body);
    let checkout = billing_call(
        &api,
        &company,
        &token,
        Method::POST,
        "/api/v1/billing/checkout",
        Some(json!({ "plan": "growth" })),
    )
    .await;
    assert_eq!(checkout.status, 409, "{:?}", checkout.body);
    assert_eq!(checkout.code(), "plan_not_billable");
    assert!(
        checkout.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("growth")
    );
}

#[tokio::test]
async fn finished_days_of_api_calls_reach_the_meter_once_even_when_rerun() {
    let stripe = FakeStripe::start().await;
    let base = stripe.base_url();
    let api = AdminApi::start_with(move |settings| {
        settings.billing.secret_key = Some(common::Secret::new("sk_test_meter"));
        settings.billing.webhook_secrets = Some(common::Secret::new(SECRET));
        settings.billing.api_base_url = Some(base);
        settings.billing.usage_report_interval_secs = 1;
    })
    .await;
    let (tenant, _) = billed_company(&api, &stripe, "metered", "active").await;
    let control = system_tests::fleet::connect(&api.app.db.url()).await;
    // Two days that ended more than a day ago (yesterday would wait out the hour after its
    // end in the first hour of today, making the test depend on the clock) and today.
    control
        .execute(
            "INSERT INTO tenant_usage_daily (tenant_id, day, api_calls) VALUES \
               ($1, current_date - 3, 1200), ($1, current_date - 2, 345), ($1, current_date, 7)",
            &[&tenant],
        )
        .await
        .expect("usage");
    eventually("two finished days reported", || async {
        count(&api, "SELECT count(*) FROM billing_usage_reports").await == 2
    })
    .await;
    // A crash after Stripe took a report but before we recorded it: the rerun sends the
    // same identifier, which Stripe counts once.
    control
        .execute(
            "DELETE FROM billing_usage_reports WHERE day = current_date - 2",
            &[],
        )
        .await
        .expect("forget one");
    eventually("the forgotten day recorded again", || async {
        count(&api, "SELECT count(*) FROM billing_usage_reports").await == 2
    })
    .await;
    let events = stripe.meter_events();
    assert_eq!(events.len(), 2, "{events:?}");
    let total: i64 = events
        .iter()
        .map(|event| {
            event["payload"]["value"]
                .as_str()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(total, 1545, "today's calls wait for the day to end");
    assert!(events.iter().all(|event| {
        event["identifier"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("usage-{tenant}-"))
    }));
}

#[tokio::test]
async fn the_webhook_benchmark_runs_end_to_end() {
    let run = system_tests::webhook_bench::run(50, 8).await;
    let report = system_tests::webhook_bench::report(&run);
    assert!(
        system_tests::webhook_bench::ledger_holds(&run),
        "every distinct event stored and applied once:\n{report}"
    );
    assert_eq!(run.ledger.rows, 40, "{report}");
}
