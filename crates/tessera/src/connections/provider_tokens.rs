//! A branch's token and connection: get (refreshed when needed), validate, force a refresh, show
//! the connection's state, disconnect. The access token is the only secret these routes answer,
//! and only on the token routes; the refresh token never leaves the vault.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::service::AccessToken;
use crate::auth::Caller;
use crate::http::extract::Path;
use crate::http::{ok, ApiError, ApiResult, Success};
use crate::state::AppState;
use crate::store::ConnectionRecord;
use crate::tokens::scopes::{ConnectionsRead, ConnectionsWrite};
use crate::types::Timestamp;

/// A branch's access token as the token routes answer it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// The access token, to send to the provider's API.
    pub access_token: String,
    /// Usually `Bearer`.
    pub token_type: String,
    /// When it expires (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// Granted scopes (space-separated), as the provider reported them.
    pub scope: String,
}

impl From<AccessToken> for TokenView {
    fn from(token: AccessToken) -> Self {
        TokenView {
            access_token: token.access_token.expose().to_owned(),
            token_type: token.token_type,
            expires_at: token.expires_at,
            scope: token.scope,
        }
    }
}

/// `GET /api/v1/branches/{id}/token`
#[utoipa::path(get, path = "/api/v1/branches/{id}/token", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:read"])),
    responses(
        (status = 200, description = "A token valid for longer than the refresh buffer", body = inline(crate::http::openapi::Enveloped<TokenView>)),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not connected, inactive, or the grant is dead (re-connect)", body = crate::http::openapi::ErrorEnvelope),
        (status = 502, description = "The provider failed and the stored token has expired", body = crate::http::openapi::ErrorEnvelope),
        (status = 504, description = "The provider did not answer and the stored token has expired", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn get_token(
    caller: Caller<ConnectionsRead>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<TokenView>> {
    let token = state.connections.access_token(caller.user_id, id).await?;
    Ok(ok(token.into()))
}

/// `GET /api/v1/branches/{id}/token/validate`: always 200 for a branch of the caller's, with
/// `is_valid` and a message saying what to do when it is false (the earlier service's shape).
#[utoipa::path(get, path = "/api/v1/branches/{id}/token/validate", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:read"])),
    responses(
        (status = 200, description = "`{is_valid: true, access_token, expires_at, message}` or `{is_valid: false, message}`"),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn validate_token(
    caller: Caller<ConnectionsRead>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let body = match state.connections.access_token(caller.user_id, id).await {
        Ok(token) => json!({
            "is_valid": true,
            "access_token": token.access_token.expose(),
            "expires_at": token.expires_at,
            "message": "Token is valid",
        }),
        // Only a refusal about the grant is an answer; a missing branch and our own faults stay
        // errors.
        Err(error) => match ApiError::from(error) {
            error @ (ApiError::NotFound(_) | ApiError::Internal(_) | ApiError::Unavailable(_)) => {
                return Err(error)
            }
            other => json!({"is_valid": false, "message": other.to_string()}),
        },
    };
    Ok(axum::Json(body).into_response())
}

/// `POST /api/v1/branches/{id}/token/refresh`: refreshes now (a refresh already made by a
/// concurrent request counts), subject to the 30 s pause after a failure.
#[utoipa::path(post, path = "/api/v1/branches/{id}/token/refresh", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:write"])),
    responses(
        (status = 200, description = "The refreshed token", body = inline(crate::http::openapi::Enveloped<TokenView>)),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not connected, or the grant is dead", body = crate::http::openapi::ErrorEnvelope),
        (status = 502, description = "The provider failed", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn refresh_token(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<TokenView>> {
    let token = state.connections.force_refresh(caller.user_id, id).await?;
    Ok(ok(token.into()))
}

/// A connection's state, without secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// The branch (Tessera's id).
    pub branch_id: Uuid,
    /// `not_connected`, `active`, `needs_reauth` or `revoked`.
    pub status: String,
    /// Whether the stored access token has expired.
    pub is_expired: Option<bool>,
    /// Whether a refresh token is held.
    pub has_refresh_token: Option<bool>,
    pub token_type: Option<String>,
    /// Granted scopes.
    pub scope: Option<String>,
    /// When the access token expires.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// When the authorization completed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub connected_at: Option<Timestamp>,
    /// Last successful refresh.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_refresh_at: Option<Timestamp>,
    /// Last refresh attempt.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<Timestamp>,
    /// No provider call before this (after a failure).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    /// Last time a consumer fetched the token (to within an hour).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// The last refresh error.
    pub last_error: Option<String>,
    /// Failed refreshes since the last success.
    pub consecutive_failures: Option<i32>,
    /// Successful refreshes since connecting.
    pub refresh_count: Option<i32>,
}

impl ConnectionView {
    fn of(branch_id: Uuid, connection: Option<ConnectionRecord>) -> ConnectionView {
        let now = Timestamp::now();
        let c = connection.as_ref();
        ConnectionView {
            branch_id,
            status: c.map_or("not_connected", |c| c.status.as_str()).to_owned(),
            is_expired: c.map(|c| c.expires_at <= now),
            has_refresh_token: c.map(|c| c.refresh_token_sealed.is_some()),
            token_type: c.map(|c| c.token_type.clone()),
            scope: c.map(|c| c.scope.clone()),
            expires_at: c.map(|c| c.expires_at),
            connected_at: c.map(|c| c.connected_at),
            last_refresh_at: c.and_then(|c| c.last_refresh_at),
            last_attempt_at: c.and_then(|c| c.last_attempt_at),
            next_attempt_at: c.and_then(|c| c.next_attempt_at),
            last_used_at: c.and_then(|c| c.last_used_at),
            last_error: c.and_then(|c| c.last_error.clone()),
            consecutive_failures: c.map(|c| c.consecutive_failures),
            refresh_count: c.map(|c| c.refresh_count),
        }
    }
}

/// `GET /api/v1/branches/{id}/connection`
#[utoipa::path(get, path = "/api/v1/branches/{id}/connection", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:read"])),
    responses(
        (status = 200, description = "The connection's state (no secrets)", body = inline(crate::http::openapi::Enveloped<ConnectionView>)),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn get_connection(
    caller: Caller<ConnectionsRead>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<ConnectionView>> {
    let connection = state.connections.connection(caller.user_id, id).await?;
    Ok(ok(ConnectionView::of(id, connection)))
}

/// `DELETE /api/v1/branches/{id}/connection`: revokes the grant at the provider (RFC 7009) and
/// deletes it here. The grant is deleted here even if the provider fails; the answer says whether
/// the provider confirmed.
#[utoipa::path(delete, path = "/api/v1/branches/{id}/connection", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:write"])),
    responses(
        (status = 200, description = "`{branch_id, disconnected, revoked_at_provider, provider_error}`"),
        (status = 404, description = "No such branch, or it has no connection", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn disconnect(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<serde_json::Value>> {
    let revocation = state.connections.disconnect(caller.user_id, id).await?;
    Ok(ok(json!({
        "branch_id": id,
        "disconnected": true,
        "revoked_at_provider": revocation.revoked,
        "provider_error": revocation.error,
    })))
}
