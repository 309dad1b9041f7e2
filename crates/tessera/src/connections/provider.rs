//! Providers: where a client's authorization, token and revocation endpoints are, which scopes and
//! authorization parameters it asks for, and how it authenticates.
//!
//! `google` is a preset (Google Business Profile: offline access, forced consent so a refresh
//! token is always issued, incremental scopes); its endpoints come from configuration
//! (`GOOGLE_AUTH_URL`, …) so tests and staging point it at a local server. `generic` is any
//! RFC 6749 provider: the client names its endpoints. A client may override any endpoint of a
//! preset too.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use crate::config::Config;
use crate::http::ApiError;
use crate::store::OAuthClientRecord;

/// The provider names a client may use.
pub const PROVIDERS: &[&str] = &["google", "generic"];

/// Token-endpoint client authentication methods (RFC 6749 §2.3.1).
pub const AUTH_METHODS: &[&str] = &["client_secret_post", "client_secret_basic"];

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
    pub fn resolve(&self, client: &OAuthClientRecord) -> Result<ResolvedProvider, ApiError> {
        let stored = |raw: &Option<String>| -> Result<Option<Url>, ApiError> {
            raw.as_deref()
                .map(|raw| Url::parse(raw).map_err(|e| ApiError::Internal(e.into())))
                .transpose()
        };
        let (authorization, token, revocation, scopes, params, expects_refresh) =
            match client.provider.as_str() {
                "google" => (
                    Some(self.google_auth.clone()),
                    Some(self.google_token.clone()),
                    Some(self.google_revoke.clone()),
                    GOOGLE_SCOPES,
                    GOOGLE_PARAMS,
                    true,
                ),
                // A generic provider is asked for nothing beyond RFC 6749, so a grant without a
                // refresh token is no surprise there.
                _ => (None, None, None, &[][..], &[][..], false),
            };
        let missing = |what: &str| {
            ApiError::Conflict(format!(
                "The OAuth client has no {what}: set it on the client (PATCH /api/v1/oauth-clients/{})",
                client.id
            ))
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
            basic_auth: client.token_auth_method == "client_secret_basic",
            guarded_token: client.token_url.is_some(),
            guarded_revocation: client.revocation_url.is_some(),
        })
    }
}

/// Checks a redirect URI given by a client: absolute `https`, or `http` to a loopback host (local
/// development); no fragment (RFC 6749 §3.1.2). Tessera never fetches it: the browser does.
pub fn checked_redirect_uri(raw: &str) -> Result<String, ApiError> {
    let url = parsed("redirect_uri", raw)?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(ApiError::invalid(
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
pub fn checked_endpoint(name: &str, raw: &str, allow_private: bool) -> Result<String, ApiError> {
    let url = parsed(name, raw)?;
    if allow_private {
        if !matches!(url.scheme(), "https" | "http") {
            return Err(ApiError::invalid(format!("{name} must use https")));
        }
        return Ok(raw.trim().to_owned());
    }
    if url.scheme() != "https" {
        return Err(ApiError::invalid(format!("{name} must use https")));
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
        return Err(ApiError::invalid(format!(
            "{name} must name a public host, not a loopback, private or link-local address"
        )));
    }
    Ok(raw.trim().to_owned())
}

fn parsed(name: &str, raw: &str) -> Result<Url, ApiError> {
    if raw.len() > 2_000 {
        return Err(ApiError::invalid(format!(
            "{name} must be at most 2000 characters"
        )));
    }
    let url = Url::parse(raw.trim())
        .map_err(|_| ApiError::invalid(format!("{name} must be an absolute URL")))?;
    if url.fragment().is_some() {
        return Err(ApiError::invalid(format!(
            "{name} must not have a fragment"
        )));
    }
    Ok(url)
}

/// Whether `ip` is an address on the public internet (not loopback, private, link-local,
/// shared, unspecified, multicast or reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
                || a == 0
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link local
        }
    }
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

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "142.250.74.74", "2a00:1450:4001:80b::200a"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
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
