//! The client's IP: the socket peer, unless the peer is a trusted proxy.
//!
//! `X-Forwarded-For` can be written by anyone, so it is believed only when the connection comes
//! from an address in `TRUSTED_PROXIES`, and then only as far as the chain stays inside trusted
//! addresses: walking the header right to left, the first address that is not a trusted proxy is
//! the client. (The leftmost entry is whatever the client claimed; it is never believed blindly.)

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The resolved client address, placed in request extensions for every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// From the configured CIDRs.
    pub fn new(cidrs: Vec<IpNet>) -> Self {
        TrustedProxies(Arc::new(cidrs))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
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
        let hops: Vec<IpAddr> = forwarded_for
            .flat_map(|value| value.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
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
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(
            proxies.resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_chains_are_walked_from_the_right() {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
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
}
