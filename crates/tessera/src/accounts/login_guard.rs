//! A password check under the brute-force rules of [`super::lockout`], shared by login and
//! change-password.
//!
//! The order of the steps is the point:
//! 1. a place in the hashing queue, so a full queue is a 503 before anything is written or
//!    delayed. It is given back for every wait and delay and taken again after: an attempt
//!    sleeping out a lock holds none, so a few of them cannot shut everyone else out;
//! 2. a place below both thresholds (account and client IP): checked failures plus attempts in
//!    flight. No place free means other attempts are being checked: this one waits for one of
//!    them to settle (woken in this process, or looking again every `LOOK_AGAIN` for other
//!    instances), and after `LOGIN_WAIT_SECONDS` it is a 503, never "Invalid credentials";
//! 3. the delay the checked failures call for, then argon2;
//! 4. the settlement: only a checked wrong password counts as a failure. A request dropped before
//!    it settles gives its place back (`InFlight`'s `Drop`); a process that dies leaves places
//!    that stop counting when they expire.

use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use uuid::Uuid;

use super::lockout::LockoutPolicy;
use super::password::{HashingError, HashingPlace, PasswordHasher};
use super::service::AccountError;
use crate::http::truncate;
use crate::store::{
    Admission, FailureCount, FailurePolicy, SecurityEvent, SecurityEventKind, Store, Subject,
};
use crate::types::Timestamp;

/// How often a waiting attempt looks again without being woken, for places freed by another
/// instance (this process's own settlements wake it at once).
const LOOK_AGAIN: Duration = Duration::from_millis(200);

/// Wakes attempts waiting for a place when one in this process settles.
#[derive(Debug, Default)]
struct LoginPlaces {
    freed: Notify,
}

/// Password checks under the brute-force rules: what they need, and nothing of HTTP.
#[derive(Clone)]
pub struct LoginGuard {
    store: Store,
    passwords: PasswordHasher,
    policy: LockoutPolicy,
    places: Arc<LoginPlaces>,
    /// Counts checked wrong passwords at sign-in, and locks reached (see `crate::metrics`).
    counters: LoginCounters,
}

/// What the guard counts for the metrics.
#[derive(Debug, Clone, Default)]
pub struct LoginCounters {
    /// Checked wrong passwords (and unknown logins) at sign-in.
    pub failures: Counter,
    /// Locks reached on an account.
    pub account_locks: Counter,
    /// Locks reached on a client address.
    pub address_locks: Counter,
}

/// The security events a guarded password check records: (failed, refused while locked).
pub type AttemptEvents = (SecurityEventKind, SecurityEventKind);

/// Who is trying a password, for the brute-force counters.
pub struct PasswordAttempt<'a> {
    /// The login as typed, lowercased (the account counter's key).
    pub login: &'a str,
    /// The client IP (the IP counter's key).
    pub ip: &'a str,
    /// The account, when the login names one.
    pub user_id: Option<Uuid>,
    /// Which events to record.
    pub events: AttemptEvents,
}

/// What a guarded check found.
pub struct PasswordCheck {
    /// The password matched an existing account and neither counter is locked.
    pub matched: bool,
}

/// The account counter's key: the account's id when the login names one, so its username and
/// email share one count; otherwise the login as typed, so unknown accounts count like real ones.
/// No account name or email is longer than 254 characters; a longer login is still counted, under
/// a bounded key.
pub fn account_subject(attempt: &PasswordAttempt<'_>) -> String {
    match attempt.user_id {
        Some(id) => account_lock_key(id),
        None => format!("account:{}", truncate(attempt.login, 320)),
    }
}

/// The account counter's key of an existing account (what an admin's unlock clears).
pub fn account_lock_key(id: Uuid) -> String {
    format!("account:{id}")
}

impl LoginGuard {
    pub fn new(store: Store, passwords: PasswordHasher, policy: LockoutPolicy) -> Self {
        LoginGuard {
            store,
            passwords,
            policy,
            places: Arc::default(),
            counters: LoginCounters::default(),
        }
    }

    /// The same guard, counting into these counters.
    pub fn counting(mut self, counters: LoginCounters) -> Self {
        self.counters = counters;
        self
    }

    /// Checks a password under the brute-force rules (see the module docs).
    pub async fn check(
        &self,
        attempt: &PasswordAttempt<'_>,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<PasswordCheck, AccountError> {
        // Taken first, so a full queue is a 503 before anything is written; given back for every
        // wait and delay below and taken again after (a 503 then, if the queue filled meanwhile).
        let mut hashing = Some(self.passwords.take_place()?);
        let policy = self.policy;
        let account_key = account_subject(attempt);
        let ip_key = format!("ip:{}", attempt.ip);
        let subjects = [
            Subject {
                key: &account_key,
                lock_threshold: policy.account_lock_threshold,
            },
            Subject {
                key: &ip_key,
                lock_threshold: policy.ip_lock_threshold,
            },
        ];
        let waited = self.wait_for_place(subjects, &mut hashing).await?;
        let Some((in_flight, account, from_ip)) = waited else {
            drop(hashing);
            return self.refuse_locked(attempt, password, stored_hash).await;
        };
        let verdict = policy.verdict(account, from_ip, Timestamp::now());
        if !verdict.delay.is_zero() {
            hashing = None;
            tokio::time::sleep(verdict.delay).await;
        }
        // A full queue now is a 503; `in_flight`, dropped, gives the place back uncounted.
        let hashing = self.hashing_place(hashing)?;
        let matched = self
            .passwords
            .verify(hashing, password, stored_hash)
            .await?;
        if matched && attempt.user_id.is_some() {
            in_flight.settle_success(&account_key).await?;
            return Ok(PasswordCheck { matched: true });
        }
        let now = Timestamp::now();
        let counts = in_flight
            .settle_failure(subjects, policy.failure_policy(now))
            .await?;
        let (failed, _) = attempt.events;
        if failed == SecurityEventKind::LoginFailed {
            self.counters.failures.inc();
        }
        let detail = "wrong password or unknown login";
        crate::accounts::security_log::record(&self.store, event(attempt, failed, detail), now)
            .await?;
        self.record_new_locks(attempt, counts, now).await?;
        Ok(PasswordCheck { matched: false })
    }

    /// Waits for a place for the attempt: `Some` with the counts before it, or `None` when a subject
    /// is locked. A 503 once `LOGIN_WAIT_SECONDS` have passed without one.
    async fn wait_for_place(
        &self,
        subjects: [Subject<'_>; 2],
        hashing: &mut Option<HashingPlace>,
    ) -> Result<Option<(InFlight, FailureCount, FailureCount)>, AccountError> {
        let policy = self.policy;
        let deadline = tokio::time::Instant::now() + policy.wait;
        loop {
            *hashing = Some(self.hashing_place(hashing.take())?);
            // Listening before looking, so a place freed in between still wakes this attempt.
            let freed = self.places.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            // Armed before the reservation: a request dropped while reserving still gives it back.
            let in_flight = InFlight::new(self);
            let now = Timestamp::now();
            let admission = self
                .store
                .reserve_login_attempt(
                    in_flight.attempt_id,
                    subjects,
                    policy.failure_policy(now),
                    now + time::Duration::try_from(policy.place_lifetime)
                        .unwrap_or(time::Duration::MINUTE),
                )
                .await?;
            match admission {
                Admission::Reserved(account, from_ip) => {
                    return Ok(Some((in_flight, account, from_ip)))
                }
                Admission::Locked => {
                    in_flight.disarm();
                    return Ok(None);
                }
                Admission::Full => in_flight.disarm(),
            }
            let look_again = tokio::time::Instant::now() + LOOK_AGAIN;
            if look_again > deadline {
                return Err(AccountError::TooManyAttempts);
            }
            // Waiting holds no hashing place.
            *hashing = None;
            let _ = tokio::time::timeout_at(look_again, freed).await;
        }
    }

    /// `held`, or a place taken now.
    fn hashing_place(&self, held: Option<HashingPlace>) -> Result<HashingPlace, HashingError> {
        held.map_or_else(|| self.passwords.take_place(), Ok)
    }

    /// A locked subject: the refusal is recorded, the password is hashed all the same after the
    /// longest delay (a lock must cost the time a wrong password costs), and the answer is a
    /// failed check.
    async fn refuse_locked(
        &self,
        attempt: &PasswordAttempt<'_>,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<PasswordCheck, AccountError> {
        let (_, refused_locked) = attempt.events;
        let detail = "refused: account or client locked after repeated failures";
        crate::accounts::security_log::record(
            &self.store,
            event(attempt, refused_locked, detail),
            Timestamp::now(),
        )
        .await?;
        tokio::time::sleep(self.policy.max_delay).await;
        let hashing = self.hashing_place(None)?;
        self.passwords
            .verify(hashing, password, stored_hash)
            .await?;
        Ok(PasswordCheck { matched: false })
    }
    /// Records a `login_locked` event for each counter that has just reached its threshold, naming
    /// what was locked: the account (its id, when the login names one) or the client IP.
    async fn record_new_locks(
        &self,
        attempt: &PasswordAttempt<'_>,
        (account, from_ip): (FailureCount, FailureCount),
        now: Timestamp,
    ) -> Result<(), AccountError> {
        let policy = self.policy;
        let locks = [
            (
                "account",
                account,
                policy.account_lock_threshold,
                attempt.user_id,
                None,
            ),
            (
                "client IP",
                from_ip,
                policy.ip_lock_threshold,
                None,
                Some(attempt.ip),
            ),
        ];
        for (what, count, threshold, user_id, ip) in locks {
            if count.failures != threshold {
                continue;
            }
            tracing::warn!(what, "login locked after repeated failures");
            match user_id {
                Some(_) => self.counters.account_locks.inc(),
                None => self.counters.address_locks.inc(),
            };
            let detail = format!("{what} locked after {threshold} failed logins");
            let event = SecurityEvent {
                kind: SecurityEventKind::LoginLocked,
                user_id,
                session_id: None,
                ip,
                detail: Some(&detail),
                actor_id: None,
            };
            crate::accounts::security_log::record(&self.store, event, now).await?;
        }
        Ok(())
    }
}

fn event<'a>(
    attempt: &PasswordAttempt<'a>,
    kind: SecurityEventKind,
    detail: &'a str,
) -> SecurityEvent<'a> {
    SecurityEvent {
        kind,
        user_id: attempt.user_id,
        session_id: None,
        ip: Some(attempt.ip),
        detail: Some(detail),
        actor_id: None,
    }
}

/// An attempt's reserved places. Settling gives them back and wakes waiting attempts; dropped
/// unsettled (the request went away, or its check failed to run) it gives them back uncounted.
struct InFlight {
    store: Store,
    places: Arc<LoginPlaces>,
    attempt_id: Uuid,
    armed: bool,
}

impl InFlight {
    fn new(guard: &LoginGuard) -> Self {
        InFlight {
            store: guard.store.clone(),
            places: guard.places.clone(),
            attempt_id: Uuid::now_v7(),
            armed: true,
        }
    }

    /// Nothing was reserved: nothing to give back.
    fn disarm(mut self) {
        self.armed = false;
    }

    async fn settle_success(mut self, account_key: &str) -> Result<(), sqlx::Error> {
        self.store
            .settle_successful_login(self.attempt_id, account_key)
            .await?;
        self.armed = false;
        self.places.freed.notify_waiters();
        Ok(())
    }

    async fn settle_failure(
        mut self,
        subjects: [Subject<'_>; 2],
        policy: FailurePolicy,
    ) -> Result<(FailureCount, FailureCount), sqlx::Error> {
        let counts = self
            .store
            .settle_failed_login(self.attempt_id, subjects, policy)
            .await?;
        self.armed = false;
        self.places.freed.notify_waiters();
        Ok(counts)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, places) = (self.store.clone(), self.places.clone());
        let attempt_id = self.attempt_id;
        runtime.spawn(async move {
            if let Err(error) = store.release_login_attempt(attempt_id).await {
                tracing::warn!(%error, "giving back a login attempt's place failed; it expires");
            }
            places.freed.notify_waiters();
        });
    }
}
