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

/// Counts a failure: a failure after the window start continues the count, an older one starts
/// afresh; reaching the threshold sets the lock.
const COUNT_FAILURE: &str =
    "INSERT INTO login_failures AS f (subject, failures, last_failure_at, locked_until) \
     VALUES ($1, 1, $2, CASE WHEN $4 <= 1 THEN $5 END) \
     ON CONFLICT (subject) DO UPDATE SET \
       failures = CASE WHEN f.last_failure_at > $3 THEN f.failures + 1 ELSE 1 END, \
       last_failure_at = $2, \
       locked_until = CASE \
         WHEN (CASE WHEN f.last_failure_at > $3 THEN f.failures + 1 ELSE 1 END) >= $4 THEN $5 \
         ELSE f.locked_until END \
     RETURNING failures, locked_until";

const INSERT_EVENT: &str =
    "INSERT INTO security_events (occurred_at, kind, user_id, session_id, ip, detail) \
     VALUES ($1, $2, $3, $4, $5, $6)";

impl Store {
    /// The counters of `subjects` that exist (a subject with no failures has no row).
    pub async fn failure_counts(
        &self,
        account: &str,
        ip: &str,
        window_start: Timestamp,
    ) -> Result<(FailureCount, FailureCount), sqlx::Error> {
        let rows: Vec<(String, i32, Option<Timestamp>)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT subject, failures, locked_until FROM login_failures \
             WHERE subject IN ($1, $2) AND (last_failure_at > $3 OR locked_until > $3)",
        )
        .bind(account)
        .bind(ip)
        .bind(window_start)
        .fetch_all(pool)
        .await)?;
        let count = |subject: &str| {
            rows.iter().find(|row| row.0 == subject).map_or(
                FailureCount {
                    failures: 0,
                    locked_until: None,
                },
                |row| FailureCount {
                    failures: row.1,
                    locked_until: row.2,
                },
            )
        };
        Ok((count(account), count(ip)))
    }

    /// Records a failed login in one transaction (one commit, one fsync): counts it against
    /// both subjects, locking either that reaches its threshold, and stores `event`. Returns the
    /// new counts (account, IP).
    pub async fn record_login_failure(
        &self,
        account: (&str, FailurePolicy),
        ip: (&str, FailurePolicy),
        event: SecurityEvent<'_>,
        now: Timestamp,
    ) -> Result<(FailureCount, FailureCount), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut counts = Vec::with_capacity(2);
            for (subject, policy) in [account, ip] {
                counts.push(
                    sqlx::query_as::<_, FailureCount>(COUNT_FAILURE)
                        .bind(subject)
                        .bind(now)
                        .bind(policy.window_start)
                        .bind(policy.lock_threshold)
                        .bind(policy.locked_until)
                        .fetch_one(&mut *tx)
                        .await?,
                );
            }
            sqlx::query(INSERT_EVENT)
                .bind(now)
                .bind(event.kind)
                .bind(event.user_id)
                .bind(event.session_id)
                .bind(event.ip)
                .bind(event.detail)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((counts[0], counts[1]))
        })
    }

    /// Forgets the failures of `subject` (after a successful login to that account).
    pub async fn clear_failures(&self, subject: &str) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query("DELETE FROM login_failures WHERE subject = $1")
            .bind(subject)
            .execute(pool)
            .await
            .map(drop))
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
