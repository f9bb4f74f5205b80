//! `POST /webhooks/stripe`: Stripe's deliveries, outside `/api/v1` and without admin auth
//! (the `Stripe-Signature` header is the authentication). The raw body is handed to the
//! provisioner's ledger ([`provisioner::billing::webhook::ingest`]) untouched, because the
//! signature covers the exact bytes; it is stored before anything reads it further and the
//! answer is 200 at once (a worker applies the event later).
//!
//! What Stripe hears decides whether it delivers again: 200 for a stored event (a
//! duplicate too), 400 for a delivery that is not Stripe's (nothing stored, never
//! retried usefully), 409 while billing is disabled, 503 `starting` before the ledger
//! table exists and 500 when it cannot be written (both make Stripe retry). Neither the
//! body nor a secret is ever logged: only the event id, its type and what became of it.

use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use common::api_error::{ApiError, ApiResult};
use provisioner::billing::webhook::{self, IngestError, Stored};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Where Stripe delivers.
pub const PATH: &str = "/webhooks/stripe";

/// How long Stripe (or anyone) waits before retrying while the service starts.
const STARTING_RETRY_SECS: u64 = 1;

/// Registers the webhook, reading at most `max_body_bytes` of body (the JSON limit of the
/// admin API, so one setting bounds every body the control plane reads).
pub fn configure(config: &mut web::ServiceConfig, max_body_bytes: usize) {
    config.service(
        web::resource(PATH)
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .route(web::post().to(receive_stripe_event)),
    );
}

/// A Stripe event as delivered: the document's description of the body (the handler reads
/// the raw bytes, never this type).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StripeEvent {
    /// Stripe's event id (`evt_...`), the ledger's key.
    #[schema(min_length = 1, max_length = 255)]
    pub id: String,
    /// `customer.subscription.updated`, `invoice.paid`, ...
    #[serde(rename = "type")]
    pub event_type: String,
    pub api_version: Option<String>,
    pub created: Option<i64>,
    pub livemode: Option<bool>,
    /// `{"object": {...}}`: the object the event is about.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The acknowledgement: the event is stored (or was already).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    pub event_id: String,
    /// The event was already in the ledger (a redelivery): it has no second effect.
    pub duplicate: bool,
}

/// Receive a Stripe event: verified on the raw body, stored, acknowledged at once.
///
/// A body larger than `control_plane.max_body_bytes` answers 413 and nothing is stored.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    request_body(content = StripeEvent, content_type = "application/json",
        description = "The event exactly as Stripe sends it; the signature covers these bytes"),
    params(("Stripe-Signature" = String, Header,
        description = "`t=<unix time>,v1=<HMAC-SHA256 hex>`: signed with one of `billing.webhook_secrets`, within 300 s")),
    responses((status = 200, body = WebhookAck),
        (status = 400, description = "`invalid_signature` (missing, garbled or matching no configured secret), `stale_signature` (timestamp more than 300 s away), `invalid_event` (the body is not UTF-8 or not a Stripe event); nothing is stored", body = crate::api::openapi::ProblemDoc),
        (status = 409, description = "`billing_disabled`: no Stripe key is configured", body = crate::api::openapi::ProblemDoc)))]
pub async fn receive_stripe_event(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> ApiResult<web::Json<WebhookAck>> {
    started(&state)?;
    let body = body.map_err(|error| unreadable(&error, state.config.max_body_bytes))?;
    let payload = std::str::from_utf8(&body).map_err(|_| {
        tracing::warn!("Stripe webhook refused: the body is not UTF-8");
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_event",
            "the body is not UTF-8, so not a Stripe event",
        )
    })?;
    let stored = webhook::ingest(&state.db, &state.billing, payload, signature(&request))
        .await
        .map_err(ingest_error)?;
    log_stored(&stored);
    Ok(web::Json(WebhookAck {
        received: true,
        duplicate: !stored.first_delivery,
        event_id: stored.event_id,
    }))
}

/// The ledger table exists only once bootstrap has migrated the control database; until
/// then a 503 makes Stripe deliver again later (`/api/` has the same gate as middleware).
fn started(state: &AppState) -> ApiResult<()> {
    state.bootstrap.check().map_err(|reason| {
        ApiError::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            format!("the service is starting ({reason}); try again in a moment"),
            STARTING_RETRY_SECS,
        )
    })
}

/// The header as text; one that is not visible ASCII is no signature Stripe made, and
/// verification refuses the empty string it becomes as garbled.
fn signature(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get("stripe-signature")
        .map(|value| value.to_str().unwrap_or_default())
}

/// What the body extractor's failure means: too large (413, checked against
/// `Content-Length` before reading, or while reading) or cut short (400).
fn unreadable(error: &actix_web::Error, limit: usize) -> ApiError {
    if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        tracing::warn!(limit, "Stripe webhook refused: the body is too large");
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body exceeds the limit of {limit} bytes"),
        );
    }
    tracing::warn!(%error, "Stripe webhook refused: the body could not be read");
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_event",
        "the body could not be read",
    )
}

/// 400 for a delivery that is not Stripe's, 409 while billing is disabled, an opaque 500
/// (logged with its cause) when the ledger cannot be written, so Stripe retries.
fn ingest_error(error: IngestError) -> ApiError {
    match error {
        IngestError::Rejected(rejected) => {
            tracing::warn!(code = rejected.code(), "Stripe webhook refused: {rejected}");
            ApiError::new(
                StatusCode::BAD_REQUEST,
                rejected.code(),
                rejected.to_string(),
            )
        }
        IngestError::Billing(error) => error.into(),
        IngestError::Db(error) => ApiError::internal(
            anyhow::Error::new(error).context("the Stripe event ledger cannot be written"),
        ),
    }
}

/// One line per accepted delivery: the event, never its body.
fn log_stored(stored: &Stored) {
    let event_type = &stored.event_type;
    tracing::info!(
        event_id = %stored.event_id,
        event_type = %event_type,
        duplicate = !stored.first_delivery,
        unparsable = stored.parse_error.is_some(),
        "Stripe event stored"
    );
    if stored.parse_error.is_some() {
        // Stored and applied from its envelope. The parse error itself stays in the ledger
        // (`parse_error`): it can quote values of the body, which logs never hold.
        tracing::warn!(event_id = %stored.event_id, %event_type, "Stripe event not parsable by the pinned client");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_body_is_a_413_problem() {
        let overflow: actix_web::Error = actix_web::error::PayloadError::Overflow.into();
        let answer = unreadable(&overflow, 10);
        assert_eq!(
            actix_web::ResponseError::status_code(&answer),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
