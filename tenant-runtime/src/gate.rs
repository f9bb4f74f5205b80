//! The gate every `/api/v1` request passes before any handler, in this order: resolve the
//! tenant, look it up in the registry, refuse by status, feature flag or storage limit,
//! take a slot of the tenant's rate and concurrency limits, count the call. The handle
//! then rides in the request's extensions ([`Tenant`]).

use crate::registry::{LookupError, TenantHandle};
use crate::resolve::{self, Resolution};
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use common::api_error::{ApiError, ApiResult};
use common::entities::plans::MODULES;
use common::entities::{SuspensionKind, TenantStatus};
use governor::clock::{Clock, QuantaClock};
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
            let response = error.error_response();
            return Ok(request.into_response(response).map_into_right_body());
        }
    };
    let (headers, refused) = take_rate_slot(&handle);
    if let Some(error) = refused {
        let mut response = error.error_response();
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
        return Ok(request
            .into_response(error.error_response())
            .map_into_right_body());
    };
    state.usage.count(handle.id);
    request.extensions_mut().insert(Tenant(handle));
    let mut response = next.call(request).await?;
    insert_rate_headers(response.headers_mut(), &headers);
    Ok(response.map_into_left_body())
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
    check_status(&handle, &slug)?;
    // The decoded path the router matches (`inventor%79` is `inventory` to it).
    check_feature(&handle, request.match_info().as_str())?;
    check_storage(&handle, request)?;
    Ok(handle)
}

fn tenant_slug(state: &AppState, request: &ServiceRequest) -> ApiResult<String> {
    let header = request
        .headers()
        .get(resolve::TENANT_HEADER)
        .and_then(|value| value.to_str().ok());
    let info = request.connection_info();
    match resolve::resolve(Some(info.host()), header, &state.config.base_domain) {
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

fn not_found(slug: &str) -> ApiError {
    ApiError::not_found("tenant_not_found", format!("no company is called `{slug}`"))
}

fn check_status(handle: &TenantHandle, slug: &str) -> ApiResult<()> {
    match handle.status {
        TenantStatus::Active => Ok(()),
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

/// `/api/v1/{module}/...` of an ERP module the plan does not include.
fn check_feature(handle: &TenantHandle, path: &str) -> ApiResult<()> {
    let module = path
        .strip_prefix("/api/v1/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    if !MODULES.contains(&module) || handle.plan.features.iter().any(|f| f == module) {
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

/// Over the (sampled) storage limit, only reads and signing in/out still work.
fn check_storage(handle: &TenantHandle, request: &ServiceRequest) -> ApiResult<()> {
    let read_only = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if read_only || request.path().starts_with("/api/v1/auth/") || !handle.over_storage_limit() {
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

/// A slot of the tenant's per-minute quota, or 429 with `Retry-After`; either way the
/// `RateLimit-*` headers to send.
fn take_rate_slot(handle: &TenantHandle) -> (RateHeaders, Option<ApiError>) {
    let limit = handle.plan.requests_per_minute;
    match handle.rate.check() {
        Ok(snapshot) => {
            let remaining = snapshot.remaining_burst_capacity();
            (
                RateHeaders {
                    limit,
                    remaining,
                    reset: None,
                },
                None,
            )
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(QuantaClock::default().now());
            let retry_after = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
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
    }
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
