//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): a secret is
//! `whsec_` + base64 of 32 random bytes; a message is signed as `v1,` + base64 of
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the secret's
//! decoded bytes. While a rotated-out secret still signs, `webhook-signature` carries both
//! signatures, space-separated, and a receiver accepts either.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A new random signing secret.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// `v1,{signature}` of one message under `secret`, or `None` for a malformed secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per active secret.
pub fn header(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let signatures: Option<Vec<String>> = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect();
    Some(signatures?.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector the Standard Webhooks reference libraries share.
    #[test]
    fn signing_matches_the_specifications_test_vector() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn new_secrets_are_prefixed_random_32_bytes() {
        let secret = new_secret();
        let bytes = STANDARD
            .decode(secret.strip_prefix(PREFIX).expect("prefixed"))
            .expect("base64");
        assert_eq!(bytes.len(), 32);
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn two_secrets_give_two_space_separated_signatures() {
        let (one, two) = (new_secret(), new_secret());
        let header = header(&[one.clone(), two.clone()], "id", 1, b"{}").expect("signed");
        let expected = format!(
            "{} {}",
            sign(&one, "id", 1, b"{}").expect("one"),
            sign(&two, "id", 1, b"{}").expect("two")
        );
        assert_eq!(header, expected);
        assert_eq!(sign("not a secret", "id", 1, b"{}"), None);
    }
}
