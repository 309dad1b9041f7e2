//! How long and how many: the time a refresh may take ([`Deadline`]) and how many refreshes run
//! at once ([`RefreshLimits`]).
//!
//! * A refresh runs inside the request that asked for it, which the router answers 503 after
//!   `REQUEST_TIMEOUT_SECONDS`. So a refresh gets one deadline a margin inside that, and every
//!   wait and every provider attempt is cut to it: the caller gets the refresh rules' answer
//!   (the still-valid token, or 502/504) instead of the router's generic 503.
//! * A refresh on PostgreSQL holds a pool connection (the row lock) while the provider answers,
//!   so only a few run at once. One owner's slow token endpoint must not take all of them: each
//!   owner, and each provider host, gets only a share, and the rest stay free for the others.
//! * Shutdown waits for the refreshes in flight ([`InFlight`]) before it closes the pool: a
//!   refresh whose write meets a closed pool loses the provider's rotated refresh token.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use uuid::Uuid;

/// An attempt at the provider shorter than this is not worth starting.
const MIN_ATTEMPT: Duration = Duration::from_millis(200);

/// When a refresh must be done by.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline(Instant::now() + budget)
    }

    /// The time left.
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// The timeout of a provider attempt starting now: the per-call timeout, cut to the time
    /// left; `None` when too little is left for an attempt to be worth making.
    pub fn attempt_timeout(self, per_call: Duration) -> Option<Duration> {
        let left = self.remaining();
        (left >= MIN_ATTEMPT).then(|| per_call.min(left))
    }

    /// Whether an attempt still fits after pausing for `pause`.
    pub fn fits_after(self, pause: Duration) -> bool {
        self.remaining().saturating_sub(pause) >= MIN_ATTEMPT
    }

    /// `future`'s output, or `None` if the deadline passes first (the future is dropped: only
    /// waits that are safe to abandon belong here).
    pub async fn wait<F: Future>(self, future: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.0, future).await.ok()
    }
}

/// The time a refresh may take inside a request that times out after `request_timeout`: a
/// tenth of it (1 to 5 s, and never more than half) is kept for what the request does before
/// and after the refresh (authentication, the database write, the answer).
pub fn refresh_budget(request_timeout: Duration) -> Duration {
    let margin = (request_timeout / 10)
        .clamp(Duration::from_secs(1), Duration::from_secs(5))
        .min(request_timeout / 2);
    request_timeout - margin
}

/// Everything a refresh holds while it may talk to a provider; dropping it frees the slots.
pub struct RefreshPermit {
    _owner: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
    _extra: Option<OwnedSemaphorePermit>,
    _global: OwnedSemaphorePermit,
}

/// The bounds on concurrent refreshes: `slots` in all, at most half of them (at least one) for
/// one owner, and all but one for one provider host. The host's bound stops many owners (or
/// one person's many accounts) that name one slow endpoint from taking every slot, while a
/// provider everyone shares, like Google, keeps nearly all of them.
pub struct RefreshLimits {
    global: Arc<Semaphore>,
    per_owner: KeyedLimit<Uuid>,
    per_host: KeyedLimit<String>,
}

impl RefreshLimits {
    /// Limits for `slots` concurrent refreshes.
    pub fn new(slots: usize) -> RefreshLimits {
        let slots = slots.max(1);
        RefreshLimits {
            global: Arc::new(Semaphore::new(slots)),
            per_owner: KeyedLimit::new((slots / 2).max(1)),
            per_host: KeyedLimit::new((slots - 1).max(1)),
        }
    }

    /// Waits for a slot for one of `owner`'s refreshes at `host` (and one of `extra`, e.g. the
    /// keep-alive pass's own bound). The owner's and the host's shares are taken first, so a
    /// refresh waiting for its owner's turn holds nothing the others need.
    pub async fn acquire(
        &self,
        owner: Uuid,
        host: String,
        extra: Option<Arc<Semaphore>>,
    ) -> RefreshPermit {
        let owner = self.per_owner.acquire(owner).await;
        let host = self.per_host.acquire(host).await;
        let extra = match extra {
            Some(extra) => Some(acquire(extra).await),
            None => None,
        };
        RefreshPermit {
            _owner: owner,
            _host: host,
            _extra: extra,
            _global: acquire(self.global.clone()).await,
        }
    }
}

async fn acquire(semaphore: Arc<Semaphore>) -> OwnedSemaphorePermit {
    semaphore
        .acquire_owned()
        .await
        .expect("refresh semaphores are never closed")
}

/// A bound per key, for keys that come and go (owners, hosts).
struct KeyedLimit<K> {
    limit: usize,
    semaphores: Mutex<HashMap<K, Arc<Semaphore>>>,
}

/// Past this many keys, those not in use are forgotten (their state is just a full semaphore).
const MAX_IDLE_KEYS: usize = 1_024;

impl<K: Eq + Hash> KeyedLimit<K> {
    fn new(limit: usize) -> Self {
        KeyedLimit {
            limit,
            semaphores: Mutex::new(HashMap::new()),
        }
    }

    async fn acquire(&self, key: K) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut semaphores = self.semaphores.lock().expect("refresh limits lock");
            if semaphores.len() >= MAX_IDLE_KEYS {
                // Only the map holds an idle key's semaphore: nobody holds or awaits a permit.
                semaphores.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
            }
            semaphores
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.limit)))
                .clone()
        };
        acquire(semaphore).await
    }
}

/// Refreshes running, and whether new ones may start: shutdown closes it and waits for zero.
#[derive(Default)]
pub struct InFlight(Arc<watch::Sender<Running>>);

#[derive(Debug, Default, Clone, Copy)]
struct Running {
    count: usize,
    closed: bool,
}

/// One refresh counted in [`InFlight`] until dropped.
pub struct InFlightGuard(Arc<watch::Sender<Running>>);

impl InFlight {
    /// Counts a refresh that starts now; `None` once shutdown has begun.
    pub fn enter(&self) -> Option<InFlightGuard> {
        let mut entered = false;
        // Checked and counted in one step, so none slips in after `close_and_wait` looked.
        self.0.send_if_modified(|running| {
            entered = !running.closed;
            running.count += usize::from(entered);
            entered
        });
        entered.then(|| InFlightGuard(self.0.clone()))
    }

    /// Resolves once shutdown has begun: refreshes still waiting for a turn give up then.
    pub async fn closed(&self) {
        let mut running = self.0.subscribe();
        let _ = running.wait_for(|running| running.closed).await;
    }

    /// Lets no new refresh start and waits until the running ones are done.
    pub async fn close_and_wait(&self) {
        self.0.send_modify(|running| running.closed = true);
        let mut running = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = running.wait_for(|running| running.count == 0).await;
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.send_modify(|running| running.count -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_budget_keeps_a_margin_inside_the_request_timeout() {
        let s = Duration::from_secs;
        assert_eq!(refresh_budget(s(30)), s(27));
        assert_eq!(refresh_budget(s(3)), s(2));
        assert_eq!(refresh_budget(s(300)), s(295));
        assert_eq!(refresh_budget(s(1)), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn one_owner_takes_at_most_half_the_slots_and_one_host_all_but_one() {
        let limits = RefreshLimits::new(4);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let _a1 = limits.acquire(a, "a.example".into(), None).await;
        let _a2 = limits.acquire(a, "a.example".into(), None).await;
        let third = limits.acquire(a, "a.example".into(), None);
        assert!(
            tokio::time::timeout(Duration::ZERO, third).await.is_err(),
            "a third refresh of the same owner waits"
        );
        let _b1 = limits.acquire(b, "a.example".into(), None).await;
        let host_full = limits.acquire(b, "a.example".into(), None);
        assert!(
            tokio::time::timeout(Duration::ZERO, host_full)
                .await
                .is_err(),
            "a fourth refresh at the same host waits"
        );
        let _elsewhere = limits.acquire(b, "b.example".into(), None).await;
    }

    #[tokio::test]
    async fn closing_waits_for_running_refreshes_and_refuses_new_ones() {
        let in_flight = Arc::new(InFlight::default());
        let running = in_flight.enter().expect("open");
        let closing = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.close_and_wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!closing.is_finished(), "waits for the running refresh");
        assert!(in_flight.enter().is_none(), "no new refresh once closing");
        drop(running);
        closing.await.unwrap();
    }

    #[tokio::test]
    async fn idle_keys_are_forgotten_once_there_are_many() {
        let limit = KeyedLimit::new(1);
        for key in 0..MAX_IDLE_KEYS + 10 {
            drop(limit.acquire(key).await);
        }
        assert!(limit.semaphores.lock().unwrap().len() <= MAX_IDLE_KEYS);
    }
}
