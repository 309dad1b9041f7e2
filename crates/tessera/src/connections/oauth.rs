//! The OAuth 2.0 client side of Tessera: the authorization URL with PKCE (RFC 7636), the token
//! endpoint (code exchange and refresh, RFC 6749 §4.1.3 and §6) and revocation (RFC 7009).
//!
//! Requests go through `reqwest` with a timeout and no redirects (a token endpoint that redirects
//! is misconfigured, and following it would send the client secret elsewhere). Answers are
//! classified so that the refresh rules can act on them: `invalid_grant` means the grant is dead;
//! 5xx, 429, timeouts and network errors are passing faults worth a retry; anything else is the
//! provider refusing this client.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::provider::ResolvedProvider;
use crate::config::SecretString;
use crate::input::echo;

/// A client's credentials at its provider.
pub struct ClientCredentials<'a> {
    /// The provider's client id.
    pub client_id: &'a str,
    /// The client secret (opened from the vault for this call only).
    pub client_secret: &'a SecretString,
}

/// Tokens a provider issued.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The access token.
    pub access_token: SecretString,
    /// A refresh token, if one came (on a refresh: a rotated one).
    pub refresh_token: Option<SecretString>,
    /// Usually `Bearer`.
    pub token_type: String,
    /// Granted scopes, if the provider said (else the requested ones apply).
    pub scope: Option<String>,
    /// Lifetime in seconds, if the provider said.
    pub expires_in: Option<u64>,
}

/// Why a provider call failed. Messages carry the provider's error code and description, which
/// are not secrets, and never a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with an OAuth error that will not go away by retrying.
    #[error("the provider refused: {code}{}", description_suffix(.description))]
    Refused {
        /// The OAuth `error` code, e.g. `invalid_grant`.
        code: String,
        /// `error_description`, cut to a readable length.
        description: Option<String>,
    },
    /// 5xx, 429 or an unreadable answer: it may work later.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// No answer within the timeout (whole seconds, rounded up).
    #[error("the provider did not answer within {0} s")]
    Timeout(u64),
    /// The provider could not be reached.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
}

fn description_suffix(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

impl ProviderError {
    /// `invalid_grant`: the refresh token (or code) is dead for good.
    pub fn is_dead_grant(&self) -> bool {
        matches!(self, ProviderError::Refused { code, .. } if code == "invalid_grant")
    }

    /// Worth another try.
    pub fn is_passing(&self) -> bool {
        !matches!(self, ProviderError::Refused { .. })
    }
}

/// A PKCE pair: the verifier stays here (sealed), the challenge goes to the provider.
pub struct Pkce {
    /// 43 characters of base64url from 32 random bytes (RFC 7636 §4.1).
    pub verifier: SecretString,
    /// `BASE64URL(SHA256(verifier))` (S256).
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair from the OS CSPRNG.
    pub fn generate() -> Pkce {
        let verifier = URL_SAFE_NO_PAD.encode(random_bytes());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier: SecretString::from(verifier),
            challenge,
        }
    }
}

/// 32 bytes from the OS CSPRNG, for states and verifiers.
pub fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The authorization URL a person is sent to.
pub fn authorization_url(
    provider: &ResolvedProvider,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    code_challenge: &str,
) -> Url {
    let mut url = provider.authorization.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        if !provider.scopes.is_empty() {
            query.append_pair("scope", &provider.scopes.join(" "));
        }
        for (name, value) in provider.params {
            query.append_pair(name, value);
        }
    }
    url
}

/// The token endpoint's answer (RFC 6749 §5.1); `expires_in` as a number or a numeric string,
/// since some providers send the latter.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// An error answer (RFC 6749 §5.2).
#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The largest provider answer read: token responses are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Talks to providers' token and revocation endpoints.
#[derive(Debug, Clone)]
pub struct OAuthHttp {
    /// For the endpoints the operator configured (presets).
    trusted: reqwest::Client,
    /// For the endpoints clients named: resolves public addresses only.
    guarded: reqwest::Client,
    timeout: Duration,
}

impl OAuthHttp {
    /// A client with the given per-call timeout. With `allow_private`, client-named endpoints
    /// may resolve to internal addresses too (local development).
    pub fn new(timeout_seconds: u64, allow_private: bool) -> anyhow::Result<OAuthHttp> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(timeout_seconds))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
        };
        let trusted = builder().build()?;
        let guarded = if allow_private {
            trusted.clone()
        } else {
            builder()
                .dns_resolver(std::sync::Arc::new(super::provider::PublicOnly))
                .build()?
        };
        Ok(OAuthHttp {
            trusted,
            guarded,
            timeout: Duration::from_secs(timeout_seconds),
        })
    }

    /// The timeout of one call (`OAUTH_HTTP_TIMEOUT_SECONDS`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn client(&self, guarded: bool) -> &reqwest::Client {
        if guarded {
            &self.guarded
        } else {
            &self.trusted
        }
    }

    /// Exchanges an authorization code (with its PKCE verifier and the same redirect URI).
    pub async fn exchange_code(
        &self,
        provider: &ResolvedProvider,
        client: &ClientCredentials<'_>,
        code: &str,
        verifier: &SecretString,
        redirect_uri: &str,
    ) -> Result<IssuedTokens, ProviderError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ];
        self.token_request(provider, client, &form, self.timeout)
            .await
    }

    /// Refreshes once, giving up after `timeout` (the caller decides about retries and cuts the
    /// timeout to the time its request has left).
    pub async fn refresh(
        &self,
        provider: &ResolvedProvider,
        client: &ClientCredentials<'_>,
        refresh_token: &SecretString,
        timeout: Duration,
    ) -> Result<IssuedTokens, ProviderError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        self.token_request(provider, client, &form, timeout).await
    }

    /// Revokes a token (RFC 7009). `hint` is `refresh_token` or `access_token`.
    pub async fn revoke(
        &self,
        revocation: &Url,
        provider: &ResolvedProvider,
        client: &ClientCredentials<'_>,
        token: &SecretString,
        hint: &str,
    ) -> Result<(), ProviderError> {
        let form = [("token", token.expose()), ("token_type_hint", hint)];
        let response = self
            .authenticated(
                revocation.clone(),
                provider.guarded_revocation,
                provider,
                client,
                &form,
            )
            .send()
            .await
            .map_err(|e| transport_error(e, self.timeout))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = read_capped(response, self.timeout)
            .await
            .unwrap_or_default();
        Err(classify_error(status, &body))
    }

    async fn token_request(
        &self,
        provider: &ResolvedProvider,
        client: &ClientCredentials<'_>,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<IssuedTokens, ProviderError> {
        let response = self
            .authenticated(
                provider.token.clone(),
                provider.guarded_token,
                provider,
                client,
                form,
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(e, timeout))?;
        let status = response.status();
        let body = read_capped(response, timeout).await?;
        if !status.is_success() {
            return Err(classify_error(status, &body));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            ProviderError::Unavailable(format!(
                "the token endpoint answered {status} with a body that is not a token response"
            ))
        })?;
        if parsed.access_token.is_empty() {
            return Err(ProviderError::Unavailable(
                "the token endpoint answered an empty access_token".to_owned(),
            ));
        }
        Ok(IssuedTokens {
            access_token: SecretString::from(parsed.access_token),
            refresh_token: parsed
                .refresh_token
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
            token_type: parsed.token_type.unwrap_or_else(|| "Bearer".to_owned()),
            scope: parsed.scope,
            expires_in: parsed.expires_in.as_ref().and_then(seconds),
        })
    }

    /// A form POST with the client's credentials in the body or in HTTP Basic.
    fn authenticated(
        &self,
        url: Url,
        guarded: bool,
        provider: &ResolvedProvider,
        client: &ClientCredentials<'_>,
        form: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let request = self.client(guarded).post(url);
        if provider.basic_auth {
            // RFC 6749 §2.3.1: id and secret are form-encoded before they go into Basic.
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request
                .basic_auth(
                    encode(client.client_id),
                    Some(encode(client.client_secret.expose())),
                )
                .form(form)
        } else {
            let mut with_credentials = form.to_vec();
            with_credentials.push(("client_id", client.client_id));
            with_credentials.push(("client_secret", client.client_secret.expose()));
            request.form(&with_credentials)
        }
    }
}

/// The answer's body, refused past [`MAX_ANSWER_BYTES`]. `timeout` is the request's, for the
/// message if the body does not arrive in time.
async fn read_capped(
    mut response: reqwest::Response,
    timeout: Duration,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(e, timeout))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ProviderError::Unavailable(format!(
                "the provider's answer is larger than {} KiB",
                MAX_ANSWER_BYTES / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport_error(error: reqwest::Error, timeout: Duration) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout(timeout.as_secs_f64().ceil() as u64)
    } else {
        // Without the URL: it is configuration, but the error chain is enough to act on.
        ProviderError::Unreachable(error.without_url().to_string())
    }
}

fn seconds(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-2xx answer: 5xx and 429 are passing; a 4xx with an OAuth error is a refusal.
fn classify_error(status: reqwest::StatusCode, body: &[u8]) -> ProviderError {
    let oauth_error = serde_json::from_slice::<ErrorResponse>(body).ok();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let code = oauth_error
            .map(|e| format!(" ({})", echo(&e.error)))
            .unwrap_or_default();
        return ProviderError::Unavailable(format!("HTTP {}{code}", status.as_u16()));
    }
    match oauth_error {
        Some(e) if matches!(e.error.as_str(), "temporarily_unavailable" | "server_error") => {
            ProviderError::Unavailable(format!("HTTP {} ({})", status.as_u16(), e.error))
        }
        Some(e) => ProviderError::Refused {
            code: echo(&e.error),
            description: e.error_description.as_deref().map(echo),
        },
        None => ProviderError::Refused {
            code: format!("http_{}", status.as_u16()),
            description: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let pkce = Pkce::generate();
        assert_eq!(pkce.verifier.expose().len(), 43);
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(pkce.verifier.expose().as_bytes()));
        assert_eq!(pkce.challenge, expected);
        assert_ne!(Pkce::generate().verifier, pkce.verifier);
    }

    #[test]
    fn rfc_7636_appendix_b_example() {
        // The RFC's own verifier and challenge, so the encoding is checked against an outside value.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn errors_are_classified_by_status_and_code() {
        let bad = reqwest::StatusCode::BAD_REQUEST;
        let dead = classify_error(bad, br#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#);
        assert!(dead.is_dead_grant());
        assert!(!dead.is_passing());
        assert!(classify_error(reqwest::StatusCode::BAD_GATEWAY, b"<html>").is_passing());
        assert!(classify_error(reqwest::StatusCode::TOO_MANY_REQUESTS, b"").is_passing());
        assert!(classify_error(bad, br#"{"error":"temporarily_unavailable"}"#).is_passing());
        let client = classify_error(
            reqwest::StatusCode::UNAUTHORIZED,
            br#"{"error":"invalid_client"}"#,
        );
        assert!(!client.is_passing() && !client.is_dead_grant());
        assert_eq!(
            classify_error(bad, b"nope").to_string(),
            "the provider refused: http_400"
        );
    }

    #[test]
    fn expires_in_may_be_a_string() {
        assert_eq!(seconds(&serde_json::json!(3599)), Some(3599));
        assert_eq!(seconds(&serde_json::json!("3599")), Some(3599));
        assert_eq!(seconds(&serde_json::json!(-1)), None);
    }
}
