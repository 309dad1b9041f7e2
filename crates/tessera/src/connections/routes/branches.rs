//! The handlers of the branches routes: parse the request, call the `Connections` service, render.

use axum::extract::State;
use uuid::Uuid;

use crate::auth::Caller;
use crate::connections::branches::{BranchBody, BranchFilter, BranchList, BranchView};
use crate::http::extract::{Json, Path, Query};
use crate::http::{created, ok, ApiResult, Success};
use crate::state::AppState;
use crate::tokens::scopes::{ConnectionsRead, ConnectionsWrite};

/// `POST /api/v1/branches`
#[utoipa::path(post, path = "/api/v1/branches", tag = "connections", request_body = BranchBody,
    security(("jwt" = []), ("pat" = ["connections:write"])),
    responses(
        (status = 201, description = "Created", body = inline(crate::http::openapi::Enveloped<BranchView>)),
        (status = 409, description = "branch_id already used", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is missing or invalid (the message names it)", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn create(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    Json(body): Json<BranchBody>,
) -> ApiResult<Success<BranchView>> {
    let record = state
        .connections
        .create_branch(caller.user_id, body)
        .await?;
    Ok(created(record.into()))
}

/// `GET /api/v1/branches?client_id=`
#[utoipa::path(get, path = "/api/v1/branches", tag = "connections", params(BranchFilter),
    security(("jwt" = []), ("pat" = ["connections:read"])),
    responses((status = 200, description = "The caller's branches, oldest first", body = inline(crate::http::openapi::Enveloped<BranchList>))))]
pub async fn list(
    caller: Caller<ConnectionsRead>,
    State(state): State<AppState>,
    Query(filter): Query<BranchFilter>,
) -> ApiResult<Success<BranchList>> {
    let branches: Vec<BranchView> = state
        .connections
        .branches(caller.user_id, filter.client_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(ok(BranchList {
        total: branches.len(),
        branches,
    }))
}

/// `GET /api/v1/branches/{id}`
#[utoipa::path(get, path = "/api/v1/branches/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:read"])),
    responses(
        (status = 200, description = "The branch", body = inline(crate::http::openapi::Enveloped<BranchView>)),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn get_branch(
    caller: Caller<ConnectionsRead>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<BranchView>> {
    Ok(ok(state
        .connections
        .branch(caller.user_id, id)
        .await?
        .into()))
}

/// `GET /api/v1/branches/by-branch-id/{branch_id}`
#[utoipa::path(get, path = "/api/v1/branches/by-branch-id/{branch_id}", tag = "connections",
    params(("branch_id" = String, Path, description = "Your own branch identifier")),
    security(("jwt" = []), ("pat" = ["connections:read"])),
    responses(
        (status = 200, description = "The branch", body = inline(crate::http::openapi::Enveloped<BranchView>)),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn get_by_branch_id(
    caller: Caller<ConnectionsRead>,
    State(state): State<AppState>,
    Path(branch_id): Path<String>,
) -> ApiResult<Success<BranchView>> {
    let branch = state
        .connections
        .branch_named(caller.user_id, &branch_id)
        .await?;
    Ok(ok(branch.into()))
}

/// `PATCH /api/v1/branches/{id}`
#[utoipa::path(patch, path = "/api/v1/branches/{id}", tag = "connections", request_body = BranchBody,
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:write"])),
    responses(
        (status = 200, description = "The updated branch", body = inline(crate::http::openapi::Enveloped<BranchView>)),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "branch_id already used", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn update_branch(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<BranchBody>,
) -> ApiResult<Success<BranchView>> {
    let record = state
        .connections
        .update_branch(caller.user_id, id, body)
        .await?;
    Ok(ok(record.into()))
}

/// `DELETE /api/v1/branches/{id}`: the grant is revoked at the provider first (best effort), then
/// the branch, its connection and pending authorizations are deleted.
#[utoipa::path(delete, path = "/api/v1/branches/{id}", tag = "connections",
    params(("id" = Uuid, Path, description = "Branch id (Tessera's)")),
    security(("jwt" = []), ("pat" = ["connections:write"])),
    responses(
        (status = 200, description = "`{id, deleted: true, revoked_at_provider}`"),
        (status = 404, description = "No such branch", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn delete_branch(
    caller: Caller<ConnectionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<serde_json::Value>> {
    let revoked = state.connections.delete_branch(caller.user_id, id).await?;
    Ok(ok(serde_json::json!({
        "id": id,
        "deleted": true,
        "revoked_at_provider": revoked.revoked,
    })))
}
