//! `/api/v1/tokens`: the owner's management of their personal access tokens (JWT required).
//!
//! A user only ever sees their own tokens: every query is filtered by the caller's id, and another
//! user's token id answers 404, exactly like a missing one, so ids leak nothing.

use axum::extract::State;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::scopes::{Scope, ScopeSet};
use super::{ceiling, format, Token, TokenStatus};
use crate::accounts::AuthUser;
use crate::http::error::echo;
use crate::http::extract::{Json, Path, Query};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, AuthFailure, Success};
use crate::state::AppState;
use crate::store::{AuditEntry, NewToken, Store};
use crate::types::Timestamp;

/// The `/api/v1/tokens` routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(get_token, revoke_token))
        .routes(routes!(regenerate_token))
        .routes(routes!(token_logs))
}

const MAX_NAME_CHARS: usize = 100;
const MAX_LIFETIME_DAYS: i64 = 365;
const DEFAULT_LIFETIME_DAYS: i64 = 90;
const MAX_SCOPES: usize = 50;
const MAX_ALLOWED_IPS: usize = 100;

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// 1–100 characters.
    pub name: String,
    /// At least one scope, e.g. `["workspaces:read", "fcs:analyze"]`.
    pub scopes: Vec<String>,
    /// Lifetime in days, 1–365 (default 90). Give this or `expires_at`.
    pub expires_in_days: Option<i64>,
    /// RFC 3339 expiry within 365 days. Give this or `expires_in_days`.
    pub expires_at: Option<String>,
    /// Optional CIDR blocks (or single addresses) the token may be used from.
    pub allowed_ips: Option<Vec<String>>,
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
    is_revoked: bool,
    status: TokenStatus,
    /// Present only for tokens restricted to some networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_ips: Option<Vec<String>>,
}

impl TokenView {
    fn new(token: Token, now: Timestamp) -> Self {
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

impl CreatedToken {
    fn new(token: Token, secret: String) -> Self {
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

fn allowed_ip_strings(nets: &Option<Vec<IpNet>>) -> Option<Vec<String>> {
    nets.as_ref()
        .map(|nets| nets.iter().map(IpNet::to_string).collect())
}

/// The list answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenView>,
    total: usize,
}

/// The revoke answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    id: Uuid,
    #[schema(value_type = String)]
    revoked_at: Timestamp,
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LogsQuery {
    /// 1–1000, default 50.
    limit: Option<i64>,
    /// 0 or more, default 0.
    offset: Option<i64>,
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

/// A validated creation request.
struct TokenSpec {
    name: String,
    scopes: ScopeSet,
    expires_at: Timestamp,
    allowed_ips: Option<Vec<IpNet>>,
}

fn validate_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "name must be at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

fn validate_scopes(raw: &[String]) -> ApiResult<ScopeSet> {
    if raw.is_empty() {
        return Err(ApiError::invalid("scopes must list at least one scope"));
    }
    if raw.len() > MAX_SCOPES {
        return Err(ApiError::invalid(format!(
            "scopes may list at most {MAX_SCOPES} scopes"
        )));
    }
    ScopeSet::parse(raw).map_err(|unknown| {
        let valid: Vec<String> = Scope::all().map(|s| s.to_string()).collect();
        ApiError::invalid(format!(
            "unknown scope(s): {}; valid scopes are: {}",
            unknown
                .iter()
                .map(|s| echo(s))
                .collect::<Vec<_>>()
                .join(", "),
            valid.join(", ")
        ))
    })
}

fn validate_expiry(days: Option<i64>, at: Option<&str>, now: Timestamp) -> ApiResult<Timestamp> {
    match (days, at) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "give either expires_in_days or expires_at, not both",
        )),
        (days, None) => {
            let days = days.unwrap_or(DEFAULT_LIFETIME_DAYS);
            if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
                return Err(ApiError::invalid(format!(
                    "expires_in_days must be between 1 and {MAX_LIFETIME_DAYS}"
                )));
            }
            Ok(now + Duration::days(days))
        }
        (None, Some(raw)) => {
            let at = Timestamp::parse_rfc3339(raw).ok_or_else(|| {
                ApiError::invalid(
                    "expires_at must be an RFC 3339 time such as 2025-01-15T10:30:00Z",
                )
            })?;
            if at <= now {
                return Err(ApiError::invalid("expires_at must be in the future"));
            }
            if at > now + Duration::days(MAX_LIFETIME_DAYS) {
                return Err(ApiError::invalid(format!(
                    "expires_at must be within {MAX_LIFETIME_DAYS} days"
                )));
            }
            Ok(at)
        }
    }
}

fn validate_allowed_ips(raw: Option<&[String]>) -> ApiResult<Option<Vec<IpNet>>> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() {
        return Err(ApiError::invalid(
            "allowed_ips must not be empty; leave it out to allow any address",
        ));
    }
    if raw.len() > MAX_ALLOWED_IPS {
        return Err(ApiError::invalid(format!(
            "allowed_ips may list at most {MAX_ALLOWED_IPS} entries"
        )));
    }
    raw.iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "allowed_ips: `{}` is not an IP address or CIDR block",
                        echo(entry)
                    ))
                })
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

fn validate(body: &CreateTokenRequest, now: Timestamp) -> ApiResult<TokenSpec> {
    Ok(TokenSpec {
        name: validate_name(&body.name)?,
        scopes: validate_scopes(&body.scopes)?,
        expires_at: validate_expiry(body.expires_in_days, body.expires_at.as_deref(), now)?,
        allowed_ips: validate_allowed_ips(body.allowed_ips.as_deref())?,
    })
}

fn not_found() -> ApiError {
    ApiError::NotFound("Token not found".to_owned())
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
    Ok(created(
        issue_token(&state.store, user.user_id, &body).await?,
    ))
}

/// Validates a request and stores a new token for `user_id`; shared by the API and
/// `tessera tokens create`.
pub async fn issue_token(
    store: &Store,
    user_id: Uuid,
    body: &CreateTokenRequest,
) -> ApiResult<CreatedToken> {
    let now = Timestamp::now();
    let spec = validate(body, now)?;
    let role = store
        .user_role(user_id)
        .await?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    let beyond = ceiling::beyond_role(role, &spec.scopes);
    if !beyond.is_empty() {
        return Err(ApiError::Forbidden(format!(
            "A token cannot do more than its owner: your role ({role}) may not hold {}",
            beyond
                .iter()
                .map(Scope::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let minted = format::generate();
    let scopes_json =
        serde_json::to_string(&spec.scopes.to_strings()).map_err(anyhow::Error::from)?;
    let allowed_json = allowed_ip_strings(&spec.allowed_ips)
        .map(|ips| serde_json::to_string(&ips))
        .transpose()
        .map_err(anyhow::Error::from)?;
    let token = Token {
        id: Uuid::now_v7(),
        user_id,
        name: spec.name,
        prefix: minted.prefix,
        hash: minted.hash.0.to_vec(),
        scopes: spec.scopes,
        allowed_ips: spec.allowed_ips,
        created_at: now,
        expires_at: spec.expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    store
        .insert_token(&NewToken {
            id: token.id,
            user_id: token.user_id,
            name: &token.name,
            token_prefix: &token.prefix,
            token_hash: &token.hash,
            scopes: &scopes_json,
            allowed_ips: allowed_json.as_deref(),
            created_at: token.created_at,
            expires_at: token.expires_at,
        })
        .await?;
    tracing::info!(token_id = %token.id, user_id = %token.user_id, prefix = %token.prefix, "token created");
    Ok(CreatedToken::new(token, minted.secret))
}

/// Lists the caller's tokens, newest first.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("jwt" = [])),
    responses((status = 200, description = "The caller's tokens", body = inline(Enveloped<TokenList>))))]
pub async fn list_tokens(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Success<TokenList>> {
    Ok(ok(token_list(&state.store, user.user_id).await?))
}

/// The user's tokens as the API lists them; shared with `tessera tokens list`.
pub async fn token_list(store: &Store, user_id: Uuid) -> ApiResult<TokenList> {
    let now = Timestamp::now();
    let tokens = store
        .list_tokens(user_id)
        .await?
        .into_iter()
        .map(|row| Token::try_from(row).map(|t| TokenView::new(t, now)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(TokenList {
        total: tokens.len(),
        tokens,
    })
}

async fn owned_token(state: &AppState, user: AuthUser, id: Uuid) -> ApiResult<Token> {
    let row = state
        .store
        .find_token(user.user_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Token::try_from(row)?)
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
    let token = owned_token(&state, user, id).await?;
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
    let revoked_at = state
        .store
        .revoke_token(user.user_id, id, Timestamp::now())
        .await?
        .ok_or_else(not_found)?;
    // Before answering: once the client sees 200, this instance must refuse the token.
    state.token_cache.invalidate();
    tracing::info!(token_id = %id, user_id = %user.user_id, "token revoked");
    Ok(ok(Revoked { id, revoked_at }))
}

/// Gives a token a new secret; the old one stops working at once. The new expiry keeps the
/// token's original lifetime, counted from now. A revoked token cannot be brought back.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/regenerate", tag = "tokens", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 200, description = "New secret, shown once", body = inline(Enveloped<CreatedToken>)),
        (status = 404, description = "No such token of the caller's", body = ErrorEnvelope),
        (status = 409, description = "The token is revoked", body = ErrorEnvelope),
    ))]
pub async fn regenerate_token(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<CreatedToken>> {
    let current = owned_token(&state, user, id).await?;
    if current.revoked_at.is_some() {
        return Err(ApiError::Conflict(
            "Token is revoked; create a new token instead".to_owned(),
        ));
    }
    let lifetime = current.expires_at - current.created_at;
    let minted = format::generate();
    let row = state
        .store
        .replace_token_secret(
            user.user_id,
            id,
            &minted.prefix,
            &minted.hash.0,
            Timestamp::now() + lifetime,
        )
        .await?
        // Revoked between the read and the update.
        .ok_or_else(|| {
            ApiError::Conflict("Token is revoked; create a new token instead".to_owned())
        })?;
    // The old secret is cached under its hash: it must stop working before we answer.
    state.token_cache.invalidate();
    tracing::info!(token_id = %id, user_id = %user.user_id, prefix = %minted.prefix, "token regenerated");
    Ok(ok(CreatedToken::new(Token::try_from(row)?, minted.secret)))
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
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 1000"));
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset must be 0 or more"));
    }
    let token = owned_token(&state, user, id).await?;
    let page = state.store.audit_page(token.id, limit, offset).await?;
    Ok(ok(TokenLogs {
        token_id: token.id,
        token_name: token.name,
        total_logs: page.total,
        logs: page.entries.into_iter().map(LogView::from).collect(),
    }))
}
