//! Accounts: registration, login, password hashing and the access JWTs people use on the tokens
//! API. (Refresh tokens, key rotation and lockout come with the accounts issue.)

pub mod api;
pub mod jwt;
pub mod password;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::app::AppState;
use crate::http::{bearer, ApiError, AuthFailure, Bearer};
use jwt::JwtError;

/// A person authenticated by an access JWT. PATs are refused here: a script's token must not be
/// able to mint or revoke tokens.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// The user's id.
    pub user_id: Uuid,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = match bearer(&parts.headers) {
            Bearer::Missing => return Err(ApiError::Unauthorized(AuthFailure::MissingToken)),
            Bearer::Malformed => return Err(ApiError::Unauthorized(AuthFailure::InvalidToken)),
            Bearer::Token(token) => token,
        };
        match state.jwt.verify(token) {
            Ok(user_id) => Ok(AuthUser { user_id }),
            Err(JwtError::Expired) => Err(ApiError::Unauthorized(AuthFailure::TokenExpired)),
            Err(JwtError::Invalid) => Err(ApiError::Unauthorized(AuthFailure::InvalidToken)),
        }
    }
}
