//! Token claims shared by the issuer (control plane, tenant runtime) and every verifier.
//! Signing and verification live with the services that own the keys.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
