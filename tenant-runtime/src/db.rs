//! A connection to the request's tenant database from its registry pool, with every way
//! that can fail mapped to a 503 that says whether to retry.

use crate::gate::Tenant;
use crate::registry::pool::{ConnectError, TenantConnection};
use actix_web::http::StatusCode;
use common::api_error::{ApiError, ApiResult};
use deadpool::managed::PoolError;

/// A pooled connection to this tenant's database.
pub async fn connect(tenant: &Tenant) -> ApiResult<TenantConnection> {
    let pool = tenant.0.pool.as_ref().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("an admitted tenant has no database pool"))
    })?;
    pool.get()
        .await
        .map_err(|error| unavailable(&tenant.0.slug, error))
}

fn unavailable(slug: &str, error: PoolError<ConnectError>) -> ApiError {
    let (code, detail, retry_after) = match &error {
        PoolError::Backend(ConnectError::Budget(_)) => (
            "connection_budget_exhausted",
            "the database server is at its connection budget; retry shortly",
            1,
        ),
        PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => (
            "tenant_busy",
            "every connection of this company is busy; retry shortly",
            1,
        ),
        _ => (
            "tenant_database_unavailable",
            "this company's database cannot be reached; retry shortly",
            5,
        ),
    };
    tracing::warn!(slug, error = %error, code, "no tenant connection");
    metrics::counter!("runtime_tenant_connection_failures_total", "code" => code).increment(1);
    ApiError::retry_later(StatusCode::SERVICE_UNAVAILABLE, code, detail, retry_after)
}
