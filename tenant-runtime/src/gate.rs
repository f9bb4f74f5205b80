//! The gate every `/api/v1` request and every web app page passes before any handler, in
//! this order (its refusals are problem JSON for the API, error pages for pages): resolve the
//! tenant, look it up in the registry, refuse by status, schema version (a database behind
//! this code's schema: 503 until the migration run reaches it), feature flag or storage
//! limit, take a slot of the tenant's rate and concurrency limits, count the call (API calls
//! only: page views are not billed usage). The handle
//! then rides in the request's extensions ([`Tenant`]).
//!
//! A tenant whose writes are frozen (a restore's or relocation's switch) gets 503
//! `tenant_maintenance` with `Retry-After` for everything, reads included: its role cannot
//! log in meanwhile.
//!
//! A tenant suspended for billing is still let through to what its admin needs to pay:
//! sign-in (`/auth/...`), `/me` (which says why) and `/billing...`, and the matching pages
//! (sign-in and out, passwords, billing); everything else gets 402 `payment_required`. An
//! admin suspension refuses everything with 403.

use crate::registry::{LookupError, TenantHandle};
use crate::resolve::{self, Resolution};
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use common::api_error::{ApiError, ApiResult};
use common::entities::{SuspensionKind, TenantStatus};
use common::limits::{Rate, Verdict};
use std::future::{Ready, ready};
use std::sync::Arc;

/// The request's tenant, admitted by the gate.
#[derive(Clone)]
pub struct Tenant(pub Arc<TenantHandle>);

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = Ready<ApiResult<Self>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<Tenant>()
                .cloned()
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!(
                        "a tenant route is mounted outside the gate"
                    ))
                }),
        )
    }
}

/// Rate-limit headers (IETF `RateLimit` draft) added to every admitted response.
struct RateHeaders {
    limit: u32,
    remaining: u32,
    /// Seconds until a request is allowed again (when refused).
    reset: Option<u64>,
}

pub async fn gate(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("AppState is registered");
    let handle = match admit(&state, &request).await {
        Ok(handle) => handle,
        Err(error) => {
            let response = refusal(&request, &error);
            return Ok(request.into_response(response).map_into_right_body());
        }
    };
    let (headers, refused) = take_rate_slot(&state, &handle).await;
    if let Some(error) = refused {
        let mut response = refusal(&request, &error);
        insert_rate_headers(response.headers_mut(), &headers);
        return Ok(request.into_response(response).map_into_right_body());
    }
    let Ok(_in_flight) = handle.in_flight.clone().try_acquire_owned() else {
        let error = ApiError::retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_concurrent_requests",
            format!(
                "this company already has {} requests in progress; retry shortly",
                handle.plan.max_concurrent_requests
            ),
            1,
        );
        let response = refusal(&request, &error);
        return Ok(request.into_response(response).map_into_right_body());
    };
    // Billed usage is API calls: the web app's pages are the product itself, not metered.
    if request.path().starts_with("/api/") {
        state.usage.count(handle.id);
    }
    request.extensions_mut().insert(Tenant(handle));
    let mut response = next.call(request).await?;
    insert_rate_headers(response.headers_mut(), &headers);
    Ok(response.map_into_left_body())
}

/// A refusal as the caller reads it: the problem JSON for the API, an error page for the
/// web app's pages.
fn refusal(request: &ServiceRequest, error: &ApiError) -> actix_web::HttpResponse {
    if request.path().starts_with("/api/") {
        error.error_response()
    } else {
        crate::web::errors::page(error)
    }
}

/// Resolution, lookup and the refusals that depend only on the tenant's state.
async fn admit(state: &AppState, request: &ServiceRequest) -> ApiResult<Arc<TenantHandle>> {
    let slug = tenant_slug(state, request)?;
    let handle = state
        .registry
        .lookup(&slug)
        .await
        .map_err(|error| match error {
            LookupError::NotFound => not_found(&slug),
            LookupError::Load(cause) => {
                tracing::error!(
                    error = format!("{cause:#}"),
                    slug,
                    "loading a tenant failed"
                );
                ApiError::retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "the tenant directory cannot be reached; retry shortly",
                    2,
                )
            }
        })?;
    // The decoded path the router matches (`inventor%79` is `inventory` to it).
    let path = request.match_info().as_str();
    check_status(&handle, &slug, path)?;
    check_schema(&handle)?;
    check_feature(&handle, path)?;
    check_storage(&handle, request, path)?;
    Ok(handle)
}

fn tenant_slug(state: &AppState, request: &ServiceRequest) -> ApiResult<String> {
    let tenant = resolve::tenant_header(
        request
            .headers()
            .get_all(resolve::TENANT_HEADER)
            .map(HeaderValue::as_bytes),
    )
    .map_err(host_refusal)?;
    let host = request_host(state, request).map_err(host_refusal)?;
    match resolve::resolve(host.as_deref(), tenant, &state.config.base_domain) {
        Resolution::Tenant(slug) => Ok(slug),
        Resolution::Missing => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "tenant_required",
            format!(
                "name the company: use {{company}}.{} or the {} header",
                state.config.base_domain,
                resolve::TENANT_HEADER
            ),
        )),
        Resolution::Conflict { host, header } => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "tenant_conflict",
            format!(
                "the host names `{host}` but {} names `{header}`",
                resolve::TENANT_HEADER
            ),
        )),
        Resolution::Unknown(name) => Err(not_found(&name)),
    }
}

/// The host the request is for: its own `Host` (an absolute target must agree with it), or
/// what a proxy in front says when configuration trusts one to set `X-Forwarded-Host`.
fn request_host(
    state: &AppState,
    request: &ServiceRequest,
) -> Result<Option<String>, resolve::HostError> {
    if state.config.trust_forwarded_host {
        return Ok(Some(request.connection_info().host().to_owned()));
    }
    let host = resolve::request_host(
        request
            .headers()
            .get_all(header::HOST)
            .map(HeaderValue::as_bytes),
        request
            .uri()
            .authority()
            .map(|authority| authority.as_str()),
    )?;
    Ok(host.map(str::to_owned))
}

/// 400 `tenant_conflict` for headers that name more than one host or tenant, 400
/// `invalid_host` for one that cannot be read.
fn host_refusal(error: resolve::HostError) -> ApiError {
    use resolve::HostError;
    match error {
        HostError::Repeated(name) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "tenant_conflict",
            format!("`{name}` is given more than once"),
        ),
        HostError::Disagree { target, host } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "tenant_conflict",
            format!("the request target names `{target}` but Host names `{host}`"),
        ),
        HostError::Unreadable(name) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_host",
            format!("`{name}` is not readable text"),
        ),
    }
}

fn not_found(slug: &str) -> ApiError {
    ApiError::not_found("tenant_not_found", format!("no company is called `{slug}`"))
}

/// How long a client is told to wait while the tenant's writes are frozen (a switch takes
/// about a second or two).
const MAINTENANCE_RETRY_SECS: u64 = 2;

fn check_status(handle: &TenantHandle, slug: &str, path: &str) -> ApiResult<()> {
    let live = matches!(
        handle.status,
        TenantStatus::Active | TenantStatus::Suspended
    );
    if handle.frozen && live {
        return Err(ApiError::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "tenant_maintenance",
            "this company's data is being moved or restored; retry in a moment",
            MAINTENANCE_RETRY_SECS,
        ));
    }
    match handle.status {
        TenantStatus::Active => Ok(()),
        TenantStatus::Suspended if handle.suspended_for_billing() && open_while_unpaid(path) => {
            Ok(())
        }
        TenantStatus::Pending | TenantStatus::Provisioning => Err(ApiError::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "tenant_provisioning",
            "this company is still being set up; retry shortly",
            5,
        )),
        TenantStatus::Suspended => Err(match handle.suspension_kind {
            Some(SuspensionKind::Billing | SuspensionKind::TrialExpired) => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_required",
                "this company's subscription needs payment; its administrator can renew it",
            ),
            Some(SuspensionKind::Admin) | None => ApiError::forbidden(
                "tenant_suspended",
                "this company is suspended; contact support",
            ),
        }),
        TenantStatus::Deleting | TenantStatus::Deleted | TenantStatus::Failed => {
            Err(not_found(slug))
        }
    }
}

/// Refuses, with 503 and `Retry-After`, a tenant whose database is behind the schema this
/// code needs: new code never runs on an old schema. (Old code on a newer schema is
/// served: tenant migrations only add, so a runtime not yet upgraded keeps working
/// while the fleet moves.) A tenant is behind only between a deploy and its turn in the
/// migration run that the deploy starts; its own migration is one transaction, and the
/// ledger's change reaches every runtime by `NOTIFY` right after the commit.
fn check_schema(handle: &TenantHandle) -> ApiResult<()> {
    if handle.schema_behind {
        return Err(ApiError::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "tenant_migrating",
            "this company's data is being upgraded to the new version; retry shortly",
            5,
        ));
    }
    Ok(())
}

/// What a tenant suspended for billing may still reach: signing in and out, `/me` and
/// the billing routes, so that its admin can see why and pay.
fn open_while_unpaid(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return is_open_page_while_unpaid(path);
    };
    rest.starts_with("auth/") || rest == "me" || is_billing(path)
}

/// The web app's pages an admin needs to pay: signing in and out, passwords, billing.
fn is_open_page_while_unpaid(path: &str) -> bool {
    matches!(
        path,
        "/sign-in" | "/sign-out" | "/forgot-password" | "/set-password" | "/impersonate"
    ) || path
        .strip_prefix("/billing")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `/api/v1/billing` and below.
fn is_billing(path: &str) -> bool {
    path.strip_prefix("/api/v1/billing")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// An API route of an ERP module the plan does not include (`crate::erp::modules`).
fn check_feature(handle: &TenantHandle, path: &str) -> ApiResult<()> {
    let module =
        crate::erp::modules::of_api_path(path).or_else(|| crate::erp::modules::of_page_path(path));
    let Some(module) = module else {
        return Ok(());
    };
    if handle.plan.features.iter().any(|f| f == module) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "feature_not_in_plan",
        format!(
            "the `{module}` module is not in the {} plan; upgrade to use it",
            handle.plan.code
        ),
    ))
}

/// Over the (sampled) storage limit, only reads, signing in/out and billing (the way to a
/// larger plan) still work.
fn check_storage(handle: &TenantHandle, request: &ServiceRequest, path: &str) -> ApiResult<()> {
    let read_only = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let exempt = path.starts_with("/api/v1/auth/") || is_billing(path);
    if read_only || exempt || !handle.over_storage_limit() {
        return Ok(());
    }
    Err(ApiError::conflict(
        "limit_exceeded",
        format!(
            "this company uses more than the {} MB its plan allows; delete data or upgrade",
            handle.plan.max_storage_mb
        ),
    ))
}

/// A slot of the tenant's per-minute quota (fleet-wide in Redis, else this process's
/// share in the handle's limiter: `common::limits`), or 429 with `Retry-After`; either way
/// the `RateLimit-*` headers to send.
async fn take_rate_slot(
    state: &AppState,
    handle: &TenantHandle,
) -> (RateHeaders, Option<ApiError>) {
    let limit = handle.plan.requests_per_minute;
    let local = || {
        Verdict::from_governor(handle.rate.check(), |snapshot| {
            snapshot.remaining_burst_capacity()
        })
    };
    let verdict = state
        .limits
        .check(
            "tenant",
            &handle.id.to_string(),
            Rate::per_minute(limit),
            local,
        )
        .await;
    if verdict.admitted() {
        let headers = RateHeaders {
            limit,
            remaining: verdict.remaining,
            reset: None,
        };
        return (headers, None);
    }
    let retry_after = verdict.retry_after_secs();
    let error = ApiError::retry_later(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("this company may make {limit} requests a minute; retry shortly"),
        retry_after,
    );
    let headers = RateHeaders {
        limit,
        remaining: 0,
        reset: Some(retry_after),
    };
    (headers, Some(error))
}

fn insert_rate_headers(headers: &mut actix_web::http::header::HeaderMap, rate: &RateHeaders) {
    let pairs = [
        ("ratelimit-limit", rate.limit.to_string()),
        ("ratelimit-remaining", rate.remaining.to_string()),
        ("ratelimit-policy", format!("{};w=60", rate.limit)),
        ("ratelimit-reset", rate.reset.unwrap_or(0).to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::open_while_unpaid;

    #[test]
    fn a_tenant_suspended_for_billing_may_still_sign_in_see_itself_and_pay() {
        for path in [
            "/api/v1/auth/login",
            "/api/v1/auth/refresh",
            "/api/v1/me",
            "/api/v1/billing",
            "/api/v1/billing/checkout",
            "/api/v1/billing/portal",
        ] {
            assert!(open_while_unpaid(path), "{path}");
        }
    }

    #[test]
    fn everything_else_of_a_tenant_suspended_for_billing_stays_closed() {
        for path in [
            "/api/v1/users",
            "/api/v1/me/anything",
            "/api/v1/billingx",
            "/api/v1/inventory/items",
            "/api/v1/",
            "/api/v1/authx",
            "/api/v2/me",
        ] {
            assert!(!open_while_unpaid(path), "{path}");
        }
    }
}
