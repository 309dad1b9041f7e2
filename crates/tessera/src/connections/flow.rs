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
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::extract::{Path, Query};
use crate::http::{ok, ApiResult, Success};
use crate::state::AppState;
use crate::tokens::scopes::ConnectionsWrite;
use crate::types::Timestamp;

/// How long an authorization may take.
pub const STATE_LIFETIME: time::Duration = time::Duration::minutes(10);

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
    let connections = &state.connections;
    let branch = connections.branch(caller.user_id, id).await?;
    Ok(ok(connections
        .start_authorization(caller.user_id, &branch)
        .await?))
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
    let connected = state.connections.complete_authorization(query).await?;
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

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
