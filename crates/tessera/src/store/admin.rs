//! Queries for the administration of accounts (`admin/`): finding accounts with their status,
//! disabling and enabling them, clearing a login lock.

use uuid::Uuid;

use super::tokens::qualified_columns;
use super::{on_pool, BackendKind, EndReason, OwnedTokenRecord, SecurityEventKind, Store};
use crate::types::{Role, Timestamp};

crate::types::text_enum! {
    /// Whether an account may sign in now, as an admin filters and sees it.
    pub enum AccountStatus("account status") {
        /// Neither disabled nor locked.
        Active = "active",
        /// Disabled by an admin.
        Disabled = "disabled",
        /// Locked by the brute-force rules for a while.
        Locked = "locked",
    }
}

/// Which accounts an admin asks for.
#[derive(Debug, Clone, Copy)]
pub struct AccountFilter<'a> {
    /// Part of the username or email, matched without case.
    pub search: Option<&'a str>,
    pub role: Option<Role>,
    pub status: Option<AccountStatus>,
    /// The instant a lock is judged at.
    pub now: Timestamp,
}

/// An account as the admin listing shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminAccountRecord {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub role: Role,
    /// How it was made; `None` for accounts made before this was recorded.
    pub created_via: Option<super::AccountOrigin>,
    pub created_at: Timestamp,
    /// The last successful sign-in.
    pub last_login: Option<Timestamp>,
    /// When an admin disabled it, if one did.
    pub disabled_at: Option<Timestamp>,
    /// Until when the brute-force rules lock it, if they do now.
    pub locked_until: Option<Timestamp>,
}

impl AdminAccountRecord {
    /// Its status now: `disabled` wins over `locked`.
    pub fn status(&self) -> AccountStatus {
        match (self.disabled_at, self.locked_until) {
            (Some(_), _) => AccountStatus::Disabled,
            (None, Some(_)) => AccountStatus::Locked,
            (None, None) => AccountStatus::Active,
        }
    }
}

/// What disabling an account came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabling {
    /// Disabled now; this many sessions ran until now.
    Disabled {
        sessions_ended: u64,
    },
    /// It was disabled already: nothing changed.
    AlreadyDisabled,
    /// Refused: it is the last enabled admin.
    LastAdmin,
    NoSuchUser,
}

/// The brute-force lock key of an account (see `accounts::login_guard::account_subject`), as
/// SQL over `users u`. Ids are stored as 16 bytes on SQLite, so the text form is rebuilt there.
fn account_subject_sql(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Postgres => "'account:' || u.id::text",
        BackendKind::Sqlite => {
            "'account:' || lower(substr(hex(u.id), 1, 8) || '-' || substr(hex(u.id), 9, 4) || '-' || \
             substr(hex(u.id), 13, 4) || '-' || substr(hex(u.id), 17, 4) || '-' || substr(hex(u.id), 21))"
        }
    }
}

/// `%term%` for `LIKE … ESCAPE '\'`, with the term's own wildcards taken literally.
fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// A page of the people's accounts (not service accounts) `filter` passes, oldest first, and how many it passes in all.
    pub async fn search_accounts(
        &self,
        filter: AccountFilter<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AdminAccountRecord>, i64), sqlx::Error> {
        let from = format!(
            "FROM users u LEFT JOIN login_failures f ON f.subject = {} \
             WHERE u.kind = 'person' \
               AND ($1 IS NULL OR lower(u.username) LIKE $1 ESCAPE '\\' OR lower(u.email) LIKE $1 ESCAPE '\\') \
               AND ($2 IS NULL OR u.role = $2) \
               AND ($3 IS NULL \
                 OR ($3 = 'disabled' AND u.disabled_at IS NOT NULL) \
                 OR ($3 = 'locked' AND f.locked_until > $4) \
                 OR ($3 = 'active' AND u.disabled_at IS NULL AND (f.locked_until IS NULL OR f.locked_until <= $4)))",
            account_subject_sql(self.kind())
        );
        let page_sql = format!(
            "SELECT u.id, u.username, u.email, u.role, u.created_via, u.created_at, u.last_login, \
               u.disabled_at, CASE WHEN f.locked_until > $4 THEN f.locked_until END AS locked_until \
             {from} ORDER BY u.created_at, u.id LIMIT $5 OFFSET $6"
        );
        let count_sql = format!("SELECT COUNT(*) {from}");
        let pattern = filter.search.map(contains_pattern);
        let status = filter.status.map(AccountStatus::as_str);
        on_pool!(self, pool => {
            let page = sqlx::query_as::<_, AdminAccountRecord>(&page_sql)
                .bind(&pattern)
                .bind(filter.role)
                .bind(status)
                .bind(filter.now)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(&count_sql)
                .bind(&pattern)
                .bind(filter.role)
                .bind(status)
                .bind(filter.now)
                .fetch_one(pool)
                .await?;
            Ok((page, total))
        })
    }

    /// One account as the admin listing shows it.
    pub async fn admin_account(
        &self,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Option<AdminAccountRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT u.id, u.username, u.email, u.role, u.created_via, u.created_at, u.last_login, \
               u.disabled_at, CASE WHEN f.locked_until > $2 THEN f.locked_until END AS locked_until \
             FROM users u LEFT JOIN login_failures f ON f.subject = {} WHERE u.id = $1",
            account_subject_sql(self.kind())
        );
        on_pool!(self, pool => sqlx::query_as::<_, AdminAccountRecord>(&sql)
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await)
    }

    /// Disables account `id` and ends its running sessions and live reset links, in one transaction, unless it is the
    /// last enabled admin. Disabling a disabled account changes nothing.
    pub async fn disable_account(
        &self,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Disabling, sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // As in `change_role`: touching every admin row first serialises concurrent changes,
            // so two admins disabling each other cannot both succeed.
            sqlx::query("UPDATE users SET role = role WHERE role = 'admin'")
                .execute(&mut *tx)
                .await?;
            let found: Option<(Role, Option<Timestamp>)> =
                sqlx::query_as("SELECT role, disabled_at FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((role, disabled_at)) = found else {
                return Ok(Disabling::NoSuchUser);
            };
            if disabled_at.is_some() {
                return Ok(Disabling::AlreadyDisabled);
            }
            if role == Role::Admin {
                let other_admins: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND kind = 'person' AND disabled_at IS NULL AND id <> $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                if other_admins == 0 {
                    return Ok(Disabling::LastAdmin);
                }
            }
            sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let sessions_ended = sqlx::query(super::login_sessions::END_ALL_SESSIONS)
            .bind(id)
            .bind(now)
            .bind(EndReason::AccountDisabled.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // A reset link handed out before must not let its holder back in once enabled.
            sqlx::query(
                "UPDATE account_links SET ended_at = $2 \
                 WHERE user_id = $1 AND used_at IS NULL AND ended_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Disabling::Disabled { sessions_ended })
        })
    }

    /// Enables account `id`; false if there is no such account (or it is a deleted service
    /// account). Its ended sessions stay ended.
    pub async fn enable_account(&self, id: Uuid) -> Result<bool, sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1))
    }

    /// Forgets the failed logins counted against `subject` (an account's lock key), lock and
    /// all; returns until when it was locked, if it was at `now`.
    pub async fn clear_login_failures(
        &self,
        subject: &str,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, sqlx::Error> {
        let _turn = self.write_turn().await;
        let locked_until: Option<Option<Timestamp>> = on_pool!(self, pool => sqlx::query_scalar(
            "DELETE FROM login_failures WHERE subject = $1 RETURNING locked_until",
        )
        .bind(subject)
        .fetch_optional(pool)
        .await)?;
        Ok(locked_until.flatten().filter(|until| *until > now))
    }
}

crate::types::text_enum! {
    /// A token's state, as the admins' inventory filters it.
    pub enum TokenState("token status") {
        Active = "active",
        Expired = "expired",
        Revoked = "revoked",
    }
}

/// A recorded security event, with the names of the account and the admin it concerns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecurityEventRecord {
    pub id: i64,
    pub occurred_at: Timestamp,
    pub kind: SecurityEventKind,
    pub user_id: Option<Uuid>,
    /// The account's username, while it exists.
    pub username: Option<String>,
    pub actor_id: Option<Uuid>,
    /// The admin's username, while the account exists.
    pub actor_username: Option<String>,
    pub session_id: Option<Uuid>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// Which security events to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter {
    pub user_id: Option<Uuid>,
    pub kind: Option<SecurityEventKind>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
}

impl Store {
    /// Every token (of one owner, in one state), newest first, with its owner.
    pub async fn token_inventory(
        &self,
        owner: Option<Uuid>,
        state: Option<TokenState>,
        now: Timestamp,
    ) -> Result<Vec<OwnedTokenRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {}, u.username AS owner, u.role AS owner_role \
             FROM personal_access_tokens t JOIN users u ON u.id = t.user_id \
             WHERE ($1 IS NULL OR t.user_id = $1) \
               AND ($2 IS NULL \
                 OR ($2 = 'revoked' AND t.revoked_at IS NOT NULL) \
                 OR ($2 = 'expired' AND t.revoked_at IS NULL AND t.expires_at <= $3) \
                 OR ($2 = 'active' AND t.revoked_at IS NULL AND t.expires_at > $3)) \
             ORDER BY t.created_at DESC, t.id DESC",
            qualified_columns("t")
        );
        on_pool!(self, pool => sqlx::query_as::<_, OwnedTokenRecord>(&sql)
            .bind(owner)
            .bind(state.map(TokenState::as_str))
            .bind(now)
            .fetch_all(pool)
            .await)
    }

    /// Deletes up to `batch` security events older than `cutoff`; how many it deleted.
    pub async fn delete_security_events_before(
        &self,
        cutoff: Timestamp,
        batch: i64,
    ) -> Result<u64, sqlx::Error> {
        self.delete_oldest("security_events", cutoff, batch).await
    }

    /// Deletes up to `batch` PAT audit entries older than `cutoff`; how many it deleted.
    pub async fn delete_audit_entries_before(
        &self,
        cutoff: Timestamp,
        batch: i64,
    ) -> Result<u64, sqlx::Error> {
        self.delete_oldest("pat_audit_log", cutoff, batch).await
    }

    /// One short write per batch, taking its turn with the other writers (the audit writer
    /// among them), so a large backlog never holds the database for long.
    async fn delete_oldest(
        &self,
        table: &'static str,
        cutoff: Timestamp,
        batch: i64,
    ) -> Result<u64, sqlx::Error> {
        let sql = format!(
            "DELETE FROM {table} WHERE id IN \
               (SELECT id FROM {table} WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2)"
        );
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(cutoff)
            .bind(batch)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
    }

    /// A page of the security events `filter` passes, newest first, and how many pass in all.
    pub async fn security_events(
        &self,
        filter: EventFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SecurityEventRecord>, i64), sqlx::Error> {
        const WHERE: &str = "WHERE ($1 IS NULL OR e.user_id = $1) AND ($2 IS NULL OR e.kind = $2) \
             AND ($3 IS NULL OR e.occurred_at >= $3) AND ($4 IS NULL OR e.occurred_at < $4)";
        let page_sql = format!(
            "SELECT e.id, e.occurred_at, e.kind, e.user_id, u.username, e.actor_id, \
               a.username AS actor_username, e.session_id, e.ip, e.detail \
             FROM security_events e LEFT JOIN users u ON u.id = e.user_id \
               LEFT JOIN users a ON a.id = e.actor_id \
             {WHERE} ORDER BY e.occurred_at DESC, e.id DESC LIMIT $5 OFFSET $6"
        );
        let count_sql = format!("SELECT COUNT(*) FROM security_events e {WHERE}");
        on_pool!(self, pool => {
            let page = sqlx::query_as::<_, SecurityEventRecord>(&page_sql)
                .bind(filter.user_id)
                .bind(filter.kind)
                .bind(filter.since)
                .bind(filter.until)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(&count_sql)
                .bind(filter.user_id)
                .bind(filter.kind)
                .bind(filter.since)
                .bind(filter.until)
                .fetch_one(pool)
                .await?;
            Ok((page, total))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn a_search_term_matches_its_wildcards_literally() {
        assert_eq!(contains_pattern("Ada"), "%ada%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
