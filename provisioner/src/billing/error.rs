//! What can go wrong in a billing call, and what it means to an HTTP client. Billing is
//! reached through two doors (tenant admins on the runtime, super-admins on the admin
//! API) with the same meaning, so unlike the provisioner's other errors its HTTP mapping
//! is written once, here, next to the error.

use super::stripe::StripeFailure;
use crate::error::ProvisionError;
use actix_web::http::StatusCode;
use common::api_error::ApiError;
use sea_orm::DbErr;
use uuid::Uuid;

/// How long a client waits before trying a call that Stripe could not take.
const STRIPE_RETRY_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("billing is not enabled on this platform (no Stripe key is configured)")]
    Disabled,
    #[error("there is no plan `{0}`")]
    UnknownPlan(String),
    #[error(
        "the plan `{0}` has no Stripe price, so it cannot be paid for; ask an operator to set its `stripe_price_id`"
    )]
    PlanNotBillable(String),
    #[error("the company has no subscription yet; start one with Checkout")]
    NoSubscription,
    #[error("the company already has a subscription; change its plan instead")]
    AlreadySubscribed,
    #[error("the company is already on the `{0}` plan")]
    SamePlan(String),
    #[error("tenant {0} does not exist")]
    TenantNotFound(Uuid),
    #[error("the company is deleted or being deleted")]
    TenantDeleted,
    #[error("Stripe cannot be reached right now; try again shortly")]
    Unavailable(String),
    #[error("{0}")]
    Stripe(StripeFailure),
    #[error("control database error: {0}")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
}

impl From<StripeFailure> for BillingError {
    fn from(failure: StripeFailure) -> Self {
        if failure.is_transient() {
            Self::Unavailable(failure.to_string())
        } else {
            Self::Stripe(failure)
        }
    }
}

impl BillingError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Disabled => "billing_disabled",
            Self::UnknownPlan(_) => "unknown_plan",
            Self::PlanNotBillable(_) => "plan_not_billable",
            Self::NoSubscription => "no_subscription",
            Self::AlreadySubscribed => "already_subscribed",
            Self::SamePlan(_) => "same_plan",
            Self::TenantNotFound(_) => "tenant_not_found",
            Self::TenantDeleted => "invalid_transition",
            Self::Unavailable(_) => "billing_unavailable",
            Self::Stripe(_) => "stripe_error",
            Self::Db(_) => "internal_error",
            Self::Provision(error) => error.code(),
        }
    }
}

impl From<BillingError> for ApiError {
    fn from(error: BillingError) -> Self {
        let code = error.code();
        let status = match &error {
            BillingError::Db(_) => return ApiError::internal(error),
            BillingError::Provision(ProvisionError::Db(_)) => return ApiError::internal(error),
            BillingError::Unavailable(cause) => {
                tracing::warn!(cause, "a billing call could not reach Stripe");
                return ApiError::retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code,
                    error.to_string(),
                    STRIPE_RETRY_SECS,
                );
            }
            BillingError::Stripe(failure) => {
                tracing::error!(%failure, "Stripe refused a billing call");
                return ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    code,
                    "Stripe refused the request; the operator has been told",
                );
            }
            BillingError::UnknownPlan(_) => StatusCode::UNPROCESSABLE_ENTITY,
            BillingError::TenantNotFound(_) => StatusCode::NOT_FOUND,
            BillingError::Provision(ProvisionError::TenantNotFound(_)) => StatusCode::NOT_FOUND,
            BillingError::Disabled
            | BillingError::PlanNotBillable(_)
            | BillingError::NoSubscription
            | BillingError::AlreadySubscribed
            | BillingError::SamePlan(_)
            | BillingError::TenantDeleted
            | BillingError::Provision(_) => StatusCode::CONFLICT,
        };
        ApiError::new(status, code, error.to_string())
    }
}
