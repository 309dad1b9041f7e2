//! A branch's token and connection as shown: the access token (the only secret the API ever
//! answers, and only on the token routes; the refresh token never leaves the vault) and the
//! connection's state without secrets.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::service::AccessToken;
use crate::store::ConnectionRecord;
use crate::types::Timestamp;

/// A branch's access token as the token routes answer it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// The access token, to send to the provider's API.
    pub access_token: String,
    /// Usually `Bearer`.
    pub token_type: String,
    /// When it expires (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// Granted scopes (space-separated), as the provider reported them.
    pub scope: String,
}

impl From<AccessToken> for TokenView {
    fn from(token: AccessToken) -> Self {
        TokenView {
            access_token: token.access_token.expose().to_owned(),
            token_type: token.token_type,
            expires_at: token.expires_at,
            scope: token.scope,
        }
    }
}

/// A connection's state, without secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// The branch (Tessera's id).
    pub branch_id: Uuid,
    /// `not_connected`, `active`, `needs_reauth` or `revoked`.
    pub status: String,
    /// Whether the stored access token has expired.
    pub is_expired: Option<bool>,
    /// Whether a refresh token is held.
    pub has_refresh_token: Option<bool>,
    pub token_type: Option<String>,
    /// Granted scopes.
    pub scope: Option<String>,
    /// When the access token expires.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// When the authorization completed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub connected_at: Option<Timestamp>,
    /// Last successful refresh.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_refresh_at: Option<Timestamp>,
    /// Last refresh attempt.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<Timestamp>,
    /// No provider call before this (after a failure).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    /// Last time a consumer fetched the token (to within an hour).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// The last refresh error.
    pub last_error: Option<String>,
    /// Failed refreshes since the last success.
    pub consecutive_failures: Option<i32>,
    /// Successful refreshes since connecting.
    pub refresh_count: Option<i32>,
}

impl ConnectionView {
    /// The view of a branch's grant (`None`: never connected).
    pub fn of(branch_id: Uuid, connection: Option<ConnectionRecord>) -> ConnectionView {
        let now = Timestamp::now();
        let c = connection.as_ref();
        ConnectionView {
            branch_id,
            status: c.map_or("not_connected", |c| c.status.as_str()).to_owned(),
            is_expired: c.map(|c| c.expires_at <= now),
            has_refresh_token: c.map(|c| c.refresh_token_sealed.is_some()),
            token_type: c.map(|c| c.token_type.clone()),
            scope: c.map(|c| c.scope.clone()),
            expires_at: c.map(|c| c.expires_at),
            connected_at: c.map(|c| c.connected_at),
            last_refresh_at: c.and_then(|c| c.last_refresh_at),
            last_attempt_at: c.and_then(|c| c.last_attempt_at),
            next_attempt_at: c.and_then(|c| c.next_attempt_at),
            last_used_at: c.and_then(|c| c.last_used_at),
            last_error: c.and_then(|c| c.last_error.clone()),
            consecutive_failures: c.map(|c| c.consecutive_failures),
            refresh_count: c.map(|c| c.refresh_count),
        }
    }
}
