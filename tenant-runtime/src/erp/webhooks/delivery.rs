//! One delivery round for one tenant: claim the due deliveries in its database, send
//! them (signed, through the guard), record every attempt, and settle each delivery:
//!
//! - a 2xx answer: delivered;
//! - 410 Gone: the receiver says the endpoint is no more; it is disabled at once and its
//!   pending deliveries canceled;
//! - anything else (another status, a timeout, a connection error, a refused address):
//!   retried after [`BACKOFF_SECS`] (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 14 h, 24 h:
//!   ten attempts over about 2.7 days); when the last attempt fails too, the endpoint is
//!   disabled (`failing`), its pending deliveries canceled, and the company's admins
//!   emailed.
//!
//! A claim moves `next_attempt_at` a lease ahead in one statement (`FOR UPDATE SKIP
//! LOCKED`), so two workers never hold one delivery at once and a crashed worker's claim
//! lapses into a retry. No transaction stays open while a request is in flight.

use super::worker::Webhooks;
use crate::registry::TenantHandle;
use crate::registry::pool::TenantConnection;
use common::entities::TenantStatus;
use common::tenant_audit::{self as audit, Actor};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;
use uuid::Uuid;

/// Seconds to wait after the n-th failed attempt; one more attempt than entries.
pub const BACKOFF_SECS: [u32; 9] = [
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    10 * 3600,
    14 * 3600,
    24 * 3600,
];
/// Attempts before a delivery is given up and its endpoint disabled.
pub const MAX_ATTEMPTS: i32 = BACKOFF_SECS.len() as i32 + 1;
/// Deliveries claimed (and sent concurrently) per batch.
const BATCH: i64 = 10;
/// A claim's lease: longer than any attempt (timeouts are at most 60 s).
const LEASE_SECS: f64 = 120.0;
/// How much of an answer is kept in the attempt log.
const EXCERPT_CHARS: usize = 500;

/// What a round did.
pub struct RoundOutcome {
    pub attempts: usize,
    /// When the earliest pending delivery is due, in seconds from now.
    pub next_due_in_secs: Option<f64>,
}

/// A claimed delivery with what sending it needs.
struct Claimed {
    id: Uuid,
    attempt: i32,
    event_id: Uuid,
    event_type: String,
    data: serde_json::Value,
    raised_at: chrono::DateTime<chrono::Utc>,
    endpoint_id: Uuid,
    url: String,
    secrets: Vec<String>,
}

/// How one attempt went.
struct Attempt {
    status: Option<u16>,
    excerpt: String,
    duration_ms: i32,
    error: Option<String>,
}

/// Serves one tenant's due deliveries; `None` when the tenant cannot be served now.
pub(super) async fn round(
    hooks: &Webhooks,
    handle: &Arc<TenantHandle>,
) -> anyhow::Result<Option<RoundOutcome>> {
    if handle.status != TenantStatus::Active || handle.frozen || handle.schema_behind {
        return Ok(None);
    }
    let Some(pool) = &handle.pool else {
        return Ok(None);
    };
    let Ok(mut db) = pool.get().await else {
        return Ok(None);
    };
    let mut attempts = 0;
    loop {
        let claimed = claim(hooks, db.client()).await?;
        let count = claimed.len();
        let sent = futures_util::future::join_all(claimed.iter().map(|c| {
            let span = tracing::info_span!("webhook_delivery", delivery = %c.id,
                event = %c.event_type, attempt = c.attempt);
            send(hooks, c).instrument(span)
        }))
        .await;
        for (delivery, attempt) in claimed.iter().zip(sent) {
            // One delivery that cannot be recorded (its endpoint deleted meanwhile) must
            // not hold the others back; its lease lapses into a retry if it still exists.
            if let Err(error) = settle(hooks, &mut db, handle, delivery, &attempt).await {
                tracing::warn!(error = format!("{error:#}"), delivery = %delivery.id,
                    "recording a webhook attempt failed");
            }
        }
        attempts += count;
        if i64::try_from(count).unwrap_or(0) < BATCH {
            break;
        }
    }
    let next: Option<f64> = db
        .client()
        .query_one(
            "SELECT extract(epoch FROM min(d.next_attempt_at) - now())::float8 \
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.status = 'pending' AND e.enabled",
            &[],
        )
        .await?
        .get(0);
    Ok(Some(RoundOutcome {
        attempts,
        next_due_in_secs: next.map(|secs| secs.max(0.0)),
    }))
}

/// Claims up to [`BATCH`] due deliveries of enabled endpoints.
async fn claim(hooks: &Webhooks, db: &tokio_postgres::Client) -> anyhow::Result<Vec<Claimed>> {
    let rows = db
        .query(
            "WITH due AS (SELECT d.id FROM webhook_deliveries d \
               JOIN webhook_endpoints e ON e.id = d.endpoint_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled \
               ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED) \
             UPDATE webhook_deliveries d \
             SET next_attempt_at = now() + make_interval(secs => $2), \
                 attempts = d.attempts + 1, updated_at = now() \
             FROM due, webhook_events ev, webhook_endpoints e \
             WHERE d.id = due.id AND ev.id = d.event_id AND e.id = d.endpoint_id \
             RETURNING d.id, d.attempts, ev.id, ev.event_type, ev.data, ev.created_at, \
               e.id, e.url, e.secret_key_id, e.secret_sealed, e.previous_key_id, \
               e.previous_sealed, coalesce(e.previous_expires_at > now(), false)",
            &[&BATCH, &LEASE_SECS],
        )
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let endpoint_id: Uuid = row.get(6);
        let mut secrets = vec![super::open_secret(
            hooks,
            endpoint_id,
            row.get(8),
            row.get(9),
        )?];
        let (previous_id, previous, overlapping): (Option<String>, Option<Vec<u8>>, bool) =
            (row.get(10), row.get(11), row.get(12));
        if let (Some(key_id), Some(sealed), true) = (previous_id, previous, overlapping) {
            secrets.push(super::open_secret(hooks, endpoint_id, key_id, sealed)?);
        }
        claimed.push(Claimed {
            id: row.get(0),
            attempt: row.get(1),
            event_id: row.get(2),
            event_type: row.get(3),
            data: row.get(4),
            raised_at: row.get(5),
            endpoint_id,
            url: row.get(7),
            secrets,
        });
    }
    Ok(claimed)
}

/// One attempt: the guard first (a refused address fails without connecting), then a
/// signed POST bounded by the client's timeouts.
async fn send(hooks: &Webhooks, delivery: &Claimed) -> Attempt {
    let started = Instant::now();
    let failed = |error: String| Attempt {
        status: None,
        excerpt: String::new(),
        duration_ms: elapsed_ms(started),
        error: Some(error),
    };
    if let Err(refusal) = hooks.guard.check(&delivery.url).await {
        return failed(format!("url_not_allowed: {refusal}"));
    }
    let body = json!({
        "type": delivery.event_type,
        "timestamp": delivery.raised_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": delivery.data,
    })
    .to_string();
    let id = delivery.event_id.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let Some(signature) =
        super::signing::header(&delivery.secrets, &id, timestamp, body.as_bytes())
    else {
        return failed("the endpoint's secret is malformed".into());
    };
    let Ok(_slot) = hooks.sends.acquire().await else {
        return failed("the worker is shutting down".into());
    };
    let mut request = hooks
        .http
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature);
    // The receiver's trace continues the delivery's (when traces are on).
    if let Some(traceparent) = common::trace_context::current() {
        request = request.header(common::trace_context::HEADER, traceparent);
    }
    let response = request.body(body).send().await;
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let excerpt = excerpt(response).await;
            Attempt {
                status: Some(status),
                excerpt,
                duration_ms: elapsed_ms(started),
                error: None,
            }
        }
        Err(error) => failed(describe(&error)),
    }
}

/// The start of an answer's body (the rest is not read).
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text.chars().take(EXCERPT_CHARS).collect()
}

fn elapsed_ms(started: Instant) -> i32 {
    i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)
}

/// Records the attempt and moves the delivery (and maybe its endpoint) on, in one
/// transaction.
async fn settle(
    hooks: &Webhooks,
    db: &mut TenantConnection,
    handle: &TenantHandle,
    delivery: &Claimed,
    attempt: &Attempt,
) -> anyhow::Result<()> {
    let transaction = db.begin().await?;
    let disabled = settle_in(&transaction, delivery, attempt).await?;
    transaction.commit().await?;
    if disabled == Some("failing") {
        tell_admins(hooks, db.client(), handle, delivery).await?;
    }
    Ok(())
}

/// Answers the reason the endpoint was disabled for, if it was.
async fn settle_in(
    db: &impl tokio_postgres::GenericClient,
    delivery: &Claimed,
    attempt: &Attempt,
) -> anyhow::Result<Option<&'static str>> {
    let status = attempt.status.map(i32::from);
    db.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, response, duration_ms, error) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&delivery.id, &delivery.attempt, &status, &attempt.excerpt, &attempt.duration_ms, &attempt.error],
    )
    .await?;
    let last_error = attempt
        .error
        .clone()
        .or_else(|| status.map(|code| format!("answered {code}")));
    if status.is_some_and(|code| (200..300).contains(&code)) {
        db.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), \
               next_attempt_at = NULL, last_status = $2, last_error = NULL, updated_at = now() \
             WHERE id = $1",
            &[&delivery.id, &status],
        )
        .await?;
        db.execute(
            "UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = $1",
            &[&delivery.endpoint_id],
        )
        .await?;
        return Ok(None);
    }
    let gone = status == Some(410);
    let exhausted = delivery.attempt >= MAX_ATTEMPTS;
    let retry_in = usize::try_from(delivery.attempt - 1)
        .ok()
        .and_then(|index| BACKOFF_SECS.get(index))
        .map_or(0.0, |secs| f64::from(*secs));
    db.execute(
        "UPDATE webhook_deliveries SET \
           status = CASE WHEN $3 THEN 'failed' ELSE 'pending' END, \
           next_attempt_at = CASE WHEN $3 THEN NULL ELSE now() + make_interval(secs => $4) END, \
           last_status = $2, last_error = $5, updated_at = now() \
         WHERE id = $1",
        &[
            &delivery.id,
            &status,
            &(gone || exhausted),
            &retry_in,
            &last_error,
        ],
    )
    .await?;
    db.execute(
        "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1 \
         WHERE id = $1",
        &[&delivery.endpoint_id],
    )
    .await?;
    let reason = if gone {
        "gone"
    } else if exhausted {
        "failing"
    } else {
        return Ok(None);
    };
    let disabled = super::endpoints::disable(db, delivery.endpoint_id, reason).await?;
    if disabled {
        let entry = audit::Entry {
            action: "webhook_endpoint.disabled",
            target_kind: "webhook_endpoint",
            target_id: delivery.endpoint_id.to_string(),
            before: Some(json!({"enabled": true})),
            after: Some(json!({"enabled": false, "disabled_reason": reason,
                               "last_status": status, "last_error": last_error})),
        };
        audit::record(db, &system_actor(), entry).await?;
        return Ok(Some(reason));
    }
    Ok(None)
}

fn system_actor() -> Actor {
    Actor {
        user_id: None,
        impersonator: None,
        request_id: String::new(),
        ip: None,
    }
}

/// Emails every active admin of the company that an endpoint was disabled.
async fn tell_admins(
    hooks: &Webhooks,
    db: &tokio_postgres::Client,
    handle: &TenantHandle,
    delivery: &Claimed,
) -> anyhow::Result<()> {
    let admins = db
        .query(
            "SELECT DISTINCT u.email FROM users u JOIN user_roles ur ON ur.user_id = u.id \
             JOIN roles r ON r.id = ur.role_id WHERE r.name = 'admin' AND u.status = 'active'",
            &[],
        )
        .await?;
    for admin in admins {
        hooks.mailer.send_later(
            admin.get(0),
            format!("A webhook endpoint of {} was disabled", handle.name),
            format!(
                "Deliveries to the webhook endpoint {} kept failing for about three days \
                 ({MAX_ATTEMPTS} attempts), so it has been disabled and its pending \
                 deliveries canceled.\n\nCheck the receiver, then enable the endpoint again \
                 under Settings > Webhooks; its delivery log shows each attempt.\n",
                delivery.url
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_span_about_three_days() {
        let total: u32 = BACKOFF_SECS.iter().sum();
        let days = f64::from(total) / 86_400.0;
        assert!((2.5..=3.5).contains(&days), "{days} days");
        assert!(BACKOFF_SECS.windows(2).all(|pair| pair[0] <= pair[1]));
    }
}
