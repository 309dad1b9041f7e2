//! Caches of database rows that hot paths read on every request — authenticated PATs, and the
//! connection behind a branch's token — kept correct by emptying them whenever the rows change,
//! on this instance or any other.
//!
//! # Invalidation
//! Any change that could make a cached answer wrong empties the whole cache of its [`Feed`].
//! Such changes are rare, and emptying is simpler to get right than tracking entries:
//! * on this instance, the code that made the change empties it before answering;
//! * on other instances (PostgreSQL), a trigger announces the change with `NOTIFY` at commit and
//!   each instance's listener ([`spawn_change_feed`]) empties its caches. While the listener is
//!   disconnected the caches are *bypassed*, so a lost notification can never leave a revoked
//!   token usable;
//! * on SQLite, where the only other writer is the `tessera` CLI (or an operator's SQL) on the
//!   same file, a trigger bumps a counter per feed that the server polls every [`SQLITE_POLL`].
//!
//! # The fill race
//! A request that read a row just before a change must not put the old row back after the cache
//! was emptied. Every emptying increments a generation; a fill carries the generation it started
//! under and is dropped if that changed. Both happen under the map's write lock, so the check and
//! the insert are one step.

use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::store::{Feed, Store};

/// Entries older than this are re-read even without an invalidation: a safety net, not the
/// mechanism correctness relies on.
const MAX_AGE: Duration = Duration::from_secs(300);
/// Largest number of cached rows; past it the cache is emptied and refills with the active ones.
const MAX_ENTRIES: usize = 100_000;
/// How often a SQLite server checks whether another process changed a row.
pub const SQLITE_POLL: Duration = Duration::from_millis(200);

struct Entry<V> {
    value: Arc<V>,
    cached_at: Instant,
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    generation: u64,
}

/// A cache emptied by every change on its feed; cheap to clone.
pub struct ChangeCache<K, V> {
    feed: Feed,
    inner: Arc<RwLock<Inner<K, V>>>,
    /// False while cross-instance invalidations could be missed (listener down): then every
    /// lookup goes to the database.
    trusted: Arc<AtomicBool>,
    /// Publishes the generation after every emptying, for whoever needs to wait for one.
    emptied: Arc<watch::Sender<u64>>,
    /// Lookups that found a value, and those that did not (see `crate::metrics`).
    hits: Counter,
    misses: Counter,
}

impl<K, V> Clone for ChangeCache<K, V> {
    fn clone(&self) -> Self {
        ChangeCache {
            feed: self.feed,
            inner: self.inner.clone(),
            trusted: self.trusted.clone(),
            emptied: self.emptied.clone(),
            hits: self.hits.clone(),
            misses: self.misses.clone(),
        }
    }
}

/// Proof of the generation a database read started under; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct FillTicket(u64);

impl<K: Eq + Hash, V> ChangeCache<K, V> {
    /// An empty cache for `feed`, trusted from the start only when `trusted` (no other instance
    /// can write).
    pub fn new(feed: Feed, trusted: bool) -> Self {
        ChangeCache {
            feed,
            inner: Arc::new(RwLock::new(Inner {
                entries: HashMap::new(),
                generation: 0,
            })),
            trusted: Arc::new(AtomicBool::new(trusted)),
            emptied: Arc::new(watch::Sender::new(0)),
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    /// The cached value for `key`, if present, fresh and the cache is trusted.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let found = self.lookup(key);
        match found {
            Some(_) => self.hits.inc(),
            None => self.misses.inc(),
        };
        found
    }

    fn lookup(&self, key: &K) -> Option<Arc<V>> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let inner = self.inner.read().ok()?;
        let entry = inner.entries.get(key)?;
        (entry.cached_at.elapsed() < MAX_AGE).then(|| entry.value.clone())
    }

    /// The same cache, counting its hits and misses into these counters.
    pub fn counting(mut self, hits: Counter, misses: Counter) -> Self {
        self.hits = hits;
        self.misses = misses;
        self
    }

    /// Call before reading from the database; pass the ticket to [`ChangeCache::fill`].
    pub fn ticket(&self) -> FillTicket {
        FillTicket(
            self.inner
                .read()
                .map(|inner| inner.generation)
                .unwrap_or(u64::MAX),
        )
    }

    /// Caches a value read from the database, unless the cache was emptied since `ticket`.
    pub fn fill(&self, ticket: FillTicket, key: K, value: Arc<V>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if inner.generation != ticket.0 {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(
            key,
            Entry {
                value,
                cached_at: Instant::now(),
            },
        );
    }

    /// Empties the cache.
    pub fn invalidate(&self) {
        if let Ok(mut inner) = self.inner.write() {
            inner.generation += 1;
            inner.entries.clear();
            self.emptied.send_replace(inner.generation);
        }
    }

    /// Watches the cache being emptied (e.g. to see another instance's change arrive).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.emptied.subscribe()
    }

    pub(crate) fn set_trusted(&self, trusted: bool) {
        if !trusted {
            self.trusted.store(false, Ordering::Release);
            self.invalidate();
        } else {
            self.invalidate();
            self.trusted.store(true, Ordering::Release);
        }
    }
}

/// What the change feed needs of a cache, whatever it holds.
pub trait Invalidate: Send + Sync {
    /// The feed whose changes empty it.
    fn feed(&self) -> Feed;
    /// Empties it.
    fn invalidate(&self);
    /// Trusts it (after emptying it) or bypasses it.
    fn set_trusted(&self, trusted: bool);
}

impl<K: Eq + Hash + Send + Sync, V: Send + Sync> Invalidate for ChangeCache<K, V> {
    fn feed(&self) -> Feed {
        self.feed
    }
    fn invalidate(&self) {
        ChangeCache::invalidate(self);
    }
    fn set_trusted(&self, trusted: bool) {
        ChangeCache::set_trusted(self, trusted);
    }
}

/// Starts the background task that applies other processes' changes to `caches` (see the
/// module docs).
pub fn spawn_change_feed(
    store: Store,
    caches: Vec<Box<dyn Invalidate>>,
) -> tokio::task::JoinHandle<()> {
    match store.postgres_pool().cloned() {
        Some(pool) => tokio::spawn(listen_postgres(caches, pool)),
        None => tokio::spawn(poll_sqlite(caches, store)),
    }
}

async fn listen_postgres(caches: Vec<Box<dyn Invalidate>>, pool: sqlx::PgPool) {
    let channels: Vec<&str> = caches.iter().map(|c| c.feed().channel()).collect();
    let mut backoff = Duration::from_millis(100);
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen_all(channels.iter().copied()).await {
                Ok(()) => {
                    // Anything may have changed while we were not listening.
                    caches.iter().for_each(|c| c.set_trusted(true));
                    backoff = Duration::from_millis(100);
                    // `try_recv` yields Ok(None) when the connection drops (notifications may
                    // have been lost then), instead of reconnecting silently like `recv`.
                    while let Ok(Some(notification)) = listener.try_recv().await {
                        caches
                            .iter()
                            .filter(|c| c.feed().channel() == notification.channel())
                            .for_each(|c| c.invalidate());
                    }
                    tracing::warn!(
                        "change listener disconnected; bypassing the caches until it is back"
                    );
                    caches.iter().for_each(|c| c.set_trusted(false));
                }
                Err(error) => tracing::warn!(%error, "could not LISTEN for changes"),
            },
            Err(error) => tracing::warn!(%error, "could not connect the change listener"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn poll_sqlite(caches: Vec<Box<dyn Invalidate>>, store: Store) {
    let mut seen: Vec<Option<i64>> = vec![None; caches.len()];
    let mut tick = tokio::time::interval(SQLITE_POLL);
    loop {
        tick.tick().await;
        for (cache, seen) in caches.iter().zip(seen.iter_mut()) {
            match store.change_count(cache.feed()).await {
                Ok(count) => {
                    // Before the first count nothing is known of what changed since the cache
                    // was trusted (the CLI may have written already), so it empties then too,
                    // as the PostgreSQL listener does when it (re)connects.
                    if *seen != Some(count) {
                        cache.invalidate();
                    }
                    *seen = Some(count);
                }
                Err(error) => tracing::warn!(%error, "could not poll for changes"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_started_before_an_invalidation_is_dropped() {
        let cache = ChangeCache::<u8, &str>::new(Feed::Tokens, true);
        let ticket = cache.ticket();
        cache.invalidate();
        cache.fill(ticket, 1, Arc::new("row"));
        assert!(cache.get(&1).is_none());
        let ticket = cache.ticket();
        cache.fill(ticket, 1, Arc::new("row"));
        assert!(cache.get(&1).is_some());
    }

    /// The CLI may change a token between the server's start (caches trusted, maybe filled)
    /// and its first poll; that first count must not be taken as "nothing changed".
    #[tokio::test]
    async fn a_change_made_before_the_first_poll_still_empties_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("feed.db").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let cache = ChangeCache::<u8, &str>::new(Feed::Tokens, true);
        cache.fill(cache.ticket(), 1, Arc::new("row"));
        let cli = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("UPDATE token_change_counter SET changes = changes + 1 WHERE id = 1")
            .execute(&cli)
            .await
            .unwrap();
        let mut emptied = cache.subscribe();
        let feed = spawn_change_feed(store, vec![Box::new(cache.clone())]);
        tokio::time::timeout(Duration::from_secs(10), emptied.changed())
            .await
            .expect("the first poll empties the cache")
            .unwrap();
        assert!(cache.get(&1).is_none());
        feed.abort();
    }

    #[test]
    fn an_untrusted_cache_answers_nothing() {
        let cache = ChangeCache::<u8, &str>::new(Feed::Connections, true);
        cache.fill(cache.ticket(), 1, Arc::new("row"));
        cache.set_trusted(false);
        assert!(cache.get(&1).is_none());
        cache.fill(cache.ticket(), 1, Arc::new("row"));
        assert!(cache.get(&1).is_none(), "still bypassed while untrusted");
    }
}
