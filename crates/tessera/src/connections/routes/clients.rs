//! The handlers of the clients routes: parse the request, call the `Connections` service, render.

use axum::extract::State;
use uuid::Uuid;

use crate::auth::Caller;
use crate::connections::clients::{OAuthClientBody, OAuthClientList, OAuthClientView};
use crate::http::extract::{Json, Path};
use crate::http::{created, ok, ApiResult, Success};
use crate::state::AppState;
use crate::tokens::scopes::ConnectionsAdmin;

/// `POST /api/v1/oauth-clients`
#[utoipa::path(post, path = "/api/v1/oauth-clients", tag = "connections", request_body = OAuthClientBody,
    security(("jwt" = []), ("pat" = ["connections:admin"])),
    responses(
        (status = 201, description = "Created (the secret is not answered)", body = inline(crate::http::openapi::Enveloped<OAuthClientView>)),
        (status = 409, description = "client_id already registered", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is missing or invalid (the message names it)", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn create(
    caller: Caller<ConnectionsAdmin>,
    State(state): State<AppState>,
    Json(body): Json<OAuthClientBody>,
) -> ApiResult<Success<OAuthClientView>> {
    let record = state
        .connections
        .create_client(caller.user_id, body)
        .await?;
    Ok(created(record.into()))
}

/// `GET /api/v1/oauth-clients`
#[utoipa::path(get, path = "/api/v1/oauth-clients", tag = "connections",
    security(("jwt" = []), ("pat" = ["connections:admin"])),
    responses((status = 200, description = "The caller's OAuth clients, oldest first", body = inline(crate::http::openapi::Enveloped<OAuthClientList>))))]
pub async fn list(
    caller: Caller<ConnectionsAdmin>,
    State(state): State<AppState>,
) -> ApiResult<Success<OAuthClientList>> {
    let clients: Vec<OAuthClientView> = state
        .connections
        .clients(caller.user_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(ok(OAuthClientList {
        total: clients.len(),
        clients,
    }))
}

/// `GET /api/v1/oauth-clients/{id}`
#[utoipa::path(get, path = "/api/v1/oauth-clients/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "OAuth client id")),
    security(("jwt" = []), ("pat" = ["connections:admin"])),
    responses(
        (status = 200, description = "The client", body = inline(crate::http::openapi::Enveloped<OAuthClientView>)),
        (status = 404, description = "No such client", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn get_client(
    caller: Caller<ConnectionsAdmin>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<OAuthClientView>> {
    Ok(ok(state
        .connections
        .client(caller.user_id, id)
        .await?
        .into()))
}

/// `PATCH /api/v1/oauth-clients/{id}`: a new `client_secret` replaces the sealed one.
#[utoipa::path(patch, path = "/api/v1/oauth-clients/{id}", tag = "connections", request_body = OAuthClientBody,
    params(("id" = Uuid, Path, description = "OAuth client id")),
    security(("jwt" = []), ("pat" = ["connections:admin"])),
    responses(
        (status = 200, description = "The updated client", body = inline(crate::http::openapi::Enveloped<OAuthClientView>)),
        (status = 404, description = "No such client", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`client_id` is already registered (one OAuth client per client_id)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn update_client(
    caller: Caller<ConnectionsAdmin>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<OAuthClientBody>,
) -> ApiResult<Success<OAuthClientView>> {
    let record = state
        .connections
        .update_client(caller.user_id, id, body)
        .await?;
    Ok(ok(record.into()))
}

/// `DELETE /api/v1/oauth-clients/{id}`: refused (409) while branches use the client.
#[utoipa::path(delete, path = "/api/v1/oauth-clients/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "OAuth client id")),
    security(("jwt" = []), ("pat" = ["connections:admin"])),
    responses(
        (status = 200, description = "`{id, deleted: true}`"),
        (status = 404, description = "No such client", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Branches still use it", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn delete_client(
    caller: Caller<ConnectionsAdmin>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<serde_json::Value>> {
    state.connections.delete_client(caller.user_id, id).await?;
    Ok(ok(serde_json::json!({"id": id, "deleted": true})))
}
