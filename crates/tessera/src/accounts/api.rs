//! `/api/v1/auth`: register and log in.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::password::PasswordHasher;
use super::Role;
use crate::app::AppState;
use crate::http::error::ResultExt;
use crate::http::extract::Json;
use crate::http::{created, ok, ApiError, ApiResult, AuthFailure, Success};
use crate::store::{NewUser, Store, Timestamp, UserRecord};

/// The `/api/v1/auth` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
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

/// Login answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The access JWT for the tokens API.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
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
    let password_len = body.password.chars().count();
    if !(8..=256).contains(&password_len) {
        return Err(ApiError::invalid(
            "password must be 8 to 256 characters long",
        ));
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

/// Exchanges username (or email) and password for an access JWT.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = inline(crate::http::openapi::Enveloped<LoginResponse>)),
        (status = 401, description = "Invalid credentials (same answer and time for unknown users)", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Success<LoginResponse>> {
    let credentials = state.store.find_credentials(&body.username).await?;
    let user_id = credentials.as_ref().map(|c| c.id);
    let matched = state
        .passwords
        .verify(body.password, credentials.map(|c| c.password_hash))
        .await?;
    let user_id = match (matched, user_id) {
        (true, Some(id)) => id,
        _ => return Err(ApiError::Unauthorized(AuthFailure::InvalidCredentials)),
    };
    Ok(ok(LoginResponse {
        access_token: state.jwt.issue(user_id)?,
        token_type: "bearer",
        expires_in: state.jwt.ttl_seconds(),
    }))
}
