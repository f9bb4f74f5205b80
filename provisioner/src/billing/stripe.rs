//! The platform's only door to Stripe: a thin wrapper over the pinned async-stripe client
//! that makes exactly the calls billing needs and turns Stripe's objects into the few facts
//! the platform mirrors ([`Subscription`]).
//!
//! Every POST carries an idempotency key. Those whose retry must never make a second
//! object have a key derived from what they are for (the customer of a tenant, the meter
//! report of a tenant's day); the others use the client's default strategy, which retries
//! transient failures (5xx, timeouts) with one random key for all attempts.

use chrono::{DateTime, Utc};
use common::entities::BillingState;
use std::collections::HashMap;
use std::time::Duration;
use stripe::{
    Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest as _,
};
use stripe_billing::SubscriptionStatus;
use uuid::Uuid;

/// Attempts of a request with a random idempotency key before it fails.
const ATTEMPTS: u32 = 3;

/// A Stripe call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StripeFailure {
    /// Stripe could not be reached, timed out or answered 5xx/429: try again later.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
    /// Stripe refused the request (4xx).
    #[error("Stripe refused the request ({status}): {message}")]
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Stripe answered something the pinned client could not read.
    #[error("Stripe's answer could not be read: {0}")]
    Unreadable(String),
}

impl StripeFailure {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    fn is_missing(&self) -> bool {
        matches!(self, Self::Refused { status: 404, .. })
    }
}

impl From<StripeError> for StripeFailure {
    fn from(error: StripeError) -> Self {
        match error {
            StripeError::Stripe(errors, status) if status < 500 && status != 429 => Self::Refused {
                status,
                code: errors.code.as_ref().map(|code| code.as_str().to_owned()),
                message: errors.message.clone().unwrap_or_default(),
            },
            StripeError::Stripe(errors, status) => Self::Unavailable(format!(
                "{status}: {}",
                errors.message.clone().unwrap_or_default()
            )),
            StripeError::JSONDeserialize(message) => Self::Unreadable(message),
            StripeError::ClientError(message) | StripeError::ConfigError(message) => {
                Self::Unavailable(message)
            }
            StripeError::Timeout => Self::Unavailable("timed out".into()),
        }
    }
}

/// What the platform mirrors of a Stripe subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub state: BillingState,
    /// The price of its (first) item, which names the plan.
    pub price_id: Option<String>,
    pub item_id: Option<String>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// `metadata[tenant_id]`, set when Checkout made it.
    pub tenant_id: Option<Uuid>,
    /// Stripe's own creation time: among several, the newest wins.
    pub created: i64,
}

/// A page of subscriptions and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct SubscriptionPage {
    pub subscriptions: Vec<Subscription>,
    pub next_cursor: Option<String>,
}

/// The Stripe client, pointed at Stripe or (in tests) at a fake.
#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeApi")
    }
}

impl StripeApi {
    /// A client with `secret_key`, at `base_url` (Stripe's when `None`).
    pub fn new(
        secret_key: &str,
        base_url: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, StripeFailure> {
        let mut builder = ClientBuilder::new(secret_key)
            .request_strategy(RequestStrategy::ExponentialBackoff(ATTEMPTS))
            .timeout(timeout)
            .app_info("erp-platform", Some(env!("CARGO_PKG_VERSION").into()), None);
        if let Some(url) = base_url {
            // async-stripe appends `v1/...` to the base: a base with a path needs its `/`.
            let url = if url.ends_with('/') {
                url.to_owned()
            } else {
                format!("{url}/")
            };
            builder = builder.url(url);
        }
        Ok(Self {
            client: builder.build()?,
        })
    }

    /// Creates the tenant's customer. The idempotency key is derived from the tenant, so
    /// a retry after a timeout (by us or by the client) never makes a second one.
    pub async fn create_customer(
        &self,
        tenant_id: Uuid,
        email: &str,
        name: &str,
    ) -> Result<String, StripeFailure> {
        let metadata = HashMap::from([("tenant_id".to_owned(), tenant_id.to_string())]);
        let customer = stripe_core::customer::CreateCustomer::new()
            .email(email)
            .name(name)
            .metadata(metadata)
            .customize()
            .request_strategy(derived_key(&format!("tenant-customer-{tenant_id}"))?)
            .send(&self.client)
            .await?;
        Ok(customer.id.as_str().to_owned())
    }

    /// A Checkout Session subscribing `customer_id` to `price_id`; answers its URL.
    pub async fn create_checkout(&self, checkout: &Checkout<'_>) -> Result<String, StripeFailure> {
        use stripe_checkout::checkout_session::{
            CreateCheckoutSession, CreateCheckoutSessionLineItems,
            CreateCheckoutSessionSubscriptionData,
        };
        let metadata = HashMap::from([("tenant_id".to_owned(), checkout.tenant_id.to_string())]);
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(checkout.price_id.to_owned());
        item.quantity = Some(1);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        let session = CreateCheckoutSession::new()
            .mode(stripe_checkout::CheckoutSessionMode::Subscription)
            .customer(checkout.customer_id)
            .client_reference_id(checkout.tenant_id.to_string())
            .line_items(vec![item])
            .subscription_data(subscription)
            .metadata(metadata)
            .success_url(checkout.success_url)
            .cancel_url(checkout.cancel_url)
            .send(&self.client)
            .await?;
        session
            .url
            .ok_or_else(|| StripeFailure::Unreadable("the Checkout Session has no url".into()))
    }

    /// A Billing Portal session (payment methods, invoices); answers its URL.
    pub async fn create_portal(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, StripeFailure> {
        let session = stripe_billing::billing_portal_session::CreateBillingPortalSession::new()
            .customer(customer_id)
            .return_url(return_url)
            .send(&self.client)
            .await?;
        Ok(session.url)
    }

    /// The subscription as Stripe has it now; `None` when Stripe does not know it.
    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StripeFailure> {
        let found = stripe_billing::subscription::RetrieveSubscription::new(id)
            .send(&self.client)
            .await
            .map_err(StripeFailure::from);
        match found {
            Ok(subscription) => Ok(Some(mirror(&subscription))),
            Err(error) if error.is_missing() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The customer's subscriptions in every status, newest first.
    pub async fn subscriptions_of(
        &self,
        customer_id: &str,
    ) -> Result<Vec<Subscription>, StripeFailure> {
        let list = stripe_billing::subscription::ListSubscription::new()
            .customer(customer_id)
            .status(stripe_billing::subscription::ListSubscriptionStatus::All)
            .limit(100)
            .send(&self.client)
            .await?;
        let mut subscriptions: Vec<_> = list.data.iter().map(mirror).collect();
        subscriptions.sort_by_key(|subscription| std::cmp::Reverse(subscription.created));
        Ok(subscriptions)
    }

    /// One page of every subscription of the account (reconciliation walks them all).
    pub async fn all_subscriptions(
        &self,
        after: Option<&str>,
    ) -> Result<SubscriptionPage, StripeFailure> {
        let mut request = stripe_billing::subscription::ListSubscription::new()
            .status(stripe_billing::subscription::ListSubscriptionStatus::All)
            .limit(100);
        if let Some(after) = after {
            request = request.starting_after(after);
        }
        let list = request.send(&self.client).await?;
        let subscriptions: Vec<_> = list.data.iter().map(mirror).collect();
        let next_cursor = list
            .has_more
            .then(|| subscriptions.last().map(|last| last.id.clone()))
            .flatten();
        Ok(SubscriptionPage {
            subscriptions,
            next_cursor,
        })
    }

    /// Moves the subscription's item to another price (a change between paid plans).
    pub async fn change_price(
        &self,
        subscription: &Subscription,
        price_id: &str,
    ) -> Result<Subscription, StripeFailure> {
        use stripe_billing::subscription::{UpdateSubscription, UpdateSubscriptionItems};
        let mut item = UpdateSubscriptionItems::new();
        item.id = subscription.item_id.clone();
        item.price = Some(price_id.to_owned());
        let updated = UpdateSubscription::new(subscription.id.as_str())
            .items(vec![item])
            .send(&self.client)
            .await?;
        Ok(mirror(&updated))
    }

    /// Ends (or, with `false`, keeps) the subscription at the end of its period.
    pub async fn cancel_at_period_end(
        &self,
        subscription_id: &str,
        cancel: bool,
    ) -> Result<Subscription, StripeFailure> {
        let updated = stripe_billing::subscription::UpdateSubscription::new(subscription_id)
            .cancel_at_period_end(cancel)
            .send(&self.client)
            .await?;
        Ok(mirror(&updated))
    }

    /// The subscription an invoice belongs to, if any.
    pub async fn subscription_of_invoice(
        &self,
        invoice_id: &str,
    ) -> Result<Option<String>, StripeFailure> {
        let invoice = stripe_billing::invoice::RetrieveInvoice::new(invoice_id)
            .send(&self.client)
            .await?;
        Ok(invoice
            .parent
            .and_then(|parent| parent.subscription_details)
            .map(|details| details.subscription.id().as_str().to_owned()))
    }

    /// Reports `value` API calls of a customer to the meter. `identifier` is derived from
    /// the tenant and the day and doubles as the idempotency key: Stripe counts it once
    /// however often it is sent. Answers `false` when Stripe already had it.
    pub async fn report_usage(&self, usage: &MeterReport<'_>) -> Result<bool, StripeFailure> {
        let payload = HashMap::from([
            (
                "stripe_customer_id".to_owned(),
                usage.customer_id.to_owned(),
            ),
            ("value".to_owned(), usage.value.to_string()),
        ]);
        let sent = stripe_billing::billing_meter_event::CreateBillingMeterEvent::new(
            usage.event_name,
            payload,
        )
        .identifier(usage.identifier)
        .timestamp(usage.timestamp)
        .customize()
        .request_strategy(derived_key(usage.identifier)?)
        .send(&self.client)
        .await
        .map_err(StripeFailure::from);
        match sent {
            Ok(_) => Ok(true),
            Err(StripeFailure::Refused { code, .. })
                if code.as_deref() == Some("resource_already_exists") =>
            {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

/// What a Checkout Session is made for.
#[derive(Debug, Clone)]
pub struct Checkout<'a> {
    pub tenant_id: Uuid,
    pub customer_id: &'a str,
    pub price_id: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

/// One day of a tenant's API calls for the meter.
#[derive(Debug, Clone)]
pub struct MeterReport<'a> {
    pub event_name: &'a str,
    pub customer_id: &'a str,
    pub identifier: &'a str,
    pub value: i64,
    /// When the calls happened (the day's last second), Unix seconds.
    pub timestamp: i64,
}

fn derived_key(key: &str) -> Result<RequestStrategy, StripeFailure> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|error| StripeFailure::Unreadable(format!("idempotency key `{key}`: {error:?}")))
}

/// The facts the platform keeps of a subscription.
fn mirror(subscription: &stripe_billing::Subscription) -> Subscription {
    let item = subscription.items.data.first();
    Subscription {
        id: subscription.id.as_str().to_owned(),
        customer_id: subscription.customer.id().as_str().to_owned(),
        state: billing_state(&subscription.status),
        price_id: item.map(|item| item.price.id.as_str().to_owned()),
        item_id: item.map(|item| item.id.as_str().to_owned()),
        period_start: item.and_then(|item| timestamp(item.current_period_start)),
        period_end: item.and_then(|item| timestamp(item.current_period_end)),
        trial_end: subscription.trial_end.and_then(timestamp),
        cancel_at_period_end: subscription.cancel_at_period_end,
        tenant_id: subscription
            .metadata
            .get("tenant_id")
            .and_then(|id| Uuid::parse_str(id).ok()),
        created: subscription.created,
    }
}

/// Stripe's subscription status as the platform's billing state. A subscription whose
/// first payment never succeeded (`incomplete_expired`) grants nothing and takes nothing
/// away: the tenant stays on whatever it had before (its trial).
pub fn billing_state(status: &SubscriptionStatus) -> BillingState {
    match status {
        SubscriptionStatus::Active => BillingState::Active,
        SubscriptionStatus::Trialing => BillingState::Trialing,
        SubscriptionStatus::PastDue => BillingState::PastDue,
        SubscriptionStatus::Unpaid => BillingState::Unpaid,
        SubscriptionStatus::Paused => BillingState::Paused,
        SubscriptionStatus::Canceled => BillingState::Canceled,
        SubscriptionStatus::Incomplete
        | SubscriptionStatus::IncompleteExpired
        | SubscriptionStatus::Unknown(_) => BillingState::Incomplete,
        // A status newer than the pinned client: grants and takes away nothing.
        _ => BillingState::Incomplete,
    }
}

fn timestamp(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}
