//! The fake driven through the real async-stripe client: every answer must parse into the
//! crate's types, and the behaviours tests rely on (idempotency, failures, Stripe's own
//! moves, paging, signed events) must hold.

use super::{Failure, FakeStripe, api_version, objects, signature};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::subscription::{
    CancelSubscription, ListSubscription, ListSubscriptionStatus, RetrieveSubscription,
    UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
    RetrieveCheckoutSession,
};
use stripe_core::customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned};
use stripe_shared::{ApiErrorsCode, ApiErrorsType, CheckoutSessionMode, CheckoutSessionStatus};
use stripe_shared::{Subscription, SubscriptionStatus};
use stripe_webhook::{EventObject, Webhook};

const SECRET: &str = "whsec_fake_test_secret";
const PRICE: &str = "price_basic_monthly";

fn client(fake: &FakeStripe) -> Client {
    ClientBuilder::new("sk_test_fake")
        .url(fake.base_url())
        .build()
        .expect("client")
}

fn key(value: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(value).expect("idempotency key"))
}

fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// The Stripe error and status a failed call came back with.
fn stripe_error(result: Result<impl std::fmt::Debug, StripeError>) -> (stripe::ApiErrors, u16) {
    match result {
        Err(StripeError::Stripe(error, status)) => (*error, status),
        other => panic!("expected a Stripe error, got {other:?}"),
    }
}

async fn new_customer(client: &Client) -> String {
    let customer = CreateCustomer::new()
        .email("owner@example.com")
        .send(client)
        .await
        .expect("create customer");
    customer.id.to_string()
}

fn subscription_checkout(customer: &str) -> CreateCheckoutSession {
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(PRICE.into());
    item.quantity = Some(1);
    let mut data = CreateCheckoutSessionSubscriptionData::new();
    data.metadata = Some(metadata(&[("tenant_id", "t-1")]));
    CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer)
        .line_items(vec![item])
        .success_url("https://app.test/billing/success")
        .cancel_url("https://app.test/billing/cancel")
        .client_reference_id("t-1")
        .metadata(metadata(&[("tenant_id", "t-1")]))
        .subscription_data(data)
}

#[tokio::test]
async fn the_same_idempotency_key_twice_makes_one_customer() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let create = CreateCustomer::new()
        .email("a@example.com")
        .name("Acme")
        .metadata(metadata(&[("tenant_id", "t-1")]));
    let first = create
        .customize()
        .request_strategy(key("signup-1"))
        .send(&client)
        .await;
    let second = create
        .customize()
        .request_strategy(key("signup-1"))
        .send(&client)
        .await;

    let (first, second) = (first.expect("first"), second.expect("second"));
    assert_eq!(first.id, second.id);
    assert_eq!(first.email.as_deref(), Some("a@example.com"));
    assert_eq!(fake.customers().len(), 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.idempotency_key.as_deref(), Some("signup-1"));
        assert_eq!(request.stripe_version.as_deref(), Some(api_version()));
        assert!(request.authorized);
        assert_eq!(request.form_value("metadata[tenant_id]"), Some("t-1"));
    }
}

#[tokio::test]
async fn a_key_reused_for_other_parameters_is_refused() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let create = |email: &str| CreateCustomer::new().email(email);
    let sent = create("a@example.com")
        .customize()
        .request_strategy(key("k"))
        .send(&client)
        .await;
    sent.expect("first");
    let reused = create("b@example.com")
        .customize()
        .request_strategy(key("k"))
        .send(&client)
        .await;

    let (error, status) = stripe_error(reused);
    assert_eq!(
        (status, error.type_),
        (400, ApiErrorsType::IdempotencyError)
    );
    assert_eq!(fake.customers().len(), 1);
}

#[tokio::test]
async fn a_customer_is_retrieved_and_an_unknown_one_is_404() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let id = new_customer(&client).await;

    let found = RetrieveCustomer::new(id.as_str())
        .send(&client)
        .await
        .expect("retrieve");
    assert!(
        matches!(found, RetrieveCustomerReturned::Customer(customer) if customer.id.as_str() == id)
    );
    let (error, status) = stripe_error(RetrieveCustomer::new("cus_nope").send(&client).await);
    assert_eq!(
        (status, error.code),
        (404, Some(ApiErrorsCode::ResourceMissing))
    );
}

#[tokio::test]
async fn an_injected_500_fails_once_then_the_next_request_succeeds() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    fake.fail_next(1, Failure::Status(500));

    let (error, status) = stripe_error(CreateCustomer::new().send(&client).await);
    assert_eq!((status, error.type_), (500, ApiErrorsType::ApiError));
    assert!(fake.customers().is_empty());
    CreateCustomer::new()
        .send(&client)
        .await
        .expect("second try");
    assert_eq!(fake.customers().len(), 1);
}

#[tokio::test]
async fn the_retry_strategy_gets_past_injected_500s_with_one_key() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    fake.fail_next(2, Failure::Status(500));

    let create = CreateCustomer::new().email("retry@example.com");
    let strategy = RequestStrategy::Retry(3);
    create
        .customize()
        .request_strategy(strategy)
        .send(&client)
        .await
        .expect("third try");
    assert_eq!(fake.customers().len(), 1);
    let keys: Vec<_> = fake
        .requests()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys[0].is_some() && keys.iter().all(|key| *key == keys[0]));
}

#[tokio::test]
async fn a_failure_on_a_path_leaves_other_paths_alone() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    fake.fail_next_on("/v1/checkout/", 1, Failure::Status(503));
    let customer = new_customer(&client).await;

    let failed = subscription_checkout(&customer).send(&client).await;
    assert_eq!(stripe_error(failed).1, 503);
    subscription_checkout(&customer)
        .send(&client)
        .await
        .expect("second try");
}

#[tokio::test]
async fn a_delay_longer_than_the_timeout_is_a_timeout_yet_the_request_took_effect() {
    let fake = FakeStripe::start().await;
    let client = ClientBuilder::new("sk_test_fake")
        .url(fake.base_url())
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    fake.fail_next(1, Failure::Delay(Duration::from_secs(2)));

    let create = CreateCustomer::new().email("slow@example.com");
    let timed_out = create
        .customize()
        .request_strategy(key("slow"))
        .send(&client)
        .await;
    assert!(
        matches!(timed_out, Err(StripeError::Timeout)),
        "{timed_out:?}"
    );
    let retried = create
        .customize()
        .request_strategy(key("slow"))
        .send(&client)
        .await;
    retried.expect("the retry replays the first answer");
    assert_eq!(fake.customers().len(), 1);
}

#[tokio::test]
async fn a_request_without_an_api_key_is_401_and_an_unknown_path_404() {
    let fake = FakeStripe::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}v1/customers", fake.base_url());
    let anonymous = http.post(&url).send().await.expect("send");
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: Value = anonymous.json().await.expect("json");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let unknown = http
        .get(format!("{}v1/nothing_here", fake.base_url()))
        .bearer_auth("sk_test_fake")
        .send()
        .await
        .expect("send");
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(fake.requests().len(), 2);
    assert!(!fake.requests()[0].authorized);
}

#[tokio::test]
async fn a_completed_checkout_gives_an_active_subscription_with_its_price() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let customer = new_customer(&client).await;
    let session = subscription_checkout(&customer)
        .customize()
        .request_strategy(key("checkout-1"))
        .send(&client)
        .await
        .expect("session");
    assert!(
        session
            .url
            .as_deref()
            .is_some_and(|url| url.ends_with(session.id.as_str()))
    );
    assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
    let checkout = &fake.requests()[1];
    assert_eq!(checkout.form_value("line_items[0][price]"), Some(PRICE));
    assert_eq!(
        checkout.form_value("subscription_data[metadata][tenant_id]"),
        Some("t-1")
    );

    let completed = fake.complete_checkout(session.id.as_str());
    let subscription_id = completed["subscription"].as_str().expect("subscription id");
    let subscription = RetrieveSubscription::new(subscription_id)
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(subscription.status, SubscriptionStatus::Active);
    assert_eq!(subscription.customer.id().as_str(), customer);
    assert_eq!(subscription.items.data[0].price.id.as_str(), PRICE);
    assert_eq!(
        subscription.metadata.get("tenant_id").map(String::as_str),
        Some("t-1")
    );
    let session = RetrieveCheckoutSession::new(session.id.as_str())
        .send(&client)
        .await
        .expect("session");
    assert_eq!(session.status, Some(CheckoutSessionStatus::Complete));
    assert_eq!(
        session.subscription.map(|s| s.id().to_string()).as_deref(),
        Some(subscription_id)
    );
}

#[tokio::test]
async fn a_checkout_with_a_trial_gives_a_trialing_subscription() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let customer = new_customer(&client).await;
    let mut data = CreateCheckoutSessionSubscriptionData::new();
    data.trial_period_days = Some(14);
    let session = subscription_checkout(&customer)
        .subscription_data(data)
        .send(&client)
        .await
        .expect("session");

    let completed = fake.complete_checkout(session.id.as_str());
    let id = completed["subscription"].as_str().expect("subscription id");
    let subscription = RetrieveSubscription::new(id)
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(subscription.status, SubscriptionStatus::Trialing);
    let trial_end = subscription.trial_end.expect("trial end");
    assert!((trial_end - objects::now() - 14 * 24 * 3600).abs() < 60);
}

#[tokio::test]
async fn a_status_set_by_stripe_is_what_the_next_retrieve_says() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let created = fake.create_subscription("cus_direct", PRICE, "active");
    let id = created["id"].as_str().expect("id");

    fake.set_subscription_status(id, "past_due");
    let subscription = RetrieveSubscription::new(id)
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(subscription.status, SubscriptionStatus::PastDue);
    fake.set_subscription_status(id, "canceled");
    let subscription = RetrieveSubscription::new(id)
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(subscription.status, SubscriptionStatus::Canceled);
    assert!(subscription.canceled_at.is_some() && subscription.ended_at.is_some());
    let (error, status) = stripe_error(RetrieveSubscription::new("sub_nope").send(&client).await);
    assert_eq!(
        (status, error.code),
        (404, Some(ApiErrorsCode::ResourceMissing))
    );
}

#[tokio::test]
async fn an_update_changes_the_price_and_the_cancellation_at_period_end() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let created = fake.create_subscription("cus_direct", PRICE, "active");
    let id = created["id"].as_str().expect("id");
    let mut item = UpdateSubscriptionItems::new();
    item.id = created["items"]["data"][0]["id"]
        .as_str()
        .map(str::to_owned);
    item.price = Some("price_pro_monthly".into());

    let updated = UpdateSubscription::new(id)
        .items(vec![item])
        .proration_behavior(UpdateSubscriptionProrationBehavior::CreateProrations)
        .cancel_at_period_end(true)
        .send(&client)
        .await
        .expect("update");
    assert_eq!(updated.items.data[0].price.id.as_str(), "price_pro_monthly");
    assert_eq!(updated.items.data[0].plan.id.as_str(), "price_pro_monthly");
    assert!(updated.cancel_at_period_end);
    assert_eq!(
        updated.cancel_at,
        Some(updated.items.data[0].current_period_end)
    );
    let kept = UpdateSubscription::new(id)
        .cancel_at_period_end(false)
        .send(&client)
        .await;
    assert!(!kept.expect("undo").cancel_at_period_end);
}

#[tokio::test]
async fn an_update_naming_an_unknown_item_changes_nothing() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let created = fake.create_subscription("cus_direct", PRICE, "active");
    let id = created["id"].as_str().expect("id");
    let mut item = UpdateSubscriptionItems::new();
    item.id = Some("si_unknown".into());
    item.price = Some("price_pro_monthly".into());

    let update = UpdateSubscription::new(id)
        .cancel_at_period_end(true)
        .items(vec![item]);
    let (error, status) = stripe_error(update.send(&client).await);
    assert_eq!(
        (status, error.param.as_deref()),
        (400, Some("items[0][id]"))
    );
    assert_eq!(fake.subscription(id), Some(created));
}

#[tokio::test]
async fn a_cancel_ends_at_once_and_a_second_cancel_is_404() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let created = fake.create_subscription("cus_direct", PRICE, "active");
    let id = created["id"].as_str().expect("id");

    let canceled = CancelSubscription::new(id)
        .send(&client)
        .await
        .expect("cancel");
    assert_eq!(canceled.status, SubscriptionStatus::Canceled);
    assert!(canceled.ended_at.is_some());
    assert_eq!(
        stripe_error(CancelSubscription::new(id).send(&client).await).1,
        404
    );
    let changed = UpdateSubscription::new(id)
        .cancel_at_period_end(true)
        .send(&client)
        .await;
    assert_eq!(stripe_error(changed).1, 400);
}

#[tokio::test]
async fn the_list_pages_and_leaves_canceled_out_unless_asked() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let ids: Vec<Value> = (0..5)
        .map(|_| fake.create_subscription("cus_list", PRICE, "active")["id"].clone())
        .collect();
    fake.create_subscription("cus_other", PRICE, "active");
    fake.set_subscription_status(ids[0].as_str().expect("id"), "canceled");

    let first = ListSubscription::new()
        .customer("cus_list")
        .limit(2)
        .send(&client)
        .await
        .expect("page 1");
    assert_eq!((first.data.len(), first.has_more), (2, true));
    let after = first.data[1].id.to_string();
    let second = ListSubscription::new()
        .customer("cus_list")
        .limit(2)
        .starting_after(after)
        .send(&client)
        .await;
    let second = second.expect("page 2");
    assert_eq!((second.data.len(), second.has_more), (2, false));
    assert_ne!(first.data[0].id, second.data[0].id);
    let all = ListSubscription::new()
        .customer("cus_list")
        .status(ListSubscriptionStatus::All)
        .send(&client)
        .await
        .expect("all");
    assert_eq!(all.data.len(), 5);
}

#[tokio::test]
async fn the_paginator_walks_every_page() {
    use futures_util::TryStreamExt;
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    for _ in 0..5 {
        fake.create_subscription("cus_pages", PRICE, "active");
    }

    let stream = ListSubscription::new()
        .customer("cus_pages")
        .limit(2)
        .paginate()
        .stream(&client);
    let all: Vec<Subscription> = stream.try_collect().await.expect("every page");
    assert_eq!(all.len(), 5);
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_portal_session_has_a_url_and_needs_a_known_customer() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let customer = new_customer(&client).await;

    let portal = CreateBillingPortalSession::new()
        .customer(customer.as_str())
        .return_url("https://app.test/billing")
        .send(&client)
        .await
        .expect("portal");
    assert!(portal.url.starts_with("https://"));
    assert_eq!(portal.customer, customer);
    let unknown = CreateBillingPortalSession::new()
        .customer("cus_nope")
        .send(&client)
        .await;
    assert_eq!(
        stripe_error(unknown).0.code,
        Some(ApiErrorsCode::ResourceMissing)
    );
}

#[tokio::test]
async fn an_invoice_made_for_a_subscription_is_retrieved() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let subscription = fake.create_subscription("cus_direct", PRICE, "past_due");
    let made = fake.invoice_for(subscription["id"].as_str().expect("id"), "open");

    let id = made["id"].as_str().expect("invoice id");
    let invoice = RetrieveInvoice::new(id)
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(invoice.status, Some(stripe_shared::InvoiceStatus::Open));
    assert_eq!(invoice.amount_remaining, invoice.amount_due);
    assert!(invoice.subscription.is_none(), "not where endive puts it");
    let line = &invoice.lines.data[0];
    let item_parent = line
        .parent
        .as_ref()
        .and_then(|parent| parent.subscription_item_details.as_ref());
    assert_eq!(
        item_parent.and_then(|details| details.subscription.as_deref()),
        subscription["id"].as_str()
    );
    let parent = invoice
        .parent
        .and_then(|parent| parent.subscription_details);
    assert_eq!(
        parent.map(|details| details.subscription.id().to_string()),
        subscription["id"].as_str().map(str::to_owned)
    );
}

#[tokio::test]
async fn a_duplicate_meter_identifier_is_refused_and_counted_once() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let payload = metadata(&[("stripe_customer_id", "cus_meter"), ("value", "3")]);
    let event = CreateBillingMeterEvent::new("api_requests", payload)
        .identifier("usage-1")
        .timestamp(objects::now());

    let accepted = event.send(&client).await.expect("first");
    assert_eq!(accepted.identifier, "usage-1");
    assert_eq!(accepted.payload.get("value").map(String::as_str), Some("3"));
    let (error, status) = stripe_error(event.send(&client).await);
    assert_eq!(
        (status, error.code),
        (400, Some(ApiErrorsCode::ResourceAlreadyExists))
    );
    assert_eq!(error.param.as_deref(), Some("identifier"));
    assert_eq!(fake.meter_events().len(), 1);
}

/// Every event type the billing code handles, with the object it carries.
fn billing_events(fake: &FakeStripe, session_id: &str) -> Vec<(&'static str, Value)> {
    let session = fake.complete_checkout(session_id);
    let subscription_id = session["subscription"].as_str().expect("subscription id");
    let subscription = fake.subscription(subscription_id).expect("subscription");
    let paused = fake.set_subscription_status(subscription_id, "paused");
    let paid = fake.invoice_for(subscription_id, "paid");
    let open = fake.invoice_for(subscription_id, "open");
    let deleted = fake.set_subscription_status(subscription_id, "canceled");
    vec![
        ("checkout.session.completed", session),
        ("customer.subscription.created", subscription.clone()),
        ("customer.subscription.updated", subscription.clone()),
        ("customer.subscription.paused", paused),
        ("customer.subscription.resumed", subscription.clone()),
        ("customer.subscription.trial_will_end", subscription),
        ("customer.subscription.deleted", deleted),
        ("invoice.paid", paid),
        ("invoice.payment_failed", open.clone()),
        ("invoice.payment_action_required", open),
    ]
}

#[tokio::test]
async fn every_billing_event_is_signed_and_parses() {
    let fake = FakeStripe::start().await;
    let client = client(&fake);
    let customer = new_customer(&client).await;
    let session = subscription_checkout(&customer)
        .send(&client)
        .await
        .expect("session");

    for (event_type, object) in billing_events(&fake, session.id.as_str()) {
        let payload = fake.event(event_type, object);
        let header = signature(&payload, SECRET, objects::now());
        let event = Webhook::construct_event(&payload, &header, SECRET).unwrap_or_else(|error| {
            let detail = serde_json::from_str::<stripe_webhook::Event>(&payload).err();
            panic!("{event_type}: {error:?}; serde says {detail:?}")
        });
        assert_eq!(event.type_.as_str(), event_type);
        assert_eq!(
            event.api_version.as_ref().map(|v| v.as_str()),
            Some(api_version())
        );
        assert!(
            parsed_as_expected(&event.data.object),
            "{event_type}: {:?}",
            event.data.object
        );
    }
}

fn parsed_as_expected(object: &EventObject) -> bool {
    matches!(
        object,
        EventObject::CheckoutSessionCompleted(_)
            | EventObject::CustomerSubscriptionCreated(_)
            | EventObject::CustomerSubscriptionUpdated(_)
            | EventObject::CustomerSubscriptionPaused(_)
            | EventObject::CustomerSubscriptionResumed(_)
            | EventObject::CustomerSubscriptionTrialWillEnd(_)
            | EventObject::CustomerSubscriptionDeleted(_)
            | EventObject::InvoicePaid(_)
            | EventObject::InvoicePaymentFailed(_)
            | EventObject::InvoicePaymentActionRequired(_)
    )
}

#[tokio::test]
async fn an_event_signed_with_another_secret_or_long_ago_is_refused() {
    let fake = FakeStripe::start().await;
    let object = fake.create_subscription("cus_direct", PRICE, "active");
    let payload = fake.event_with_id("evt_fixed", "customer.subscription.updated", object);
    assert!(payload.contains("\"evt_fixed\""));

    let wrong = signature(&payload, "whsec_other", objects::now());
    assert!(Webhook::construct_event(&payload, &wrong, SECRET).is_err());
    let stale = signature(&payload, SECRET, objects::now() - 3600);
    assert!(Webhook::construct_event(&payload, &stale, SECRET).is_err());
}

/// serde names the first missing or mistyped field, which miniserde (what the client and
/// the webhook use) does not: a failure here says what to fix in `objects`.
#[test]
fn every_object_deserializes_with_its_field_named_on_failure() {
    let fields = objects::SubscriptionFields {
        customer: "cus_1".into(),
        price: PRICE.into(),
        quantity: 1,
        status: "active".into(),
        metadata: serde_json::Map::new(),
        trial_end: None,
    };
    let subscription = objects::subscription("sub_1", fields);
    let customer = objects::customer(
        "cus_1",
        json!("a@example.com"),
        Value::Null,
        serde_json::Map::new(),
    );
    let checks: Vec<(&str, Result<(), serde_json::Error>)> = vec![
        ("customer", parse::<stripe_shared::Customer>(customer)),
        ("subscription", parse::<Subscription>(subscription.clone())),
        (
            "invoice",
            parse::<stripe_shared::Invoice>(objects::invoice("in_1", &subscription, "paid")),
        ),
        (
            "checkout session",
            parse::<stripe_shared::CheckoutSession>(objects::checkout_session(
                "cs_test_1",
                session_fields(),
            )),
        ),
        (
            "portal",
            parse::<stripe_billing::BillingPortalSession>(objects::portal_session(
                "bps_1",
                "cus_1",
                Value::Null,
            )),
        ),
        (
            "meter event",
            parse::<stripe_billing::BillingMeterEvent>(objects::meter_event(
                "e",
                "i",
                serde_json::Map::new(),
                1,
            )),
        ),
    ];
    for (name, check) in checks {
        check.unwrap_or_else(|error| panic!("{name}: {error}"));
    }
}

fn session_fields() -> objects::SessionFields {
    objects::SessionFields {
        customer: json!("cus_1"),
        customer_email: Value::Null,
        client_reference_id: json!("t-1"),
        success_url: json!("https://app.test/ok"),
        cancel_url: Value::Null,
        metadata: serde_json::Map::new(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<(), serde_json::Error> {
    serde_json::from_value::<T>(value).map(drop)
}
