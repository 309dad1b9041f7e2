//! The authorization-code flow with PKCE: `POST /api/v1/branches/{id}/oauth/start` and the
//! callback `GET /api/v1/oauth/callback`.
//!
//! The state is 256 random bits, shown once (in the authorization URL) and stored only as its
//! SHA-256, bound to the branch, the user who started the flow, the sealed PKCE verifier and the
//! redirect URI; it lives 10 minutes. The callback consumes it in one `DELETE … RETURNING`, so a
//! state works once even when two callbacks race; the state is the callback's only credential.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::errors::ConnectionError;
use super::oauth::{authorization_url, random_bytes, ClientCredentials, Pkce};
use super::vault::Slot;
use crate::auth::Caller;
use crate::http::extract::{Path, Query};
use crate::http::{ok, ApiError, ApiResult, Success};
use crate::input::echo;
use crate::state::AppState;
use crate::store::{BranchRecord, OAuthStateRecord};
use crate::tokens::scopes::ConnectionsWrite;
use crate::types::Timestamp;

/// How long an authorization may take.
const STATE_LIFETIME: time::Duration = time::Duration::minutes(10);

/// What starting a flow answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedFlow {
    /// Where to send the person: the provider's consent page.
    pub auth_url: String,
    /// The state in that URL (single use).
    pub state: String,
    /// After this the state is refused (10 minutes).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// Starts an authorization for one of the caller's branches.
pub async fn start_flow(
    state: &AppState,
    user_id: Uuid,
    branch: &BranchRecord,
) -> ApiResult<StartedFlow> {
    if !branch.is_active {
        return Err(ApiError::Conflict(
            "The branch is inactive: activate it before connecting it".to_owned(),
        ));
    }
    let client = state
        .store
        .find_oauth_client(user_id, branch.oauth_client_id)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict("The branch's OAuth client no longer exists".to_owned())
        })?;
    let provider = state.connections.presets.resolve(&client)?;
    let state_value = URL_SAFE_NO_PAD.encode(random_bytes());
    let state_hash: [u8; 32] = Sha256::digest(state_value.as_bytes()).into();
    let pkce = Pkce::generate();
    let now = Timestamp::now();
    let record = OAuthStateRecord {
        state_hash: state_hash.to_vec(),
        branch_id: branch.id,
        user_id,
        oauth_client_id: client.id,
        pkce_verifier_sealed: state
            .connections
            .vault
            .seal(Slot::PkceVerifier(state_hash), pkce.verifier.expose()),
        redirect_uri: client.redirect_uri.clone(),
        created_at: now,
        expires_at: now + STATE_LIFETIME,
    };
    state.store.insert_oauth_state(&record).await?;
    let url = authorization_url(
        &provider,
        &client.client_id,
        &client.redirect_uri,
        &state_value,
        &pkce.challenge,
    );
    Ok(StartedFlow {
        auth_url: url.into(),
        state: state_value,
        expires_at: record.expires_at,
    })
}

/// `POST /api/v1/branches/{id}/oauth/start`
#[utoipa::path(post, path = "/api/v1/branches/{id}/oauth/start", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:write"])),
    responses(
        (status = 200, description = "`{auth_url, state, expires_at}`: send the person to auth_url", body = inline(crate::http::openapi::Enveloped<StartedFlow>)),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The branch is inactive or its client is incomplete", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn start(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<StartedFlow>> {
    let branch = super::branches::find(&state, caller.user_id, id).await?;
    Ok(ok(start_flow(&state, caller.user_id, &branch).await?))
}

/// The callback's query (RFC 6749 §4.1.2): `code` and `state`, or `error`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The state from the authorization URL.
    pub state: Option<String>,
    /// The provider's error code, when the person or the provider refused.
    pub error: Option<String>,
    /// The provider's description of the error.
    pub error_description: Option<String>,
    /// If present, the branch (Tessera's id) the caller expects: must be the state's.
    pub branch_id: Option<String>,
    /// If present, must be the redirect URI the flow started with.
    pub redirect_uri: Option<String>,
    /// Extra parameters providers add (`scope`, `authuser`, `prompt`, `iss`, …) are ignored.
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: std::collections::HashMap<String, String>,
}

/// What a completed callback answers (JSON when asked for).
#[derive(Debug, Serialize, ToSchema)]
pub struct Connected {
    /// The branch (Tessera's id).
    pub branch_id: Uuid,
    /// Your identifier of the branch.
    pub branch: String,
    /// `connected`.
    pub status: &'static str,
    /// Scopes the provider granted (people can untick some).
    pub scope: String,
    /// Expiry of the first access token.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// Whether a refresh token came; without one the branch must be re-connected when the access
    /// token expires.
    pub refresh_token_received: bool,
    /// A sentence for people.
    pub message: String,
}

/// `GET /api/v1/oauth/callback?code=…&state=…` (and `/token-management/auth/callback`): the only
/// route without a token; the state authenticates it.
#[utoipa::path(get, path = "/api/v1/oauth/callback", tag = "connections", params(CallbackQuery),
    responses(
        (status = 200, description = "A short page saying the branch is connected, or JSON (`Accept: application/json`)", body = inline(crate::http::openapi::Enveloped<Connected>)),
        (status = 400, description = "Unknown, used or expired state; provider error; mismatched branch or redirect URI", body = crate::http::openapi::ErrorEnvelope),
        (status = 502, description = "The provider failed to exchange the code", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> ApiResult<Response> {
    let connected = complete(&state, query).await?;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return Ok(ok(connected).into_response());
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Connected</title></head>\
         <body><h1>Branch connected</h1><p>{}</p><p>You can close this window.</p></body></html>",
        html_escape(&connected.message)
    );
    Ok(Html(page).into_response())
}

async fn complete(state: &AppState, query: CallbackQuery) -> ApiResult<Connected> {
    let bad = |message: String| Err(ApiError::BadRequest(message));
    let Some(state_value) = query.state.filter(|s| !s.is_empty() && s.len() <= 512) else {
        return bad("The callback has no state: start the authorization again".to_owned());
    };
    let state_hash: [u8; 32] = Sha256::digest(state_value.as_bytes()).into();
    let Some(pending) = state.store.take_oauth_state(&state_hash).await? else {
        return bad(
            "Unknown or already used authorization state: start the authorization again".to_owned(),
        );
    };
    let now = Timestamp::now();
    if pending.expires_at < now {
        return bad("The authorization state has expired (states last 10 minutes): start the authorization again".to_owned());
    }
    if let Some(error) = query.error {
        let description = query
            .error_description
            .map(|d| format!(": {}", echo(&d)))
            .unwrap_or_default();
        return bad(format!(
            "The provider refused the authorization ({}){description}",
            echo(&error)
        ));
    }
    if query
        .branch_id
        .is_some_and(|b| b != pending.branch_id.to_string())
    {
        return bad("This authorization was started for another branch".to_owned());
    }
    if query
        .redirect_uri
        .is_some_and(|r| r != pending.redirect_uri)
    {
        return bad(
            "The redirect URI does not match the one the authorization started with".to_owned(),
        );
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return bad("The callback has no authorization code".to_owned());
    };
    let branch = state
        .store
        .find_branch(pending.user_id, pending.branch_id)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "The branch this authorization was for no longer exists".to_owned(),
            )
        })?;
    let client = state
        .store
        .find_oauth_client(pending.user_id, branch.oauth_client_id)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest("The branch's OAuth client no longer exists".to_owned())
        })?;
    if client.id != pending.oauth_client_id {
        return bad(
            "The branch's OAuth client changed since this authorization started: start it again"
                .to_owned(),
        );
    }
    if client.redirect_uri != pending.redirect_uri {
        return bad("The OAuth client's redirect URI changed since this authorization started: start it again".to_owned());
    }
    let connections = &state.connections;
    let provider = connections.presets.resolve(&client)?;
    let verifier = connections.vault.open(
        Slot::PkceVerifier(state_hash),
        &pending.pkce_verifier_sealed,
    )?;
    let secret = connections
        .vault
        .open(Slot::ClientSecret(client.id), &client.client_secret_sealed)?;
    let credentials = ClientCredentials {
        client_id: &client.client_id,
        client_secret: &secret,
    };
    let tokens = connections
        .http
        .exchange_code(
            &provider,
            &credentials,
            &code,
            &verifier,
            &pending.redirect_uri,
        )
        .await
        .map_err(|error| {
            if error.is_passing() {
                ConnectionError::Provider {
                    doing: "Exchanging the authorization code failed",
                    error,
                }
                .into()
            } else {
                ApiError::BadRequest(format!("Exchanging the authorization code failed: {error}"))
            }
        })?;
    let sealed = connections.seal_tokens(branch.id, &tokens, &provider.scopes.join(" "), now);
    state.store.connect_branch(branch.id, &sealed, now).await?;
    connections.changed();
    let refresh_token_received = tokens.refresh_token.is_some();
    let message = if refresh_token_received || !provider.expects_refresh_token {
        format!("Branch {} is connected.", branch.name)
    } else {
        tracing::warn!(branch_id = %branch.id, "the provider issued no refresh token");
        format!(
            "Branch {} is connected, but the provider issued no refresh token: the connection will stop working when the access token expires. Remove Tessera's access in the provider's account settings and connect again.",
            branch.name
        )
    };
    tracing::info!(branch_id = %branch.id, refresh_token_received, "branch connected");
    Ok(Connected {
        branch_id: branch.id,
        branch: branch.branch_id,
        status: "connected",
        scope: sealed.scope,
        expires_at: sealed.expires_at,
        refresh_token_received,
        message,
    })
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
