//! `/api/v1/auth`: register, log in (with brute-force defence) and refresh.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::login_guard::{guarded_password_check, AttemptEvents, PasswordAttempt};
use super::password::PasswordHasher;
use super::sessions::{self, ClientInfo, TokenPair};

use crate::config::Registration;
use crate::http::error::ResultExt;
use crate::http::extract::Json;
use crate::http::{created, ok, ApiError, ApiResult, AuthFailure, Success};
use crate::state::AppState;
use crate::store::{AccountOrigin, NewUser, Store, UserRecord};
use crate::types::{Role, Timestamp};

/// The `/api/v1/auth` routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
}

/// Registration body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3–50 characters of `A-Z a-z 0-9 _ . -`.
    pub username: String,
    /// A valid email address.
    pub email: String,
    /// 8–256 characters.
    pub password: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: Uuid,
    /// Username.
    pub username: String,
    /// Email.
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
    /// Password.
    pub password: String,
}

fn validate_registration(body: &RegisterRequest) -> ApiResult<()> {
    let username_len = body.username.chars().count();
    if !(3..=50).contains(&username_len) {
        return Err(ApiError::invalid(
            "username must be 3 to 50 characters long",
        ));
    }
    if !body
        .username
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(ApiError::invalid(
            "username may contain only letters, digits, `_`, `.` and `-`",
        ));
    }
    if body.email.len() > 254 || !email_address::EmailAddress::is_valid(&body.email) {
        return Err(ApiError::invalid("email must be a valid email address"));
    }
    validate_password("password", &body.password)
}

/// Passwords are 8–256 characters; `field` names the field in the message.
pub fn validate_password(field: &str, password: &str) -> ApiResult<()> {
    if !(8..=256).contains(&password.chars().count()) {
        return Err(ApiError::invalid(format!(
            "{field} must be 8 to 256 characters long"
        )));
    }
    Ok(())
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
    if state.config.registration == Registration::Closed {
        return Err(ApiError::Forbidden(
            "Registration is closed: ask an administrator for an account".to_owned(),
        ));
    }
    // Anyone who reaches this route gets an account, so it always gives the least privileged
    // role; staff roles are given by an admin.
    let origin = AccountOrigin::Registration;
    Ok(created(
        create_account(&state.store, &state.passwords, body, Role::Member, origin).await?,
    ))
}

/// Validates and stores a new account; shared by the API and `tessera users create`.
pub async fn create_account(
    store: &Store,
    passwords: &PasswordHasher,
    body: RegisterRequest,
    role: Role,
    created_via: AccountOrigin,
) -> ApiResult<UserView> {
    validate_registration(&body)?;
    let password_hash = passwords.hash(body.password).await?;
    let user = UserRecord {
        id: Uuid::now_v7(),
        username: body.username,
        email: body.email,
        created_at: Timestamp::now(),
    };
    store
        .insert_user(&NewUser {
            id: user.id,
            username: &user.username,
            email: &user.email,
            password_hash: &password_hash,
            role,
            created_via,
            created_at: user.created_at,
        })
        .await
        .on_unique_violation(|constraint| {
            if constraint.contains("email") {
                "Email already registered".to_owned()
            } else {
                "Username already taken".to_owned()
            }
        })?;
    tracing::info!(user_id = %user.id, "account registered");
    Ok(UserView::from(user))
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
    let login = body.username.trim().to_lowercase();
    let credentials = state.store.find_credentials(&login).await?;
    let user_id = credentials.as_ref().map(|c| c.id);
    let check = guarded_password_check(
        &state,
        &PasswordAttempt {
            login: &login,
            ip: &client.key.to_string(),
            user_id,
            events: LOGIN_EVENTS,
        },
        body.password,
        credentials.map(|c| c.password_hash),
    )
    .await?;
    match (check.matched, user_id) {
        (true, Some(user_id)) => Ok(ok(sessions::start(&state, user_id, &client).await?)),
        _ => Err(ApiError::Unauthorized(AuthFailure::InvalidCredentials)),
    }
}

/// A login's events.
const LOGIN_EVENTS: AttemptEvents = ("login_failed", "login_refused_locked");

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
    Ok(ok(
        sessions::refresh(&state, &body.refresh_token, &client).await?
    ))
}
