//! Accounts: registration, login, password hashing, roles and the access JWTs people use on the
//! tokens API and the case records.

pub mod jwt;
pub mod keys;
pub mod links;
pub mod lockout;
pub mod login_guard;
pub mod password;
pub mod profile;
pub mod routes;
pub mod security_log;
pub mod service;
pub mod sessions;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::http::{bearer, ApiError, AuthFailure, Bearer};
use crate::state::AppState;
use crate::store::SessionRole;
use crate::types::Role;
use jwt::JwtError;

/// A person authenticated by an access JWT of a running session. PATs are refused here: a script's token must not be
/// able to mint or revoke tokens.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// The user's id.
    pub user_id: Uuid,
    /// The login session the JWT belongs to.
    pub session_id: Uuid,
    /// The user's role as stored now (read on every request, so a role change applies at once).
    pub role: Role,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = match bearer(&parts.headers) {
            Bearer::Missing => return Err(ApiError::Unauthorized(AuthFailure::MissingToken)),
            Bearer::Malformed => return Err(ApiError::Unauthorized(AuthFailure::InvalidToken)),
            Bearer::Token(token) => token,
        };
        let verified = match state.jwt.verify(token).await {
            Ok(verified) => verified,
            Err(JwtError::Expired) => {
                return Err(ApiError::Unauthorized(AuthFailure::TokenExpired))
            }
            Err(JwtError::Invalid) => {
                return Err(ApiError::Unauthorized(AuthFailure::InvalidToken))
            }
        };
        // One indexed read: a JWT whose session was ended (logout, password change, a replayed
        // refresh token) stops working at once, not when it expires.
        let role = match state
            .store
            .session_role(verified.session_id, verified.user_id)
            .await?
        {
            Some(SessionRole::Running(role)) => role,
            Some(SessionRole::AccountDisabled) => {
                return Err(ApiError::Unauthorized(AuthFailure::AccountDisabled))
            }
            None => return Err(ApiError::Unauthorized(AuthFailure::TokenRevoked)),
        };
        Ok(AuthUser {
            user_id: verified.user_id,
            session_id: verified.session_id,
            role,
        })
    }
}
