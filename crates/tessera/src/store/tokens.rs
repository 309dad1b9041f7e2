//! Queries on `personal_access_tokens`.

use crate::types::Timestamp;
use uuid::Uuid;

use super::tx::on_tx;
use super::{on_pool, Store, Tx};

/// One stored token, exactly as the row holds it. `tokens::Token` turns it into domain types.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRecord {
    /// Token id (UUIDv7).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Human label.
    pub name: String,
    /// First 12 characters of the token.
    pub token_prefix: String,
    /// SHA-256 of the whole token.
    pub token_hash: Vec<u8>,
    /// JSON array of canonical scope strings, in grant order.
    pub scopes: String,
    /// JSON array of CIDRs, or NULL for "any address".
    pub allowed_ips: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// End of validity.
    pub expires_at: Timestamp,
    /// Last authorized use, kept current within a minute (see `tokens::audit`).
    pub last_used_at: Option<Timestamp>,
    /// The client address of that use.
    pub last_used_ip: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Who minted it, when that is not its owner (a service account's token).
    pub created_by: Option<Uuid>,
}

/// A token's latest authorized use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUse {
    pub at: Timestamp,
    /// The client address, as the audit log writes it.
    pub ip: String,
}

/// A token to insert.
pub struct NewToken<'a> {
    /// New id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Validated name.
    pub name: &'a str,
    /// Display prefix.
    pub token_prefix: &'a str,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// JSON array of canonical scopes.
    pub scopes: &'a str,
    /// JSON array of CIDRs, if restricted.
    pub allowed_ips: Option<&'a str>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Who minted it, when that is not its owner (a service account's token).
    pub created_by: Option<Uuid>,
    /// The expiry notice threshold it is born inside, if any (see `tokens::expiry`).
    pub expiry_notified_days: Option<i32>,
}

/// A token's new secret, and how long the one it replaces keeps working.
pub struct NewSecret<'a> {
    /// Display prefix of the new secret.
    pub token_prefix: &'a str,
    /// SHA-256 of the new secret.
    pub token_hash: &'a [u8],
    /// The token's new expiry.
    pub expires_at: Timestamp,
    /// The end of the replaced secret's grace; `None` ends it at once.
    pub previous_valid_until: Option<Timestamp>,
    /// The expiry notice threshold the new expiry is already inside, if any.
    pub expiry_notified_days: Option<i32>,
}

/// A token that a presented secret may belong to: the row, and its previous secret if one is
/// in (or past) a grace.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecretCandidate {
    /// The token.
    #[sqlx(flatten)]
    pub token: TokenRecord,
    /// SHA-256 of the secret it had before its last regeneration, kept for a grace.
    pub previous_token_hash: Option<Vec<u8>>,
    /// When that grace ends.
    pub previous_valid_until: Option<Timestamp>,
    /// Whether an admin has disabled the token's owner.
    pub owner_disabled: bool,
}

/// A token with its owner: for reviewing live tokens against their owners' roles, and for the
/// admins' inventory.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnedTokenRecord {
    /// The token.
    #[sqlx(flatten)]
    pub token: TokenRecord,
    /// The owner's username.
    pub owner: String,
    /// The owner's role now.
    pub owner_role: crate::types::Role,
}

const COLUMNS: &str = "id, user_id, name, token_prefix, token_hash, scopes, allowed_ips, created_at, expires_at, last_used_at, last_used_ip, revoked_at, created_by";

/// A token at a moment its owner is told of: its revocation (`at`: the first revocation's time
/// if it was revoked already) or its expiry (`at`: `expires_at`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenMilestone {
    pub id: Uuid,
    pub user_id: Uuid,
    /// Who minted it for a service account.
    pub created_by: Option<Uuid>,
    pub name: String,
    pub at: Timestamp,
}

/// [`COLUMNS`] of the table aliased `alias`, for joins.
pub(super) fn qualified_columns(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Tx {
    /// Revokes a token — one of `owner`'s, or anyone's when `owner` is `None` — and says
    /// whether this call revoked it (`true`) or it was revoked already (`false`, with the first
    /// revocation's time). `None` if there is no such token.
    pub async fn revoke_token(
        &mut self,
        owner: Option<Uuid>,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Option<(TokenMilestone, bool)>, sqlx::Error> {
        let revoked = on_tx!(self, conn => sqlx::query_as::<_, TokenMilestone>(
            "UPDATE personal_access_tokens SET revoked_at = $3 \
             WHERE id = $1 AND ($2 IS NULL OR user_id = $2) AND revoked_at IS NULL \
             RETURNING id, user_id, created_by, name, revoked_at AS at",
        )
        .bind(id)
        .bind(owner)
        .bind(now)
        .fetch_optional(&mut **conn)
        .await)?;
        if let Some(revoked) = revoked {
            return Ok(Some((revoked, true)));
        }
        let earlier = on_tx!(self, conn => sqlx::query_as::<_, TokenMilestone>(
            "SELECT id, user_id, created_by, name, revoked_at AS at FROM personal_access_tokens \
             WHERE id = $1 AND ($2 IS NULL OR user_id = $2) AND revoked_at IS NOT NULL",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut **conn)
        .await)?;
        Ok(earlier.map(|token| (token, false)))
    }

    /// Records that the owners of every live token expiring in `(now, now + days]` and not yet
    /// told of `days` (or of a nearer threshold) are told now — `days` 0: every live token expired
    /// by `now` and not yet told so. Returns those tokens, to write their events in this
    /// transaction. On PostgreSQL an instance doing the same at once waits for the row locks and
    /// then finds the rows told, so each notice is written once.
    pub async fn mark_expiry_notices(
        &mut self,
        days: i32,
        now: Timestamp,
    ) -> Result<Vec<TokenMilestone>, sqlx::Error> {
        let window = if days == 0 {
            "expires_at <= $2"
        } else {
            "expires_at > $2 AND expires_at <= $3"
        };
        let sql = format!(
            "UPDATE personal_access_tokens SET expiry_notified_days = $1 \
             WHERE revoked_at IS NULL AND {window} \
             AND (expiry_notified_days IS NULL OR expiry_notified_days > $1) \
             RETURNING id, user_id, created_by, name, expires_at AS at"
        );
        on_tx!(self, conn => {
            let query = sqlx::query_as::<_, TokenMilestone>(&sql).bind(days).bind(now);
            let query = if days == 0 { query } else { query.bind(now + time::Duration::days(days.into())) };
            query.fetch_all(&mut **conn).await
        })
    }

    /// Gives a token a new secret (and expiry), unless it is revoked. With `previous_valid_until`
    /// the secret it replaces keeps working until then; without, it stops at once (and any older
    /// secret still in its grace stops too). Returns the updated row; `None` if the user has no
    /// such token or it is revoked (the caller tells which).
    pub async fn replace_token_secret(
        &mut self,
        user_id: Uuid,
        id: Uuid,
        secret: &NewSecret<'_>,
    ) -> Result<Option<TokenRecord>, sqlx::Error> {
        // The right-hand sides read the row as it was, so the replaced secret moves to previous_*.
        let sql = format!(
            "UPDATE personal_access_tokens SET token_prefix = $3, token_hash = $4, expires_at = $5, \
             previous_token_prefix = CASE WHEN $6 IS NULL THEN NULL ELSE token_prefix END, \
             previous_token_hash = CASE WHEN $6 IS NULL THEN NULL ELSE token_hash END, \
             previous_valid_until = $6, expiry_notified_days = $7 \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING {COLUMNS}"
        );
        on_tx!(self, conn => sqlx::query_as::<_, TokenRecord>(&sql)
            .bind(id)
            .bind(user_id)
            .bind(secret.token_prefix)
            .bind(secret.token_hash)
            .bind(secret.expires_at)
            .bind(secret.previous_valid_until)
            .bind(secret.expiry_notified_days)
            .fetch_optional(&mut **conn)
            .await)
    }
}

impl Store {
    /// Inserts a new token.
    pub async fn insert_token(&self, token: &NewToken<'_>) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO personal_access_tokens (id, user_id, name, token_prefix, token_hash, scopes, \
             allowed_ips, created_at, expires_at, created_by, expiry_notified_days) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(token.id)
        .bind(token.user_id)
        .bind(token.name)
        .bind(token.token_prefix)
        .bind(token.token_hash)
        .bind(token.scopes)
        .bind(token.allowed_ips)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.created_by)
        .bind(token.expiry_notified_days)
        .execute(pool)
        .await
        .map(drop))
    }

    /// The user's tokens, newest first. UUIDv7 ids are time-ordered, which breaks creation-time ties.
    pub async fn list_tokens(&self, user_id: Uuid) -> Result<Vec<TokenRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM personal_access_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        );
        on_pool!(self, pool => sqlx::query_as::<_, TokenRecord>(&sql).bind(user_id).fetch_all(pool).await)
    }

    /// Every live (neither revoked nor expired) token with its owner, of one owner or of all,
    /// oldest first.
    pub async fn live_tokens_with_owners(
        &self,
        owner: Option<Uuid>,
        now: Timestamp,
    ) -> Result<Vec<OwnedTokenRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {}, u.username AS owner, u.role AS owner_role \
             FROM personal_access_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.revoked_at IS NULL AND t.expires_at > $1 AND ($2 IS NULL OR t.user_id = $2) \
             ORDER BY t.created_at, t.id",
            qualified_columns("t")
        );
        on_pool!(self, pool => sqlx::query_as::<_, OwnedTokenRecord>(&sql).bind(now).bind(owner).fetch_all(pool).await)
    }

    /// One of the user's tokens; another user's id gives `None`, exactly like a missing one.
    pub async fn find_token(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TokenRecord>, sqlx::Error> {
        let sql =
            format!("SELECT {COLUMNS} FROM personal_access_tokens WHERE id = $1 AND user_id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, TokenRecord>(&sql).bind(id).bind(user_id).fetch_optional(pool).await)
    }

    /// Candidates for a presented token: every token whose current secret, or previous secret
    /// within a grace, has its display prefix. The caller compares the hashes in constant time.
    /// Prefixes carry 47 bits, so there is almost always one row or none.
    pub async fn tokens_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<SecretCandidate>, sqlx::Error> {
        let sql = format!(
            "SELECT {}, t.previous_token_hash, t.previous_valid_until, \
               u.disabled_at IS NOT NULL AS owner_disabled \
             FROM personal_access_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_prefix = $1 OR t.previous_token_prefix = $1",
            qualified_columns("t")
        );
        on_pool!(self, pool => sqlx::query_as::<_, SecretCandidate>(&sql).bind(prefix).fetch_all(pool).await)
    }

    /// Moves `last_used_at` forward, with the address of that use (never back: several
    /// instances may write them), for each token.
    pub async fn touch_tokens(&self, uses: &[(Uuid, LastUse)]) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (id, LastUse { at, ip }) in uses {
                sqlx::query(
                    "UPDATE personal_access_tokens SET last_used_at = $2, last_used_ip = $3 \
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                )
                .bind(id)
                .bind(at)
                .bind(ip)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })
    }
}
