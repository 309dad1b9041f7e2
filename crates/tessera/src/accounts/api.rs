//! `/api/v1/auth`: register, log in (with brute-force defence) and refresh.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::password::PasswordHasher;
use super::sessions::{self, ClientInfo, TokenPair};
use super::Role;
use crate::app::AppState;
use crate::http::error::ResultExt;
use crate::http::extract::Json;
use crate::http::{created, ok, truncate, ApiError, ApiResult, AuthFailure, Success};
use crate::store::{FailureCount, NewUser, SecurityEvent, Store, Timestamp, UserRecord};

/// The `/api/v1/auth` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
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
        (status = 409, description = "Username or email taken", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid field", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<Success<UserView>> {
    // Self-registration always gives the least privileged role; admins are made by an operator.
    Ok(created(
        create_account(&state.store, &state.passwords, body, Role::DataEntry).await?,
    ))
}

/// Validates and stores a new account; shared by the API and `tessera users create`.
pub async fn create_account(
    store: &Store,
    passwords: &PasswordHasher,
    body: RegisterRequest,
    role: Role,
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
    // No account name or email is longer than 254 characters; a longer login is still counted
    // (like any unknown one), under a bounded key.
    let account_subject = format!("account:{}", truncate(&login, 320));
    let ip = client.ip.to_string();
    let ip_subject = format!("ip:{ip}");
    let policy = state.lockout;
    let now = Timestamp::now();
    let window_start = policy.failure_policy(0, now).window_start;
    let (account, from_ip) = state
        .store
        .failure_counts(&account_subject, &ip_subject, window_start)
        .await?;
    let verdict = policy.verdict(account, from_ip, now);
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    // The password is checked even when locked, so a lock costs the same time as a wrong password.
    let credentials = state.store.find_credentials(&login).await?;
    let user_id = credentials.as_ref().map(|c| c.id);
    let matched = state
        .passwords
        .verify(body.password, credentials.map(|c| c.password_hash))
        .await?;
    let refused = || ApiError::Unauthorized(AuthFailure::InvalidCredentials);
    let event = |kind, detail| SecurityEvent {
        kind,
        user_id,
        session_id: None,
        ip: Some(&ip),
        detail: Some(detail),
    };
    let now = Timestamp::now();
    if verdict.locked {
        let detail = "login refused: account or client locked after repeated failures";
        state
            .store
            .record_security_event(event("login_refused_locked", detail), now)
            .await?;
        return Err(refused());
    }
    match (matched, user_id) {
        (true, Some(user_id)) => {
            if account.failures > 0 {
                state.store.clear_failures(&account_subject).await?;
            }
            Ok(ok(sessions::start(&state, user_id, &client).await?))
        }
        _ => {
            let counted = state
                .store
                .record_login_failure(
                    (
                        &account_subject,
                        policy.failure_policy(policy.account_lock_threshold, now),
                    ),
                    (
                        &ip_subject,
                        policy.failure_policy(policy.ip_lock_threshold, now),
                    ),
                    event("login_failed", "wrong password or unknown login"),
                    now,
                )
                .await?;
            record_new_locks(&state, counted, now).await?;
            Err(refused())
        }
    }
}

/// Records a `login_locked` event for each counter that has just reached its threshold.
async fn record_new_locks(
    state: &AppState,
    (account, from_ip): (FailureCount, FailureCount),
    now: Timestamp,
) -> ApiResult<()> {
    let policy = state.lockout;
    for (what, count, threshold) in [
        ("account", account, policy.account_lock_threshold),
        ("client IP", from_ip, policy.ip_lock_threshold),
    ] {
        if count.failures != threshold {
            continue;
        }
        tracing::warn!(what, "login locked after repeated failures");
        let detail = format!("{what} locked after {threshold} failed logins");
        let event = SecurityEvent {
            kind: "login_locked",
            user_id: None,
            session_id: None,
            ip: None,
            detail: Some(&detail),
        };
        state.store.record_security_event(event, now).await?;
    }
    Ok(())
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
    Ok(ok(
        sessions::refresh(&state, &body.refresh_token, &client).await?
    ))
}
