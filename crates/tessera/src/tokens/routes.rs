//! `/api/v1/tokens`: the owner's management of their personal access tokens over HTTP (JWT
//! required). Each handler reads the request, calls [`super::service`] and renders the answer;
//! [`TokenError`] becomes a status here, in one place.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::AnyPat;
use super::service::{
    self, allowed_ip_strings, CreateTokenRequest, IssuedToken, PresentedSecret, RenewTokenRequest,
    TokenError,
};
use super::{Token, TokenStatus};
use crate::accounts::AuthUser;
use crate::http::extract::{Json, JsonOrEmpty, Path, Query};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, AuthFailure, Success};
use crate::state::AppState;
use crate::store::{AccountKind, AuditEntry, AuditFilter};
use crate::types::Timestamp;

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Invalid(invalid) => invalid.into(),
            TokenError::BeyondRole { .. } | TokenError::BeyondAccountRole { .. } => {
                ApiError::Forbidden(error.to_string())
            }
            // A JWT whose account is gone is as good as no JWT.
            TokenError::OwnerGone { .. } => ApiError::Unauthorized(AuthFailure::InvalidToken),
            TokenError::NotFound { .. } => ApiError::NotFound(error.to_string()),
            TokenError::Revoked { .. } => ApiError::Conflict(error.to_string()),
            TokenError::Store(error) => ApiError::from(error),
            TokenError::Corrupt(error) => ApiError::Internal(error),
        }
    }
}

/// The `/api/v1/tokens` routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(token_self))
        .routes(routes!(rotate_self))
        .routes(routes!(get_token, revoke_token))
        .routes(routes!(regenerate_token))
        .routes(routes!(token_logs))
}

/// A token as listed (never the secret or its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    id: Uuid,
    name: String,
    token_prefix: String,
    scopes: Vec<String>,
    #[schema(value_type = String)]
    created_at: Timestamp,
    #[schema(value_type = String)]
    expires_at: Timestamp,
    #[schema(value_type = Option<String>)]
    last_used_at: Option<Timestamp>,
    /// The client address of the last authorized use.
    last_used_ip: Option<String>,
    is_revoked: bool,
    status: TokenStatus,
    /// Present only for tokens restricted to some networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_ips: Option<Vec<String>>,
    /// Present only for a token minted by someone other than its owner (a service account's):
    /// who minted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<Uuid>,
}

impl TokenView {
    pub fn new(token: Token, now: Timestamp) -> Self {
        TokenView {
            status: token.status(now),
            is_revoked: token.revoked_at.is_some(),
            id: token.id,
            scopes: token.scopes.to_strings(),
            allowed_ips: allowed_ip_strings(&token.allowed_ips),
            name: token.name,
            token_prefix: token.prefix,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
            last_used_ip: token.last_used_ip,
            created_by: token.created_by,
        }
    }
}

/// A token with its secret: answered once, by create and regenerate.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    id: Uuid,
    name: String,
    /// The full token. It is not stored and cannot be shown again.
    token: String,
    token_prefix: String,
    scopes: Vec<String>,
    #[schema(value_type = String)]
    created_at: Timestamp,
    #[schema(value_type = String)]
    expires_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_ips: Option<Vec<String>>,
}

impl From<IssuedToken> for CreatedToken {
    fn from(IssuedToken { token, secret }: IssuedToken) -> Self {
        CreatedToken {
            id: token.id,
            scopes: token.scopes.to_strings(),
            allowed_ips: allowed_ip_strings(&token.allowed_ips),
            name: token.name,
            token: secret,
            token_prefix: token.prefix,
            created_at: token.created_at,
            expires_at: token.expires_at,
        }
    }
}

/// The list answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenView>,
    total: usize,
}

impl TokenList {
    /// `tokens` as the API lists them, with their status at `now`.
    pub fn new(tokens: Vec<Token>, now: Timestamp) -> Self {
        let tokens: Vec<TokenView> = tokens.into_iter().map(|t| TokenView::new(t, now)).collect();
        TokenList {
            total: tokens.len(),
            tokens,
        }
    }
}

/// The revoke answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub id: Uuid,
    #[schema(value_type = String)]
    pub revoked_at: Timestamp,
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LogsQuery {
    /// 1–1000, default 50.
    pub limit: Option<i64>,
    /// 0 or more, default 0.
    pub offset: Option<i64>,
}

/// One audit entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogView {
    #[schema(value_type = String)]
    timestamp: Timestamp,
    ip: String,
    method: String,
    endpoint: String,
    status_code: i32,
    authorized: bool,
    reason: Option<String>,
}

impl From<AuditEntry> for LogView {
    fn from(e: AuditEntry) -> Self {
        LogView {
            timestamp: e.occurred_at,
            ip: e.ip,
            method: e.method,
            endpoint: e.endpoint,
            status_code: e.status_code,
            authorized: e.authorized,
            reason: e.reason,
        }
    }
}

/// The logs answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenLogs {
    token_id: Uuid,
    token_name: String,
    total_logs: i64,
    logs: Vec<LogView>,
}

impl TokenLogs {
    /// A page of `token`'s log.
    pub fn new(token: Token, page: crate::store::AuditPage) -> Self {
        TokenLogs {
            token_id: token.id,
            token_name: token.name,
            total_logs: page.total,
            logs: page.entries.into_iter().map(LogView::from).collect(),
        }
    }
}

/// Mints a token. The secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenRequest,
    security(("jwt" = [])),
    responses(
        (status = 201, description = "Created; `token` is shown once", body = inline(Enveloped<CreatedToken>)),
        (status = 401, description = "Missing, invalid or expired JWT", body = ErrorEnvelope),
        (status = 403, description = "A scope beyond what the caller's role may hold (named in the message)", body = ErrorEnvelope),
        (status = 422, description = "Invalid name, scopes, expiry or allowed_ips", body = ErrorEnvelope),
    ))]
pub async fn create_token(
    user: AuthUser,
    State(state): State<AppState>,
    Json(body): Json<CreateTokenRequest>,
) -> ApiResult<Success<CreatedToken>> {
    let issued = service::issue_token(&state.store, user.user_id, &body, state.clock.now()).await?;
    Ok(created(CreatedToken::from(issued)))
}

/// Lists the caller's tokens, newest first.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("jwt" = [])),
    responses((status = 200, description = "The caller's tokens", body = inline(Enveloped<TokenList>))))]
pub async fn list_tokens(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Success<TokenList>> {
    let tokens = service::list_tokens(&state.store, user.user_id).await?;
    Ok(ok(TokenList::new(tokens, Timestamp::now())))
}

/// Who a token belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOwner {
    id: Uuid,
    username: String,
    /// `user` (a person's account) or `service` (a service account).
    kind: OwnerKind,
}

/// What kind of account owns a token.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    /// A person's account.
    User,
    /// A service account.
    Service,
}

impl From<AccountKind> for OwnerKind {
    fn from(kind: AccountKind) -> Self {
        match kind {
            AccountKind::Person => OwnerKind::User,
            AccountKind::Service => OwnerKind::Service,
        }
    }
}

/// A token as it sees itself: what a script holding only its token needs to know.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenSelf {
    id: Uuid,
    name: String,
    scopes: Vec<String>,
    #[schema(value_type = String)]
    created_at: Timestamp,
    #[schema(value_type = String)]
    expires_at: Timestamp,
    #[schema(value_type = Option<String>)]
    last_used_at: Option<Timestamp>,
    /// The client address of the last authorized use.
    last_used_ip: Option<String>,
    /// `null` when the token works from any network.
    allowed_ips: Option<Vec<String>>,
    owner: TokenOwner,
}

/// The token presenting this request: its scopes, expiry and owner. Any token may ask, whatever
/// its scopes (GitLab's `personal_access_tokens/self`).
#[utoipa::path(get, path = "/api/v1/tokens/self", tag = "tokens", security(("pat" = [])),
    responses(
        (status = 200, description = "The token presented", body = inline(Enveloped<TokenSelf>)),
        (status = 401, description = "Missing, invalid, revoked or expired token", body = ErrorEnvelope),
        (status = 403, description = "IP not allowed", body = ErrorEnvelope),
    ))]
pub async fn token_self(
    AnyPat { token, .. }: AnyPat,
    State(state): State<AppState>,
) -> ApiResult<Success<TokenSelf>> {
    // The stored row, not the cached one: `last_used_at` moves on without invalidating it.
    let token = service::owned_token(&state.store, token.user_id, token.id).await?;
    let owner = state
        .store
        .find_user(token.user_id)
        .await?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    Ok(ok(TokenSelf {
        id: token.id,
        scopes: token.scopes.to_strings(),
        allowed_ips: allowed_ip_strings(&token.allowed_ips),
        name: token.name,
        created_at: token.created_at,
        expires_at: token.expires_at,
        last_used_at: token.last_used_at,
        last_used_ip: token.last_used_ip,
        owner: TokenOwner {
            id: owner.id,
            username: owner.username,
            kind: owner.kind.into(),
        },
    }))
}

/// One of the caller's tokens.
#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = "tokens", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 200, description = "The token", body = inline(Enveloped<TokenView>)),
        (status = 404, description = "No such token of the caller's", body = ErrorEnvelope),
    ))]
pub async fn get_token(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<TokenView>> {
    let token = service::owned_token(&state.store, user.user_id, id).await?;
    Ok(ok(TokenView::new(token, Timestamp::now())))
}

/// Revokes a token at once; revoking again answers the first `revoked_at`.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 200, description = "Revoked (idempotent)", body = inline(Enveloped<Revoked>)),
        (status = 404, description = "No such token of the caller's", body = ErrorEnvelope),
    ))]
pub async fn revoke_token(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<Revoked>> {
    let revoked_at = service::revoke_token(
        &state.store,
        &state.token_cache,
        user.user_id,
        id,
        state.clock.now(),
    )
    .await?;
    Ok(ok(Revoked { id, revoked_at }))
}

/// Gives a token a new secret. The old one stops working at once, or after `grace_seconds`
/// (up to a day), during which its uses are audited as `previous secret (grace)`. The new expiry
/// is `expires_in_days` from now, or the token's original lifetime counted from now. A revoked
/// token cannot be brought back, nor one holding scopes beyond the caller's role now.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/regenerate", tag = "tokens", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    request_body(content = Option<RenewTokenRequest>, description = "Optional"),
    responses(
        (status = 200, description = "New secret, shown once", body = inline(Enveloped<CreatedToken>)),
        (status = 403, description = "The token holds a scope beyond what the caller's role may hold now (named in the message): revoke it and create one within the role", body = ErrorEnvelope),
        (status = 404, description = "No such token of the caller's", body = ErrorEnvelope),
        (status = 409, description = "The token is revoked", body = ErrorEnvelope),
        (status = 422, description = "grace_seconds or expires_in_days out of range", body = ErrorEnvelope),
    ))]
pub async fn regenerate_token(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<RenewTokenRequest>,
) -> ApiResult<Success<CreatedToken>> {
    let issued = service::regenerate_token(
        &state.store,
        &state.token_cache,
        user.user_id,
        id,
        &body,
        state.clock.now(),
    )
    .await?;
    Ok(ok(CreatedToken::from(issued)))
}

/// The token presenting this request gives itself a new secret, so an instrument renews itself
/// before it expires (GitLab's self-rotate). As `regenerate`: the same token, scopes and
/// networks; `grace_seconds` keeps the presented secret working a while. Only the current secret
/// may rotate: one still in its grace has already been replaced.
#[utoipa::path(post, path = "/api/v1/tokens/self/rotate", tag = "tokens", security(("pat" = [])),
    request_body(content = Option<RenewTokenRequest>, description = "Optional"),
    responses(
        (status = 200, description = "New secret, shown once", body = inline(Enveloped<CreatedToken>)),
        (status = 401, description = "Missing, invalid, revoked or expired token", body = ErrorEnvelope),
        (status = 403, description = "IP not allowed, or the token holds a scope beyond its owner's role now", body = ErrorEnvelope),
        (status = 409, description = "The presented secret was already replaced", body = ErrorEnvelope),
        (status = 422, description = "grace_seconds or expires_in_days out of range", body = ErrorEnvelope),
    ))]
pub async fn rotate_self(
    AnyPat { token, secret }: AnyPat,
    State(state): State<AppState>,
    JsonOrEmpty(body): JsonOrEmpty<RenewTokenRequest>,
) -> ApiResult<Success<CreatedToken>> {
    if secret != PresentedSecret::Current {
        return Err(ApiError::Conflict(
            "This secret was already replaced; rotate with the token's current secret".to_owned(),
        ));
    }
    let issued = service::regenerate_token(
        &state.store,
        &state.token_cache,
        token.user_id,
        token.id,
        &body,
        state.clock.now(),
    )
    .await?;
    Ok(ok(CreatedToken::from(issued)))
}

/// The token's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/tokens/{id}/logs", tag = "tokens", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Token id"), LogsQuery),
    responses(
        (status = 200, description = "A page of the audit log", body = inline(Enveloped<TokenLogs>)),
        (status = 404, description = "No such token of the caller's", body = ErrorEnvelope),
        (status = 422, description = "limit or offset out of range", body = ErrorEnvelope),
    ))]
pub async fn token_logs(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<LogsQuery>,
) -> ApiResult<Success<TokenLogs>> {
    let (token, page) = service::audit_log(
        &state.store,
        user.user_id,
        id,
        AuditFilter::All,
        query.limit,
        query.offset,
    )
    .await?;
    Ok(ok(TokenLogs::new(token, page)))
}
