//! A person's own account: profile, password, sessions; and the admin-only role change.

use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::service::{self, Actor};
use super::AuthUser;
use crate::http::extract::{Json, Path};
use crate::http::{ok, ApiError, ApiResult, AuthFailure, Success};
use crate::input::checked_text;
use crate::state::AppState;
use crate::store::{EndReason, LoginSessionRecord, ProfileChanges, ProfileRecord};
use crate::types::{Role, Timestamp};

/// Routes for the caller's own account and the role change, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(get_profile, update_profile))
        .routes(routes!(change_password))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
        .routes(routes!(change_role))
}

/// A profile as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    /// User id.
    pub id: Uuid,
    /// Login name (read-only).
    pub username: String,
    /// Email (read-only).
    pub email: String,
    /// Role (read-only here; admins change it with `PUT /api/v1/users/{id}/role`).
    pub role: Role,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub department: Option<String>,
    pub specialization: Option<String>,
    /// Account creation (RFC 3339, UTC).
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last successful login.
    #[schema(value_type = Option<String>)]
    pub last_login: Option<Timestamp>,
}

impl From<ProfileRecord> for ProfileView {
    fn from(r: ProfileRecord) -> Self {
        ProfileView {
            id: r.id,
            username: r.username,
            email: r.email,
            role: r.role,
            first_name: r.first_name,
            last_name: r.last_name,
            phone_number: r.phone_number,
            department: r.department,
            specialization: r.specialization,
            created_at: r.created_at,
            last_login: r.last_login,
        }
    }
}

/// Distinguishes an absent field (keep) from an explicit `null` (clear).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Profile changes: absent fields are kept, `null` clears one. Other fields are refused, so an
/// attempt to change `role` or `username` here fails loudly instead of being ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// Given name, at most 100 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    /// Family name, at most 100 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    /// Phone number: digits, spaces and `+ - ( ) .`, at most 32 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
    /// Department, at most 100 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<String>>,
    /// Specialization, at most 100 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub specialization: Option<Option<String>>,
}

/// Trims a given text field; empty becomes NULL; over `max` characters (or NUL) is refused.
fn clean_text(
    field: &str,
    value: Option<Option<String>>,
    max: usize,
) -> ApiResult<Option<Option<String>>> {
    let Some(value) = value else { return Ok(None) };
    let value = value
        .map(|v| checked_text(field, &v, max))
        .transpose()?
        .filter(|v| !v.is_empty());
    Ok(Some(value))
}

impl ProfileUpdate {
    /// The changes asked for, checked: trimmed, empty as NULL, within their limits.
    pub fn validate(self) -> ApiResult<ProfileChanges> {
        let phone_number = clean_text("phone_number", self.phone_number, 32)?;
        let phone_ok = |p: &String| {
            p.chars().any(|c| c.is_ascii_digit())
                && p.chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        };
        if phone_number
            .as_ref()
            .and_then(Option::as_ref)
            .is_some_and(|p| !phone_ok(p))
        {
            return Err(ApiError::invalid(
                "phone_number may contain only digits, spaces and + - ( ) .",
            ));
        }
        Ok(ProfileChanges {
            first_name: clean_text("first_name", self.first_name, 100)?,
            last_name: clean_text("last_name", self.last_name, 100)?,
            phone_number,
            department: clean_text("department", self.department, 100)?,
            specialization: clean_text("specialization", self.specialization, 100)?,
        })
    }
}

/// The caller, as the account service knows them.
fn actor(user: &AuthUser) -> Actor {
    Actor {
        user_id: user.user_id,
        session_id: user.session_id,
        role: user.role,
    }
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/auth/profile", tag = "accounts", security(("jwt" = [])),
    responses((status = 200, description = "Profile", body = inline(crate::http::openapi::Enveloped<ProfileView>))))]
pub async fn get_profile(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Success<ProfileView>> {
    let profile = state
        .store
        .profile(user.user_id)
        .await?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    Ok(ok(profile.into()))
}

/// Updates the caller's profile (partial: absent fields are kept, `null` clears).
#[utoipa::path(put, path = "/api/v1/auth/profile", tag = "accounts", request_body = ProfileUpdate, security(("jwt" = [])),
    responses(
        (status = 200, description = "Updated profile", body = inline(crate::http::openapi::Enveloped<ProfileView>)),
        (status = 422, description = "Invalid or read-only field", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn update_profile(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<ProfileUpdate>,
) -> ApiResult<Success<ProfileView>> {
    let changes = body.validate()?;
    let profile = state
        .store
        .update_profile(user.user_id, &changes)
        .await?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    Ok(ok(profile.into()))
}

/// Password change body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The password now.
    pub current_password: String,
    /// The new one: 8–256 characters, different from the current one.
    pub new_password: String,
}

/// Changes the caller's password and ends every other session.
#[utoipa::path(post, path = "/api/v1/auth/change-password", tag = "accounts", request_body = ChangePasswordRequest, security(("jwt" = [])),
    responses(
        (status = 200, description = "Changed; `sessions_ended` other sessions ended"),
        (status = 422, description = "Current password wrong, or new password invalid", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    client: super::sessions::ClientInfo,
    Json(body): Json<ChangePasswordRequest>,
) -> ApiResult<Success<serde_json::Value>> {
    let actor = actor(&user);
    let (current, new) = (body.current_password, body.new_password);
    let (store, guard, passwords) = (&state.store, &state.login_guard, &state.passwords);
    let ended =
        service::change_password(store, guard, passwords, &actor, current, new, &client).await?;
    Ok(ok(
        serde_json::json!({"changed": true, "sessions_ended": ended}),
    ))
}

/// Ends the caller's session: its refresh token and every access token of it stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("jwt" = [])),
    responses((status = 200, description = "`{\"logged_out\":true}`")))]
pub async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Success<serde_json::Value>> {
    service::sign_out(&state.store, user.user_id, user.session_id).await?;
    Ok(ok(serde_json::json!({"logged_out": true})))
}

/// Ends every session of the caller, this one included.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "accounts", security(("jwt" = [])),
    responses((status = 200, description = "`{\"sessions_ended\":N}`")))]
pub async fn logout_all(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Success<serde_json::Value>> {
    let ended = state
        .store
        .end_sessions(user.user_id, None, EndReason::LogoutAll, Timestamp::now())
        .await?;
    Ok(ok(serde_json::json!({"sessions_ended": ended})))
}

/// A running session as the list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginSessionView {
    /// Session id.
    pub id: Uuid,
    /// Login time.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// Last login or token refresh.
    #[schema(value_type = String)]
    pub last_used_at: Timestamp,
    /// When it ends at the latest.
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
    /// Client IP at login.
    pub ip: String,
    /// Client `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

fn session_view(record: LoginSessionRecord, current: Uuid) -> LoginSessionView {
    LoginSessionView {
        current: record.id == current,
        id: record.id,
        created_at: record.created_at,
        last_used_at: record.last_used_at,
        expires_at: record.expires_at,
        ip: record.ip,
        user_agent: record.user_agent,
    }
}

/// The caller's running sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "accounts", security(("jwt" = [])),
    responses((status = 200, description = "`{\"sessions\":[…],\"total\":N}`")))]
pub async fn list_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Success<serde_json::Value>> {
    let sessions: Vec<LoginSessionView> = state
        .store
        .active_sessions(user.user_id, Timestamp::now())
        .await?
        .into_iter()
        .map(|record| session_view(record, user.session_id))
        .collect();
    Ok(ok(
        serde_json::json!({"total": sessions.len(), "sessions": sessions}),
    ))
}

/// Ends one of the caller's sessions (another user's id answers 404).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "accounts", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "`{\"id\",\"ended\":true}`"),
        (status = 404, description = "No such running session of yours", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn end_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<serde_json::Value>> {
    service::end_session(&state.store, user.user_id, id).await?;
    Ok(ok(serde_json::json!({"id": id, "ended": true})))
}

/// Role change body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// One of `admin`, `manager`, `therapist`, `social_worker`, `coordinator`, `data_entry`,
    /// `member`.
    pub role: String,
}

/// Gives a user a role (admins only). The last admin cannot be demoted.
#[utoipa::path(put, path = "/api/v1/users/{id}/role", tag = "accounts", request_body = RoleRequest, security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "`{\"id\",\"role\",\"previous_role\"}`"),
        (status = 403, description = "The caller is not an admin", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such user", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Would leave no admin", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "Unknown role", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn change_role(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<RoleRequest>,
) -> ApiResult<Success<serde_json::Value>> {
    let (role, previous) =
        service::change_role(&state.store, &actor(&user), id, &body.role).await?;
    Ok(ok(
        serde_json::json!({"id": id, "role": role, "previous_role": previous}),
    ))
}
