//! `/api/v1/auth` over HTTP: register, log in (with brute-force defence) and refresh. The
//! handlers read the request, call [`super::service`] and render; [`AccountError`] becomes a
//! status here, in one place.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::links::{self, LinkProblem};
use super::password::HashingError;
use super::service::{self, AccountError, RegisterRequest};
use super::sessions::{ClientInfo, TokenPair};

use crate::http::extract::Json;
use crate::http::{created, ok, ApiError, ApiResult, AuthFailure, Success};
use crate::state::AppState;
use crate::store::UserRecord;
use crate::types::{Role, Timestamp};

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        let message = error.to_string();
        match error {
            AccountError::Invalid(invalid) => invalid.into(),
            AccountError::RegistrationClosed | AccountError::RegistrationByInvite => {
                ApiError::Forbidden(error.to_string())
            }
            AccountError::Link(LinkProblem::Unknown) => ApiError::NotFound(error.to_string()),
            AccountError::Link(_) => ApiError::Gone(error.to_string()),
            AccountError::UsernameTaken | AccountError::EmailTaken => {
                ApiError::Conflict(error.to_string())
            }
            AccountError::InvalidCredentials => {
                ApiError::Unauthorized(AuthFailure::InvalidCredentials)
            }
            AccountError::AccountDisabled => ApiError::Unauthorized(AuthFailure::AccountDisabled),
            AccountError::InvalidRefreshToken => {
                ApiError::Unauthorized(AuthFailure::InvalidRefreshToken)
            }
            // A JWT whose account is gone is as good as no JWT.
            AccountError::AccountGone { .. } => ApiError::Unauthorized(AuthFailure::InvalidToken),
            AccountError::SessionNotFound { .. } | AccountError::UserNotFound { .. } => {
                ApiError::NotFound(error.to_string())
            }
            AccountError::NotAdmin => ApiError::Forbidden(error.to_string()),
            AccountError::LastAdmin => ApiError::Conflict(error.to_string()),
            AccountError::Signing(error) => ApiError::Internal(error),
            AccountError::TooManyAttempts => ApiError::Unavailable(error.to_string()),
            // A full queue is a passing condition (503, retry); a failed hash is ours (500).
            AccountError::Hashing(HashingError::QueueFull) => ApiError::Unavailable(message),
            AccountError::Hashing(error @ HashingError::Failed(_)) => {
                ApiError::Internal(error.into())
            }
            AccountError::Store(error) => ApiError::from(error),
        }
    }
}

/// Where a login or refresh came from: the client IP as resolved (after trusted proxies), and
/// its `User-Agent`.
impl axum::extract::FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<crate::http::client_ip::ClientIp>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |client| client.0);
        let key = parts
            .extensions
            .get::<crate::http::client_ip::ClientKey>()
            .copied()
            .unwrap_or_else(|| crate::http::client_ip::ClientKey::of(ip, 128));
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(ClientInfo {
            ip,
            key,
            user_agent,
        })
    }
}

/// The `/api/v1/auth` routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(reset_password))
        .routes(routes!(accept_invite))
}

/// Body of `POST /api/v1/auth/reset-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The `token` of the reset link an admin made.
    pub token: String,
    /// The new password, 8–256 characters.
    pub password: String,
}

/// Sets a new password with an admin's one-time reset link; every session of the account ends
/// and its login lock is cleared.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "accounts", request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Password set: `{\"id\"}` of the account"),
        (status = 404, description = "No such link", body = crate::http::openapi::ErrorEnvelope),
        (status = 410, description = "The link was used, replaced by a newer one, or expired (the message says which)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid password", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    Json(body): Json<ResetPasswordRequest>,
) -> ApiResult<Success<serde_json::Value>> {
    let id = links::reset_password(
        &state.store,
        &state.passwords,
        &body.token,
        body.password,
        state.clock.now(),
    )
    .await?;
    Ok(ok(serde_json::json!({ "id": id })))
}

/// Body of `POST /api/v1/auth/accept-invite`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInviteRequest {
    /// The `token` of the invitation link an admin made.
    pub token: String,
    /// 3–50 characters of `A-Z a-z 0-9 _ . -`.
    pub username: String,
    /// 8–256 characters.
    pub password: String,
}

/// An invited account, as made.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitedView {
    id: Uuid,
    username: String,
    email: String,
    role: Role,
}

/// Creates the account an admin's one-time invitation link offers: its email and role, with the
/// username and password given here. Works whatever `REGISTRATION` says.
#[utoipa::path(post, path = "/api/v1/auth/accept-invite", tag = "accounts", request_body = AcceptInviteRequest,
    responses(
        (status = 201, description = "Account created", body = inline(crate::http::openapi::Enveloped<InvitedView>)),
        (status = 404, description = "No such invitation", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Username or email taken (the invitation stays usable)", body = crate::http::openapi::ErrorEnvelope),
        (status = 410, description = "The invitation was used, replaced, or expired (the message says which)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid username or password", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn accept_invite(
    State(state): State<AppState>,
    Json(body): Json<AcceptInviteRequest>,
) -> ApiResult<Success<InvitedView>> {
    let invited = links::accept_invite(
        &state.store,
        &state.passwords,
        &body.token,
        body.username,
        body.password,
        state.clock.now(),
    )
    .await?;
    Ok(created(InvitedView {
        id: invited.id,
        username: invited.username,
        email: invited.email,
        role: invited.role,
    }))
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: Uuid,
    pub username: String,
    pub email: String,
    /// Creation time (RFC 3339, UTC).
    #[schema(value_type = String, example = "2024-01-15T10:30:00Z")]
    pub created_at: Timestamp,
}

impl From<UserRecord> for UserView {
    fn from(user: UserRecord) -> Self {
        UserView {
            id: user.id,
            username: user.username,
            email: user.email,
            created_at: user.created_at,
        }
    }
}

/// Login body; `username` also accepts the email address.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username or email.
    pub username: String,
    pub password: String,
}

/// Creates an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = inline(crate::http::openapi::Enveloped<UserView>)),
        (status = 403, description = "Registration is closed (`REGISTRATION=closed`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Username or email taken", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid field", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<Success<UserView>> {
    let passwords = &state.passwords;
    let registration = state.config.registration;
    let user = service::sign_up(&state.store, passwords, registration, body).await?;
    Ok(created(UserView::from(user)))
}

/// Exchanges username (or email) and password for a session: an access JWT and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = inline(crate::http::openapi::Enveloped<TokenPair>)),
        (status = 401, description = "Invalid credentials (same answer and time for unknown users and locked logins)", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Success<TokenPair>> {
    let (store, guard, sessions) = (&state.store, &state.login_guard, &state.login_sessions);
    let pair = service::sign_in(
        store,
        guard,
        sessions,
        &body.username,
        body.password,
        &client,
    );
    Ok(ok(pair.await?))
}

/// Refresh body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token from login or the previous refresh; it is spent by this call.
    pub refresh_token: String,
}

/// Spends a refresh token for a new pair. A spent token presented again ends its whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = inline(crate::http::openapi::Enveloped<TokenPair>)),
        (status = 401, description = "Invalid refresh token (unknown, spent, expired or session ended)", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Success<TokenPair>> {
    let pair = state.login_sessions.refresh(&body.refresh_token, &client);
    Ok(ok(pair.await?))
}
