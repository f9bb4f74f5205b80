//! Password hashing for admins and tenant users: argon2id, m=19 MiB, t=2, p=1 (the OWASP
//! minimum), PHC strings so parameters can be raised later without breaking old hashes.
//! Hashing is CPU-heavy on purpose: call these from `spawn_blocking` in request paths.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// The smallest password length accepted anywhere.
pub use crate::config::MIN_PASSWORD_LEN;
/// The longest password accepted (argon2 takes any length; this bounds request cost).
pub const MAX_PASSWORD_LEN: usize = 256;

#[derive(Debug, thiserror::Error)]
#[error("hashing a password failed: {0}")]
pub struct HashError(String);

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches `phc`. With no stored hash (unknown account, invited user)
/// a dummy hash is checked instead, so both cases cost the same time and answer `false`.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    let Some(phc) = phc else {
        let _ = check(password, dummy_hash());
        return false;
    };
    check(password, phc)
}

/// [`hash`] on the blocking pool, for request handlers (argon2 takes tens of ms of CPU).
pub async fn hash_off_thread(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|error| HashError(error.to_string()))?
}

/// [`verify`] on the blocking pool; a task that could not run counts as a mismatch.
pub async fn verify_off_thread(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, phc.as_deref()))
        .await
        .unwrap_or(false)
}

fn check(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The parameters come from the hash itself, so older or stronger hashes verify too.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("not a real password; equalises timing").unwrap_or_default())
}

/// Checks a new password's length; the message names the bounds.
pub fn acceptable(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if (MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
        Ok(())
    } else {
        Err(format!(
            "must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters long"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let phc = hash("correct horse battery").expect("hashes");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", Some(&phc)));
        assert!(!verify("correct horse batterx", Some(&phc)));
    }

    #[test]
    fn a_missing_hash_never_verifies() {
        assert!(!verify("anything at all", None));
        assert!(!verify("anything at all", Some("not a phc string")));
    }

    #[test]
    fn passwords_must_be_long_enough_but_bounded() {
        assert!(acceptable("short").is_err());
        assert!(acceptable(&"x".repeat(MIN_PASSWORD_LEN)).is_ok());
        assert!(acceptable(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }
}
