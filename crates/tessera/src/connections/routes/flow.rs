//! The handlers of the flow routes: parse the request, call the `Connections` service, render.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use uuid::Uuid;

use crate::auth::Caller;
use crate::connections::flow::{CallbackQuery, Connected, StartedFlow};
use crate::connections::links::ConnectLink;
use crate::http::extract::{JsonOrEmpty, Path, Query};
use crate::http::{accepts, created, ok, ApiResult, Success};
use crate::state::AppState;
use crate::tokens::scopes::ConnectionsWrite;

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

/// `POST /api/v1/branches/{id}/connect-link`: the body is optional.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectLinkRequest {
    /// 1–168, default 72.
    pub expires_in_hours: Option<i64>,
}

/// `POST /api/v1/branches/{id}/connect-link`
#[utoipa::path(post, path = "/api/v1/branches/{id}/connect-link", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:write"])),
    request_body(content = Option<ConnectLinkRequest>, description = "Optional"),
    responses(
        (status = 201, description = "`{url, expires_at}`: send the url to the branch's manager; it opens a consent page without login. Shown once; a newer link ends this one.", body = inline(crate::http::openapi::Enveloped<ConnectLink>)),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The branch is inactive", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "expires_in_hours out of range", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn connect_link(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<ConnectLinkRequest>,
) -> ApiResult<Success<ConnectLink>> {
    let base = crate::http::public_base(state.config.public_url.as_deref(), &headers);
    let link = state
        .connections
        .create_connect_link(
            caller.user_id,
            id,
            body.expires_in_hours,
            &base,
            state.clock.now(),
        )
        .await?;
    Ok(created(link))
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
    if accepts(&headers, "application/json") {
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
