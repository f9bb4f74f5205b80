//! Sealing of secrets kept in the control database (tenant role passwords, server admin
//! URLs, invitation tokens) with AES-256-GCM.
//!
//! Format: `ciphertext = nonce (12 random bytes) || AES-256-GCM(plaintext) || tag (16)`,
//! stored beside the id of the key that sealed it. The associated data binds the key id and
//! a caller-chosen context (the owning row's id), so a ciphertext copied onto another row
//! does not open. Rotation: configure a new current key and keep old ones as previous keys;
//! everything still opens, [`Keyring::needs_rotation`] finds what to re-seal.

use crate::Secret;
use crate::config::Settings;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use std::fmt;

const NONCE_LEN: usize = 12;

/// Why sealing or opening failed. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "no encryption key is configured: set secrets.encryption_key (APP_SECRETS__ENCRYPTION_KEY)"
    )]
    NoKey,
    #[error("sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("the secret could not be opened (wrong key, wrong context or tampered)")]
    Decrypt,
    #[error("the secret could not be sealed")]
    Encrypt,
    #[error("the opened secret is not UTF-8 text")]
    NotText,
}

/// A sealed secret: the key id and `nonce || ciphertext || tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub ciphertext: Vec<u8>,
}

/// The current key (seals and opens) and older keys (open only).
#[derive(Clone)]
pub struct Keyring {
    current_id: String,
    keys: Vec<(String, Aes256Gcm)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring")
            .field("current", &self.current_id)
            .field("key_ids", &ids)
            .finish()
    }
}

impl Keyring {
    pub fn new(current_id: &str, current_key: [u8; 32]) -> Self {
        Self {
            current_id: current_id.to_owned(),
            keys: vec![(current_id.to_owned(), cipher(&current_key))],
        }
    }

    /// Adds an older key that can still open what it sealed.
    pub fn with_previous(mut self, id: &str, key: [u8; 32]) -> Self {
        self.keys.push((id.to_owned(), cipher(&key)));
        self
    }

    /// The keyring of the configured key (`secrets.encryption_key`, `encryption_key_id`).
    pub fn from_settings(settings: &Settings) -> Result<Self, CryptoError> {
        let key = settings.encryption_key().ok_or(CryptoError::NoKey)?;
        let keyring = Self::new(&settings.secrets.encryption_key_id, key);
        Ok(settings
            .previous_encryption_keys()
            .into_iter()
            .fold(keyring, |keyring, (id, key)| {
                keyring.with_previous(&id, key)
            }))
    }

    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Sealed, CryptoError> {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(&self.current_id, context);
        let sealed = self
            .key(&self.current_id)?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&sealed);
        Ok(Sealed {
            key_id: self.current_id.clone(),
            ciphertext,
        })
    }

    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.key(&sealed.key_id)?;
        if sealed.ciphertext.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = sealed.ciphertext.split_at(NONCE_LEN);
        let aad = associated_data(&sealed.key_id, context);
        key.decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Decrypt)
    }

    pub fn seal_str(&self, plaintext: &str, context: &[u8]) -> Result<Sealed, CryptoError> {
        self.seal(plaintext.as_bytes(), context)
    }

    pub fn open_str(&self, sealed: &Sealed, context: &[u8]) -> Result<Secret, CryptoError> {
        let bytes = self.open(sealed, context)?;
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| CryptoError::NotText)
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.current_id
    }

    /// The ids of the older keys, which only open (what a re-seal job moves off).
    pub fn previous_ids(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| *id != self.current_id)
            .collect()
    }

    /// Sealed under an older key: re-seal it with the current one.
    pub fn needs_rotation(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.current_id
    }

    fn key(&self, id: &str) -> Result<&Aes256Gcm, CryptoError> {
        self.keys
            .iter()
            .find(|(key_id, _)| key_id == id)
            .map(|(_, key)| key)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))
    }
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// `len(key id) || key id || context`: unambiguous, so no two pairs collide.
fn associated_data(key_id: &str, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + key_id.len() + context.len());
    aad.push(u8::try_from(key_id.len()).unwrap_or(u8::MAX));
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new("k1", [7; 32])
    }

    #[test]
    fn a_sealed_secret_opens_with_the_same_context() {
        let sealed = keyring().seal_str("s3cret", b"row-1").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(
            keyring().open_str(&sealed, b"row-1").unwrap().expose(),
            "s3cret"
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let ring = keyring();
        assert_ne!(
            ring.seal(b"x", b"c").unwrap(),
            ring.seal(b"x", b"c").unwrap()
        );
    }

    #[test]
    fn another_rows_context_does_not_open_it() {
        let sealed = keyring().seal(b"x", b"row-1").unwrap();
        assert_eq!(keyring().open(&sealed, b"row-2"), Err(CryptoError::Decrypt));
    }

    #[test]
    fn a_flipped_byte_does_not_open() {
        let mut sealed = keyring().seal(b"secret", b"c").unwrap();
        let last = sealed.ciphertext.len() - 1;
        sealed.ciphertext[last] ^= 1;
        assert_eq!(keyring().open(&sealed, b"c"), Err(CryptoError::Decrypt));
        sealed.ciphertext.truncate(3);
        assert_eq!(keyring().open(&sealed, b"c"), Err(CryptoError::Decrypt));
    }

    #[test]
    fn an_unknown_key_id_is_named() {
        let mut sealed = keyring().seal(b"x", b"c").unwrap();
        sealed.key_id = "k9".into();
        assert_eq!(
            keyring().open(&sealed, b"c"),
            Err(CryptoError::UnknownKey("k9".into()))
        );
    }

    #[test]
    fn after_rotation_old_secrets_open_and_are_flagged() {
        let old = keyring().seal(b"x", b"c").unwrap();
        let rotated = Keyring::new("k2", [9; 32]).with_previous("k1", [7; 32]);
        assert_eq!(rotated.open(&old, b"c").unwrap(), b"x");
        assert!(rotated.needs_rotation(&old));
        assert!(!rotated.needs_rotation(&rotated.seal(b"x", b"c").unwrap()));
        assert_eq!(rotated.current_id(), "k2");
        assert_eq!(rotated.previous_ids(), vec!["k1".to_owned()]);
    }

    #[test]
    fn a_rotated_configuration_still_opens_what_the_old_key_sealed() {
        use base64::Engine as _;
        let old = keyring().seal(b"x", b"c").unwrap();
        let encode = |key: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(key);
        let mut settings = Settings::default();
        settings.secrets.encryption_key = Some(Secret::new(encode([9; 32])));
        settings.secrets.encryption_key_id = "k2".into();
        settings.secrets.previous_keys = Some(Secret::new(format!("k1:{}", encode([7; 32]))));
        let rotated = Keyring::from_settings(&settings).unwrap();
        assert_eq!(rotated.open(&old, b"c").unwrap(), b"x");
        assert_eq!(rotated.seal(b"y", b"c").unwrap().key_id, "k2");
    }

    #[test]
    fn settings_without_a_key_are_refused_clearly() {
        let error = Keyring::from_settings(&Settings::default()).unwrap_err();
        assert_eq!(error, CryptoError::NoKey);
        assert!(error.to_string().contains("APP_SECRETS__ENCRYPTION_KEY"));
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let text = format!("{:?}", keyring());
        assert!(text.contains("k1"));
        assert!(!text.contains("7, 7"), "{text}");
    }
}
