//! `/api/v1/billing/events`: Stripe's event ledger as operators see it (through
//! `provisioner::billing::ledger`): what arrived, how each event ended (`pending`,
//! `processed`, `ignored`, `failed`), its attempts and last error, the raw payload of one,
//! and a failed event put back in the queue once its cause is fixed (audited).

use crate::api::meta::RequestMeta;
use crate::api::pagination::{Page, PageQuery, page};
use crate::audit::{self, Entry};
use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::web;
use chrono::{DateTime, Utc};
use common::api_error::{ApiError, ApiResult};
use provisioner::billing::ledger::{self, LedgerCursor, LedgerEvent, LedgerFilter};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const STATES: [&str; 4] = ["pending", "processed", "ignored", "failed"];

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventFilter {
    /// `pending`, `processed`, `ignored` or `failed`.
    #[param(schema_with = state_schema)]
    pub state: Option<String>,
    /// Events applied to this tenant.
    pub tenant: Option<Uuid>,
    /// A Stripe event type, e.g. `invoice.payment_failed`.
    #[param(max_length = 100)]
    pub r#type: Option<String>,
}

fn state_schema() -> utoipa::openapi::Object {
    common::openapi::one_of(STATES)
}

/// One stored Stripe event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub r#type: String,
    /// `pending`, `processed`, `ignored` or `failed`.
    pub state: String,
    pub tenant_id: Option<Uuid>,
    pub customer_id: Option<String>,
    pub object_id: Option<String>,
    /// How many times Stripe delivered it.
    pub deliveries: i32,
    /// How many times the platform tried to apply it.
    pub attempts: i32,
    pub last_error: Option<String>,
    /// Set when the pinned Stripe client could not parse it (it is applied all the same).
    pub parse_error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// When a pending event is tried next.
    pub next_attempt_at: DateTime<Utc>,
    /// The body as Stripe sent it (only on `GET /billing/events/{id}`).
    pub payload: Option<String>,
}

impl From<LedgerEvent> for EventView {
    fn from(event: LedgerEvent) -> Self {
        Self {
            id: event.id,
            r#type: event.event_type,
            state: event.state,
            tenant_id: event.tenant_id,
            customer_id: event.customer_id,
            object_id: event.object_id,
            deliveries: event.deliveries,
            attempts: event.attempts,
            last_error: event.last_error,
            parse_error: event.parse_error,
            received_at: event.received_at,
            processed_at: event.processed_at,
            next_attempt_at: event.next_attempt_at,
            payload: event.payload,
        }
    }
}

/// Stored Stripe events, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/billing/events", tag = "billing", security(("bearer" = [])),
    params(EventFilter, PageQuery),
    responses((status = 200, body = Page<EventView>), (status = 422, body = crate::api::openapi::ProblemDoc)))]
pub async fn list(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    filter: web::Query<EventFilter>,
    paging: web::Query<PageQuery>,
) -> ApiResult<web::Json<Page<EventView>>> {
    Ok(web::Json(
        list_events(&state, &admin, &filter, &paging).await?,
    ))
}

/// Stored Stripe events, newest first.
pub async fn list_events(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    filter: &EventFilter,
    paging: &PageQuery,
) -> ApiResult<Page<EventView>> {
    let limit = paging.limit()?;
    let cursor = paging.after(parse_cursor)?;
    if let Some(wanted) = &filter.state
        && !STATES.contains(&wanted.as_str())
    {
        return Err(ApiError::invalid("state", "is not an event state"));
    }
    let filter = LedgerFilter {
        state: filter.state.clone(),
        tenant_id: filter.tenant,
        event_type: filter.r#type.clone(),
    };
    let rows = ledger::list(&state.db, &filter, cursor.as_ref(), limit + 1).await?;
    Ok(page(rows, limit, cursor_of, |event| {
        EventView::from(event.clone())
    }))
}

/// A cursor is `{received_at as RFC 3339}|{event id}` (then base64url, by `pagination`).
fn cursor_of(event: &LedgerEvent) -> String {
    format!("{}|{}", event.received_at.to_rfc3339(), event.id)
}

fn parse_cursor(key: &str) -> Option<LedgerCursor> {
    let (at, id) = key.split_once('|')?;
    Some(LedgerCursor {
        received_at: DateTime::parse_from_rfc3339(at).ok()?.to_utc(),
        id: id.to_owned(),
    })
}

/// One stored event with its raw payload.
#[utoipa::path(get, path = "/api/v1/billing/events/{id}", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, max_length = 255)),
    responses((status = 200, body = EventView),
        (status = 404, description = "`event_not_found`", body = crate::api::openapi::ProblemDoc)))]
pub async fn show(
    state: web::Data<AppState>,
    admin: Authorized<perm::Read>,
    path: web::Path<String>,
) -> ApiResult<web::Json<EventView>> {
    Ok(web::Json(show_event(&state, &admin, &path).await?))
}

/// One stored event with its raw payload (404 `event_not_found`).
pub async fn show_event(
    state: &AppState,
    _admin: &Authorized<perm::Read>,
    id: &str,
) -> ApiResult<EventView> {
    let event = ledger::event(&state.db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(event.into())
}

/// Put a failed event back in the queue (applied again at once); audited.
#[utoipa::path(post, path = "/api/v1/billing/events/{id}/retry", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, max_length = 255)),
    responses((status = 200, body = EventView),
        (status = 404, description = "`event_not_found`", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`event_not_failed`: only a failed event can be retried", body = crate::api::openapi::ProblemDoc)))]
pub async fn retry(
    state: web::Data<AppState>,
    admin: Authorized<perm::ManageBilling>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> ApiResult<web::Json<EventView>> {
    Ok(web::Json(retry_event(&state, &admin, &meta, &path).await?))
}

/// Put a failed event back in the queue (409 `event_not_failed` otherwise; audited).
pub async fn retry_event(
    state: &AppState,
    admin: &Authorized<perm::ManageBilling>,
    meta: &RequestMeta,
    id: &str,
) -> ApiResult<EventView> {
    let txn = state.db.begin().await?;
    let before = ledger::event(&txn, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !ledger::retry(&txn, id).await? {
        return Err(ApiError::conflict(
            "event_not_failed",
            format!(
                "event `{id}` is {}; only a failed event can be retried",
                before.state
            ),
        ));
    }
    let entry = Entry::new(admin, "billing.event_retried", "stripe_event", id)
        .before(json!({ "state": before.state, "attempts": before.attempts,
                        "last_error": before.last_error }));
    audit::record(&txn, meta, entry).await?;
    txn.commit().await?;
    let event = ledger::event(&state.db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(event.into())
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "event_not_found",
        format!("no Stripe event `{id}` is stored"),
    )
}
