//! The provisioner's billing library against the fake Stripe, driven step by step (no
//! HTTP, no background loop): the ledger applied once, the state machine's transitions
//! with a manual clock, Checkout, plan change and cancel, grace and retention.

use chrono::Utc;
use common::config::TenantOrigin;
use provisioner::billing::{self, Billing, Enabled, StripeApi, account, webhook};
use provisioner::{ManualClock, Provisioner};
use std::sync::Arc;
use std::time::Duration;
use system_tests::Fleet;
use system_tests::fake_stripe::{self, FakeStripe};
use uuid::Uuid;

const SECRET: &str = "whsec_core";
const DAY: Duration = Duration::from_secs(24 * 3600);

fn billing_for(stripe: &FakeStripe) -> Billing {
    let api = StripeApi::new(
        "sk_test_core",
        Some(&stripe.base_url()),
        Duration::from_secs(2),
    )
    .expect("client");
    Billing::enabled(Enabled {
        api,
        webhook_secrets: vec![SECRET.to_owned()],
        grace: 7 * DAY,
        canceled_retention: 30 * DAY,
        success_url: None,
        cancel_url: None,
        meter_event_name: "api_calls".into(),
        tenant_origin: TenantOrigin {
            scheme: "http".into(),
            host: "localhost:8081".into(),
        },
    })
}

struct Setup {
    fleet: Fleet,
    stripe: FakeStripe,
    billing: Billing,
    clock: Arc<ManualClock>,
    worker: Provisioner,
}

async fn setup() -> Setup {
    let fleet = Fleet::new().await;
    let stripe = FakeStripe::start().await;
    let billing = billing_for(&stripe);
    let clock = Arc::new(ManualClock::starting_now());
    let worker = fleet
        .worker("billing-core")
        .with_billing(billing.clone())
        .with_clock(clock.clone());
    fleet
        .exec("UPDATE plans SET stripe_price_id = 'price_' || code WHERE code IN ('starter', 'growth')")
        .await;
    Setup {
        fleet,
        stripe,
        billing,
        clock,
        worker,
    }
}

impl Setup {
    /// A tenant row with a customer and, when `status` is given, a subscription to
    /// `price_starter` at the fake.
    async fn tenant(&self, slug: &str, status: Option<&str>) -> Uuid {
        let customer = format!("cus_{slug}");
        let subscription = status.map(|status| {
            self.stripe
                .create_subscription(&customer, "price_starter", status)["id"]
                .as_str()
                .expect("id")
                .to_owned()
        });
        let state = status.unwrap_or("trialing");
        let id = Uuid::now_v7();
        self.fleet
            .exec(&format!(
                "INSERT INTO tenants (id, slug, name, status, plan_code, admin_email, \
                   stripe_customer_id, stripe_subscription_id, billing_state) VALUES \
                 ('{id}', '{slug}', '{slug}', 'active', 'starter', 'boss@{slug}.example', \
                  '{customer}', {}, '{state}')",
                subscription.map_or("NULL".into(), |s| format!("'{s}'"))
            ))
            .await;
        id
    }

    async fn deliver(&self, payload: &str) -> webhook::Stored {
        let header = fake_stripe::signature(payload, SECRET, Utc::now().timestamp());
        webhook::ingest(&self.fleet.control, &self.billing, payload, Some(&header))
            .await
            .expect("stored")
    }

    async fn state(&self, id: Uuid) -> (String, String) {
        let tenant = self.fleet.tenant(id).await;
        (
            tenant.status.as_str().to_owned(),
            tenant.billing_state.as_str().to_owned(),
        )
    }
}

fn pair(status: &str, state: &str) -> (String, String) {
    (status.to_owned(), state.to_owned())
}

#[tokio::test]
async fn a_duplicate_event_is_one_row_applied_once_from_stripes_current_state() {
    let s = setup().await;
    let tenant = s.tenant("dup", Some("active")).await;
    let sub = s
        .fleet
        .tenant(tenant)
        .await
        .stripe_subscription_id
        .expect("sub");
    let stale = s.stripe.subscription(&sub).expect("sub");
    s.stripe.set_subscription_status(&sub, "past_due");
    let event = s.stripe.event("customer.subscription.updated", stale);
    assert!(s.deliver(&event).await.first_delivery);
    assert!(!s.deliver(&event).await.first_delivery);
    let run = s.worker.process_billing_events().await.expect("ledger");
    assert_eq!(run.processed, 1, "{run:?}");
    assert_eq!(
        s.state(tenant).await,
        pair("active", "past_due"),
        "Stripe's current state wins over the payload's"
    );
    assert_eq!(
        s.fleet
            .count(
                "SELECT count(*) FROM stripe_events WHERE deliveries = 2 AND state = 'processed'"
            )
            .await,
        1
    );
    let again = s.worker.process_billing_events().await.expect("ledger");
    assert_eq!(
        again,
        billing::EventsRun::default(),
        "nothing left to apply"
    );
}

#[tokio::test]
async fn past_due_is_served_through_its_grace_then_suspended_then_restored_when_paid() {
    let s = setup().await;
    let tenant = s.tenant("grace", Some("active")).await;
    let sub = s
        .fleet
        .tenant(tenant)
        .await
        .stripe_subscription_id
        .expect("sub");
    let invoice = s.stripe.invoice_for(&sub, "open");
    s.stripe.set_subscription_status(&sub, "past_due");
    s.deliver(&s.stripe.event("invoice.payment_failed", invoice.clone()))
        .await;
    s.worker.process_billing_events().await.expect("ledger");
    assert_eq!(s.state(tenant).await, pair("active", "past_due"));

    s.clock.advance(chrono::Duration::days(6));
    assert!(
        s.worker
            .sweep_billing()
            .await
            .expect("sweep")
            .suspended
            .is_empty()
    );
    s.clock.advance(chrono::Duration::days(2));
    assert_eq!(
        s.worker.sweep_billing().await.expect("sweep").suspended,
        vec![tenant]
    );
    let suspended = s.fleet.tenant(tenant).await;
    assert_eq!(
        suspended.suspension_kind.map(|kind| kind.as_str()),
        Some("billing")
    );

    s.stripe.set_subscription_status(&sub, "active");
    s.deliver(
        &s.stripe
            .event("invoice.paid", s.stripe.invoice_for(&sub, "paid")),
    )
    .await;
    s.worker.process_billing_events().await.expect("ledger");
    assert_eq!(s.state(tenant).await, pair("active", "active"));
    let emails = s
        .fleet
        .count("SELECT count(*) FROM billing_emails WHERE kind IN ('payment_failed', 'access_suspended', 'access_restored')")
        .await;
    assert_eq!(emails, 3);
}

#[tokio::test]
async fn a_canceled_subscription_suspends_then_deletes_after_retention() {
    let s = setup().await;
    let tenant = s.tenant("leaving", Some("active")).await;
    let sub = s
        .fleet
        .tenant(tenant)
        .await
        .stripe_subscription_id
        .expect("sub");
    let canceled = s.stripe.set_subscription_status(&sub, "canceled");
    s.deliver(&s.stripe.event("customer.subscription.deleted", canceled))
        .await;
    s.worker.process_billing_events().await.expect("ledger");
    assert_eq!(s.state(tenant).await, pair("suspended", "canceled"));
    s.clock.advance(chrono::Duration::days(31));
    let sweep = s.worker.sweep_billing().await.expect("sweep");
    assert_eq!(sweep.deleting, vec![tenant]);
    assert_eq!(s.state(tenant).await.0, "deleting");
}

#[tokio::test]
async fn checkout_makes_one_customer_then_plan_change_and_cancel_reach_stripe() {
    let s = setup().await;
    let tenant = Uuid::now_v7();
    s.fleet
        .exec(&format!(
            "INSERT INTO tenants (id, slug, name, status, plan_code, admin_email, billing_state) \
             VALUES ('{tenant}', 'newco', 'New Co', 'active', 'starter', 'boss@newco.example', 'trialing')"
        ))
        .await;
    let db = &s.fleet.control;
    let url = account::checkout(db, &s.billing, tenant, "starter")
        .await
        .expect("checkout");
    assert!(url.starts_with("https://"), "{url}");
    let no_price = account::checkout(db, &s.billing, tenant, "enterprise").await;
    assert!(
        matches!(&no_price, Err(billing::BillingError::PlanNotBillable(plan)) if plan == "enterprise"),
        "{no_price:?}"
    );
    let session = s.stripe.checkout_sessions().pop().expect("a session");
    assert_eq!(session["url"], url.as_str());
    let completed = s
        .stripe
        .complete_checkout(session["id"].as_str().expect("id"));
    s.deliver(&s.stripe.event("checkout.session.completed", completed))
        .await;
    s.worker.process_billing_events().await.expect("ledger");
    assert_eq!(s.state(tenant).await, pair("active", "active"));
    assert_eq!(s.stripe.customers().len(), 1);

    let view = account::change_plan(db, &s.billing, tenant, "growth")
        .await
        .expect("plan change");
    assert_eq!(view.plan, "growth");
    let role_limit_jobs =
        format!("SELECT count(*) FROM jobs WHERE kind = 'role_limits' AND tenant_id = '{tenant}'");
    assert_eq!(
        s.fleet.count(&role_limit_jobs).await,
        1,
        "the new plan's connection limit is queued for the tenant's role"
    );
    let sub = s
        .fleet
        .tenant(tenant)
        .await
        .stripe_subscription_id
        .expect("sub");
    let at_stripe = s.stripe.subscription(&sub).expect("sub");
    assert_eq!(at_stripe["items"]["data"][0]["price"]["id"], "price_growth");
    let view = account::cancel(db, &s.billing, tenant)
        .await
        .expect("cancel");
    assert!(view.cancel_at_period_end);
    assert_eq!(view.status, "active", "served until the period ends");
}

#[tokio::test]
async fn a_trial_that_ends_with_a_subscription_in_place_is_not_suspended_and_its_end_is_announced()
{
    let s = setup().await;
    let paid = s.tenant("paid", Some("active")).await;
    let own_trial = s.tenant("stripe-trial", Some("trialing")).await;
    let unpaid = s.tenant("no-sub", None).await;
    s.fleet
        .exec("UPDATE tenants SET trial_ends_at = now() - interval '1 hour'")
        .await;
    let sweep = s.worker.sweep().await.expect("sweep");
    assert_eq!(
        sweep.suspended,
        vec![unpaid],
        "only the trial without a subscription ends"
    );
    for tenant in [paid, own_trial] {
        assert_eq!(s.state(tenant).await.0, "active");
    }

    let sub = s
        .fleet
        .tenant(own_trial)
        .await
        .stripe_subscription_id
        .expect("sub");
    let object = s.stripe.subscription(&sub).expect("sub");
    let ending = s
        .stripe
        .event("customer.subscription.trial_will_end", object);
    s.deliver(&ending).await;
    s.deliver(&ending).await;
    s.worker.process_billing_events().await.expect("ledger");
    assert_eq!(
        s.fleet
            .count("SELECT count(*) FROM billing_emails WHERE kind = 'trial_ending'")
            .await,
        1,
        "announced once however often Stripe says so"
    );
}

#[tokio::test]
async fn a_subscription_unpaid_while_the_database_is_made_suspends_the_tenant_as_it_activates() {
    let s = setup().await;
    s.fleet
        .register("pg-1", system_tests::Server::primary().admin_url(), 10)
        .await;
    let created = s
        .fleet
        .create_tenant_on("unpaid-early", "starter")
        .await
        .expect("created");
    let id = created.tenant_id;
    s.fleet
        .exec(&format!(
            "UPDATE tenants SET stripe_customer_id = 'cus_unpaid_early' WHERE id = '{id}'"
        ))
        .await;
    let subscription = s
        .stripe
        .create_subscription("cus_unpaid_early", "price_starter", "unpaid");
    s.deliver(
        &s.stripe
            .event("customer.subscription.updated", subscription),
    )
    .await;
    s.worker.process_billing_events().await.expect("ledger");
    assert_eq!(
        s.state(id).await,
        pair("provisioning", "unpaid"),
        "a tenant being made cannot be suspended yet"
    );

    s.fleet.run_jobs(&s.worker).await;
    assert_eq!(
        s.state(id).await,
        pair("suspended", "unpaid"),
        "not served once its database is ready"
    );
    let tenant = s.fleet.tenant(id).await;
    assert_eq!(
        tenant.suspension_kind.map(|kind| kind.as_str()),
        Some("billing")
    );
}
