//! Stripe's `Stripe-Signature` header (`t={unix time},v1={hex HMAC-SHA256},...`) checked
//! against every configured secret (so a secret can rotate), with Stripe's 300 s
//! tolerance either way. async-stripe does the checking; this decides what its answer
//! means for the delivery.

use stripe_webhook::{Webhook, WebhookError};

/// Why a delivery was refused (answered 400, nothing stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the Stripe-Signature header is missing")]
    MissingSignature,
    #[error("the Stripe-Signature header is malformed")]
    MalformedSignature,
    #[error("the signature matches none of the configured secrets")]
    BadSignature,
    #[error("the signature's timestamp is more than 300 s from now")]
    StaleTimestamp,
    #[error("the body is not a Stripe event (no id or type)")]
    NotAnEvent,
}

impl Rejected {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingSignature | Self::MalformedSignature | Self::BadSignature => {
                "invalid_signature"
            }
            Self::StaleTimestamp => "stale_signature",
            Self::NotAnEvent => "invalid_event",
        }
    }
}

/// Checks `signature` on `payload` against each secret at Unix time `now`;
/// `Ok(Some(error))` when it is Stripe's but the pinned client could not parse the event.
pub fn verify(
    payload: &str,
    signature: &str,
    secrets: &[String],
    now: i64,
) -> Result<Option<String>, Rejected> {
    let now = clock_for(signature, now);
    let mut refusal = Rejected::BadSignature;
    for secret in secrets {
        match Webhook::construct_event_with_timestamp(payload, signature, secret, now) {
            Ok(_) => return Ok(None),
            // The signature and its timestamp passed before parsing was tried.
            Err(WebhookError::BadParse(error)) => return Ok(Some(error)),
            Err(WebhookError::BadTimestamp(_)) => return Err(Rejected::StaleTimestamp),
            Err(WebhookError::BadHeader(_)) => refusal = Rejected::MalformedSignature,
            Err(WebhookError::BadSignature | WebhookError::BadKey) => {}
        }
    }
    Err(refusal)
}

/// `now`, unless the header's timestamp is so far from it that async-stripe's
/// `(now - t).abs()` would overflow (a panic in a debug build; in a release build a wrap
/// that can even pass the 300 s check): then a clock 301 s from `t`, just as stale, without
/// the overflow. Found by the `stripe_signature` fuzz target.
fn clock_for(signature: &str, now: i64) -> i64 {
    let Some(t) = timestamp(signature) else {
        return now;
    };
    match now.checked_sub(t).and_then(i64::checked_abs) {
        Some(_) => now,
        None if t > 0 => t - 301,
        None => t + 301,
    }
}

/// The header's `t=` as async-stripe reads it (the last one wins).
fn timestamp(signature: &str) -> Option<i64> {
    signature
        .split(',')
        .rev()
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "t")
        .and_then(|(_, value)| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const NOW: i64 = 1_764_000_000;

    fn verify_at(t: i64, now: i64) -> Result<Option<String>, Rejected> {
        let header = Webhook::generate_test_header("{}", SECRET, Some(t));
        verify("{}", &header, &[SECRET.to_owned()], now)
    }

    #[test]
    fn a_timestamp_too_far_to_subtract_is_stale_not_a_panic() {
        assert_eq!(verify_at(i64::MIN, NOW), Err(Rejected::StaleTimestamp));
        assert_eq!(verify_at(i64::MAX, -NOW), Err(Rejected::StaleTimestamp));
        assert_eq!(
            verify_at(NOW.wrapping_add(i64::MIN), NOW),
            Err(Rejected::StaleTimestamp)
        );
    }

    #[test]
    fn the_window_is_300_seconds_either_way() {
        assert!(verify_at(NOW - 300, NOW).is_ok());
        assert!(verify_at(NOW + 300, NOW).is_ok());
        assert_eq!(verify_at(NOW - 301, NOW), Err(Rejected::StaleTimestamp));
        let other = Webhook::generate_test_header("{}", "whsec_other", Some(NOW));
        assert_eq!(
            verify("{}", &other, &[SECRET.to_owned()], NOW),
            Err(Rejected::BadSignature)
        );
    }
}
