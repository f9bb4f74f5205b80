//! The guard against server-side request forgery: a webhook may only reach the public
//! internet. A URL is refused when it is not `https://` (plain `http://` only to a
//! configured allowed network, for tests), carries credentials, or when its host resolves
//! to any loopback, private, link-local, unique-local, CGNAT, multicast, unspecified,
//! documentation or reserved address (IPv4-mapped, NAT64 and 6to4 forms are judged by the
//! IPv4 address inside). The same check runs at registration and at every delivery, and
//! [`GuardedResolver`] makes the HTTP client connect only to addresses it checked, so DNS
//! rebinding between the check and the connection cannot slip through.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long a host name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a webhook URL is refused (the message is shown to the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// The networks a webhook may target beyond the public internet (tests only).
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allowed: Vec<(IpAddr, u8)>,
}

impl Guard {
    /// `networks` in CIDR notation (validated with the configuration; bad ones ignored).
    pub fn new(networks: &[String]) -> Self {
        let allowed = networks
            .iter()
            .filter_map(|network| common::config::parse_cidr(network).ok())
            .map(|(address, prefix)| (canonical(address), prefix))
            .collect();
        Self { allowed }
    }

    /// Whether a connection to `address` is allowed.
    pub fn allows(&self, address: IpAddr) -> bool {
        self.in_allowed_network(address) || is_public(address)
    }

    fn in_allowed_network(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.allowed
            .iter()
            .any(|(network, prefix)| contains(*network, *prefix, address))
    }

    /// The URL's shape: `https://` (or `http://`), a host, no credentials.
    pub fn parse(&self, raw: &str) -> Result<Url, Refusal> {
        let url = Url::parse(raw.trim()).map_err(|_| refuse("this is not a URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(refuse("webhook URLs must start with https://"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("webhook URLs cannot carry a user name or password"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(refuse("the URL names no host"));
        }
        Ok(url)
    }

    /// Parses `raw` and resolves its host: every address must be allowed, and plain
    /// `http://` only goes to allowed networks. Answers the checked addresses.
    pub async fn check(&self, raw: &str) -> Result<(Url, Vec<SocketAddr>), Refusal> {
        let url = self.parse(raw)?;
        let port = url.port_or_known_default().unwrap_or(443);
        // The URL parser has normalised IP literals (`0x7f.1` is `127.0.0.1` by now).
        let host = url.host_str().unwrap_or_default();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addresses = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => resolve(host, port).await?,
        };
        for address in &addresses {
            if !self.allows(address.ip()) {
                return Err(refuse(format!(
                    "the URL's host resolves to {}, a private or reserved address",
                    address.ip()
                )));
            }
            if url.scheme() == "http" && !self.in_allowed_network(address.ip()) {
                return Err(refuse("webhook URLs must start with https://"));
            }
        }
        Ok((url, addresses))
    }
}

fn refuse(message: impl Into<String>) -> Refusal {
    Refusal(message.into())
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| refuse(format!("resolving `{host}` timed out")))?
        .map_err(|_| refuse(format!("the host `{host}` does not resolve")))?;
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.is_empty() {
        return Err(refuse(format!("the host `{host}` does not resolve")));
    }
    Ok(addresses)
}

/// The HTTP client's resolver: resolves as usual, then refuses the whole name when any
/// address is not allowed, so the connection goes only where the guard looked.
pub struct GuardedResolver(pub Arc<Guard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let addresses = resolve(name.as_str(), 0).await?;
            if let Some(bad) = addresses.iter().find(|address| !guard.allows(address.ip())) {
                return Err(format!(
                    "{} resolves to a refused address {}",
                    name.as_str(),
                    bad.ip()
                )
                .into());
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// The address as IPv4 when it is an IPv4-mapped IPv6 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

fn contains(network: IpAddr, prefix: u8, address: IpAddr) -> bool {
    match (network, address) {
        (IpAddr::V4(network), IpAddr::V4(address)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(network) & mask == u32::from(address) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(address)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(network) & mask == u128::from(address) & mask
        }
        _ => false,
    }
}

/// IPv4 networks no webhook may reach (RFC 6890 special-purpose, loopback, private...).
const REFUSED_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network", unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // CGNAT shared space
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local (cloud metadata)
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, broadcast
];

/// IPv6 networks no webhook may reach (those embedding IPv4 are judged by it instead).
const REFUSED_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96), // unspecified, loopback, IPv4-compatible
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments, Teredo
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique-local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
];

/// Whether `address` is on the public internet.
fn is_public(address: IpAddr) -> bool {
    match canonical(address) {
        IpAddr::V4(v4) => !REFUSED_V4
            .iter()
            .any(|(network, prefix)| contains(IpAddr::V4(*network), *prefix, IpAddr::V4(v4))),
        IpAddr::V6(v6) => {
            if let Some(inner) = embedded_v4(v6) {
                return is_public(IpAddr::V4(inner));
            }
            !REFUSED_V6
                .iter()
                .any(|(network, prefix)| contains(IpAddr::V6(*network), *prefix, IpAddr::V6(v6)))
        }
    }
}

/// The IPv4 address inside a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = v6.segments();
    let octets = v6.octets();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ));
    }
    if segments[0] == 0x2002 {
        return Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        !Guard::default().allows(text.parse().expect("an address"))
    }

    #[test]
    fn private_loopback_and_reserved_addresses_are_refused() {
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
        ] {
            assert!(refused(address), "{address} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(address), "{address} should be allowed");
        }
    }

    #[test]
    fn an_allowed_network_lets_its_addresses_through_and_no_others() {
        let guard = Guard::new(&["127.0.0.1/32".to_owned()]);
        assert!(guard.allows("127.0.0.1".parse().expect("ip")));
        assert!(guard.allows("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!guard.allows("127.0.0.2".parse().expect("ip")));
        assert!(!guard.allows("10.0.0.1".parse().expect("ip")));
    }

    #[tokio::test]
    async fn urls_are_checked_for_scheme_credentials_and_address() {
        let guard = Guard::default();
        for (url, why) in [
            ("ftp://example.com/hook", "https"),
            ("http://8.8.8.8/hook", "https"),
            ("https://user:pw@8.8.8.8/hook", "password"),
            ("https://127.0.0.1/hook", "private"),
            ("https://[::ffff:169.254.169.254]/hook", "private"),
            ("https://localhost/hook", "private"),
            ("not a url", "URL"),
        ] {
            let refusal = guard.check(url).await.expect_err(url);
            assert!(refusal.0.contains(why), "{url}: {}", refusal.0);
        }
        assert!(guard.check("https://8.8.8.8/hook").await.is_ok());
        let tests = Guard::new(&["127.0.0.1/32".to_owned()]);
        assert!(tests.check("http://127.0.0.1:9/hook").await.is_ok());
    }
}
