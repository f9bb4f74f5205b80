//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of skew) and the
//! one-time recovery codes that replace it when the device is lost. A code is accepted only
//! for a step later than the last one accepted, so a seen code cannot be replayed.

use rand::Rng;
use totp_rs::{Builder, Secret, Totp};

/// The issuer shown in authenticator apps.
const ISSUER: &str = "ERP Platform";
/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODES: usize = 10;

/// A fresh random 160-bit secret.
pub fn new_secret() -> Vec<u8> {
    Secret::generate().as_bytes().to_vec()
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, totp_rs::TotpError> {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account.replace(':', "_"))
        .with_issuer(Some(ISSUER))
        .build()
}

/// `otpauth://totp/...` for the authenticator app (usually shown as a QR code).
pub fn otpauth_uri(secret: &[u8], account: &str) -> Result<String, totp_rs::TotpError> {
    totp(secret, account)?.to_url()
}

/// The base32 form of the secret, for typing in by hand.
pub fn secret_base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

/// The step `code` is valid for at `now`, if it is valid and later than `last_step`.
pub fn accept(secret: &[u8], code: &str, now: u64, last_step: Option<i64>) -> Option<i64> {
    let step = totp(secret, "check").ok()?.check(code.trim(), now)?;
    let step = i64::try_from(step).ok()?;
    match last_step {
        Some(last) if step <= last => None,
        _ => Some(step),
    }
}

/// The current code (for tests and tooling that act as the authenticator).
pub fn current_code(secret: &[u8], now: u64) -> Option<String> {
    totp(secret, "check")
        .ok()
        .map(|t| t.generate(now).to_string())
}

/// Whether the text looks like a 6-digit code rather than a recovery code.
pub fn looks_like_code(text: &str) -> bool {
    let text = text.trim();
    text.len() == 6 && text.chars().all(|c| c.is_ascii_digit())
}

/// New recovery codes (`xxxxx-xxxxx`, lowercase letters and digits) and their hashes.
pub fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut code: String = (0..10)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect();
            code.insert(5, '-');
            code
        })
        .collect();
    let hashes = codes.iter().map(|code| hash_recovery_code(code)).collect();
    (codes, hashes)
}

/// Recovery codes carry ~50 bits of entropy and are single-use, so a plain SHA-256 is
/// enough (no argon2 cost on every login attempt).
pub fn hash_recovery_code(code: &str) -> String {
    common::tokens::hash_opaque(&code.trim().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_code_is_accepted_once() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = current_code(&secret, now).expect("code");
        let step = accept(&secret, &code, now, None).expect("accepted");
        assert_eq!(accept(&secret, &code, now, Some(step)), None);
    }

    #[test]
    fn a_wrong_or_old_code_is_refused() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let old = current_code(&secret, now - 300).expect("code");
        assert_eq!(accept(&secret, &old, now, None), None);
        assert_eq!(accept(&secret, "12345x", now, None), None);
    }

    #[test]
    fn the_uri_names_the_issuer_and_account() {
        let uri = otpauth_uri(&new_secret(), "ann@example.com").expect("uri");
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("issuer=ERP%20Platform"), "{uri}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_case_insensitively() {
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(hashes[0], hash_recovery_code(&codes[0].to_uppercase()));
        assert!(!looks_like_code(&codes[0]));
        assert!(looks_like_code("123456"));
    }
}
