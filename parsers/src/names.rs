//! Names people type: a tenant's slug (its subdomain) and an email address, with the
//! patterns the OpenAPI documents state for them.

use serde::{Deserialize, Serialize};
use std::fmt;

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

/// The pattern the OpenAPI documents give a slug ([`TenantSlug::parse`]'s rules); its
/// look-ahead refuses the reserved names.
pub fn slug_pattern() -> String {
    let reserved = RESERVED_SLUGS.join("|");
    format!("^(?!(?:{reserved})$)[a-z0-9][a-z0-9-]{{1,38}}[a-z0-9]$")
}

/// The pattern the OpenAPI documents give an email address: the visible-ASCII addresses
/// [`normalize_email`] accepts (it also accepts non-ASCII ones).
pub const EMAIL_PATTERN: &str = "^[!-?A-~]+@[!-?A-~]*\\.[!-?A-~]*$";

/// An email address, trimmed and lowercased, if it is plausible: one `@`, a non-empty
/// local part, a dotted domain, no spaces or control characters, at most 254 bytes.
/// (Deliverability is for the mail server to judge; this only refuses what cannot be an
/// address.)
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    // Control characters (NUL, DEL, escapes) are in no address, and NUL cannot even be
    // stored in Postgres text: found by the `email` fuzz target.
    let plausible = email.len() <= 254
        && !email.contains(|c: char| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    plausible.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_with_a_control_character_is_refused() {
        for bad in [
            "ann\u{0}@acme.example",
            "ann@acme.example\u{7f}x",
            "a\u{1b}[31m@x.io",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
        assert_eq!(
            normalize_email(" Ann@Acme.Example "),
            Some("ann@acme.example".into())
        );
    }

    #[test]
    fn the_documented_slug_pattern_names_every_reserved_slug() {
        let pattern = slug_pattern();
        assert!(RESERVED_SLUGS.iter().all(|slug| pattern.contains(slug)));
    }
}
