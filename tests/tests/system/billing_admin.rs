//! The control plane's side of billing, without a Stripe to talk to: billing-disabled mode
//! (every billing route and the webhook answer 409), Stripe's webhook verified for real
//! (either of two secrets, duplicates and concurrent duplicates stored once, tampered,
//! stale, future, unsigned and oversized deliveries refused with nothing stored, an
//! unparsable event kept and flagged), plans' Stripe prices, plan changes refused before
//! Stripe is asked, and Stripe unreachable (503 with `Retry-After`, the customer left to
//! a background job).

use common::Secret;
use common::config::Settings;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use stripe_webhook::Webhook;
use system_tests::admin::Reply;
use system_tests::app::{self, test_settings};
use system_tests::{AdminApi, TestDb, fleet};

const SECRET: &str = "whsec_tests_current";
const OLD_SECRET: &str = "whsec_tests_previous";

/// Billing enabled, with a Stripe that refuses connections (port 9, discard).
fn billing_enabled(settings: &mut Settings) {
    settings.billing.secret_key = Some(Secret::new("sk_test_billing_admin"));
    settings.billing.webhook_secrets = Some(Secret::new(format!("{SECRET},{OLD_SECRET}")));
    settings.billing.api_base_url = Some("http://127.0.0.1:9/".into());
}

/// A whole event envelope about `object`.
fn event(id: &str, event_type: &str, object: Value) -> String {
    json!({ "id": id, "object": "event", "type": event_type, "created": now(),
            "livemode": false, "pending_webhooks": 1, "api_version": "2026-09-30.endive",
            "request": { "id": null, "idempotency_key": null },
            "data": { "object": object } })
    .to_string()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `Stripe-Signature` for `payload`, signed `age_secs` ago with `secret`.
fn signed(payload: &str, secret: &str, age_secs: i64) -> String {
    Webhook::generate_test_header(payload, secret, Some(now() - age_secs))
}

/// Posts a delivery; `signature: None` sends no header.
async fn deliver(api: &AdminApi, body: impl Into<reqwest::Body>, signature: Option<&str>) -> Reply {
    let mut request = api
        .app
        .client
        .post(api.url("/webhooks/stripe"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("Stripe-Signature", signature);
    }
    let response = request.send().await.expect("delivered");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

/// `(deliveries, payload, parse_error)` of a ledger row.
async fn ledger_row(api: &AdminApi, id: &str) -> Option<(i32, String, Option<String>)> {
    let control = fleet::connect(&api.app.db.url()).await;
    control
        .query_opt(
            "SELECT deliveries, payload, parse_error FROM stripe_events WHERE id = $1",
            &[&id],
        )
        .await
        .expect("the ledger answers")
        .map(|row| (row.get(0), row.get(1), row.get(2)))
}

async fn ledger_size(api: &AdminApi) -> i64 {
    let control = fleet::connect(&api.app.db.url()).await;
    control
        .query_one("SELECT count(*) FROM stripe_events", &[])
        .await
        .expect("the ledger answers")
        .get(0)
}

async fn set_price(api: &AdminApi, plan: &str, price: Value) -> Reply {
    api.patch(
        &format!("/api/v1/plans/{plan}"),
        json!({ "stripe_price_id": price }),
    )
    .await
}

/// A tenant (still provisioning: billing needs only its row).
async fn tenant(api: &AdminApi, slug: &str) -> String {
    let created = api.create_tenant(slug).await;
    assert_eq!(created.status, 202, "{:?}", created.body);
    created.body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn with_billing_disabled_every_billing_route_and_the_webhook_answer_409() {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let id = tenant(&api, "unbilled").await;
    let replies = [
        api.get(&format!("/api/v1/tenants/{id}/billing")).await,
        api.post(
            &format!("/api/v1/tenants/{id}/billing/plan"),
            json!({ "plan": "growth" }),
        )
        .await,
        api.post(
            &format!("/api/v1/tenants/{id}/billing/cancel"),
            json!({ "reason": "moving to another vendor" }),
        )
        .await,
        deliver(
            &api,
            event("evt_off", "invoice.paid", json!({})),
            Some("t=1,v1=00"),
        )
        .await,
    ];
    for reply in replies {
        assert_eq!(
            (reply.status, reply.code()),
            (409, "billing_disabled"),
            "{:?}",
            reply.body
        );
    }
    assert_eq!(ledger_size(&api).await, 0);
    let tenant = api.get(&format!("/api/v1/tenants/{id}")).await;
    let billing = &tenant.body["billing"];
    assert_eq!(billing["state"], "none");
    assert_eq!(billing["period_end"], Value::Null);
    assert_eq!(billing["cancel_at_period_end"], false);
    assert_eq!(billing["past_due_since"], Value::Null);
}

#[tokio::test]
async fn an_event_signed_with_either_secret_is_stored_once_with_its_raw_payload() {
    let api = AdminApi::start_with(billing_enabled).await;
    let current = event("evt_current", "invoice.paid", json!({ "id": "in_1" }));
    let previous = event("evt_previous", "invoice.paid", json!({ "id": "in_2" }));
    for (payload, secret) in [(&current, SECRET), (&previous, OLD_SECRET)] {
        let reply = deliver(&api, payload.clone(), Some(&signed(payload, secret, 0))).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["received"], true);
        assert_eq!(reply.body["duplicate"], false);
    }
    let (deliveries, stored, _) = ledger_row(&api, "evt_current").await.expect("stored");
    assert_eq!(
        (deliveries, &stored),
        (1, &current),
        "the raw bytes, as signed"
    );
    assert!(ledger_row(&api, "evt_previous").await.is_some());

    let again = deliver(&api, current.clone(), Some(&signed(&current, SECRET, 0))).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["event_id"], "evt_current");
    assert_eq!(again.body["duplicate"], true);
    let (deliveries, _, _) = ledger_row(&api, "evt_current").await.expect("stored");
    assert_eq!(deliveries, 2);
    assert_eq!(ledger_size(&api).await, 2);
}

#[tokio::test]
async fn the_same_event_delivered_twice_at_once_is_stored_once() {
    let api = AdminApi::start_with(billing_enabled).await;
    let payload = event("evt_race", "invoice.paid", json!({ "id": "in_race" }));
    let header = signed(&payload, SECRET, 0);
    let (first, second) = tokio::join!(
        deliver(&api, payload.clone(), Some(&header)),
        deliver(&api, payload.clone(), Some(&header)),
    );
    assert_eq!((first.status, second.status), (200, 200));
    let duplicates = [&first, &second]
        .iter()
        .filter(|reply| reply.body["duplicate"] == true)
        .count();
    assert_eq!(duplicates, 1, "{:?} {:?}", first.body, second.body);
    assert_eq!(ledger_size(&api).await, 1);
    let (deliveries, _, _) = ledger_row(&api, "evt_race").await.expect("stored");
    assert_eq!(deliveries, 2);
}

#[tokio::test]
async fn a_delivery_stripe_did_not_sign_now_is_refused_and_nothing_is_stored() {
    let api = AdminApi::start_with(billing_enabled).await;
    let payload = event("evt_forged", "invoice.paid", json!({ "id": "in_1" }));
    let good = signed(&payload, SECRET, 0);
    let tampered = payload.replace("in_1", "in_2");
    let cases: [(&str, String, Option<String>, &str); 7] = [
        (
            "tampered body",
            tampered,
            Some(good.clone()),
            "invalid_signature",
        ),
        (
            "another secret",
            payload.clone(),
            Some(signed(&payload, "whsec_someone_else", 0)),
            "invalid_signature",
        ),
        (
            "stale",
            payload.clone(),
            Some(signed(&payload, SECRET, 301)),
            "stale_signature",
        ),
        (
            "future",
            payload.clone(),
            Some(signed(&payload, SECRET, -301)),
            "stale_signature",
        ),
        ("unsigned", payload.clone(), None, "invalid_signature"),
        (
            "garbled",
            payload.clone(),
            Some("t=yesterday,v1=zz".into()),
            "invalid_signature",
        ),
        (
            "not an event",
            r#"{"hello":"world"}"#.into(),
            Some(signed(r#"{"hello":"world"}"#, SECRET, 0)),
            "invalid_event",
        ),
    ];
    for (case, body, header, code) in cases {
        let reply = deliver(&api, body, header.as_deref()).await;
        assert_eq!((reply.status, reply.code()), (400, code), "{case}");
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json"),
            "{case}"
        );
    }
    let not_utf8 = deliver(&api, vec![0xff_u8, 0xfe, 0x00], Some(&good)).await;
    assert_eq!((not_utf8.status, not_utf8.code()), (400, "invalid_event"));
    assert_eq!(ledger_size(&api).await, 0);
}

#[tokio::test]
async fn a_one_mebibyte_delivery_is_refused_with_413_and_nothing_is_stored() {
    let api = AdminApi::start_with(billing_enabled).await;
    let padding = "x".repeat(1024 * 1024);
    let payload = event(
        "evt_huge",
        "invoice.paid",
        json!({ "id": "in_1", "memo": padding }),
    );
    let reply = deliver(&api, payload.clone(), Some(&signed(&payload, SECRET, 0))).await;
    assert_eq!((reply.status, reply.code()), (413, "payload_too_large"));
    assert_eq!(ledger_size(&api).await, 0);
}

#[tokio::test]
async fn a_signed_event_the_client_cannot_parse_is_stored_flagged_and_acknowledged() {
    let api = AdminApi::start_with(billing_enabled).await;
    let payload = event(
        "evt_newer_shape",
        "customer.subscription.updated",
        json!({ "id": "sub_x", "customer": "cus_x" }),
    );
    let reply = deliver(&api, payload.clone(), Some(&signed(&payload, SECRET, 0))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["duplicate"], false);
    let (_, stored, parse_error) = ledger_row(&api, "evt_newer_shape").await.expect("kept");
    assert_eq!(stored, payload);
    assert!(parse_error.is_some_and(|error| !error.is_empty()));
}

#[tokio::test]
async fn before_bootstrap_the_webhook_answers_503_starting_so_stripe_retries() {
    let db = TestDb::control().await;
    let mut settings = test_settings(&db);
    billing_enabled(&mut settings);
    // A database nobody listens on (port 9): bootstrap cannot finish.
    let url = db.url();
    let host_port = url
        .split_once('@')
        .map_or(url.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    settings.database.url = Secret::new(url.replacen(&host_port, "127.0.0.1:9", 1));
    let app = app::launch(settings, db).await;
    let payload = event("evt_early", "invoice.paid", json!({}));
    let response = app
        .client
        .post(format!("{}/webhooks/stripe", app.control_plane_url))
        .header("Stripe-Signature", signed(&payload, SECRET, 0))
        .body(payload)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["code"], "starting");
}

#[tokio::test]
async fn plans_take_validate_show_and_clear_a_stripe_price() {
    let api = AdminApi::start().await;
    let set = set_price(&api, "starter", json!("price_starter_monthly")).await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["stripe_price_id"], "price_starter_monthly");
    let shown = api.get("/api/v1/plans/starter").await;
    assert_eq!(shown.body["stripe_price_id"], "price_starter_monthly");
    let kept = api
        .patch("/api/v1/plans/starter", json!({ "name": "Starter" }))
        .await;
    assert_eq!(kept.body["stripe_price_id"], "price_starter_monthly");

    let taken = set_price(&api, "growth", json!("price_starter_monthly")).await;
    assert_eq!((taken.status, taken.code()), (409, "price_in_use"));
    for bad in ["prod_123", "price_", "price_with space", ""] {
        let refused = set_price(&api, "growth", json!(bad)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (422, "validation_failed"),
            "{bad:?}"
        );
        assert_eq!(refused.body["errors"][0]["field"], "stripe_price_id");
    }
    let limits = json!({ "max_users": 5, "max_storage_mb": 100, "api_requests_per_minute": 60,
                         "api_calls_per_month": 1000, "max_concurrent_requests": 5,
                         "max_db_connections": 5 });
    let created = api
        .post(
            "/api/v1/plans",
            json!({ "code": "pro", "name": "Pro", "limits": limits,
                    "stripe_price_id": "price_pro" }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["stripe_price_id"], "price_pro");
    let duplicate = api
        .post(
            "/api/v1/plans",
            json!({ "code": "pro2", "name": "Pro 2", "limits": limits,
                    "stripe_price_id": "price_pro" }),
        )
        .await;
    assert_eq!((duplicate.status, duplicate.code()), (409, "price_in_use"));

    let cleared = set_price(&api, "starter", Value::Null).await;
    assert_eq!(cleared.status, 200, "{:?}", cleared.body);
    assert_eq!(cleared.body["stripe_price_id"], Value::Null);
    let reused = set_price(&api, "growth", json!("price_starter_monthly")).await;
    assert_eq!(reused.status, 200, "a cleared price is free again");
}

#[tokio::test]
async fn a_plan_change_is_refused_without_a_subscription_or_a_price_before_stripe_is_asked() {
    let api = AdminApi::start_with(billing_enabled).await;
    api.register_primary().await;
    assert_eq!(
        set_price(&api, "growth", json!("price_growth"))
            .await
            .status,
        200
    );
    let id = tenant(&api, "unsubscribed").await;
    let view = api.get(&format!("/api/v1/tenants/{id}/billing")).await;
    assert_eq!(view.status, 200, "{:?}", view.body);
    assert_eq!(view.body["enabled"], true);
    assert_eq!(view.body["plan"], "starter");
    assert_eq!(view.body["subscribed"], false);

    let path = format!("/api/v1/tenants/{id}/billing/plan");
    let no_subscription = api.post(&path, json!({ "plan": "growth" })).await;
    assert_eq!(
        (no_subscription.status, no_subscription.code()),
        (409, "no_subscription")
    );
    let not_billable = api.post(&path, json!({ "plan": "enterprise" })).await;
    assert_eq!(
        (not_billable.status, not_billable.code()),
        (409, "plan_not_billable")
    );
    let detail = not_billable.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("`enterprise`"), "{detail}");
    let unknown = api.post(&path, json!({ "plan": "platinum" })).await;
    assert_eq!((unknown.status, unknown.code()), (422, "unknown_plan"));
    let cancel = api
        .post(
            &format!("/api/v1/tenants/{id}/billing/cancel"),
            json!({ "reason": "asked by the customer" }),
        )
        .await;
    assert_eq!((cancel.status, cancel.code()), (409, "no_subscription"));
    let nobody = api
        .get(&format!("/api/v1/tenants/{}/billing", uuid::Uuid::now_v7()))
        .await;
    assert_eq!((nobody.status, nobody.code()), (404, "tenant_not_found"));

    let support = api.admin_with_role("support").await;
    let forbidden = api
        .call(
            Method::POST,
            &path,
            Some(&support),
            Some(json!({ "plan": "growth" })),
        )
        .await;
    assert_eq!((forbidden.status, forbidden.code()), (403, "forbidden"));
    assert!(api.audit("billing.plan_changed").await.is_empty());
}

#[tokio::test]
async fn with_stripe_unreachable_a_change_answers_503_and_signup_leaves_the_customer_to_a_job() {
    let api = AdminApi::start_with(billing_enabled).await;
    api.register_primary().await;
    assert_eq!(
        set_price(&api, "starter", json!("price_starter"))
            .await
            .status,
        200
    );
    assert_eq!(
        set_price(&api, "growth", json!("price_growth"))
            .await
            .status,
        200
    );
    let paid = signup(&api, "paidup", "starter").await;
    assert_eq!(paid.status, 202, "{:?}", paid.body);
    assert_eq!(paid.body["checkout_required"], true);
    let trial = signup(&api, "trying", "trial").await;
    assert_eq!(trial.body["checkout_required"], false);
    let control = fleet::connect(&api.app.db.url()).await;
    for reply in [&paid, &trial] {
        let id: uuid::Uuid = reply.body["tenant_id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        let jobs: i64 = control
            .query_one(
                "SELECT count(*) FROM jobs WHERE tenant_id = $1 AND kind = 'stripe_customer'",
                &[&id],
            )
            .await
            .expect("jobs")
            .get(0);
        assert_eq!(jobs, 1, "one customer job for {:?}", reply.body["slug"]);
    }

    let id = paid.body["tenant_id"].as_str().expect("id");
    let tenant_id: uuid::Uuid = id.parse().expect("uuid");
    control
        .execute(
            "UPDATE tenants SET stripe_subscription_id = 'sub_paidup', billing_state = 'active' \
             WHERE id = $1",
            &[&tenant_id],
        )
        .await
        .expect("subscribed");
    let started = std::time::Instant::now();
    let change = api
        .post(
            &format!("/api/v1/tenants/{id}/billing/plan"),
            json!({ "plan": "growth" }),
        )
        .await;
    assert_eq!(
        (change.status, change.code()),
        (503, "billing_unavailable"),
        "{:?}",
        change.body
    );
    let retry: u64 = change
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 1);
    assert!(started.elapsed() < Duration::from_secs(25));
    assert!(api.audit("billing.plan_changed").await.is_empty());
    let view = api.get(&format!("/api/v1/tenants/{id}")).await;
    assert_eq!(view.body["plan"], "starter", "nothing changed");
    let shown = view.body.to_string();
    assert!(!shown.contains("sk_test"), "no secret in the tenant view");
}

async fn signup(api: &AdminApi, slug: &str, plan: &str) -> Reply {
    let body = json!({ "company_name": format!("{slug} GmbH"), "slug": slug,
                       "admin_email": format!("boss@{slug}.example"),
                       "admin_password": "a long enough password", "plan": plan });
    api.call(Method::POST, "/api/v1/signup", None, Some(body))
        .await
}
