//! `/api/v1/service-accounts…` over HTTP. Every handler takes a [`ServiceAccountManager`]: a
//! signed-in admin or manager; anyone else is refused with 403 before the handler runs.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::service::{
    self, CreateServiceAccount, Manager, ServiceAccountError, UpdateServiceAccount,
};
use crate::accounts::AuthUser;
use crate::http::extract::{Json, Path, Query};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, Success};
use crate::state::AppState;
use crate::store::{AuditFilter, ServiceAccountRecord};
use crate::tokens::routes::{CreatedToken, LogsQuery, Revoked, TokenList, TokenLogs};
use crate::tokens::service::{self as tokens, CreateTokenRequest};
use crate::types::{Role, Timestamp};

impl From<ServiceAccountError> for ApiError {
    fn from(error: ServiceAccountError) -> Self {
        match error {
            ServiceAccountError::NotManager => ApiError::Forbidden(error.to_string()),
            ServiceAccountError::Invalid(invalid) => invalid.into(),
            ServiceAccountError::NotFound { .. } => ApiError::NotFound(error.to_string()),
            ServiceAccountError::NameTaken => ApiError::Conflict(error.to_string()),
            ServiceAccountError::Token(error) => error.into(),
            ServiceAccountError::Hashing(error) => {
                crate::accounts::service::AccountError::Hashing(error).into()
            }
            ServiceAccountError::Store(error) => ApiError::from(error),
        }
    }
}

/// A signed-in admin or manager.
#[derive(Debug, Clone, Copy)]
pub struct ServiceAccountManager(pub Manager);

impl FromRequestParts<AppState> for ServiceAccountManager {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        Ok(ServiceAccountManager(Manager::check(
            user.user_id,
            user.role,
        )?))
    }
}

/// The `/api/v1/service-accounts` routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(get_account, update_account, delete_account))
        .routes(routes!(mint_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(token_logs))
}

/// Who made a service account.
#[derive(Debug, Serialize, ToSchema)]
pub struct MakerView {
    id: Uuid,
    username: String,
}

/// A service account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountView {
    id: Uuid,
    name: String,
    description: Option<String>,
    /// What its tokens may reach on the case records.
    role: Role,
    /// `active`, or `disabled` (by an admin: its tokens are refused).
    status: &'static str,
    #[schema(value_type = String)]
    created_at: Timestamp,
    /// Who made it; null once that account is gone.
    created_by: Option<MakerView>,
    /// Tokens neither revoked nor expired.
    live_tokens: i64,
}

impl From<ServiceAccountRecord> for ServiceAccountView {
    fn from(r: ServiceAccountRecord) -> Self {
        ServiceAccountView {
            id: r.id,
            name: r.name,
            description: r.description,
            role: r.role,
            status: if r.disabled_at.is_some() {
                "disabled"
            } else {
                "active"
            },
            created_at: r.created_at,
            created_by: r
                .created_by
                .zip(r.created_by_username)
                .map(|(id, username)| MakerView { id, username }),
            live_tokens: r.live_tokens,
        }
    }
}

/// The list answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountList {
    service_accounts: Vec<ServiceAccountView>,
    total: usize,
}

/// Makes a service account: an account that holds PATs and cannot sign in.
#[utoipa::path(post, path = "/api/v1/service-accounts", tag = "service-accounts", security(("jwt" = [])),
    request_body = CreateServiceAccount,
    responses(
        (status = 201, description = "Made", body = inline(Enveloped<ServiceAccountView>)),
        (status = 403, description = "The caller is neither an admin nor a manager", body = ErrorEnvelope),
        (status = 409, description = "An account with this name exists", body = ErrorEnvelope),
        (status = 422, description = "Invalid name, description or role", body = ErrorEnvelope),
    ))]
pub async fn create_account(
    ServiceAccountManager(by): ServiceAccountManager,
    State(state): State<AppState>,
    Json(body): Json<CreateServiceAccount>,
) -> ApiResult<Success<ServiceAccountView>> {
    let account =
        service::create(&state.store, &state.passwords, by, &body, state.clock.now()).await?;
    Ok(created(account.into()))
}

/// Every service account, by name.
#[utoipa::path(get, path = "/api/v1/service-accounts", tag = "service-accounts", security(("jwt" = [])),
    responses(
        (status = 200, description = "The service accounts", body = inline(Enveloped<ServiceAccountList>)),
        (status = 403, description = "The caller is neither an admin nor a manager", body = ErrorEnvelope),
    ))]
pub async fn list_accounts(
    _by: ServiceAccountManager,
    State(state): State<AppState>,
) -> ApiResult<Success<ServiceAccountList>> {
    let accounts: Vec<ServiceAccountView> = service::list(&state.store, state.clock.now())
        .await?
        .into_iter()
        .map(ServiceAccountView::from)
        .collect();
    Ok(ok(ServiceAccountList {
        total: accounts.len(),
        service_accounts: accounts,
    }))
}

/// One service account.
#[utoipa::path(get, path = "/api/v1/service-accounts/{id}", tag = "service-accounts", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Service account id")),
    responses(
        (status = 200, description = "The service account", body = inline(Enveloped<ServiceAccountView>)),
        (status = 403, description = "The caller is neither an admin nor a manager", body = ErrorEnvelope),
        (status = 404, description = "No such service account", body = ErrorEnvelope),
    ))]
pub async fn get_account(
    _by: ServiceAccountManager,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<ServiceAccountView>> {
    let account = service::get(&state.store, id, state.clock.now()).await?;
    Ok(ok(account.into()))
}

/// Renames a service account or changes its description or role.
#[utoipa::path(patch, path = "/api/v1/service-accounts/{id}", tag = "service-accounts", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Service account id")),
    request_body = UpdateServiceAccount,
    responses(
        (status = 200, description = "Changed", body = inline(Enveloped<ServiceAccountView>)),
        (status = 403, description = "The caller is neither an admin nor a manager", body = ErrorEnvelope),
        (status = 404, description = "No such service account", body = ErrorEnvelope),
        (status = 409, description = "An account with this name exists", body = ErrorEnvelope),
        (status = 422, description = "Invalid name, description or role", body = ErrorEnvelope),
    ))]
pub async fn update_account(
    ServiceAccountManager(by): ServiceAccountManager,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateServiceAccount>,
) -> ApiResult<Success<ServiceAccountView>> {
    let account = service::update(&state.store, by, id, &body, state.clock.now()).await?;
    Ok(ok(account.into()))
}

/// The answer to a deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedView {
    id: Uuid,
    /// Tokens that were live and are revoked now.
    tokens_revoked: u64,
}

/// Deletes a service account: its tokens are revoked at once on every instance.
#[utoipa::path(delete, path = "/api/v1/service-accounts/{id}", tag = "service-accounts", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Service account id")),
    responses(
        (status = 200, description = "Deleted", body = inline(Enveloped<DeletedView>)),
        (status = 403, description = "The caller is neither an admin nor a manager", body = ErrorEnvelope),
        (status = 404, description = "No such service account", body = ErrorEnvelope),
    ))]
pub async fn delete_account(
    ServiceAccountManager(by): ServiceAccountManager,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<DeletedView>> {
    let tokens_revoked =
        service::delete(&state.store, &state.token_cache, by, id, state.clock.now()).await?;
    Ok(ok(DeletedView { id, tokens_revoked }))
}

/// Mints a PAT owned by the service account (the body of `POST /api/v1/tokens`), within its role
/// and the caller's. The secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/service-accounts/{id}/tokens", tag = "service-accounts", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Service account id")),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created; `token` is shown once", body = inline(Enveloped<CreatedToken>)),
        (status = 403, description = "Not an admin or manager, or a scope beyond the service account's role or the caller's (named in the message)", body = ErrorEnvelope),
        (status = 404, description = "No such service account", body = ErrorEnvelope),
        (status = 422, description = "Invalid name, scopes, expiry or allowed_ips", body = ErrorEnvelope),
    ))]
pub async fn mint_token(
    ServiceAccountManager(by): ServiceAccountManager,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<CreateTokenRequest>,
) -> ApiResult<Success<CreatedToken>> {
    let issued = service::mint_token(&state.store, by, id, &body, state.clock.now()).await?;
    Ok(created(CreatedToken::from(issued)))
}

/// The service account's tokens, newest first; each names who minted it (`created_by`).
#[utoipa::path(get, path = "/api/v1/service-accounts/{id}/tokens", tag = "service-accounts", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Service account id")),
    responses(
        (status = 200, description = "Its tokens", body = inline(Enveloped<TokenList>)),
        (status = 403, description = "The caller is neither an admin nor a manager", body = ErrorEnvelope),
        (status = 404, description = "No such service account", body = ErrorEnvelope),
    ))]
pub async fn list_tokens(
    _by: ServiceAccountManager,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<TokenList>> {
    let now = state.clock.now();
    let tokens = service::tokens_of(&state.store, id, now).await?;
    Ok(ok(TokenList::new(tokens, now)))
}

/// Revokes one of the service account's tokens at once (idempotent).
#[utoipa::path(delete, path = "/api/v1/service-accounts/{id}/tokens/{token_id}", tag = "service-accounts", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Service account id"), ("token_id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 200, description = "Revoked (idempotent)", body = inline(Enveloped<Revoked>)),
        (status = 403, description = "The caller is neither an admin nor a manager", body = ErrorEnvelope),
        (status = 404, description = "No such service account or token of it", body = ErrorEnvelope),
    ))]
pub async fn revoke_token(
    _by: ServiceAccountManager,
    State(state): State<AppState>,
    Path((id, token_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Success<Revoked>> {
    let now = state.clock.now();
    service::get(&state.store, id, now).await?;
    let revoked_at = tokens::revoke_token(&state.store, &state.token_cache, id, token_id, now)
        .await
        .map_err(ServiceAccountError::from)?;
    Ok(ok(Revoked {
        id: token_id,
        revoked_at,
    }))
}

/// One of the service account's tokens' audit log, newest first.
#[utoipa::path(get, path = "/api/v1/service-accounts/{id}/tokens/{token_id}/logs", tag = "service-accounts", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Service account id"), ("token_id" = Uuid, Path, description = "Token id"), LogsQuery),
    responses(
        (status = 200, description = "A page of the audit log", body = inline(Enveloped<TokenLogs>)),
        (status = 403, description = "The caller is neither an admin nor a manager", body = ErrorEnvelope),
        (status = 404, description = "No such service account or token of it", body = ErrorEnvelope),
        (status = 422, description = "limit or offset out of range", body = ErrorEnvelope),
    ))]
pub async fn token_logs(
    _by: ServiceAccountManager,
    State(state): State<AppState>,
    Path((id, token_id)): Path<(Uuid, Uuid)>,
    Query(query): Query<LogsQuery>,
) -> ApiResult<Success<TokenLogs>> {
    service::get(&state.store, id, state.clock.now()).await?;
    let (token, page) = tokens::audit_log(
        &state.store,
        id,
        token_id,
        AuditFilter::All,
        query.limit,
        query.offset,
    )
    .await
    .map_err(ServiceAccountError::from)?;
    Ok(ok(TokenLogs::new(token, page)))
}
