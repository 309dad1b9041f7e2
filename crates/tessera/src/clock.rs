//! [`Clock`]: the service's one "now", which tests move forward.
//!
//! Rules that depend on time — a token's expiry, a regenerated token's grace, the rate limit's
//! window — read it from the clock in [`crate::state::AppState`] rather than from the system, so
//! a test can show what happens a minute later without waiting a minute. In production the
//! offset stays zero and the clock is the system's.
//!
//! It is both a wall clock ([`Clock::now`], a [`Timestamp`]) and the monotonic clock the
//! `governor` rate limiter counts with; one offset moves both, so a test never sees the two
//! disagree.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{QuantaClock, QuantaInstant};
use governor::nanos::Nanos;

use crate::types::Timestamp;

/// The system clock plus an offset that only tests move; cheap to clone, and every clone moves
/// together.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    monotonic: QuantaClock,
    offset_nanos: Arc<AtomicU64>,
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> Timestamp {
        Timestamp::now() + time::Duration::nanoseconds(self.offset().as_nanos() as i64)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_nanos
            .fetch_add(by.as_nanos() as u64, Ordering::Relaxed);
    }

    fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::Relaxed))
    }
}

impl governor::clock::Clock for Clock {
    type Instant = QuantaInstant;
    fn now(&self) -> QuantaInstant {
        self.monotonic.now() + Nanos::from(self.offset())
    }
}
