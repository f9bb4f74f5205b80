//! Access tokens: the claims shared by the issuers (control plane, tenant runtime) and
//! every verifier, and [`TokenKeys`], which signs and verifies them. Tokens are HS256 JWTs;
//! verification accepts HS256 only (so `alg: none` and RS/HS confusion fail), demands
//! `exp`, `aud` and `sub`, and checks the audience.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// `aud` of tokens for the admin API.
pub const CONTROL_PLANE_AUDIENCE: &str = "control-plane";
/// `aud` of tokens for a tenant's API.
pub const TENANT_RUNTIME_AUDIENCE: &str = "tenant-runtime";

/// JWT claims. Tenant tokens carry `tid`; impersonation tokens carry `imp` (the admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imp: Option<String>,
}

impl Claims {
    /// Fresh claims for `subject`, valid for `ttl_secs` from now, with a random `jti`.
    pub fn new(audience: &str, subject: &str, ttl_secs: u64) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            aud: audience.to_owned(),
            sub: subject.to_owned(),
            iat: now,
            exp: now + i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2),
            jti: Uuid::new_v4().to_string(),
            tid: None,
            roles: Vec::new(),
            imp: None,
        }
    }

    /// The claims of a tenant user's access token: `aud=tenant-runtime`, `sub` the user,
    /// `tid` the tenant, the user's roles. The one place tenant tokens are shaped, for the
    /// runtime's sign-in and the control plane's impersonation alike.
    pub fn tenant_user(tenant: Uuid, user: Uuid, roles: Vec<String>, ttl_secs: u64) -> Self {
        Self {
            tid: Some(tenant.to_string()),
            roles,
            ..Self::new(TENANT_RUNTIME_AUDIENCE, &user.to_string(), ttl_secs)
        }
    }

    /// Marks the token as a super-admin's impersonation: `imp` is the admin's id, which the
    /// runtime writes to the tenant's audit log beside every change made with it.
    pub fn impersonated_by(mut self, admin: Uuid) -> Self {
        self.imp = Some(admin.to_string());
        self
    }
}

/// A random opaque token (refresh, invitation, reset): 32 bytes, base64url. Store only
/// its [`hash_opaque`].
pub fn new_opaque_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 (lowercase hex) kept instead of an opaque token. A plain hash is enough:
/// the tokens carry 256 random bits, so there is nothing to guess from it.
pub fn hash_opaque(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// Why a token was refused. Callers answer 401 for every kind; the kind is for logs.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("signing a token failed: {0}")]
    Signing(String),
}

/// The key that signs and verifies access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(redacted)")
    }
}

/// Clock skew tolerated on `exp` between the issuer and the verifier.
const LEEWAY_SECS: u64 = 5;

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// The configured key (`secrets.token_signing_key`, or derived from the encryption
    /// key); `None` when neither is set.
    pub fn from_settings(settings: &crate::config::Settings) -> Option<Self> {
        settings
            .token_signing_key()
            .map(|key| Self::from_secret(&key))
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|error| TokenError::Signing(error.to_string()))
    }

    /// Verifies the signature, the expiry and that `aud` is `audience`.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                other => TokenError::Invalid(format!("{other:?}")),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn opaque_tokens_are_random_and_hash_to_hex() {
        let (a, b) = (new_opaque_token(), new_opaque_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_opaque(&a).len(), 64);
        assert_eq!(hash_opaque(&a), hash_opaque(&a));
    }

    #[test]
    fn a_signed_token_verifies_for_its_audience_only() {
        let claims = Claims::new(CONTROL_PLANE_AUDIENCE, "admin-1", 60);
        let token = keys().sign(&claims).expect("signs");
        assert_eq!(
            keys()
                .verify(&token, CONTROL_PLANE_AUDIENCE)
                .expect("valid"),
            claims
        );
        assert!(keys().verify(&token, TENANT_RUNTIME_AUDIENCE).is_err());
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let token = TokenKeys::from_secret(b"another key, also 32 bytes long!")
            .sign(&Claims::new(CONTROL_PLANE_AUDIENCE, "admin-1", 60))
            .expect("signs");
        assert!(keys().verify(&token, CONTROL_PLANE_AUDIENCE).is_err());
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let mut claims = Claims::new(CONTROL_PLANE_AUDIENCE, "admin-1", 60);
        claims.exp = claims.iat - 120;
        let token = keys().sign(&claims).expect("signs");
        assert!(matches!(
            keys().verify(&token, CONTROL_PLANE_AUDIENCE),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = Claims::new(CONTROL_PLANE_AUDIENCE, "admin-1", 60);
        let token = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(serde_json::to_vec(&claims).expect("json"))
        );
        assert!(keys().verify(&token, CONTROL_PLANE_AUDIENCE).is_err());
    }

    #[test]
    fn tenant_claims_name_the_tenant_and_an_impersonation_the_admin_id() {
        let (tenant, user, admin) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let claims = Claims::tenant_user(tenant, user, vec!["admin".into()], 60);
        assert_eq!(claims.aud, TENANT_RUNTIME_AUDIENCE);
        assert_eq!(claims.sub, user.to_string());
        assert_eq!(claims.tid, Some(tenant.to_string()));
        assert_eq!(claims.imp, None);
        let claims = claims.impersonated_by(admin);
        assert_eq!(claims.imp, Some(admin.to_string()));
    }

    #[test]
    fn optional_claims_are_left_out_of_admin_tokens() {
        let claims = Claims {
            aud: CONTROL_PLANE_AUDIENCE.into(),
            sub: "admin-1".into(),
            exp: 2,
            iat: 1,
            jti: "j".into(),
            tid: None,
            roles: vec![],
            imp: None,
        };
        let json = serde_json::to_value(&claims).expect("serializes");
        assert!(json.get("tid").is_none());
        assert!(json.get("imp").is_none());
        assert_eq!(json["aud"], "control-plane");
    }
}
