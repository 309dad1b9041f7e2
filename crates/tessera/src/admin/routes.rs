//! `/api/v1/admin/…` over HTTP. Every handler takes an [`AdminUser`]: a signed-in person (JWT)
//! whose role is `admin` now; anyone else is refused with 403 before the handler runs. PATs are
//! not accepted: no scope reaches administration. (One route here is not an admin's:
//! `/api/v1/auth/security-events`, a person's own events, over the same listing.)

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::service::{
    self, AdminError, Administrator, EventPage, EventQuery, InviteRequest, ResetLinkRequest,
    TokenQuery, UserQuery,
};
use crate::accounts::AuthUser;
use crate::http::extract::{Json, JsonOrEmpty, Path, Query};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, Success};
use crate::state::AppState;
use crate::store::{
    AccountOrigin, AccountStatus, AdminAccountRecord, SecurityEventKind, SecurityEventRecord,
};
use crate::tokens::routes::TokenView;
use crate::types::{Role, Timestamp};

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Invalid(invalid) => invalid.into(),
            AdminError::UserNotFound { .. } | AdminError::TokenNotFound { .. } => {
                ApiError::NotFound(error.to_string())
            }
            AdminError::Corrupt(error) => ApiError::Internal(error),
            AdminError::OwnAccount
            | AdminError::LastAdmin
            | AdminError::Disabled
            | AdminError::NotAPerson
            | AdminError::EmailTaken => ApiError::Conflict(error.to_string()),
            AdminError::Store(error) => ApiError::from(error),
        }
    }
}

/// A signed-in admin.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl AdminUser {
    /// The admin as the service records them.
    pub fn administrator(self) -> Administrator {
        Administrator::Admin(self.0.user_id)
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::Forbidden("Admins only".to_owned()));
        }
        Ok(AdminUser(user))
    }
}

/// The `/api/v1/admin` routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(unlock_user))
        .routes(routes!(reset_link))
        .routes(routes!(invite))
        .routes(routes!(token_inventory))
        .routes(routes!(revoke_token))
        .routes(routes!(security_events))
        .routes(routes!(own_security_events))
}

/// The links' base (see [`crate::http::public_base`]).
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    crate::http::public_base(state.config.public_url.as_deref(), headers)
}

/// A one-time link, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    /// The link to hand to the person; it works once.
    url: String,
    #[schema(value_type = String)]
    expires_at: Timestamp,
}

/// A one-time link whose page sets a new password for the account and ends its sessions — for
/// a clinic with no mail server: hand the link over in person. Stored as a hash; a newer link
/// ends this one.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/reset-link", tag = "admin", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body(content = Option<ResetLinkRequest>, description = "Optional"),
    responses(
        (status = 201, description = "The link, shown once", body = inline(Enveloped<LinkView>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such account", body = ErrorEnvelope),
        (status = 409, description = "The account is disabled", body = ErrorEnvelope),
        (status = 422, description = "expires_in_minutes out of 5–1440", body = ErrorEnvelope),
    ))]
pub async fn reset_link(
    admin: AdminUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<ResetLinkRequest>,
) -> ApiResult<Success<LinkView>> {
    let link = service::create_reset_link(
        &state.store,
        admin.administrator(),
        id,
        &body,
        state.clock.now(),
    )
    .await?;
    Ok(created(LinkView {
        url: service::link_url(
            &public_base(&state, &headers),
            service::RESET_PAGE,
            &link.secret,
        ),
        expires_at: link.expires_at,
    }))
}

/// An invitation, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    /// The link to hand to the person; it works once.
    url: String,
    #[schema(value_type = String)]
    expires_at: Timestamp,
    email: String,
    role: Role,
}

/// A one-time link whose page creates an account with this email and role (the invitee picks
/// the username and password). With `REGISTRATION=invite` it is the only way in besides the
/// CLI. A newer invitation to the same email ends this one.
#[utoipa::path(post, path = "/api/v1/admin/invites", tag = "admin", security(("jwt" = [])),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "The invitation, shown once", body = inline(Enveloped<InviteView>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 409, description = "An account with this email exists", body = ErrorEnvelope),
        (status = 422, description = "Invalid email, unknown role, expires_in_minutes out of 5–20160", body = ErrorEnvelope),
    ))]
pub async fn invite(
    admin: AdminUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<InviteRequest>,
) -> ApiResult<Success<InviteView>> {
    let (link, email, role) = service::create_invite(
        &state.store,
        admin.administrator(),
        &body,
        state.clock.now(),
    )
    .await?;
    Ok(created(InviteView {
        url: service::link_url(
            &public_base(&state, &headers),
            service::INVITE_PAGE,
            &link.secret,
        ),
        expires_at: link.expires_at,
        email,
        role,
    }))
}

/// An account as an admin sees it (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    id: Uuid,
    username: String,
    email: String,
    role: Role,
    /// `active`, `disabled` or `locked` (`disabled` wins over `locked`).
    #[schema(value_type = String)]
    status: AccountStatus,
    /// `registration`, `operator` or `invite`; null for accounts older than the record.
    #[schema(value_type = Option<String>)]
    created_via: Option<AccountOrigin>,
    #[schema(value_type = String)]
    created_at: Timestamp,
    #[schema(value_type = Option<String>)]
    last_login: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    disabled_at: Option<Timestamp>,
    /// Set while the brute-force rules lock the account.
    #[schema(value_type = Option<String>)]
    locked_until: Option<Timestamp>,
}

impl From<AdminAccountRecord> for AdminUserView {
    fn from(r: AdminAccountRecord) -> Self {
        AdminUserView {
            status: r.status(),
            id: r.id,
            username: r.username,
            email: r.email,
            role: r.role,
            created_via: r.created_via,
            created_at: r.created_at,
            last_login: r.last_login,
            disabled_at: r.disabled_at,
            locked_until: r.locked_until,
        }
    }
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    users: Vec<AdminUserView>,
    /// How many accounts match in all.
    total: i64,
    limit: i64,
    offset: i64,
}

/// Accounts, oldest first, filtered by a search over username and email, role and status.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("jwt" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "A page of accounts", body = inline(Enveloped<UserList>)),
        (status = 401, description = "Missing, invalid or expired JWT", body = ErrorEnvelope),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 422, description = "Unknown role or status, limit or offset out of range", body = ErrorEnvelope),
    ))]
pub async fn list_users(
    _admin: AdminUser,
    State(state): State<AppState>,
    Query(query): Query<UserQuery>,
) -> ApiResult<Success<UserList>> {
    let page = service::list_users(&state.store, &query, state.clock.now()).await?;
    Ok(ok(UserList {
        users: page.accounts.into_iter().map(AdminUserView::from).collect(),
        total: page.total,
        limit: page.paging.limit,
        offset: page.paging.offset,
    }))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}", tag = "admin", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The account", body = inline(Enveloped<AdminUserView>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such account", body = ErrorEnvelope),
    ))]
pub async fn get_user(
    _admin: AdminUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<AdminUserView>> {
    let account = service::user(&state.store, id, state.clock.now()).await?;
    Ok(ok(account.into()))
}

/// An account just disabled.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisabledView {
    user: AdminUserView,
    /// Sessions that were running and ended now.
    sessions_ended: u64,
}

/// Disables an account: every session ends at once, it cannot sign in, and its PATs answer 401
/// `Account disabled` on every instance until it is enabled. Idempotent.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/disable", tag = "admin", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Disabled", body = inline(Enveloped<DisabledView>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such account", body = ErrorEnvelope),
        (status = 409, description = "The caller's own account, or the last enabled admin", body = ErrorEnvelope),
    ))]
pub async fn disable_user(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<DisabledView>> {
    let disabled = service::disable_user(
        &state.store,
        &state.token_cache,
        admin.administrator(),
        id,
        state.clock.now(),
    )
    .await?;
    Ok(ok(DisabledView {
        user: disabled.account.into(),
        sessions_ended: disabled.sessions_ended,
    }))
}

/// Enables a disabled account: it may sign in again and its tokens work again (its ended
/// sessions stay ended). Idempotent.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/enable", tag = "admin", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Enabled", body = inline(Enveloped<AdminUserView>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such account", body = ErrorEnvelope),
    ))]
pub async fn enable_user(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<AdminUserView>> {
    let account = service::enable_user(
        &state.store,
        &state.token_cache,
        admin.administrator(),
        id,
        state.clock.now(),
    )
    .await?;
    Ok(ok(account.into()))
}

/// Clears an account's login lock and its count of failed logins.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/unlock", tag = "admin", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Unlocked", body = inline(Enveloped<AdminUserView>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such account", body = ErrorEnvelope),
    ))]
pub async fn unlock_user(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<AdminUserView>> {
    let account =
        service::unlock_user(&state.store, admin.administrator(), id, state.clock.now()).await?;
    Ok(ok(account.into()))
}

/// Who owns a token in the inventory.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerView {
    id: Uuid,
    username: String,
}

/// A token as the inventory lists it: as its owner sees it (never the secret or its hash), and
/// whose it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryTokenView {
    #[serde(flatten)]
    token: TokenView,
    owner: OwnerView,
}

/// A page of the inventory.
#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryList {
    tokens: Vec<InventoryTokenView>,
    /// How many tokens match in all.
    total: i64,
    limit: i64,
    offset: i64,
}

/// Everyone's tokens, newest first, by owner, status and scope.
#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin", security(("jwt" = [])),
    params(TokenQuery),
    responses(
        (status = 200, description = "A page of the inventory", body = inline(Enveloped<InventoryList>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 422, description = "Unknown user, status or scope; limit or offset out of range", body = ErrorEnvelope),
    ))]
pub async fn token_inventory(
    _admin: AdminUser,
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> ApiResult<Success<InventoryList>> {
    let now = state.clock.now();
    let page = service::token_inventory(&state.store, &query, now).await?;
    let tokens = page
        .tokens
        .into_iter()
        .map(|listed| InventoryTokenView {
            owner: OwnerView {
                id: listed.token.user_id,
                username: listed.owner,
            },
            token: TokenView::new(listed.token, now),
        })
        .collect();
    Ok(ok(InventoryList {
        tokens,
        total: page.total,
        limit: page.paging.limit,
        offset: page.paging.offset,
    }))
}

/// The answer to a revocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedView {
    id: Uuid,
    #[schema(value_type = String)]
    revoked_at: Timestamp,
}

/// Revokes anyone's token at once, on every instance; a security event names the admin.
/// Revoking again answers the first `revoked_at`.
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 200, description = "Revoked (idempotent)", body = inline(Enveloped<RevokedView>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such token", body = ErrorEnvelope),
    ))]
pub async fn revoke_token(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<RevokedView>> {
    let revoked_at = service::revoke_any_token(
        &state.store,
        &state.token_cache,
        admin.administrator(),
        id,
        state.clock.now(),
    )
    .await?;
    Ok(ok(RevokedView { id, revoked_at }))
}

/// A security event.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventView {
    id: i64,
    #[schema(value_type = String)]
    occurred_at: Timestamp,
    /// e.g. `login_failed`, `login_locked`, `refresh_token_reused`, `role_changed`,
    /// `account_disabled`.
    #[schema(value_type = String)]
    kind: SecurityEventKind,
    /// The account concerned, if any.
    user_id: Option<Uuid>,
    /// Its username, while it exists.
    username: Option<String>,
    /// The admin who caused it, if one did.
    actor_id: Option<Uuid>,
    actor_username: Option<String>,
    session_id: Option<Uuid>,
    ip: Option<String>,
    detail: Option<String>,
}

impl From<SecurityEventRecord> for SecurityEventView {
    fn from(e: SecurityEventRecord) -> Self {
        SecurityEventView {
            id: e.id,
            occurred_at: e.occurred_at,
            kind: e.kind,
            user_id: e.user_id,
            username: e.username,
            actor_id: e.actor_id,
            actor_username: e.actor_username,
            session_id: e.session_id,
            ip: e.ip,
            detail: e.detail,
        }
    }
}

/// A page of security events.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventList {
    events: Vec<SecurityEventView>,
    /// How many events match in all.
    total: i64,
    limit: i64,
    offset: i64,
}

impl From<EventPage> for SecurityEventList {
    fn from(page: EventPage) -> Self {
        SecurityEventList {
            events: page
                .events
                .into_iter()
                .map(SecurityEventView::from)
                .collect(),
            total: page.total,
            limit: page.paging.limit,
            offset: page.paging.offset,
        }
    }
}

/// Everyone's security events, newest first: failed and locked logins, reused refresh tokens,
/// role changes and every admin action.
#[utoipa::path(get, path = "/api/v1/admin/security-events", tag = "admin", security(("jwt" = [])),
    params(EventQuery),
    responses(
        (status = 200, description = "A page of events", body = inline(Enveloped<SecurityEventList>)),
        (status = 403, description = "The caller is not an admin", body = ErrorEnvelope),
        (status = 422, description = "Unknown user or kind, a time that is not RFC 3339, limit or offset out of range", body = ErrorEnvelope),
    ))]
pub async fn security_events(
    _admin: AdminUser,
    State(state): State<AppState>,
    Query(query): Query<EventQuery>,
) -> ApiResult<Success<SecurityEventList>> {
    let page = service::security_events(&state.store, &query, None).await?;
    Ok(ok(page.into()))
}

/// The caller's own security events, newest first (`user` is not accepted here).
#[utoipa::path(get, path = "/api/v1/auth/security-events", tag = "accounts", security(("jwt" = [])),
    params(EventQuery),
    responses(
        (status = 200, description = "A page of the caller's events", body = inline(Enveloped<SecurityEventList>)),
        (status = 401, description = "Missing, invalid or expired JWT", body = ErrorEnvelope),
        (status = 422, description = "user given, unknown kind, a time that is not RFC 3339, limit or offset out of range", body = ErrorEnvelope),
    ))]
pub async fn own_security_events(
    user: AuthUser,
    State(state): State<AppState>,
    Query(query): Query<EventQuery>,
) -> ApiResult<Success<SecurityEventList>> {
    let page = service::security_events(&state.store, &query, Some(user.user_id)).await?;
    Ok(ok(page.into()))
}
