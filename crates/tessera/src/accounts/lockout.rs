//! Brute-force defence for logins: failure counting per account and per client IP, growing
//! delays, and a temporary lock.
//!
//! The account counter is keyed by the login *as typed* (lowercased), not by user id: a login
//! naming no account is counted, delayed and locked exactly like a real one, so neither the
//! answer nor its timing tells an attacker whether an account exists. The IP counter catches one
//! client spraying many accounts; its thresholds are higher because offices share addresses.
//!
//! Only a checked wrong password is a failure. An attempt first takes a place below both
//! thresholds (checked failures plus attempts in flight), so however many guesses arrive at once,
//! no more than the threshold are checked; an attempt that finds no place free waits for one
//! (a right password settles in tens of milliseconds), and is never told its password was wrong
//! unless it was checked and was. Each attempt is then delayed by the larger of the two counters'
//! delays (a sleep: it holds a connection, not a core). While either subject is locked the
//! password is still hashed — the lock must cost the same time as a wrong password — and the
//! answer is the same 401 `Invalid credentials` whatever the password. Counts live in the
//! database, so every instance sees the same ones; a quiet [`LockoutPolicy::window`] forgets them.

use std::time::Duration;

use crate::config::Config;
use crate::store::{FailureCount, FailurePolicy};
use crate::types::Timestamp;

/// The thresholds, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures per account before the lock.
    pub account_lock_threshold: i32,
    /// Failures per IP before the lock.
    pub ip_lock_threshold: i32,
    /// How long a lock lasts, and how long a quiet period resets the counters.
    pub window: Duration,
    /// The longest delay before an attempt (also applied while locked).
    pub max_delay: Duration,
    /// How long an attempt may wait for a place.
    pub wait: Duration,
    /// How long a place outlives its attempt if the process dies: the longest a request may run.
    pub place_lifetime: Duration,
}

/// The first delayed attempt comes after this share of the lock threshold's failures.
const FREE_SHARE: i32 = 3;
/// The first delay; each further failure doubles it, up to the configured maximum.
const BASE_DELAY: Duration = Duration::from_millis(200);

/// What the counters say about the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Wait this long before checking the password.
    pub delay: Duration,
    /// Refuse whatever the password.
    pub locked: bool,
}

impl LockoutPolicy {
    /// The policy configured in `config`.
    pub fn from_config(config: &Config) -> Self {
        LockoutPolicy {
            account_lock_threshold: config.login_lock_threshold,
            ip_lock_threshold: config.login_ip_lock_threshold,
            window: Duration::from_secs(config.login_lock_seconds),
            max_delay: Duration::from_millis(config.login_max_delay_ms),
            wait: Duration::from_secs(config.login_wait_seconds),
            place_lifetime: Duration::from_secs(config.request_timeout_seconds),
        }
    }

    /// The delay and lock for an attempt given the two counters as they stand.
    pub fn verdict(&self, account: FailureCount, ip: FailureCount, now: Timestamp) -> Verdict {
        let locked = [account, ip]
            .iter()
            .any(|count| count.locked_until.is_some_and(|until| until > now));
        if locked {
            return Verdict {
                delay: self.max_delay,
                locked,
            };
        }
        let delay = delay_for(account.failures, self.account_lock_threshold)
            .max(delay_for(ip.failures, self.ip_lock_threshold))
            .min(self.max_delay);
        Verdict { delay, locked }
    }

    /// How failures are counted at `now`.
    pub fn failure_policy(&self, now: Timestamp) -> FailurePolicy {
        let window = time::Duration::try_from(self.window).unwrap_or(time::Duration::MINUTE);
        FailurePolicy {
            now,
            window_start: now + -window,
            locked_until: now + window,
        }
    }
}

/// No delay for the first third of the threshold's failures, then 200 ms, doubling.
fn delay_for(failures: i32, lock_threshold: i32) -> Duration {
    let free = (lock_threshold / FREE_SHARE).max(1);
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = (failures - free).min(8) as u32;
    BASE_DELAY * 2u32.pow(doublings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(failures: i32) -> FailureCount {
        FailureCount {
            failures,
            locked_until: None,
        }
    }

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            account_lock_threshold: 10,
            ip_lock_threshold: 50,
            window: Duration::from_secs(900),
            max_delay: Duration::from_secs(3),
            wait: Duration::from_secs(10),
            place_lifetime: Duration::from_secs(30),
        }
    }

    #[test]
    fn delays_start_after_a_few_failures_and_grow_to_a_cap() {
        let now = Timestamp::now();
        let delay = |n| policy().verdict(count(n), count(0), now).delay;
        assert_eq!(delay(0), Duration::ZERO);
        assert_eq!(delay(2), Duration::ZERO);
        assert_eq!(delay(3), Duration::from_millis(200));
        assert_eq!(delay(4), Duration::from_millis(400));
        assert_eq!(delay(5), Duration::from_millis(800));
        assert_eq!(delay(9), Duration::from_secs(3));
    }

    #[test]
    fn the_ip_counter_has_its_own_threshold_and_the_larger_delay_wins() {
        let now = Timestamp::now();
        let verdict = policy().verdict(count(0), count(16), now);
        assert_eq!(verdict.delay, Duration::from_millis(200));
        assert!(!verdict.locked);
        assert_eq!(
            policy().verdict(count(4), count(16), now).delay,
            Duration::from_millis(400)
        );
    }

    #[test]
    fn a_lock_holds_until_it_expires() {
        let now = Timestamp::now();
        let locked = FailureCount {
            failures: 10,
            locked_until: Some(now + time::Duration::minutes(15)),
        };
        assert!(policy().verdict(locked, count(0), now).locked);
        assert!(policy().verdict(count(0), locked, now).locked);
        let expired = FailureCount {
            failures: 10,
            locked_until: Some(now + -time::Duration::seconds(1)),
        };
        assert!(!policy().verdict(expired, count(0), now).locked);
    }
}
