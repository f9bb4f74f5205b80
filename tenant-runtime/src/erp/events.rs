//! Business events (an order confirmed, goods received, stock below its reorder point...)
//! that outbound webhooks deliver to the endpoints a company registered. A change raises
//! its events with [`emit`] inside its own transaction, so an event exists exactly when
//! the change committed; delivery happens later, outside the request (`erp::webhooks`).
//!
//! [`emit`] writes the event to the tenant's outbox (`webhook_events`) and one pending
//! delivery per enabled endpoint subscribed to it, and marks the current request as having
//! raised events: once the response is ready, the runtime nudges its delivery worker
//! (`erp::webhooks::nudge_after_events`). Nothing here talks to the network.

use common::api_error::ApiResult;
use serde_json::Value;
use std::cell::Cell;
use uuid::Uuid;

/// The events a company can subscribe to, with what each means. An endpoint lists some
/// of them, or `*` for every one. Raise only these (a unit test keeps callers honest).
pub const CATALOGUE: &[(&str, &str)] = &[
    ("item.created", "an item was added to master data"),
    ("item.updated", "an item's master data changed"),
    ("partner.created", "a customer or supplier was added"),
    (
        "stock.received",
        "goods were received into stock (any receipt)",
    ),
    ("stock.issued", "goods were issued from stock"),
    ("stock.adjusted", "a stock adjustment was posted"),
    (
        "stock.below_reorder_point",
        "an item's on-hand fell below its reorder point",
    ),
    (
        "purchase_order.submitted",
        "a purchase order was submitted for approval",
    ),
    ("purchase_order.approved", "a purchase order was approved"),
    (
        "purchase_order.received",
        "goods were received against a purchase order",
    ),
    ("purchase_order.canceled", "a purchase order was canceled"),
    (
        "sales_order.confirmed",
        "a sales order was confirmed (stock reserved)",
    ),
    (
        "sales_order.delivered",
        "a delivery was made against a sales order",
    ),
    ("sales_order.canceled", "a sales order was canceled"),
    (
        "approval.requested",
        "a document waits for someone's approval",
    ),
    ("approval.decided", "a document was approved or rejected"),
    (
        "qc.failed",
        "a quality inspection failed (its lot is quarantined)",
    ),
    (
        "lot.quarantined",
        "a lot was put in quarantine (failed inspection or by hand)",
    ),
    (
        "lot.released",
        "a quarantined lot was released back to available stock",
    ),
    (
        "mo.released",
        "a manufacturing order was released (its components reserved)",
    ),
    (
        "mo.completed",
        "a manufacturing order was completed, whole or in part (materials consumed, goods produced)",
    ),
    ("webhook.test", "a test event sent with \"send test event\""),
];

/// Subscribes an endpoint to every event type.
pub const ALL_EVENTS: &str = "*";

/// Whether `event` is in the catalogue.
pub fn is_known(event: &str) -> bool {
    CATALOGUE.iter().any(|(name, _)| *name == event)
}

tokio::task_local! {
    /// Set while a request is served (by `erp::webhooks::nudge_after_events`): whether it
    /// raised an event, so its tenant's delivery worker is nudged once it is answered.
    pub(crate) static RAISED: Cell<bool>;
}

/// Records `event` (a dotted name from [`CATALOGUE`], such as `stock.below_reorder_point`)
/// with its `data` for delivery to every enabled endpoint subscribed to it, in the
/// caller's transaction: rolled back with it, delivered only once it commits.
pub async fn emit(
    db: &impl tokio_postgres::GenericClient,
    event: &str,
    data: Value,
) -> ApiResult<()> {
    emit_to(db, event, data, None).await.map(|_| ())
}

/// Like [`emit`], to one endpoint only when `endpoint` is given (whatever its
/// subscriptions: the "send test event" button). Answers the event's id.
pub async fn emit_to(
    db: &impl tokio_postgres::GenericClient,
    event: &str,
    data: Value,
    endpoint: Option<Uuid>,
) -> ApiResult<Uuid> {
    if !is_known(event) {
        // Still recorded (endpoints subscribed to `*` get it), but nobody can subscribe to
        // it by name: add it to the catalogue.
        tracing::warn!(event, "an event outside the catalogue was raised");
    }
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO webhook_events (id, event_type, data) VALUES ($1, $2, $3)",
        &[&id, &event, &data],
    )
    .await?;
    let endpoints: Vec<Uuid> = db
        .query(
            "SELECT e.id FROM webhook_endpoints e \
             WHERE e.enabled AND CASE WHEN $2::uuid IS NULL \
                 THEN $1 = ANY(e.event_types) OR '*' = ANY(e.event_types) \
                 ELSE e.id = $2 END",
            &[&event, &endpoint],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // Time-ordered ids: the delivery log pages by them, newest first.
    let deliveries: Vec<Uuid> = endpoints.iter().map(|_| Uuid::now_v7()).collect();
    let queued = db
        .execute(
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, next_attempt_at) \
             SELECT d, $1, e, now() FROM unnest($2::uuid[], $3::uuid[]) AS t (d, e)",
            &[&id, &deliveries, &endpoints],
        )
        .await?;
    if queued > 0 {
        // Outside a request (a worker, a test) there is nobody to nudge: the wake-up scan
        // finds the tenant when its next request raises an event, or the caller nudges.
        let _ = RAISED.try_with(|raised| raised.set(true));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_dotted_lower_case_and_unique() {
        for (index, (name, description)) in CATALOGUE.iter().enumerate() {
            assert!(
                name.split('.').count() >= 2
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                "{name}"
            );
            assert!(!description.is_empty());
            assert!(
                CATALOGUE[..index].iter().all(|(other, _)| other != name),
                "{name} twice"
            );
        }
    }

    #[test]
    fn the_wildcard_is_not_an_event() {
        assert!(!is_known(ALL_EVENTS));
        assert!(is_known("purchase_order.approved"));
    }
}
