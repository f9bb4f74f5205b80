//! Identifiers and parsed names: tenant ids and slugs, plan codes. Database and role names
//! derive from the tenant id, never from user text.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A tenant's id (UUID v7: time-ordered, so indexes stay compact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub Uuid);

impl TenantId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// `t_` + the id's 32 hex digits: the tenant's database name and its login role name.
    pub fn database_name(&self) -> String {
        format!("t_{}", self.0.simple())
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Subdomains that can never be a tenant.
pub const RESERVED_SLUGS: &[&str] = &[
    "www",
    "api",
    "admin",
    "app",
    "apps",
    "auth",
    "login",
    "signup",
    "billing",
    "status",
    "docs",
    "help",
    "support",
    "mail",
    "smtp",
    "static",
    "assets",
    "cdn",
    "control",
    "dashboard",
    "metrics",
    "health",
    "internal",
    "system",
    "root",
    "postgres",
    "template",
    "tenant",
    "tenants",
    "test",
    "dev",
    "staging",
    "prod",
    "localhost",
];

/// A tenant's URL name: 3-40 of `[a-z0-9-]`, no leading or trailing hyphen, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

/// Why a slug was refused; the message is shown to whoever typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("must be 3 to 40 characters long")]
    Length,
    #[error("may contain only lowercase letters, digits and hyphens")]
    Characters,
    #[error("may not start or end with a hyphen")]
    EdgeHyphen,
    #[error("is reserved")]
    Reserved,
}

impl TenantSlug {
    /// Accepts upper case input by lowering it: `Acme` and `acme` are the same tenant.
    pub fn parse(input: &str) -> Result<Self, SlugError> {
        let slug = input.trim().to_ascii_lowercase();
        if !(3..=40).contains(&slug.len()) {
            return Err(SlugError::Length);
        }
        if !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(SlugError::Characters);
        }
        if slug.starts_with('-') || slug.ends_with('-') {
            return Err(SlugError::EdgeHyphen);
        }
        if RESERVED_SLUGS.contains(&slug.as_str()) {
            return Err(SlugError::Reserved);
        }
        Ok(Self(slug))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantSlug {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(|error| serde::de::Error::custom(format!("slug {error}")))
    }
}

/// An email address, trimmed and lowercased, if it is plausible: one `@`, a non-empty
/// local part, a dotted domain, no spaces, at most 254 bytes. (Deliverability is for the
/// mail server to judge; this only refuses what cannot be an address.)
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let plausible = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    plausible.then_some(email)
}

/// The pattern of a plan's code (`plans.code` checks the same), for OpenAPI schemas.
pub const PLAN_CODE_PATTERN: &str = "^[a-z][a-z0-9_-]{1,39}$";

/// Whether `code` can name a plan ([`PLAN_CODE_PATTERN`]); the message says what it must be.
pub fn valid_plan_code(code: &str) -> Result<(), String> {
    let mut chars = code.chars();
    let ok = (2..=40).contains(&code.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err("must be 2 to 40 of a-z, 0-9, `_`, `-`, starting with a letter".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_codes_the_plans_table_accepts_are_accepted() {
        for code in ["pro", "starter", "team_2024", "a-b", "ab", &"a".repeat(40)] {
            assert!(valid_plan_code(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn plan_codes_the_plans_table_refuses_are_refused() {
        let too_long = "a".repeat(41);
        for code in [
            "",
            "a",
            "Pro",
            "1pro",
            "-pro",
            "pro plan",
            "pró",
            too_long.as_str(),
        ] {
            assert!(valid_plan_code(code).is_err(), "{code}");
        }
    }

    #[test]
    fn a_plain_slug_is_accepted() {
        assert_eq!(
            TenantSlug::parse("acme-42").expect("valid").as_str(),
            "acme-42"
        );
    }

    #[test]
    fn upper_case_is_lowered() {
        assert_eq!(TenantSlug::parse("AcMe").expect("valid").as_str(), "acme");
    }

    #[test]
    fn too_short_and_too_long_are_refused() {
        assert_eq!(TenantSlug::parse("ab"), Err(SlugError::Length));
        assert_eq!(TenantSlug::parse(&"a".repeat(41)), Err(SlugError::Length));
        assert!(TenantSlug::parse(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn other_characters_are_refused() {
        for bad in ["acme_co", "acme.co", "acmé", "ac me", "acme/x"] {
            assert_eq!(TenantSlug::parse(bad), Err(SlugError::Characters), "{bad}");
        }
    }

    #[test]
    fn edge_hyphens_are_refused() {
        assert_eq!(TenantSlug::parse("-acme"), Err(SlugError::EdgeHyphen));
        assert_eq!(TenantSlug::parse("acme-"), Err(SlugError::EdgeHyphen));
    }

    #[test]
    fn reserved_names_are_refused_in_any_case() {
        assert_eq!(TenantSlug::parse("www"), Err(SlugError::Reserved));
        assert_eq!(TenantSlug::parse("ADMIN"), Err(SlugError::Reserved));
    }

    #[test]
    fn the_database_name_comes_from_the_id_only() {
        let id = TenantId::new();
        let name = id.database_name();
        assert!(name.starts_with("t_"));
        assert_eq!(name.len(), 34);
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }
}
