//! Outbound webhooks: a company's admins register endpoints for business events
//! (`erp::events`); events raised in a change's transaction land in the tenant's outbox
//! and are delivered later by the runtime's worker, signed the Standard Webhooks way,
//! retried with backoff for about three days, and logged attempt by attempt.
//!
//! - `endpoints`: the endpoints' library functions (register, change, rotate the secret,
//!   send a test event, the delivery log), for the JSON API and the web app alike.
//! - `guard`: no server-side request forgery (public addresses only, checked at
//!   registration and at every delivery, on the very address connected to).
//! - `signing`: secrets and `webhook-signature`.
//! - `delivery`: one round for one tenant (claim, send, record, retry or disable).
//! - `worker`: [`Webhooks`], the runtime's worker: nudges, durable wake-ups in the control
//!   database, bounded concurrency.
//!
//! Endpoint secrets are sealed with the platform key (`secrets.encryption_key`,
//! AES-256-GCM bound to the endpoint's id): shown once when made or rotated, never listed,
//! and useless in a copy of the tenant's database alone.

pub mod delivery;
pub mod endpoints;
pub mod guard;
pub mod signing;
pub mod worker;

pub use worker::Webhooks;

use crate::erp::events::RAISED;
use crate::gate::Tenant;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use anyhow::Context as _;
use common::crypto::Sealed;
use std::cell::Cell;
use uuid::Uuid;

/// Middleware inside the gate: serves the request with a fresh "raised an event" flag
/// ([`crate::erp::events::emit`] sets it) and, when it was set, nudges the delivery
/// worker for the request's tenant once the response is ready. Never delays or fails the
/// response: the nudge is a spawned task (see [`Webhooks::nudge`]). A rolled-back event
/// costs only an empty round.
pub async fn nudge_after_events(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (response, raised) = RAISED
        .scope(Cell::new(false), async move {
            let response = next.call(request).await;
            (response, RAISED.with(Cell::get))
        })
        .await;
    let response = response?;
    if raised {
        let tenant = response.request().extensions().get::<Tenant>().cloned();
        let state = response
            .request()
            .app_data::<web::Data<AppState>>()
            .cloned();
        if let (Some(tenant), Some(state)) = (tenant, state) {
            state.webhooks.nudge(tenant.0.id, &tenant.0.slug);
        }
    }
    Ok(response)
}

/// Seals a secret for the endpoint `id` (the id binds the ciphertext to its row).
pub(crate) fn seal_secret(hooks: &Webhooks, id: Uuid, secret: &str) -> anyhow::Result<Sealed> {
    hooks
        .keyring
        .seal_str(secret, id.as_bytes())
        .context("sealing a webhook secret")
}

/// Opens a secret sealed by [`seal_secret`].
pub(crate) fn open_secret(
    hooks: &Webhooks,
    id: Uuid,
    key_id: String,
    ciphertext: Vec<u8>,
) -> anyhow::Result<String> {
    let sealed = Sealed { key_id, ciphertext };
    let secret = hooks
        .keyring
        .open_str(&sealed, id.as_bytes())
        .context("opening a webhook secret")?;
    Ok(secret.expose().to_owned())
}
