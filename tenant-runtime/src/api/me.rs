//! `GET /api/v1/me`: who the caller is, in which company, with what rights and limits, and
//! (when the platform bills) the company's billing state, so the web app can show a banner.

use crate::auth::{CurrentUser, UserRecord};
use crate::registry::TenantHandle;
use crate::state::AppState;
use common::api_error::ApiResult;
use common::billing::BillingNotice;
use common::entities::BillingState;
use provisioner::billing::{Billing, account};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: UserRecord,
    pub tenant: TenantSummary,
    /// Present when a super-admin acts as this user.
    pub impersonated_by: Option<String>,
    pub limits: Limits,
    /// The company's billing state; `null` when the platform does not bill (billing
    /// disabled). `past_due` with `grace_ends_at`: a payment failed and access ends then
    /// unless it is paid; `unpaid`, `paused`, `canceled`: access is suspended until paid.
    pub billing: Option<BillingNotice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// `active`, or `suspended` for billing: then only sign-in, `/me` and `/billing...`
    /// answer, so its admin can pay (any other suspension refuses `/me` too).
    #[schema(example = "active")]
    pub status: String,
    /// Why it is suspended: `billing` or `trial_expired`.
    pub suspension_kind: Option<String>,
    pub plan: String,
    pub features: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Limits {
    pub max_users: i32,
    pub max_storage_mb: i32,
    pub requests_per_minute: u32,
    pub max_concurrent_requests: u32,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, description = "not signed in")))]
pub async fn me(
    state: actix_web::web::Data<AppState>,
    current: CurrentUser,
) -> ApiResult<actix_web::web::Json<Me>> {
    Ok(actix_web::web::Json(describe(current, state.billing())))
}

/// The `/me` body for a loaded user.
pub fn describe(current: CurrentUser, billing: &Billing) -> Me {
    let handle = &current.tenant.0;
    let plan = &handle.plan;
    Me {
        billing: billing_notice(handle, billing),
        tenant: TenantSummary {
            id: handle.id,
            slug: handle.slug.clone(),
            name: handle.name.clone(),
            status: handle.status.as_str().to_owned(),
            suspension_kind: handle.suspension_kind.map(|kind| kind.as_str().to_owned()),
            plan: plan.code.clone(),
            features: plan.features.clone(),
        },
        limits: Limits {
            max_users: plan.max_users,
            max_storage_mb: plan.max_storage_mb,
            requests_per_minute: plan.requests_per_minute,
            max_concurrent_requests: plan.max_concurrent_requests,
        },
        impersonated_by: current.claims.imp,
        user: current.user,
    }
}

/// What `/me` says of billing: read from the registry's handle (reloaded on every billing
/// change, which NOTIFYs `tenant_changed`), so it costs no query.
fn billing_notice(handle: &TenantHandle, billing: &Billing) -> Option<BillingNotice> {
    let settings = billing.settings().ok()?;
    let grace_ends_at = match handle.billing_state {
        BillingState::PastDue => account::grace_end(settings, handle.billing_past_due_since),
        _ => None,
    };
    Some(BillingNotice {
        state: handle.billing_state.as_str().to_owned(),
        grace_ends_at,
    })
}
