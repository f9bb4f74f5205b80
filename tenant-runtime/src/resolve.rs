//! Which tenant a request is for: the subdomain of the base domain (`{slug}.{base_domain}`)
//! or the `X-Tenant` header. When both name a tenant they must agree. The parsing itself
//! is `parsers::tenant` (fuzzed there), with the refusals of ambiguous hosts (two `Host`
//! or `X-Tenant` headers, an absolute target naming another host).

pub use parsers::tenant::{
    HostError, Resolution, TENANT_HEADER, request_host, resolve, tenant_header,
};

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
