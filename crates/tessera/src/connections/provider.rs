//! Providers: where a client's authorization, token and revocation endpoints are, which scopes and
//! authorization parameters it asks for, and how it authenticates.
//!
//! `google` is a preset (Google Business Profile: offline access, forced consent so a refresh
//! token is always issued, incremental scopes); its endpoints come from configuration
//! (`GOOGLE_AUTH_URL`, …) so tests and staging point it at a local server. `generic` is any
//! RFC 6749 provider: the client names its endpoints. A client may override any endpoint of a
//! preset too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::Url;

use super::errors::ConnectionError;
use crate::config::Config;
use crate::input::InvalidField;
use crate::store::{OAuthClientRecord, Provider, TokenAuthMethod};

const GOOGLE_SCOPES: &[&str] = &["https://www.googleapis.com/auth/business.manage"];
const GOOGLE_PARAMS: &[(&str, &str)] = &[
    ("access_type", "offline"),
    ("prompt", "consent"),
    ("include_granted_scopes", "true"),
];

/// The preset endpoints, from configuration.
#[derive(Debug, Clone)]
pub struct Presets {
    google_auth: Url,
    google_token: Url,
    google_revoke: Url,
}

/// Everything needed to talk to one client's provider.
#[derive(Debug, Clone)]
pub struct ResolvedProvider {
    /// Authorization endpoint.
    pub authorization: Url,
    /// Token endpoint.
    pub token: Url,
    /// Revocation endpoint (RFC 7009), if the provider has one.
    pub revocation: Option<Url>,
    /// Scopes to request.
    pub scopes: Vec<String>,
    /// Extra authorization parameters.
    pub params: &'static [(&'static str, &'static str)],
    /// Whether the authorization asks for offline access (so a missing refresh token is news).
    pub expects_refresh_token: bool,
    /// `client_secret_basic` rather than `client_secret_post`.
    pub basic_auth: bool,
    /// The token endpoint came from the client, not the operator: calls go through [`PublicOnly`].
    pub guarded_token: bool,
    /// Likewise for the revocation endpoint.
    pub guarded_revocation: bool,
}

impl Presets {
    /// The presets with the configured endpoints.
    pub fn from_config(config: &Config) -> anyhow::Result<Presets> {
        let parse = |name: &str, raw: &str| {
            Url::parse(raw).map_err(|e| anyhow::anyhow!("{name} is not a URL ({e})"))
        };
        Ok(Presets {
            google_auth: parse("GOOGLE_AUTH_URL", &config.google_auth_url)?,
            google_token: parse("GOOGLE_TOKEN_URL", &config.google_token_url)?,
            google_revoke: parse("GOOGLE_REVOKE_URL", &config.google_revoke_url)?,
        })
    }

    /// The provider a stored client talks to. Stored clients were validated on the way in, so a
    /// failure here is a fault of ours.
    pub fn resolve(&self, client: &OAuthClientRecord) -> Result<ResolvedProvider, ConnectionError> {
        let stored = |raw: &Option<String>| -> Result<Option<Url>, ConnectionError> {
            raw.as_deref()
                .map(|raw| Url::parse(raw).map_err(|e| ConnectionError::Broken(e.into())))
                .transpose()
        };
        let (authorization, token, revocation, scopes, params, expects_refresh) =
            match client.provider {
                Provider::Google => (
                    Some(self.google_auth.clone()),
                    Some(self.google_token.clone()),
                    Some(self.google_revoke.clone()),
                    GOOGLE_SCOPES,
                    GOOGLE_PARAMS,
                    true,
                ),
                // A generic provider is asked for nothing beyond RFC 6749, so a grant without a
                // refresh token is no surprise there.
                Provider::Generic => (None, None, None, &[][..], &[][..], false),
            };
        let missing = |missing| ConnectionError::ClientIncomplete {
            client_id: client.id,
            missing,
        };
        let scopes = if client.scopes.0.is_empty() {
            scopes.iter().map(|s| (*s).to_owned()).collect()
        } else {
            client.scopes.0.clone()
        };
        Ok(ResolvedProvider {
            authorization: stored(&client.authorization_url)?
                .or(authorization)
                .ok_or_else(|| missing("authorization_url"))?,
            token: stored(&client.token_url)?
                .or(token)
                .ok_or_else(|| missing("token_url"))?,
            revocation: stored(&client.revocation_url)?.or(revocation),
            scopes,
            params,
            expects_refresh_token: expects_refresh,
            basic_auth: client.token_auth_method == TokenAuthMethod::ClientSecretBasic,
            guarded_token: client.token_url.is_some(),
            guarded_revocation: client.revocation_url.is_some(),
        })
    }
}

/// Checks a redirect URI given by a client: absolute `https`, or `http` to a loopback host (local
/// development); no fragment (RFC 6749 §3.1.2). Tessera never fetches it: the browser does.
pub fn checked_redirect_uri(raw: &str) -> Result<String, InvalidField> {
    let url = parsed("redirect_uri", raw)?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(InvalidField::new(
            "redirect_uri must use https (http is allowed only for localhost)",
        ));
    }
    Ok(raw.trim().to_owned())
}

/// Checks an endpoint given by a client. Tessera POSTs client secrets and refresh tokens to its
/// token and revocation endpoints, so they must be `https` and, unless `allow_private` (local
/// development: `OAUTH_ALLOW_PRIVATE_ENDPOINTS`), not name a loopback, private or link-local
/// address: a user must not be able to aim Tessera at the network it runs in. Host names are
/// checked again when they are resolved, on every call ([`PublicOnly`]).
pub fn checked_endpoint(
    name: &str,
    raw: &str,
    allow_private: bool,
) -> Result<String, InvalidField> {
    let url = parsed(name, raw)?;
    if allow_private {
        if !matches!(url.scheme(), "https" | "http") {
            return Err(InvalidField::new(format!("{name} must use https")));
        }
        return Ok(raw.trim().to_owned());
    }
    if url.scheme() != "https" {
        return Err(InvalidField::new(format!("{name} must use https")));
    }
    let private = match url.host() {
        Some(url::Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
        None => true,
    };
    if private {
        return Err(InvalidField::new(format!(
            "{name} must name a public host, not a loopback, private or link-local address"
        )));
    }
    Ok(raw.trim().to_owned())
}

fn parsed(name: &str, raw: &str) -> Result<Url, InvalidField> {
    if raw.len() > 2_000 {
        return Err(InvalidField::new(format!(
            "{name} must be at most 2000 characters"
        )));
    }
    let url = Url::parse(raw.trim())
        .map_err(|_| InvalidField::new(format!("{name} must be an absolute URL")))?;
    if url.fragment().is_some() {
        return Err(InvalidField::new(format!(
            "{name} must not have a fragment"
        )));
    }
    Ok(url)
}

/// Whether `ip` may be sent client secrets and refresh tokens: an ordinary address on the public
/// internet, in no block of the IANA IPv4 and IPv6 Special-Purpose Address Registries.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// The IPv4 Special-Purpose Address Registry (RFC 6890 and its updates) and multicast. A few of
/// these blocks are globally reachable (AS112, AMT, the PCP and TURN anycast addresses in
/// 192.0.0.0/24), and they are refused all the same: no token endpoint has a reason to live
/// there, and an allowlist of ordinary unicast is simpler to get right than exceptions.
const SPECIAL_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8), // "this network" (0.0.0.0/32: "this host"), RFC 791
    (Ipv4Addr::new(10, 0, 0, 0), 8), // private, RFC 1918
    (Ipv4Addr::new(100, 64, 0, 0), 10), // shared address space (carrier NAT), RFC 6598
    (Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16), // link local (cloud metadata endpoints live here)
    (Ipv4Addr::new(172, 16, 0, 0), 12), // private
    (Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments (DS-Lite, NAT64 discovery, …)
    (Ipv4Addr::new(192, 0, 2, 0), 24), // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 31, 196, 0), 24), // AS112-v4, RFC 7535
    (Ipv4Addr::new(192, 52, 193, 0), 24), // AMT, RFC 7450
    (Ipv4Addr::new(192, 88, 99, 0), 24), // 6to4 relay anycast (deprecated), RFC 7526
    (Ipv4Addr::new(192, 168, 0, 0), 16), // private
    (Ipv4Addr::new(192, 175, 48, 0), 24), // AS112 direct delegation, RFC 7534
    (Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking, RFC 2544
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24), // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4), // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, with 255.255.255.255 (limited broadcast)
];

/// The IPv6 blocks of the Special-Purpose Registry inside global unicast (`2000::/3`); every
/// other special block (`::/128`, `::1`, `100::/64`, `5f00::/16`, `fc00::/7`, `fe80::/10`,
/// `fec0::/10`, `ff00::/8`, …) lies outside `2000::/3` and is refused with the rest of it.
const SPECIAL_V6: &[(Ipv6Addr, u8)] = &[
    // IETF protocol assignments: Teredo (2001::/32, which embeds an IPv4 address), the PCP,
    // TURN and DNS-SD anycast addresses, benchmarking, AMT, AS112, ORCHID(v2), drone remote ID.
    // Some sub-blocks are globally reachable; all are refused, as in `SPECIAL_V4`.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    // 6to4 (deprecated, RFC 7526): it embeds an IPv4 address, but its relays are whoever
    // announces them, so where a packet ends up cannot be judged from the address.
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48), // AS112 direct delegation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),         // documentation, RFC 9637
];

/// Global unicast, the only IPv6 space IANA hands to the public internet.
const GLOBAL_UNICAST: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// The NAT64 well-known prefix, RFC 6052.
const NAT64: (Ipv6Addr, u8) = (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !SPECIAL_V4.iter().any(|&(block, prefix)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        bits & mask == u32::from(block)
    })
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = stands_for_ipv4(ip) {
        return is_public_v4(v4);
    }
    in_v6_block(ip, GLOBAL_UNICAST) && !SPECIAL_V6.iter().any(|&block| in_v6_block(ip, block))
}

fn in_v6_block(ip: Ipv6Addr, (block, prefix): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(block)
}

/// The IPv4 address an IPv6 address is only another spelling of, judged as that IPv4 address:
/// IPv4-mapped (`::ffff:a.b.c.d`, how a dual-stack socket names an IPv4 peer) and the NAT64
/// well-known prefix (`64:ff9b::a.b.c.d`, how an IPv6-only network reaches IPv4 hosts; refusing
/// it outright would cut such a deployment off from IPv4-only providers, and RFC 6052 keeps
/// non-global IPv4 addresses out of it, which the IPv4 check enforces here too). Other forms
/// that embed IPv4 are refused outright instead: IPv4-compatible `::a.b.c.d` (deprecated, and
/// outside global unicast), 6to4 and Teredo (see `SPECIAL_V6`), and the local-use NAT64 prefix
/// `64:ff9b:1::/48` (RFC 8215: a network's own, whose translation cannot be known from here).
fn stands_for_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    in_v6_block(ip, NAT64).then(|| Ipv4Addr::from(u128::from(ip) as u32))
}

/// A DNS resolver that answers only public addresses, for the endpoints clients name: a host name
/// that resolves to an internal address (at the time of the call, whatever it resolved to when it
/// was registered) is refused.
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One address inside every block of the IANA IPv4 and IPv6 Special-Purpose Address
    /// Registries (and multicast, site-local and the translation forms), with the block it
    /// stands for: none may be sent secrets.
    const NOT_PUBLIC: &[(&str, &str)] = &[
        ("0.0.0.0", "0.0.0.0/32 this host"),
        ("0.1.2.3", "0.0.0.0/8 this network"),
        ("10.1.2.3", "10.0.0.0/8 private"),
        ("100.64.0.1", "100.64.0.0/10 shared address space"),
        ("100.127.255.254", "100.64.0.0/10 shared address space"),
        ("127.0.0.1", "127.0.0.0/8 loopback"),
        ("127.255.255.254", "127.0.0.0/8 loopback"),
        ("169.254.169.254", "169.254.0.0/16 link local"),
        ("172.16.0.1", "172.16.0.0/12 private"),
        ("172.31.255.254", "172.16.0.0/12 private"),
        ("192.0.0.1", "192.0.0.0/29 IPv4 service continuity"),
        ("192.0.0.8", "192.0.0.8/32 IPv4 dummy address"),
        ("192.0.0.9", "192.0.0.9/32 PCP anycast"),
        ("192.0.0.10", "192.0.0.10/32 TURN anycast"),
        ("192.0.0.170", "192.0.0.170/32 NAT64/DNS64 discovery"),
        ("192.0.0.171", "192.0.0.171/32 NAT64/DNS64 discovery"),
        ("192.0.0.200", "192.0.0.0/24 IETF protocol assignments"),
        ("192.0.2.1", "192.0.2.0/24 TEST-NET-1"),
        ("192.31.196.1", "192.31.196.0/24 AS112-v4"),
        ("192.52.193.1", "192.52.193.0/24 AMT"),
        ("192.88.99.1", "192.88.99.0/24 6to4 relay anycast"),
        ("192.168.1.1", "192.168.0.0/16 private"),
        ("192.175.48.1", "192.175.48.0/24 AS112 direct delegation"),
        ("198.18.0.1", "198.18.0.0/15 benchmarking"),
        ("198.19.255.254", "198.18.0.0/15 benchmarking"),
        ("198.51.100.1", "198.51.100.0/24 TEST-NET-2"),
        ("203.0.113.1", "203.0.113.0/24 TEST-NET-3"),
        ("224.0.0.1", "224.0.0.0/4 multicast"),
        ("239.255.255.250", "224.0.0.0/4 multicast"),
        ("240.0.0.1", "240.0.0.0/4 reserved"),
        ("254.1.2.3", "240.0.0.0/4 reserved"),
        ("255.255.255.255", "255.255.255.255/32 limited broadcast"),
        ("::", "::/128 unspecified"),
        ("::1", "::1/128 loopback"),
        (
            "::ffff:127.0.0.1",
            "::ffff:0:0/96 IPv4-mapped, loopback inside",
        ),
        (
            "::ffff:10.0.0.1",
            "::ffff:0:0/96 IPv4-mapped, private inside",
        ),
        (
            "::ffff:169.254.169.254",
            "::ffff:0:0/96 IPv4-mapped, link local inside",
        ),
        (
            "::127.0.0.1",
            "::/96 IPv4-compatible (deprecated), loopback inside",
        ),
        (
            "::8.8.8.8",
            "::/96 IPv4-compatible (deprecated), refused whatever is inside",
        ),
        ("64:ff9b::10.0.0.1", "64:ff9b::/96 NAT64, private inside"),
        ("64:ff9b::127.0.0.1", "64:ff9b::/96 NAT64, loopback inside"),
        (
            "64:ff9b::169.254.169.254",
            "64:ff9b::/96 NAT64, link local inside",
        ),
        ("64:ff9b::192.168.0.1", "64:ff9b::/96 NAT64, private inside"),
        ("64:ff9b:1::1", "64:ff9b:1::/48 local-use translation"),
        (
            "64:ff9b:1::8.8.8.8",
            "64:ff9b:1::/48 local-use translation, refused whatever is inside",
        ),
        ("100::1", "100::/64 discard-only"),
        ("100:0:0:1::1", "100:0:0:1::/64 dummy IPv6 prefix"),
        ("2001::1", "2001::/32 Teredo"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32 Teredo"),
        ("2001:1::1", "2001:1::1/128 PCP anycast"),
        ("2001:1::2", "2001:1::2/128 TURN anycast"),
        ("2001:1::3", "2001:1::3/128 DNS-SD SRP anycast"),
        ("2001:2::1", "2001:2::/48 benchmarking"),
        ("2001:3::1", "2001:3::/32 AMT"),
        ("2001:4:112::1", "2001:4:112::/48 AS112-v6"),
        ("2001:10::1", "2001:10::/28 ORCHID (deprecated)"),
        ("2001:20::1", "2001:20::/28 ORCHIDv2"),
        ("2001:30::1", "2001:30::/28 drone remote ID"),
        ("2001:1ff:ffff::1", "2001::/23 IETF protocol assignments"),
        ("2001:db8::1", "2001:db8::/32 documentation"),
        ("2002:a00:1::1", "2002::/16 6to4, private inside"),
        ("2002:7f00:1::1", "2002::/16 6to4, loopback inside"),
        (
            "2002:808:808::1",
            "2002::/16 6to4, refused whatever is inside",
        ),
        (
            "2620:4f:8000::1",
            "2620:4f:8000::/48 AS112 direct delegation",
        ),
        ("3fff::1", "3fff::/20 documentation"),
        ("3fff:fff:ffff::1", "3fff::/20 documentation"),
        ("5f00::1", "5f00::/16 SRv6 SIDs"),
        ("fc00::1", "fc00::/7 unique local"),
        ("fd12:3456::1", "fc00::/7 unique local"),
        ("fe80::1", "fe80::/10 link local"),
        ("febf::1", "fe80::/10 link local"),
        ("fec0::1", "fec0::/10 site local (deprecated)"),
        ("feff::1", "fec0::/10 site local (deprecated)"),
        ("ff02::1", "ff00::/8 multicast"),
        ("ff0e::1", "ff00::/8 multicast"),
        ("4000::1", "outside 2000::/3 global unicast"),
    ];

    /// Ordinary public addresses, some right next to a special block.
    const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "142.250.74.74",
        "100.63.255.255",
        "100.128.0.1",
        "172.32.0.1",
        "192.0.1.1",
        "198.17.255.255",
        "198.20.0.1",
        "223.1.2.3",
        "2606:4700::1111",
        "2001:4860:4860::8888",
        "2a00:1450:4001:80b::200a",
        "2001:200::1",
        "2620:4f:8001::1",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
    ];

    #[test]
    fn every_special_purpose_block_is_refused_and_ordinary_addresses_are_not() {
        let refused: Vec<String> = NOT_PUBLIC
            .iter()
            .filter(|(ip, _)| is_public(ip.parse().unwrap()))
            .map(|(ip, block)| format!("{ip} ({block})"))
            .collect();
        assert!(refused.is_empty(), "taken for public: {refused:#?}");
        let public: Vec<&str> = PUBLIC
            .iter()
            .copied()
            .filter(|ip| !is_public(ip.parse().unwrap()))
            .collect();
        assert!(public.is_empty(), "taken for special: {public:?}");
    }

    #[test]
    fn endpoints_must_be_public_https_unless_allowed() {
        for raw in [
            "http://oauth2.example.com/token",
            "https://127.0.0.1/token",
            "https://[::1]/token",
            "https://10.0.0.7/token",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/token",
            "https://api.localhost/token",
            "https://[::ffff:127.0.0.1]/token",
            "https://[64:ff9b::a9fe:a9fe]/token",
            "https://[2002:a00:1::1]/token",
            "https://[fec0::1]/token",
            "https://198.18.0.1/token",
        ] {
            assert!(checked_endpoint("token_url", raw, false).is_err(), "{raw}");
        }
        assert!(checked_endpoint("token_url", "https://oauth2.example.com/token", false).is_ok());
        assert!(checked_endpoint("token_url", "http://127.0.0.1:9/token", true).is_ok());
        assert!(checked_redirect_uri("http://localhost:8000/cb").is_ok());
        assert!(checked_redirect_uri("http://example.com/cb").is_err());
        assert!(checked_redirect_uri("https://example.com/cb#frag").is_err());
    }
}
