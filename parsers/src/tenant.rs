//! Which tenant a request is for: the subdomain of the base domain (`{slug}.{base_domain}`)
//! or the `X-Tenant` header. When both name a tenant they must agree.

use crate::names::TenantSlug;

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
    // Only a name that is already a slug: `acme ` in a host (`acme .example.com`) would
    // otherwise be trimmed into `acme` alone, yet conflict with `X-Tenant: acme` (found by
    // the `tenant_resolution` fuzz target).
    match TenantSlug::parse(&name) {
        Ok(slug) if slug.as_str() == name => Resolution::Tenant(name),
        _ => Resolution::Unknown(name),
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
    fn a_host_label_with_spaces_names_no_tenant() {
        assert_eq!(
            resolve(Some("acme .localhost"), None, "localhost"),
            Resolution::Unknown("acme ".into())
        );
        assert_eq!(
            resolve(Some("acme\t.localhost"), Some("acme"), "localhost"),
            Resolution::Conflict {
                host: "acme\t".into(),
                header: "acme".into()
            }
        );
    }

    #[test]
    fn a_padded_header_still_names_its_tenant() {
        assert_eq!(
            resolve(Some("acme.localhost"), Some(" ACME "), "localhost"),
            Resolution::Tenant("acme".into())
        );
    }
}
