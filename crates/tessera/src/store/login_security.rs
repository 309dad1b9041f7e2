//! Queries on `login_failures` (brute-force counters) and `security_events` (the record of every
//! failed login, lock, and refresh-token replay).

use uuid::Uuid;

use super::{on_pool, Store, Timestamp};

/// A failure counter as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct FailureCount {
    /// Failures in the current window.
    pub failures: i32,
    /// Until when the subject is locked, if it is or was.
    pub locked_until: Option<Timestamp>,
}

/// How a failure is counted.
#[derive(Debug, Clone, Copy)]
pub struct FailurePolicy {
    /// A failure after this instant continues the count; an older last failure starts it afresh.
    pub window_start: Timestamp,
    /// The count at which the subject is locked.
    pub lock_threshold: i32,
    /// Until when a lock set now lasts.
    pub locked_until: Timestamp,
}

/// A security event to record.
#[derive(Debug, Clone, Copy)]
pub struct SecurityEvent<'a> {
    /// What happened, e.g. `login_failed`, `login_locked`, `refresh_token_reused`.
    pub kind: &'a str,
    /// The account concerned, when known (never for a login naming no account).
    pub user_id: Option<Uuid>,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// The client IP.
    pub ip: Option<&'a str>,
    /// A short, secret-free description.
    pub detail: Option<&'a str>,
}

/// Reserves an attempt before its password is checked, so parallel guesses cannot all pass a
/// count read before any of them was written. Every attempt adds one to `failures` (a quiet
/// window starts the count afresh); reaching the threshold sets the lock. While a lock holds,
/// neither `last_failure_at` nor `locked_until` moves, so attempts made while locked cannot
/// extend the lock. The returned count includes this attempt: above the threshold means the
/// subject was locked before it.
const RESERVE_ATTEMPT: &str =
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

/// Gives back a reservation that was not a failure (a success, or an attempt that could not be
/// checked): one less, and no lock once below the threshold again.
const RELEASE_ATTEMPT: &str = "UPDATE login_failures SET failures = failures - 1, \
       locked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE locked_until END \
     WHERE subject = $1 AND failures > 0";

const INSERT_EVENT: &str =
    "INSERT INTO security_events (occurred_at, kind, user_id, session_id, ip, detail) \
     VALUES ($1, $2, $3, $4, $5, $6)";

impl Store {
    /// Reserves one attempt against both subjects in one transaction (see [`RESERVE_ATTEMPT`])
    /// and returns their counts including it: (account, IP).
    pub async fn reserve_login_attempt(
        &self,
        account: (&str, FailurePolicy),
        ip: (&str, FailurePolicy),
        now: Timestamp,
    ) -> Result<(FailureCount, FailureCount), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut counts = Vec::with_capacity(2);
            for (subject, policy) in [account, ip] {
                counts.push(
                    sqlx::query_as::<_, FailureCount>(RESERVE_ATTEMPT)
                        .bind(subject)
                        .bind(now)
                        .bind(policy.window_start)
                        .bind(policy.lock_threshold)
                        .bind(policy.locked_until)
                        .fetch_one(&mut *tx)
                        .await?,
                );
            }
            tx.commit().await?;
            Ok((counts[0], counts[1]))
        })
    }

    /// Gives back one reserved attempt of each `(subject, lock threshold)`.
    pub async fn release_login_attempt(&self, subjects: &[(&str, i32)]) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (subject, threshold) in subjects {
                sqlx::query(RELEASE_ATTEMPT)
                    .bind(*subject)
                    .bind(*threshold)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })
    }

    /// After a success: forgets the account's failures and gives back the attempt reserved
    /// against the client's `(subject, lock threshold)`, in one transaction.
    pub async fn settle_successful_login(
        &self,
        account: &str,
        (ip, ip_threshold): (&str, i32),
    ) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM login_failures WHERE subject = $1")
                .bind(account)
                .execute(&mut *tx)
                .await?;
            sqlx::query(RELEASE_ATTEMPT)
                .bind(ip)
                .bind(ip_threshold)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    /// Records a security event.
    pub async fn record_security_event(
        &self,
        event: SecurityEvent<'_>,
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(INSERT_EVENT)
        .bind(now)
        .bind(event.kind)
        .bind(event.user_id)
        .bind(event.session_id)
        .bind(event.ip)
        .bind(event.detail)
        .execute(pool)
        .await
        .map(drop))
    }
}
