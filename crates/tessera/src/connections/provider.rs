//! Providers: where a client's authorization, token and revocation endpoints are, which scopes and
//! authorization parameters it asks for, and how it authenticates.
//!
//! `google` is a preset (Google Business Profile: offline access, forced consent so a refresh
//! token is always issued, incremental scopes); its endpoints come from configuration
//! (`GOOGLE_AUTH_URL`, …) so tests and staging point it at a local server. `generic` is any
//! RFC 6749 provider: the client names its endpoints. A client may override any endpoint of a
//! preset too.

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
                _ => (None, None, None, &[][..], &[][..], true),
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
        })
    }
}

/// Checks an endpoint or redirect URI given by a client: absolute `https`, or `http` to a
/// loopback host (local development and tests); no fragment (RFC 6749 §3.1.2).
pub fn checked_url(name: &str, raw: &str) -> Result<String, ApiError> {
    let invalid = |why: &str| ApiError::invalid(format!("{name} {why}"));
    if raw.len() > 2_000 {
        return Err(invalid("must be at most 2000 characters"));
    }
    let url = Url::parse(raw.trim()).map_err(|_| invalid("must be an absolute URL"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                "must use https (http is allowed only for localhost)",
            ))
        }
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a fragment"));
    }
    Ok(raw.trim().to_owned())
}
