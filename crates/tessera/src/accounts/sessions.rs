//! Login sessions and their refresh tokens.
//!
//! A login starts a session and hands out a pair: a short-lived access JWT (carrying the session
//! id as `sid`) and an opaque refresh token. Each refresh spends the presented refresh token and
//! returns a new pair, so a refresh token works exactly once. If a spent one comes back, either
//! the client or a thief holds a copy; which one cannot be known, so the whole session — every
//! token descended from that login — ends, and the event is recorded.
//!
//! The API has no grace window for a client that retried a refresh: returning "the same new pair"
//! would mean keeping the new refresh token readable, and refresh tokens are stored only as
//! hashes. A client that lost a refresh response logs in again.
//!
//! The console has one (`CONSOLE_REFRESH_GRACE_SECONDS`), because a browser's tabs share one
//! cookie jar: two pages whose access token expired together both present the same refresh
//! token, and the slower one would otherwise end the session. A token spent less than the grace
//! period ago, whose session still runs, gets a new access token only (no new refresh token, so
//! nothing secret needs keeping); after the grace period a replay ends the session as ever.

use std::net::IpAddr;

use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::jwt::AccessTokens;
use super::service::AccountError;
use crate::crypto::random_base62;
use crate::http::client_ip::ClientKey;
use crate::http::truncate;
use crate::store::{NewLoginSession, RefreshOutcome, SecurityEvent, SecurityEventKind, Store};
use crate::types::Timestamp;

/// Every refresh token starts with this, so secret scanners and people can tell it from a PAT.
pub const REFRESH_PREFIX: &str = "rt_";
/// Random base62 characters after the prefix: 43 × log2(62) ≈ 256 bits.
const RANDOM_LEN: usize = 43;
/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT_LEN: usize = 256;

/// A new token pair, as login and refresh answer it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// The access JWT for the API.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use token for `POST /api/v1/auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the refresh token (and its session) expires.
    pub refresh_expires_in: u64,
}

/// What a refresh gave.
#[derive(Debug)]
pub enum Refreshed {
    /// The token was spent: a new pair.
    Rotated(TokenPair),
    /// The token had just been spent by a racing request: a new access token only.
    Raced(AccessOnly),
}

/// A new access token without a new refresh token (a raced refresh).
#[derive(Debug)]
pub struct AccessOnly {
    /// The access JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Seconds until its session expires.
    pub session_expires_in: u64,
}

/// Where a login or refresh came from, kept with the session.
pub struct ClientInfo {
    /// The client's IP (after trusted-proxy resolution).
    pub ip: IpAddr,
    /// What the login IP lock counts it under (IPv6 by prefix).
    pub key: ClientKey,
    /// Its `User-Agent`, if it sent one.
    pub user_agent: Option<String>,
}

fn new_refresh_token() -> String {
    format!("{REFRESH_PREFIX}{}", random_base62(RANDOM_LEN))
}

fn hash(token: &str) -> [u8; 32] {
    crate::crypto::sha256(token)
}

/// Whether `presented` has a refresh token's shape (no database round trip for garbage).
fn well_formed(presented: &str) -> bool {
    let Some(body) = presented.strip_prefix(REFRESH_PREFIX) else {
        return false;
    };
    // Length is not secret; the comparison is written constant-time out of habit.
    let right_length: bool = (body.len() as u64).ct_eq(&(RANDOM_LEN as u64)).into();
    right_length && body.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn seconds_until(at: Timestamp, now: Timestamp) -> u64 {
    (at - now).whole_seconds().max(0) as u64
}

/// Starts login sessions and spends their refresh tokens: the store, the access-token issuer and
/// how long a session lasts (`REFRESH_TTL_SECONDS`).
#[derive(Clone)]
pub struct LoginSessions {
    store: Store,
    jwt: AccessTokens,
    lifetime: time::Duration,
}

impl LoginSessions {
    pub fn new(store: Store, jwt: AccessTokens, lifetime_seconds: u64) -> Self {
        LoginSessions {
            store,
            jwt,
            // REFRESH_TTL_SECONDS is at most 365 days (config), far inside an i64.
            lifetime: time::Duration::seconds(lifetime_seconds.min(365 * 86_400) as i64),
        }
    }

    /// Starts a session for `user_id` and returns its first token pair.
    pub async fn start(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<TokenPair, AccountError> {
        let now = Timestamp::now();
        let expires_at = now + self.lifetime;
        let session_id = Uuid::now_v7();
        let refresh_token = new_refresh_token();
        let ip = client.ip.to_string();
        let user_agent = client
            .user_agent
            .as_deref()
            .map(|ua| truncate(ua, MAX_USER_AGENT_LEN));
        self.store
            .insert_login_session(&NewLoginSession {
                id: session_id,
                user_id,
                created_at: now,
                expires_at,
                ip: &ip,
                user_agent,
                refresh_token_hash: &hash(&refresh_token),
            })
            .await?;
        self.pair(user_id, session_id, expires_at, refresh_token, now)
    }

    /// A new access token for the session, with `refresh_token`, as login and refresh answer.
    fn pair(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        session_ends: Timestamp,
        refresh_token: String,
        now: Timestamp,
    ) -> Result<TokenPair, AccountError> {
        let (access_token, expires_in) = self
            .jwt
            .issue(user_id, session_id, session_ends)
            .map_err(AccountError::Signing)?;
        Ok(TokenPair {
            access_token,
            token_type: "bearer",
            expires_in,
            refresh_token,
            refresh_expires_in: seconds_until(session_ends, now),
        })
    }

    /// Spends `presented` and returns the session's next pair (the API's refresh: no grace, a
    /// spent token presented again ends the session).
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, AccountError> {
        match self.spend(presented, client, time::Duration::ZERO).await? {
            Refreshed::Rotated(pair) => Ok(pair),
            // Without a grace period no refresh is ever a race.
            Refreshed::Raced(_) => Err(AccountError::InvalidRefreshToken),
        }
    }

    /// The console's refresh: as [`refresh`](Self::refresh), except that a token spent less than
    /// `grace` ago, while its session runs, gets a new access token only instead of ending the
    /// session: meant for two tabs of one browser whose access token expired together (the
    /// browser keeps the refresh token the other request was given). Whoever presents the spent
    /// token within the grace gets that access token, as with Auth0's reuse interval; after it, a
    /// replay ends the session as ever.
    pub async fn refresh_allowing_races(
        &self,
        presented: &str,
        client: &ClientInfo,
        grace: time::Duration,
    ) -> Result<Refreshed, AccountError> {
        self.spend(presented, client, grace).await
    }

    async fn spend(
        &self,
        presented: &str,
        client: &ClientInfo,
        grace: time::Duration,
    ) -> Result<Refreshed, AccountError> {
        if !well_formed(presented) {
            return Err(AccountError::InvalidRefreshToken);
        }
        let now = Timestamp::now();
        let next = new_refresh_token();
        match self
            .store
            .rotate_refresh_token(&hash(presented), &hash(&next), now, grace)
            .await?
        {
            RefreshOutcome::Rotated {
                session_id,
                user_id,
                expires_at,
            } => Ok(Refreshed::Rotated(
                self.pair(user_id, session_id, expires_at, next, now)?,
            )),
            RefreshOutcome::Raced {
                session_id,
                user_id,
                expires_at,
            } => {
                let (access_token, expires_in) = self
                    .jwt
                    .issue(user_id, session_id, expires_at)
                    .map_err(AccountError::Signing)?;
                Ok(Refreshed::Raced(AccessOnly {
                    access_token,
                    expires_in,
                    session_expires_in: seconds_until(expires_at, now),
                }))
            }
            RefreshOutcome::Reused {
                session_id,
                user_id,
            } => {
                tracing::warn!(%user_id, %session_id, "spent refresh token presented again: session ended");
                crate::accounts::security_log::record(
                    &self.store,
                    SecurityEvent {
                        kind: SecurityEventKind::RefreshTokenReused,
                        user_id: Some(user_id),
                        session_id: Some(session_id),
                        ip: Some(&client.ip.to_string()),
                        detail: Some(
                            "a spent refresh token was presented again; the session was ended",
                        ),
                        actor_id: None,
                    },
                    now,
                )
                .await?;
                Err(AccountError::InvalidRefreshToken)
            }
            RefreshOutcome::Invalid => Err(AccountError::InvalidRefreshToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tokens_are_well_formed_and_garbage_is_not() {
        let token = new_refresh_token();
        assert!(well_formed(&token), "{token}");
        assert_eq!(token.len(), REFRESH_PREFIX.len() + RANDOM_LEN);
        assert!(!well_formed(&token[..token.len() - 1]));
        assert!(!well_formed(&format!("{token}x")));
        assert!(!well_formed(&token.replace("rt_", "pat_")));
        assert!(!well_formed(
            "rt_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        ));
        assert_ne!(new_refresh_token(), new_refresh_token());
    }
}
