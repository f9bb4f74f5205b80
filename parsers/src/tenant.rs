//! Which tenant a request is for: the subdomain of the base domain (`{slug}.{base_domain}`)
//! or the `X-Tenant` header. When both name a tenant they must agree.
//!
//! The host is the request's own `Host` (or its absolute target's authority, which must
//! then agree with `Host`): `X-Forwarded-Host` and `Forwarded: host=` are written by
//! whoever sends the request, so they count only when configuration says a proxy in front
//! sets them (the runtime's gate decides). A request with two `Host` or two `X-Tenant`
//! headers is refused: a proxy in front may have read the other one.

use crate::names::TenantSlug;

/// The header naming the tenant when the host does not.
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

/// Why the request's own headers cannot name one host or one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// `Host` (or `X-Tenant`) given more than once.
    Repeated(&'static str),
    /// The absolute request target names another host than `Host`.
    Disagree { target: String, host: String },
    /// A header that is not visible ASCII.
    Unreadable(&'static str),
}

/// The host the request is for, from `Host` values (every one given) and the request
/// target's authority (absolute form only).
pub fn request_host<'a>(
    mut hosts: impl Iterator<Item = &'a [u8]>,
    target_authority: Option<&'a str>,
) -> Result<Option<&'a str>, HostError> {
    let host = hosts
        .next()
        .map(|value| std::str::from_utf8(value).map_err(|_| HostError::Unreadable("Host")))
        .transpose()?;
    if hosts.next().is_some() {
        return Err(HostError::Repeated("Host"));
    }
    match (target_authority, host) {
        (Some(target), Some(host)) if !target.eq_ignore_ascii_case(host) => {
            Err(HostError::Disagree {
                target: target.to_owned(),
                host: host.to_owned(),
            })
        }
        (Some(target), _) => Ok(Some(target)),
        (None, host) => Ok(host),
    }
}

/// The one `X-Tenant` value, if any.
pub fn tenant_header<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<&'a str>, HostError> {
    let value = values
        .next()
        .map(|value| std::str::from_utf8(value).map_err(|_| HostError::Unreadable(TENANT_HEADER)))
        .transpose()?;
    if values.next().is_some() {
        return Err(HostError::Repeated(TENANT_HEADER));
    }
    Ok(value)
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

    fn host_of<'a>(
        hosts: &'a [&'a str],
        target: Option<&'a str>,
    ) -> Result<Option<&'a str>, HostError> {
        request_host(hosts.iter().map(|host| host.as_bytes()), target)
    }

    #[test]
    fn the_host_header_counts_once_and_an_absolute_target_must_agree_with_it() {
        assert_eq!(
            host_of(&["acme.localhost"], None),
            Ok(Some("acme.localhost"))
        );
        assert_eq!(host_of(&[], None), Ok(None));
        assert_eq!(
            host_of(&["acme.localhost", "acme.localhost"], None),
            Err(HostError::Repeated("Host"))
        );
        assert_eq!(
            host_of(&["acme.localhost"], Some("ACME.localhost")),
            Ok(Some("ACME.localhost"))
        );
        assert_eq!(
            host_of(&[], Some("bolts.localhost")),
            Ok(Some("bolts.localhost"))
        );
        assert!(matches!(
            host_of(&["acme.localhost"], Some("bolts.localhost")),
            Err(HostError::Disagree { .. })
        ));
    }

    #[test]
    fn two_tenant_headers_are_refused() {
        let two = [b"acme".as_slice(), b"bolts".as_slice()];
        assert_eq!(
            tenant_header(two.into_iter()),
            Err(HostError::Repeated(TENANT_HEADER))
        );
        assert_eq!(
            tenant_header([b"acme".as_slice()].into_iter()),
            Ok(Some("acme"))
        );
    }

    #[test]
    fn a_host_with_user_info_names_no_tenant() {
        assert_eq!(
            resolve(Some("bolts.localhost@acme.localhost"), None, "localhost"),
            Resolution::Missing
        );
        assert_eq!(
            resolve(Some("x@bolts.localhost"), None, "localhost"),
            Resolution::Unknown("x@bolts".into())
        );
    }

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
