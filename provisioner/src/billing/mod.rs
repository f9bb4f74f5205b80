//! Billing through Stripe: Stripe holds the truth about subscriptions, the control
//! database mirrors it, and a tenant's access follows the mirror.
//!
//! - [`Billing`]: the configuration (disabled when no Stripe key is set) and the client;
//! - `stripe`: the only calls made to Stripe, and what is mirrored of a subscription;
//! - [`webhook`]: verifies a delivery on its raw body and stores it in the event ledger
//!   before anything else;
//! - `events`: applies ledger rows in the background, re-fetching the subscription from
//!   Stripe (events come late, twice and out of order), with retries and backoff;
//! - `access`: the one state machine joining the tenant lifecycle and billing (serve,
//!   grace, suspend for billing, restore, cancel), audited and announced;
//! - [`account`]: what tenant admins and super-admins do (overview, Checkout, the billing
//!   portal, a change of paid plan, cancel at period end) and the tenant's customer;
//! - [`ledger`]: the stored events as operators see them, and retrying a failed one;
//! - `housekeeping`: grace and retention sweeps, metered usage, reconciliation;
//! - `mail`: the billing emails, each recorded before it is sent, so it goes out once;
//! - [`BillingLoop`]: the background loop a provisioner worker runs beside its jobs.

pub(crate) mod access;
pub mod account;
mod error;
mod events;
mod housekeeping;
pub mod ledger;
pub(crate) mod mail;
mod stripe;
pub mod webhook;
mod worker;

pub use access::{Applied, Cause};
pub use error::BillingError;
pub use events::{EventsRun, PendingEvent};
pub use housekeeping::{BillingSweep, ReconcileRun, UsageRun};
pub use stripe::{StripeApi, StripeFailure, Subscription};
pub use worker::BillingLoop;

use common::config::{Settings, TenantOrigin};
use std::sync::Arc;
use std::time::Duration;

const DAY_SECS: u64 = 24 * 3600;

/// Billing as configured: [`Billing::disabled`] without a Stripe key, otherwise the client
/// and the settings every billing path reads. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Billing {
    enabled: Option<Arc<Enabled>>,
}

/// The settings of enabled billing.
#[derive(Debug)]
pub struct Enabled {
    pub api: StripeApi,
    pub webhook_secrets: Vec<String>,
    /// How long a tenant whose payment failed is still served.
    pub grace: Duration,
    /// How long a canceled tenant stays suspended before it is deleted.
    pub canceled_retention: Duration,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub meter_event_name: String,
    /// Where tenants reach the runtime (return URLs, links in emails).
    pub tenant_origin: TenantOrigin,
}

impl Billing {
    /// Billing-disabled mode: plans are assigned by admins, every billing call answers
    /// [`BillingError::Disabled`].
    pub fn disabled() -> Self {
        Self::default()
    }

    /// From `billing.*`; disabled when `billing.secret_key` is unset.
    pub fn from_settings(
        settings: &Settings,
        tenant_origin: TenantOrigin,
    ) -> Result<Self, StripeFailure> {
        let config = &settings.billing;
        let Some(key) = &config.secret_key else {
            return Ok(Self::disabled());
        };
        let api = StripeApi::new(
            key.expose(),
            config.api_base_url.as_deref(),
            Duration::from_secs(config.request_timeout_secs),
        )?;
        Ok(Self::enabled(Enabled {
            api,
            webhook_secrets: config.webhook_secret_list(),
            grace: Duration::from_secs(u64::from(config.grace_period_days) * DAY_SECS),
            canceled_retention: Duration::from_secs(
                u64::from(config.canceled_retention_days) * DAY_SECS,
            ),
            success_url: config.success_url.clone(),
            cancel_url: config.cancel_url.clone(),
            meter_event_name: config.meter_event_name.clone(),
            tenant_origin,
        }))
    }

    pub fn enabled(settings: Enabled) -> Self {
        Self {
            enabled: Some(Arc::new(settings)),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }

    /// The settings, or [`BillingError::Disabled`].
    pub fn settings(&self) -> Result<&Enabled, BillingError> {
        self.enabled.as_deref().ok_or(BillingError::Disabled)
    }
}

impl Enabled {
    /// `template` (or `default`) with `{tenant_url}` replaced by the tenant's address.
    fn tenant_url(&self, template: Option<&str>, default: &str, slug: &str) -> String {
        template
            .unwrap_or(default)
            .replace("{tenant_url}", &self.tenant_origin.tenant_url(slug))
    }

    /// Where Checkout returns a paying customer.
    pub fn success_url(&self, slug: &str) -> String {
        self.tenant_url(
            self.success_url.as_deref(),
            "{tenant_url}/billing?checkout=success",
            slug,
        )
    }

    /// Where Checkout returns a customer who gave up.
    pub fn cancel_url(&self, slug: &str) -> String {
        self.tenant_url(
            self.cancel_url.as_deref(),
            "{tenant_url}/billing?checkout=canceled",
            slug,
        )
    }

    /// The tenant's billing page (the portal's return URL, links in emails).
    pub fn billing_page(&self, slug: &str) -> String {
        self.tenant_url(None, "{tenant_url}/billing", slug)
    }
}
