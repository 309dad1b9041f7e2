//! The handlers of the `/token-management/*` routes: parse the request, call the
//! `Connections` service, render the old shapes.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::Caller;
use crate::connections::compat::{CompatClientBody, CompatRefreshBody};
use crate::connections::service::AccessToken;
use crate::http::extract::{Json, Path};
use crate::http::ApiResult;
use crate::state::AppState;
use crate::tokens::scopes::{ConnectionsAdmin, ConnectionsRead, ConnectionsWrite};

/// `POST /token-management/clients`: creates a Google OAuth client (or reuses the caller's client
/// with the same client id and redirect URI) and its branch.
#[utoipa::path(post, path = "/token-management/clients", tag = "connections", request_body = CompatClientBody,
    security(("jwt" = []), ("pat" = ["connections:admin"])),
    responses(
        (status = 201, description = "`{success, message, client_id, branch_id, id}`"),
        (status = 409, description = "branch_id taken, or the client id is registered with another redirect URI", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn create_client_and_branch(
    caller: Caller<ConnectionsAdmin>,
    State(state): State<AppState>,
    Json(body): Json<CompatClientBody>,
) -> ApiResult<Response> {
    let (client, branch) = state
        .connections
        .register_client_and_branch(caller.user_id, body)
        .await?;
    let answer = json!({
        "success": true,
        "message": "OAuth client and branch created",
        "client_id": client.client_id,
        "branch_id": branch.branch_id,
        "id": branch.id,
    });
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// `GET /token-management/oauth/login/{client_id}`: 302 to the provider's consent page.
#[utoipa::path(get, path = "/token-management/oauth/login/{client_id}", tag = "connections",
    params(("client_id" = String, Path, description = "Google client id")),
    security(("jwt" = []), ("pat" = ["connections:write"])),
    responses(
        (status = 302, description = "To the provider (Location)"),
        (status = 404, description = "No such client id", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Several branches use it", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn login(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    let connections = &state.connections;
    let (_, branch) = connections
        .branch_of_client_id(caller.user_id, &client_id)
        .await?;
    let flow = connections
        .start_authorization(caller.user_id, &branch)
        .await?;
    Ok((StatusCode::FOUND, [(header::LOCATION, flow.auth_url)]).into_response())
}

fn token_answer(message: &str, client_id: &str, branch_id: &str, token: AccessToken) -> Response {
    axum::Json(json!({
        "success": true,
        "message": message,
        "client_id": client_id,
        "branch_id": branch_id,
        "access_token": token.access_token.expose(),
        "expires_at": token.expires_at,
        "token_type": token.token_type,
    }))
    .into_response()
}

/// `POST /token-management/tokens/refresh`: forces a refresh of the client id's branch.
#[utoipa::path(post, path = "/token-management/tokens/refresh", tag = "connections", request_body = CompatRefreshBody,
    security(("jwt" = []), ("pat" = ["connections:write"])),
    responses(
        (status = 200, description = "`{success, message, client_id, branch_id, access_token, expires_at, token_type}`"),
        (status = 404, description = "No such client id", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not connected or the grant is dead", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn refresh(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    Json(body): Json<CompatRefreshBody>,
) -> ApiResult<Response> {
    let (client, branch) = state
        .connections
        .branch_of_client_id(caller.user_id, &body.client_id)
        .await?;
    let token = state
        .connections
        .force_refresh(caller.user_id, branch.id)
        .await?;
    Ok(token_answer(
        "Token refreshed",
        &client.client_id,
        &branch.branch_id,
        token,
    ))
}

/// `GET /token-management/tokens/{branch_id}`: a valid token for your branch id.
#[utoipa::path(get, path = "/token-management/tokens/{branch_id}", tag = "connections",
    params(("branch_id" = String, Path, description = "Your branch identifier")),
    security(("jwt" = []), ("pat" = ["connections:read"])),
    responses(
        (status = 200, description = "`{success, message, client_id, branch_id, access_token, expires_at, token_type}`"),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not connected or the grant is dead", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn token(
    caller: Caller<ConnectionsRead>,
    State(state): State<AppState>,
    Path(branch_id): Path<String>,
) -> ApiResult<Response> {
    let connections = &state.connections;
    let branch = connections.branch_named(caller.user_id, &branch_id).await?;
    let client = connections.client_of(caller.user_id, &branch).await?;
    let token = state
        .connections
        .access_token(caller.user_id, branch.id)
        .await?;
    Ok(token_answer(
        "Token is valid",
        &client.client_id,
        &branch.branch_id,
        token,
    ))
}
