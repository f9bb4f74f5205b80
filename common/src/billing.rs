//! What a company's billing looks like from outside, the same at both doors (tenant admins
//! on the runtime's `GET /api/v1/billing`, super-admins on the admin API's
//! `GET /api/v1/tenants/{id}/billing`), and what the runtime's `/me` says of it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A company's plan, subscription and this period's usage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingView {
    /// Whether the platform bills through Stripe (`false`: plans are assigned by admins).
    pub enabled: bool,
    /// The plan's code.
    pub plan: String,
    pub plan_name: String,
    /// `none`, `trialing`, `active`, `past_due`, `unpaid`, `paused`, `incomplete`, `canceled`.
    #[schema(example = "active")]
    pub state: String,
    /// The company's status (`active`, `suspended`, ...).
    pub status: String,
    /// `billing` when access is suspended for an unpaid or canceled subscription.
    pub suspension_kind: Option<String>,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    /// The subscription ends at `period_end` instead of renewing.
    pub cancel_at_period_end: bool,
    /// When payments started failing; access continues until `grace_ends_at`.
    pub past_due_since: Option<DateTime<Utc>>,
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// Whether a subscription exists (then plan changes and cancel apply to it).
    pub subscribed: bool,
    pub usage: PeriodUsage,
}

/// API calls counted since the period started (the calendar month without a period).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodUsage {
    pub since: NaiveDate,
    pub api_calls: i64,
}

/// What `/me` says of billing, so the web app can show a banner.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingNotice {
    /// The billing state (see [`BillingView::state`]).
    pub state: String,
    /// Set while a failed payment's grace period runs.
    pub grace_ends_at: Option<DateTime<Utc>>,
}
