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

/// Slugs and emails are parsed in the light `parsers` crate, which the fuzz targets build
/// alone; these names stay here for the services.
pub use parsers::names::{RESERVED_SLUGS, SlugError, TenantSlug, normalize_email};

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
