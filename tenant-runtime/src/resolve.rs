//! Which tenant a request is for: the subdomain of the base domain (`{slug}.{base_domain}`)
//! or the `X-Tenant` header. When both name a tenant they must agree.

use common::ids::TenantSlug;

pub const TENANT_HEADER: &str = "X-Tenant";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A well-formed slug, lower case.
    Tenant(String),
    /// Neither the host nor a header names a tenant.
    Missing,
    /// Host and header name different tenants.
    Conflict { host: String, header: String },
    /// The name given cannot be any tenant's (bad characters, reserved).
    Unknown(String),
}

/// Resolves from the `Host` header (port allowed) and the `X-Tenant` header.
pub fn resolve(host: Option<&str>, header: Option<&str>, base_domain: &str) -> Resolution {
    let from_host = host.and_then(|host| subdomain(host, base_domain));
    let from_header = header
        .map(|value| value.trim().to_ascii_lowercase())
        .filter(|value| !value.is_empty());
    let name = match (from_host, from_header) {
        (Some(host), Some(header)) if host != header => {
            return Resolution::Conflict { host, header };
        }
        (Some(name), _) | (None, Some(name)) => name,
        (None, None) => return Resolution::Missing,
    };
    match TenantSlug::parse(&name) {
        Ok(slug) => Resolution::Tenant(slug.as_str().to_owned()),
        Err(_) => Resolution::Unknown(name),
    }
}

/// `acme` from `acme.erp.example.com:8443` when the base domain is `erp.example.com`; only
/// one label deep.
fn subdomain(host: &str, base_domain: &str) -> Option<String> {
    let host = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let base = base_domain.trim_end_matches('.').to_ascii_lowercase();
    let label = host.strip_suffix(&base)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subdomain_names_the_tenant() {
        let found = resolve(Some("Acme.erp.example.com:8443"), None, "erp.example.com");
        assert_eq!(found, Resolution::Tenant("acme".into()));
        assert_eq!(
            resolve(Some("acme.localhost"), None, "localhost"),
            Resolution::Tenant("acme".into())
        );
    }

    #[test]
    fn the_base_domain_itself_and_deeper_names_are_no_tenant() {
        assert_eq!(
            resolve(Some("erp.example.com"), None, "erp.example.com"),
            Resolution::Missing
        );
        assert_eq!(
            resolve(Some("a.b.erp.example.com"), None, "erp.example.com"),
            Resolution::Missing
        );
        assert_eq!(
            resolve(Some("127.0.0.1:8081"), None, "localhost"),
            Resolution::Missing
        );
        assert_eq!(
            resolve(Some("evil-localhost"), None, "localhost"),
            Resolution::Missing
        );
    }

    #[test]
    fn the_header_works_alone_and_must_agree_with_the_host() {
        assert_eq!(
            resolve(Some("127.0.0.1"), Some(" ACME "), "localhost"),
            Resolution::Tenant("acme".into())
        );
        assert_eq!(
            resolve(Some("acme.localhost"), Some("acme"), "localhost"),
            Resolution::Tenant("acme".into())
        );
        assert_eq!(
            resolve(Some("acme.localhost"), Some("other"), "localhost"),
            Resolution::Conflict {
                host: "acme".into(),
                header: "other".into()
            }
        );
    }

    #[test]
    fn a_malformed_name_is_unknown() {
        assert_eq!(
            resolve(None, Some("no_underscores"), "localhost"),
            Resolution::Unknown("no_underscores".into())
        );
    }
}
