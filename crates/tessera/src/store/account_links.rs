//! Queries on `account_links`: the one-time password-reset and invitation links.

use uuid::Uuid;

use super::{on_pool, AccountOrigin, EndReason, Store};
use crate::types::{Role, Timestamp};

crate::types::text_enum! {
    /// What a one-time link does.
    pub enum LinkPurpose("link purpose") {
        /// Sets a new password for an existing account.
        PasswordReset = "password_reset",
        /// Creates an account with a given email and role.
        Invite = "invite",
    }
}

/// A link to store; its secret is already hashed.
#[derive(Debug, Clone, Copy)]
pub struct NewAccountLink<'a> {
    pub token_hash: &'a [u8],
    pub purpose: LinkPurpose,
    /// Reset: whose password.
    pub user_id: Option<Uuid>,
    /// Invite: who is invited.
    pub email: Option<&'a str>,
    /// Invite: the role the account gets.
    pub role: Option<Role>,
    /// The admin who made it (`None`: an operator at the CLI).
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The account an invitation creates, but for the email and role the invitation holds.
#[derive(Debug, Clone, Copy)]
pub struct InvitedUser<'a> {
    pub id: Uuid,
    pub username: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    pub created_at: Timestamp,
}

/// A stored link, as its page and the refusals need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountLinkRecord {
    pub purpose: LinkPurpose,
    pub user_id: Option<Uuid>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    /// When a newer link replaced it.
    pub ended_at: Option<Timestamp>,
}

/// What spending a link came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption<T> {
    /// Spent; what it did.
    Done(T),
    /// Unknown, used, replaced or expired: nothing changed (the caller reads the link to say which).
    NotUsable,
}

/// A live link of `purpose` with this hash, spent now; its subject. A reset link spends only on a
/// person's enabled account (disabling ends such links too; this closes the race).
const SPEND: &str = "UPDATE account_links SET used_at = $2 \
     WHERE token_hash = $1 AND purpose = $3 AND used_at IS NULL AND ended_at IS NULL AND expires_at > $2 \
       AND (user_id IS NULL OR EXISTS (SELECT 1 FROM users u \
         WHERE u.id = account_links.user_id AND u.kind = 'person' AND u.disabled_at IS NULL)) \
     RETURNING user_id, email, role";

impl Store {
    /// Stores a link, ending every live link for the same account (reset) or email (invite).
    pub async fn insert_account_link(&self, link: &NewAccountLink<'_>) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE account_links SET ended_at = $1 \
                 WHERE purpose = $2 AND used_at IS NULL AND ended_at IS NULL \
                   AND (user_id = $3 OR lower(email) = lower($4))",
            )
            .bind(link.created_at)
            .bind(link.purpose)
            .bind(link.user_id)
            .bind(link.email)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO account_links (token_hash, purpose, user_id, email, role, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(link.token_hash)
            .bind(link.purpose)
            .bind(link.user_id)
            .bind(link.email)
            .bind(link.role)
            .bind(link.created_by)
            .bind(link.created_at)
            .bind(link.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
    }

    /// The link with this hash, whatever its state.
    pub async fn account_link(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<AccountLinkRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, AccountLinkRecord>(
            "SELECT purpose, user_id, email, role, expires_at, used_at, ended_at \
             FROM account_links WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await)
    }

    /// Spends a live reset link: the account gets `password_hash` and every session of it ends,
    /// in one transaction. Returns the account and how many sessions ended.
    pub async fn redeem_reset_link(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Redemption<(Uuid, u64)>, sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let spent: Option<(Option<Uuid>, Option<String>, Option<Role>)> = sqlx::query_as(SPEND)
                .bind(token_hash)
                .bind(now)
                .bind(LinkPurpose::PasswordReset)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((Some(user_id), _, _)) = spent else {
                return Ok(Redemption::NotUsable);
            };
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *tx)
                .await?;
            let ended = sqlx::query(super::login_sessions::END_ALL_SESSIONS)
            .bind(user_id)
            .bind(now)
            .bind(EndReason::PasswordReset.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(Redemption::Done((user_id, ended)))
        })
    }

    /// Spends a live invitation and creates its account (the invitation's email and role, the
    /// rest from `user`), in one transaction: a taken username leaves the invitation unspent.
    pub async fn redeem_invite(
        &self,
        token_hash: &[u8],
        user: &InvitedUser<'_>,
    ) -> Result<Redemption<(String, Role)>, sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let spent: Option<(Option<Uuid>, Option<String>, Option<Role>)> = sqlx::query_as(SPEND)
                .bind(token_hash)
                .bind(user.created_at)
                .bind(LinkPurpose::Invite)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((_, Some(email), Some(role))) = spent else {
                return Ok(Redemption::NotUsable);
            };
            sqlx::query(
                "INSERT INTO users (id, username, email, password_hash, role, created_via, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(user.id)
            .bind(user.username)
            .bind(&email)
            .bind(user.password_hash)
            .bind(role)
            .bind(AccountOrigin::Invite)
            .bind(user.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Redemption::Done((email, role)))
        })
    }
}
