//! The handlers of the branch token and connection routes: parse the request, call the
//! `Connections` service, render. The access token is the only secret these answer.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::connections::provider_tokens::{ConnectionView, TokenView};
use crate::http::extract::Path;
use crate::http::{ok, ApiError, ApiResult, Success};
use crate::state::AppState;
use crate::tokens::scopes::{ConnectionsRead, ConnectionsWrite};

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
