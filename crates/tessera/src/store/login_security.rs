//! Queries on `login_failures` (brute-force counters) and `security_events` (the record of every
//! failed login, lock, and refresh-token replay).

use crate::types::Timestamp;
use uuid::Uuid;

use super::tx::on_tx;
use super::{on_pool, Store, Tx};

/// A failure counter as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct FailureCount {
    /// Failures in the current window.
    pub failures: i32,
    /// Until when the subject is locked, if it is or was.
    pub locked_until: Option<Timestamp>,
}

/// How failures are counted at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FailurePolicy {
    /// The instant.
    pub now: Timestamp,
    /// A failure after this instant continues the count; an older last failure starts it afresh.
    pub window_start: Timestamp,
    /// Until when a lock set now lasts.
    pub locked_until: Timestamp,
}

crate::types::text_enum! {
    /// What a security event records; stored as its name in `security_events.kind`.
    pub enum SecurityEventKind("security event kind") {
        /// A checked wrong password at login (or an unknown login).
        LoginFailed = "login_failed",
        /// A login refused because the account or the client address is locked.
        LoginRefusedLocked = "login_refused_locked",
        /// An account or a client address reached its lock threshold.
        LoginLocked = "login_locked",
        /// A checked wrong current password at a password change.
        PasswordChangeFailed = "password_change_failed",
        /// A password change refused because the account or address is locked.
        PasswordChangeRefusedLocked = "password_change_refused_locked",
        /// A password was changed (the other sessions ended).
        PasswordChanged = "password_changed",
        /// A spent refresh token came back: its session was ended.
        RefreshTokenReused = "refresh_token_reused",
        /// An admin changed an account's role.
        RoleChanged = "role_changed",
        /// An admin disabled an account (its sessions ended).
        AccountDisabled = "account_disabled",
        /// An admin enabled a disabled account.
        AccountEnabled = "account_enabled",
        /// An admin cleared an account's login lock.
        AccountUnlocked = "account_unlocked",
        /// An admin made a password-reset link for an account.
        ResetLinkCreated = "reset_link_created",
        /// A reset link set a new password (every session ended).
        PasswordReset = "password_reset",
        /// An admin invited someone (the event's account is the admin's).
        InviteCreated = "invite_created",
        /// An invitation was accepted: the account was created.
        InviteAccepted = "invite_accepted",
        /// An admin revoked someone's token (the event's account is the owner).
        TokenRevokedByAdmin = "token_revoked_by_admin",
        /// A service account was made.
        ServiceAccountCreated = "service_account_created",
        /// A service account was deleted (its tokens revoked).
        ServiceAccountDeleted = "service_account_deleted",
    }
}

/// A security event to record.
#[derive(Debug, Clone, Copy)]
pub struct SecurityEvent<'a> {
    pub kind: SecurityEventKind,
    /// The account concerned, when known (never for a login naming no account).
    pub user_id: Option<Uuid>,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// The client IP.
    pub ip: Option<&'a str>,
    /// A short, secret-free description.
    pub detail: Option<&'a str>,
    /// The admin who caused it, if one did.
    pub actor_id: Option<Uuid>,
}

impl<'a> SecurityEvent<'a> {
    /// An event about account `user_id` that no session or address caused: what an admin (or
    /// `actor_id: None`, an operator or the service) did to it.
    pub fn about_account(
        kind: SecurityEventKind,
        user_id: Uuid,
        detail: &'a str,
        actor_id: Option<Uuid>,
    ) -> Self {
        SecurityEvent {
            kind,
            user_id: Some(user_id),
            session_id: None,
            ip: None,
            detail: Some(detail),
            actor_id,
        }
    }
}

/// What the counters said when an attempt asked for a place (see
/// [`Store::reserve_login_attempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A place is reserved for the attempt; the counts are the checked failures before it
    /// (account, IP).
    Reserved(FailureCount, FailureCount),
    /// A subject is locked: the attempt holds no place and must be refused.
    Locked,
    /// Every place left below a subject's threshold is held by attempts in flight: try again
    /// when one settles.
    Full,
}

/// A brute-force subject and the count at which it locks.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `account:…` or `ip:…`.
    pub key: &'a str,
    /// Checked failures that lock it.
    pub lock_threshold: i32,
}

/// Takes the subject's counter row (creating an empty one), which on PostgreSQL holds the row
/// lock until commit: attempts on one subject reserve one after another. Returns the failures of
/// the current window (an older last failure counts as none) and the lock.
const LOCK_COUNTER: &str =
    "INSERT INTO login_failures AS f (subject, failures, last_failure_at, locked_until) \
     VALUES ($1, 0, $2, NULL) \
     ON CONFLICT (subject) DO UPDATE SET failures = f.failures \
     RETURNING CASE WHEN last_failure_at > $3 THEN failures ELSE 0 END AS failures, locked_until";

/// [`LOCK_COUNTER`]'s answer without taking the row.
const READ_COUNTER: &str =
    "SELECT CASE WHEN last_failure_at > $2 THEN failures ELSE 0 END AS failures, locked_until \
     FROM login_failures WHERE subject = $1";

const COUNT_IN_FLIGHT: &str =
    "SELECT COUNT(*) FROM login_attempts_in_flight WHERE subject = $1 AND expires_at > $2";

/// Reservations of a process that died stop counting when they expire; they are swept here.
const SWEEP_EXPIRED: &str =
    "DELETE FROM login_attempts_in_flight WHERE subject = $1 AND expires_at <= $2";

const INSERT_IN_FLIGHT: &str =
    "INSERT INTO login_attempts_in_flight (subject, attempt_id, expires_at) VALUES ($1, $2, $3)";

const DELETE_IN_FLIGHT: &str = "DELETE FROM login_attempts_in_flight WHERE attempt_id = $1";

/// Counts one checked wrong password (a quiet window starts the count afresh); reaching the
/// threshold sets the lock. While a lock holds, neither `last_failure_at` nor `locked_until`
/// moves, so failures while locked cannot extend it.
const RECORD_FAILURE: &str =
    "INSERT INTO login_failures AS f (subject, failures, last_failure_at, locked_until) \
     VALUES ($1, 1, $2, CASE WHEN $4 <= 1 THEN $5 END) \
     ON CONFLICT (subject) DO UPDATE SET \
       failures = CASE WHEN f.last_failure_at > $3 OR f.locked_until > $2 THEN f.failures + 1 ELSE 1 END, \
       last_failure_at = CASE WHEN f.locked_until > $2 THEN f.last_failure_at ELSE $2 END, \
       locked_until = CASE \
         WHEN f.locked_until > $2 THEN f.locked_until \
         WHEN (CASE WHEN f.last_failure_at > $3 THEN f.failures + 1 ELSE 1 END) >= $4 THEN $5 \
         ELSE f.locked_until END \
     RETURNING failures, locked_until";

const INSERT_EVENT: &str =
    "INSERT INTO security_events (occurred_at, kind, user_id, session_id, ip, detail, actor_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Why an attempt gets no place, given each subject's (checked failures, attempts in flight):
/// locked beats full, since a locked attempt is answered at once.
fn refusal(
    subjects: &[Subject<'_>; 2],
    counts: &[(FailureCount, i64)],
    now: Timestamp,
) -> Option<Admission> {
    let mut refusal = None;
    for (subject, (count, in_flight)) in subjects.iter().zip(counts) {
        if count.failures >= subject.lock_threshold
            || count.locked_until.is_some_and(|until| until > now)
        {
            return Some(Admission::Locked);
        }
        if i64::from(count.failures) + in_flight >= i64::from(subject.lock_threshold) {
            refusal = Some(Admission::Full);
        }
    }
    refusal
}

impl Store {
    /// Asks for a place for one attempt on both subjects: refused when either is locked, or when
    /// its checked failures plus the attempts in flight reach its threshold (so however many
    /// guesses run at once, no more than the threshold are ever checked); otherwise a place
    /// expiring at `expires_at` is reserved on both, in one transaction that holds both counter
    /// rows. A read without locks answers first, so attempts woken to find no place free cost no
    /// write.
    pub async fn reserve_login_attempt(
        &self,
        attempt_id: Uuid,
        subjects: [Subject<'_>; 2],
        policy: FailurePolicy,
        expires_at: Timestamp,
    ) -> Result<Admission, sqlx::Error> {
        let now = policy.now;
        on_pool!(self, pool => {
            let mut counts = Vec::with_capacity(2);
            for subject in subjects {
                let count = sqlx::query_as::<_, FailureCount>(READ_COUNTER)
                    .bind(subject.key)
                    .bind(policy.window_start)
                    .fetch_optional(pool)
                    .await?
                    .unwrap_or(FailureCount { failures: 0, locked_until: None });
                let in_flight: i64 = sqlx::query_scalar(COUNT_IN_FLIGHT)
                    .bind(subject.key)
                    .bind(now)
                    .fetch_one(pool)
                    .await?;
                counts.push((count, in_flight));
            }
            if let Some(refusal) = refusal(&subjects, &counts, now) {
                return Ok(refusal);
            }
            let _turn = self.write_turn().await;
            let mut tx = pool.begin().await?;
            counts.clear();
            for subject in subjects {
                let count = sqlx::query_as::<_, FailureCount>(LOCK_COUNTER)
                    .bind(subject.key)
                    .bind(now)
                    .bind(policy.window_start)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(SWEEP_EXPIRED).bind(subject.key).bind(now).execute(&mut *tx).await?;
                let in_flight: i64 = sqlx::query_scalar(COUNT_IN_FLIGHT)
                    .bind(subject.key)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                counts.push((count, in_flight));
            }
            if let Some(refusal) = refusal(&subjects, &counts, now) {
                tx.commit().await?;
                return Ok(refusal);
            }
            for subject in subjects {
                sqlx::query(INSERT_IN_FLIGHT)
                    .bind(subject.key)
                    .bind(attempt_id)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(Admission::Reserved(counts[0].0, counts[1].0))
        })
    }

    /// Gives back an attempt's places without counting anything (its password was not checked).
    pub async fn release_login_attempt(&self, attempt_id: Uuid) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(DELETE_IN_FLIGHT)
            .bind(attempt_id)
            .execute(pool)
            .await
            .map(drop))
    }

    /// A checked wrong password: gives back the attempt's places and counts a failure on both
    /// subjects, locking those that reach their threshold. Returns the new counts (account, IP).
    pub async fn settle_failed_login(
        &self,
        attempt_id: Uuid,
        subjects: [Subject<'_>; 2],
        policy: FailurePolicy,
    ) -> Result<(FailureCount, FailureCount), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut counts = Vec::with_capacity(2);
            for subject in subjects {
                counts.push(
                    sqlx::query_as::<_, FailureCount>(RECORD_FAILURE)
                        .bind(subject.key)
                        .bind(policy.now)
                        .bind(policy.window_start)
                        .bind(subject.lock_threshold)
                        .bind(policy.locked_until)
                        .fetch_one(&mut *tx)
                        .await?,
                );
            }
            sqlx::query(DELETE_IN_FLIGHT).bind(attempt_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok((counts[0], counts[1]))
        })
    }

    /// A checked right password: gives back the attempt's places and forgets the account's
    /// failures (the client IP keeps the failures its other people made).
    pub async fn settle_successful_login(
        &self,
        attempt_id: Uuid,
        account: &str,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM login_failures WHERE subject = $1")
                .bind(account)
                .execute(&mut *tx)
                .await?;
            sqlx::query(DELETE_IN_FLIGHT).bind(attempt_id).execute(&mut *tx).await?;
            tx.commit().await
        })
    }
}

impl Tx {
    /// Records a security event (see `accounts::security_log`, which writes it).
    pub async fn record_security_event(
        &mut self,
        event: &SecurityEvent<'_>,
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => sqlx::query(INSERT_EVENT)
            .bind(now)
            .bind(event.kind)
            .bind(event.user_id)
            .bind(event.session_id)
            .bind(event.ip)
            .bind(event.detail)
            .bind(event.actor_id)
            .execute(&mut **conn)
            .await
            .map(drop))
    }

    /// An account's username, if it exists.
    pub async fn username(&mut self, user_id: Uuid) -> Result<Option<String>, sqlx::Error> {
        on_tx!(self, conn => sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut **conn)
            .await)
    }
}

#[cfg(test)]
mod kind_tests {
    use super::SecurityEventKind;

    #[test]
    fn every_security_event_kind_reads_back_as_stored() {
        for &kind in SecurityEventKind::ALL {
            assert_eq!(SecurityEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SecurityEventKind::parse("login_succeeded"), None);
    }
}
