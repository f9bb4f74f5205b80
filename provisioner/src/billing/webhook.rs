//! Stripe's webhook deliveries: the signature is checked on the raw body against every
//! configured secret (so a secret can rotate), with Stripe's 300 s tolerance, and the
//! event is stored in the ledger (`stripe_events`, keyed by Stripe's event id) with its
//! raw payload before anything else reads it. Applying it is the worker's business
//! (`events`): the caller answers 2xx at once.
//!
//! async-stripe can fail to parse a correctly signed event of a newer shape; such an event
//! is stored all the same, with the parse error, and applied from its raw envelope (the
//! worker needs only its type and ids, and re-fetches the object from Stripe).

use super::Billing;
use super::error::BillingError;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde_json::Value;

/// The channel a stored event is announced on (payload: its id), so a worker applies it at
/// once.
pub const CHANNEL: &str = "stripe_events";

/// Why a delivery was refused (answered 400, nothing stored); `parsers::stripe` owns it,
/// with the signature check, where both are fuzzed.
pub use parsers::stripe::Rejected;

/// What became of an accepted delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub event_id: String,
    /// Stripe's event type (`invoice.paid`, ...).
    pub event_type: String,
    /// `false` for a delivery of an event already in the ledger.
    pub first_delivery: bool,
    /// Set when the pinned client could not parse it (it is stored and applied anyway).
    pub parse_error: Option<String>,
}

/// The webhook's outcome: stored, refused (400), or the ledger could not be written (5xx,
/// so Stripe delivers it again later).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error(transparent)]
    Billing(#[from] BillingError),
    #[error("the event ledger cannot be written: {0}")]
    Db(#[from] DbErr),
}

/// Verifies a delivery and stores it, once per event id however often it comes.
pub async fn ingest(
    db: &impl ConnectionTrait,
    billing: &Billing,
    payload: &str,
    signature: Option<&str>,
) -> Result<Stored, IngestError> {
    let secrets = &billing.settings()?.webhook_secrets;
    let signature = signature.ok_or(Rejected::MissingSignature)?;
    let parse_error = verify(payload, signature, secrets)?;
    let envelope = Envelope::read(payload).ok_or(Rejected::NotAnEvent)?;
    let first_delivery = store(db, &envelope, payload, parse_error.as_deref()).await?;
    Ok(Stored {
        event_id: envelope.id,
        event_type: envelope.event_type,
        first_delivery,
        parse_error,
    })
}

/// Checks the signature against each secret at the current time; `Ok(Some(error))` when
/// it is Stripe's but the pinned client could not parse the event.
fn verify(payload: &str, signature: &str, secrets: &[String]) -> Result<Option<String>, Rejected> {
    parsers::stripe::verify(payload, signature, secrets, chrono::Utc::now().timestamp())
}

/// The few envelope fields the ledger indexes, read with plain JSON (whatever async-stripe
/// thinks of the object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub id: String,
    pub event_type: String,
    pub api_version: Option<String>,
    pub livemode: bool,
    pub created: Option<i64>,
    pub object_id: Option<String>,
    pub customer_id: Option<String>,
}

impl Envelope {
    pub(crate) fn read(payload: &str) -> Option<Self> {
        let event: Value = serde_json::from_str(payload).ok()?;
        let object = &event["data"]["object"];
        Some(Self {
            id: text(&event["id"]).filter(|id| !id.is_empty() && id.len() <= 255)?,
            event_type: text(&event["type"])?,
            api_version: text(&event["api_version"]),
            livemode: event["livemode"].as_bool().unwrap_or(false),
            created: event["created"].as_i64(),
            object_id: text(&object["id"]),
            customer_id: id_of(&object["customer"]),
        })
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// An expandable field: an id, or an object with one.
pub(crate) fn id_of(value: &Value) -> Option<String> {
    text(value).or_else(|| text(&value["id"]))
}

/// Inserts the event (or counts one more delivery of it) and wakes the workers; `true`
/// when it was new.
async fn store(
    db: &impl ConnectionTrait,
    event: &Envelope,
    payload: &str,
    parse_error: Option<&str>,
) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH stored AS ( \
               INSERT INTO stripe_events (id, type, api_version, livemode, stripe_created, \
                 payload, parse_error, object_id, customer_id) \
               VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7, $8, $9) \
               ON CONFLICT (id) DO UPDATE SET deliveries = stripe_events.deliveries + 1 \
               RETURNING (xmax = 0) AS inserted) \
             SELECT inserted, CASE WHEN inserted THEN pg_notify($10, $1) END FROM stored",
            [
                event.id.clone().into(),
                event.event_type.clone().into(),
                event.api_version.clone().into(),
                event.livemode.into(),
                event.created.map(|at| at as f64).into(),
                payload.into(),
                parse_error.map(str::to_owned).into(),
                event.object_id.clone().into(),
                event.customer_id.clone().into(),
                CHANNEL.into(),
            ],
        ))
        .await?;
    match row {
        Some(row) => row.try_get("", "inserted"),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stripe_webhook::Webhook;

    const SECRET: &str = "whsec_test_current";
    const OLD_SECRET: &str = "whsec_test_old";

    fn event() -> String {
        r#"{"id":"evt_1","object":"event","type":"customer.subscription.updated","created":1,
            "livemode":false,"pending_webhooks":1,"api_version":"2026-09-30.endive",
            "data":{"object":{"id":"sub_1","customer":"cus_1"}}}"#
            .to_owned()
    }

    fn signed(payload: &str, secret: &str, age_secs: i64) -> String {
        let at = chrono::Utc::now().timestamp() - age_secs;
        Webhook::generate_test_header(payload, secret, Some(at))
    }

    #[test]
    fn a_signature_of_any_configured_secret_is_accepted() {
        let payload = event();
        let secrets = [SECRET.to_owned(), OLD_SECRET.to_owned()];
        for secret in [SECRET, OLD_SECRET] {
            let header = signed(&payload, secret, 0);
            // The test object is not a whole subscription: signed, but unparsable.
            assert!(verify(&payload, &header, &secrets).is_ok(), "{secret}");
        }
    }

    #[test]
    fn a_tampered_body_or_another_secret_is_refused() {
        let payload = event();
        let header = signed(&payload, SECRET, 0);
        let tampered = payload.replace("sub_1", "sub_2");
        let secrets = [SECRET.to_owned()];
        assert_eq!(
            verify(&tampered, &header, &secrets),
            Err(Rejected::BadSignature)
        );
        let other = [OLD_SECRET.to_owned()];
        assert_eq!(
            verify(&payload, &header, &other),
            Err(Rejected::BadSignature)
        );
    }

    #[test]
    fn timestamps_beyond_300_seconds_either_way_are_refused() {
        let payload = event();
        let secrets = [SECRET.to_owned()];
        for age in [301, -301] {
            let header = signed(&payload, SECRET, age);
            assert_eq!(
                verify(&payload, &header, &secrets),
                Err(Rejected::StaleTimestamp),
                "{age}"
            );
        }
        assert!(verify(&payload, &signed(&payload, SECRET, 299), &secrets).is_ok());
    }

    #[test]
    fn garbled_headers_are_refused() {
        let payload = event();
        let secrets = [SECRET.to_owned()];
        for header in ["", "garbage", "t=abc,v1=00", "t=1", "v1=00"] {
            assert!(verify(&payload, header, &secrets).is_err(), "{header:?}");
        }
    }

    #[test]
    fn the_envelope_names_the_event_its_object_and_customer() {
        let envelope = Envelope::read(&event()).expect("an event");
        assert_eq!(envelope.id, "evt_1");
        assert_eq!(envelope.event_type, "customer.subscription.updated");
        assert_eq!(envelope.object_id.as_deref(), Some("sub_1"));
        assert_eq!(envelope.customer_id.as_deref(), Some("cus_1"));
        assert_eq!(Envelope::read(r#"{"type":"x"}"#), None);
        assert_eq!(Envelope::read("not json"), None);
    }
}
