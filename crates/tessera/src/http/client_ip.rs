//! The client's IP: the socket peer, unless the peer is a trusted proxy.
//!
//! `X-Forwarded-For` can be written by anyone, so it is believed only when the connection comes
//! from an address in `TRUSTED_PROXIES`, and then only as far as the chain stays inside trusted
//! addresses: walking the header right to left, the first address that is not a trusted proxy is
//! the client. (The leftmost entry is whatever the client claimed; it is never believed blindly.)
//! A hop that does not parse ends the walk: nothing left of it can be attributed to a proxy.
//!
//! Counters (the rate limit, the login IP lock) key a client by [`ClientKey`]: an IPv4 address, or
//! an IPv6 address cut to `RATE_LIMIT_IPV6_PREFIX` bits, because one subscriber usually holds a
//! whole /64 and could otherwise rotate through it for fresh counters.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The resolved client address, placed in request extensions for every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// What a client is counted under: its IPv4 address, or its IPv6 network of the configured prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpNet);

impl ClientKey {
    /// The key of `ip`: IPv4 as it is (/32), IPv6 cut to `ipv6_prefix` bits (at most 128).
    pub fn of(ip: IpAddr, ipv6_prefix: u8) -> ClientKey {
        let net = match canonical(ip) {
            IpAddr::V4(v4) => IpNet::from(ipnet::Ipv4Net::from(v4)),
            IpAddr::V6(v6) => {
                let prefixed = ipnet::Ipv6Net::new(v6, ipv6_prefix.min(128))
                    .unwrap_or_else(|_| ipnet::Ipv6Net::from(v6));
                IpNet::V6(prefixed.trunc())
            }
        };
        ClientKey(net)
    }
}

impl std::fmt::Display for ClientKey {
    /// An IPv4 key reads as the address; an IPv6 key as its network, e.g. `2001:db8:1:2::/64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpNet::V4(net) => write!(f, "{}", net.addr()),
            IpNet::V6(net) if net.prefix_len() == 128 => write!(f, "{}", net.addr()),
            IpNet::V6(net) => write!(f, "{net}"),
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed, and the prefix IPv6 clients are keyed by.
#[derive(Debug, Clone)]
pub struct TrustedProxies {
    cidrs: Arc<Vec<IpNet>>,
    ipv6_prefix: u8,
}

impl TrustedProxies {
    /// From the configured CIDRs and `RATE_LIMIT_IPV6_PREFIX`.
    pub fn new(cidrs: Vec<IpNet>, ipv6_prefix: u8) -> Self {
        TrustedProxies {
            cidrs: Arc::new(cidrs),
            ipv6_prefix,
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.cidrs.iter().any(|net| net.contains(&ip))
    }

    /// Resolves the client IP from the peer address and the `X-Forwarded-For` values.
    pub fn resolve<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Ok(hop) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = canonical(hop);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address they map.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Middleware: resolves [`ClientIp`] and stores it in the request's extensions.
pub async fn resolve_client_ip(
    State(trusted): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client = trusted.resolve(peer, forwarded);
    request.extensions_mut().insert(ClientIp(client));
    request
        .extensions_mut()
        .insert(ClientKey::of(client, trusted.ipv6_prefix));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(cidr: &str) -> TrustedProxies {
        TrustedProxies::new(vec![cidr.parse().unwrap()], 64)
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let proxies = proxies("10.0.0.0/8");
        assert_eq!(
            proxies.resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_chains_are_walked_from_the_right() {
        let proxies = proxies("10.0.0.0/8");
        let header = ["6.6.6.6, 198.51.100.7, 10.1.1.1"];
        assert_eq!(
            proxies.resolve(ip("10.0.0.2"), header.into_iter()),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.resolve(ip("10.0.0.2"), [].into_iter()),
            ip("10.0.0.2")
        );
        assert_eq!(
            proxies.resolve(ip("::ffff:10.0.0.2"), ["garbage, 192.0.2.1"].into_iter()),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn a_hop_that_does_not_parse_ends_the_walk() {
        let proxies = proxies("10.0.0.0/8");
        let header = ["198.51.100.7, not-an-ip, 10.1.1.1"];
        assert_eq!(
            proxies.resolve(ip("10.0.0.2"), header.into_iter()),
            ip("10.1.1.1")
        );
        assert_eq!(
            proxies.resolve(ip("10.0.0.2"), ["198.51.100.7, 10.1.1.1, "].into_iter()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_prefix_and_ipv4_by_address() {
        let key = |s: &str, prefix| ClientKey::of(ip(s), prefix).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:db8:1:2:aaaa::1", 64),
            key("2001:db8:1:2:ffff:1:2:3", 64)
        );
        assert_ne!(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64));
        assert_eq!(key("2001:db8:1:2::1", 128), "2001:db8:1:2::1");
        assert_eq!(key("2001:db8:1:2::1", 48), "2001:db8:1::/48");
        assert_eq!(key("192.0.2.1", 64), "192.0.2.1");
        assert_eq!(key("::ffff:192.0.2.1", 64), "192.0.2.1");
    }
}
