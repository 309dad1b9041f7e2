//! Queries on `auth_sessions` and `refresh_tokens`: login sessions and their rotating refresh
//! tokens. A refresh token is spent by a conditional `UPDATE … WHERE spent_at IS NULL`, so of two
//! racing uses exactly one wins on either backend; the loser is indistinguishable from a replay.

use crate::types::{Role, Timestamp};
use uuid::Uuid;

use super::{on_pool, Store};

/// A new login session with its first refresh token.
pub struct NewLoginSession<'a> {
    /// Session id (UUIDv7), also the access JWT's `sid`.
    pub id: Uuid,
    /// Who logged in.
    pub user_id: Uuid,
    /// Login time.
    pub created_at: Timestamp,
    /// No refresh past this instant.
    pub expires_at: Timestamp,
    /// Client IP at login.
    pub ip: &'a str,
    /// Client `User-Agent` at login, if any (cut to a sane length by the caller).
    pub user_agent: Option<&'a str>,
    /// SHA-256 of the first refresh token.
    pub refresh_token_hash: &'a [u8],
}

/// An active session as the sessions list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginSessionRecord {
    /// Session id.
    pub id: Uuid,
    /// Login time.
    pub created_at: Timestamp,
    /// Last login or refresh.
    pub last_used_at: Timestamp,
    /// End of the session's life.
    pub expires_at: Timestamp,
    /// Client IP at login.
    pub ip: String,
    /// Client `User-Agent` at login.
    pub user_agent: Option<String>,
}

/// What presenting a refresh token came to.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live and is now spent; the new one is stored.
    Rotated {
        /// The session continued.
        session_id: Uuid,
        /// Its user.
        user_id: Uuid,
        /// When the session (and so the new token) ends.
        expires_at: Timestamp,
    },
    /// The token was spent within the grace period by another request of the same client (two
    /// tabs refreshing at once): the session goes on, and nothing was stored.
    Raced {
        /// The session.
        session_id: Uuid,
        /// Its user.
        user_id: Uuid,
        /// When it ends.
        expires_at: Timestamp,
    },
    /// The token had been spent before: the session has now been ended.
    Reused {
        /// The session ended.
        session_id: Uuid,
        /// Its user.
        user_id: Uuid,
    },
    /// Unknown, expired, or its session already ended.
    Invalid,
}

/// Why a session ended, as stored in `end_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `POST /auth/logout`.
    Logout,
    /// `POST /auth/logout-all`.
    LogoutAll,
    /// `DELETE /auth/sessions/{id}`.
    Ended,
    /// A spent refresh token was presented again.
    RefreshTokenReused,
    /// The password changed (every other session ends).
    PasswordChanged,
    /// An admin disabled the account.
    AccountDisabled,
    /// An admin's reset link set a new password.
    PasswordReset,
}

/// What a session's access JWT stands for now (see [`Store::session_role`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRole {
    /// The session runs; its user has this role.
    Running(Role),
    /// The account is disabled.
    AccountDisabled,
}

impl EndReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::LogoutAll => "logout_all",
            EndReason::Ended => "ended",
            EndReason::RefreshTokenReused => "refresh_token_reused",
            EndReason::PasswordChanged => "password_changed",
            EndReason::AccountDisabled => "account_disabled",
            EndReason::PasswordReset => "password_reset",
        }
    }
}

/// Ends every running session of account `$1` at `$2` for reason `$3`: what disabling an account
/// and a password reset do inside their own transactions.
pub(super) const END_ALL_SESSIONS: &str =
    "UPDATE auth_sessions SET ended_at = $2, end_reason = $3 \
     WHERE user_id = $1 AND ended_at IS NULL";

impl Store {
    /// Stores a new session, its first refresh token and the user's `last_login`, atomically.
    pub async fn insert_login_session(
        &self,
        session: &NewLoginSession<'_>,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO auth_sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) \
                 VALUES ($1, $2, $3, $3, $4, $5, $6)",
            )
            .bind(session.id)
            .bind(session.user_id)
            .bind(session.created_at)
            .bind(session.expires_at)
            .bind(session.ip)
            .bind(session.user_agent)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(session.refresh_token_hash)
            .bind(session.id)
            .bind(session.created_at)
            .bind(session.expires_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
                .bind(session.user_id)
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    /// Spends the refresh token whose hash is `presented` and stores `replacement` in its place,
    /// or, if it was spent before, ends its session (the family dies) — unless it was spent less
    /// than `grace` ago and its session still runs: then it was raced, and nothing changes.
    pub async fn rotate_refresh_token(
        &self,
        presented: &[u8],
        replacement: &[u8],
        now: Timestamp,
        grace: time::Duration,
    ) -> Result<RefreshOutcome, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let spent: Option<Uuid> = sqlx::query_scalar(
                "UPDATE refresh_tokens SET spent_at = $2 \
                 WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > $2 RETURNING session_id",
            )
            .bind(presented)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(session_id) = spent {
                let live: Option<(Uuid, Timestamp)> = sqlx::query_as(
                    "UPDATE auth_sessions SET last_used_at = $2 \
                     WHERE id = $1 AND ended_at IS NULL AND expires_at > $2 \
                       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = auth_sessions.user_id AND u.disabled_at IS NOT NULL) \
                     RETURNING user_id, expires_at",
                )
                .bind(session_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user_id, expires_at)) = live else {
                    return Ok(RefreshOutcome::Invalid);
                };
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(replacement)
                .bind(session_id)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Rotated { session_id, user_id, expires_at });
            }
            if grace.is_positive() {
                let raced: Option<(Uuid, Uuid, Timestamp)> = sqlx::query_as(
                    "SELECT s.id, s.user_id, s.expires_at FROM refresh_tokens r \
                     JOIN auth_sessions s ON s.id = r.session_id \
                     WHERE r.token_hash = $1 AND r.spent_at > $2 \
                       AND s.ended_at IS NULL AND s.expires_at > $3",
                )
                .bind(presented)
                .bind(now - grace)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((session_id, user_id, expires_at)) = raced {
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Raced { session_id, user_id, expires_at });
                }
            }
            // Not live: a replay of a spent token ends its whole session, if it still runs.
            let reused: Option<(Uuid, Uuid)> = sqlx::query_as(
                "UPDATE auth_sessions SET ended_at = $2, end_reason = $3 \
                 WHERE ended_at IS NULL AND id = \
                   (SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND spent_at IS NOT NULL) \
                 RETURNING id, user_id",
            )
            .bind(presented)
            .bind(now)
            .bind(EndReason::RefreshTokenReused.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(match reused {
                Some((session_id, user_id)) => RefreshOutcome::Reused { session_id, user_id },
                None => RefreshOutcome::Invalid,
            })
        })
    }

    /// Ends one of the user's sessions. False if the user has no such running session.
    pub async fn end_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: EndReason,
        now: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE auth_sessions SET ended_at = $3, end_reason = $4 \
             WHERE id = $1 AND user_id = $2 AND ended_at IS NULL",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .bind(reason.as_str())
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
    }

    /// Ends every running session of the user except `keep`; returns how many ended.
    pub async fn end_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: EndReason,
        now: Timestamp,
    ) -> Result<u64, sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE auth_sessions SET ended_at = $3, end_reason = $4 \
             WHERE user_id = $1 AND ended_at IS NULL AND ($2 IS NULL OR id <> $2)",
        )
        .bind(user_id)
        .bind(keep)
        .bind(now)
        .bind(reason.as_str())
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    }

    /// The user's running sessions, newest first.
    pub async fn active_sessions(
        &self,
        user_id: Uuid,
        now: Timestamp,
    ) -> Result<Vec<LoginSessionRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, LoginSessionRecord>(
            "SELECT id, created_at, last_used_at, expires_at, ip, user_agent FROM auth_sessions \
             WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(pool)
        .await)
    }

    /// What the holder of an access JWT of this session acts as: the user's role while the
    /// session runs; [`SessionRole::AccountDisabled`] once the account is disabled (whether or not
    /// its sessions were ended yet); `None` once the session has ended (logout, reuse, password
    /// change) or the user is gone.
    pub async fn session_role(
        &self,
        session_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<SessionRole>, sqlx::Error> {
        let found = on_pool!(self, pool => sqlx::query_as::<_, (Role, Option<Timestamp>)>(
            "SELECT u.role, u.disabled_at FROM auth_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND (s.ended_at IS NULL OR u.disabled_at IS NOT NULL)",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
        Ok(found.map(|(role, disabled_at)| match disabled_at {
            None => SessionRole::Running(role),
            Some(_) => SessionRole::AccountDisabled,
        }))
    }
}
