//! A cache of authenticated tokens, so the PAT check on every request costs no database round
//! trip — with revocation still taking effect at once.
//!
//! # Invalidation
//! Any change that could make a cached answer wrong (revocation, a new secret, a new expiry)
//! empties the whole cache. Such changes are rare, and emptying is simpler to get right than
//! tracking entries:
//! * on this instance, the handler that made the change empties it before answering;
//! * on other instances (PostgreSQL), a trigger announces the change with `NOTIFY` at commit and
//!   each instance's listener empties its cache. While the listener is disconnected the cache is
//!   *bypassed*, so a lost notification can never leave a revoked token usable;
//! * on SQLite, where the only other writer is the `tessera` CLI on the same file, a trigger bumps
//!   a counter that the server polls every [`SQLITE_POLL`].
//!
//! # The fill race
//! A request that read a token from the database just before a revocation must not put the old
//! row back after the cache was emptied. Every emptying increments a generation; a fill carries
//! the generation it started under and is dropped if that changed. Both happen under the map's
//! write lock, so the check and the insert are one step.
//!
//! Expiry needs no invalidation: it is checked against the clock on every request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::format::TokenHash;
use super::Token;
use crate::store::{Store, TOKEN_CHANGE_CHANNEL};

/// Entries older than this are re-read even without an invalidation: a safety net, not the
/// mechanism revocation relies on.
const MAX_AGE: Duration = Duration::from_secs(300);
/// Largest number of cached tokens; past it the cache is emptied and refills with the active ones.
const MAX_ENTRIES: usize = 100_000;
/// How often a SQLite server checks whether another process changed a token.
pub const SQLITE_POLL: Duration = Duration::from_millis(200);

struct Entry {
    token: Arc<Token>,
    cached_at: Instant,
}

struct Inner {
    entries: HashMap<TokenHash, Entry>,
    generation: u64,
}

/// The cache; cheap to clone.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<RwLock<Inner>>,
    /// False while cross-instance invalidations could be missed (listener down): then every
    /// lookup goes to the database.
    trusted: Arc<AtomicBool>,
    /// Publishes the generation after every emptying, for whoever needs to wait for one.
    emptied: Arc<watch::Sender<u64>>,
}

/// Proof of the generation a database read started under; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct FillTicket(u64);

impl TokenCache {
    /// An empty cache, trusted from the start only when `trusted` (no other instance can write).
    pub fn new(trusted: bool) -> Self {
        TokenCache {
            inner: Arc::new(RwLock::new(Inner {
                entries: HashMap::new(),
                generation: 0,
            })),
            trusted: Arc::new(AtomicBool::new(trusted)),
            emptied: Arc::new(watch::Sender::new(0)),
        }
    }

    /// The cached token for `hash`, if present, fresh and the cache is trusted.
    pub fn get(&self, hash: &TokenHash) -> Option<Arc<Token>> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let inner = self.inner.read().ok()?;
        let entry = inner.entries.get(hash)?;
        (entry.cached_at.elapsed() < MAX_AGE).then(|| entry.token.clone())
    }

    /// Call before reading a token from the database; pass the ticket to [`TokenCache::fill`].
    pub fn ticket(&self) -> FillTicket {
        FillTicket(
            self.inner
                .read()
                .map(|inner| inner.generation)
                .unwrap_or(u64::MAX),
        )
    }

    /// Caches a token read from the database, unless the cache was emptied since `ticket`.
    pub fn fill(&self, ticket: FillTicket, hash: TokenHash, token: Arc<Token>) {
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
            hash,
            Entry {
                token,
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

    /// Watches the cache being emptied (e.g. to see another instance's revocation arrive).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.emptied.subscribe()
    }

    fn set_trusted(&self, trusted: bool) {
        if !trusted {
            self.trusted.store(false, Ordering::Release);
            self.invalidate();
        } else {
            self.invalidate();
            self.trusted.store(true, Ordering::Release);
        }
    }

    /// Starts the background task that applies other processes' changes (see the module docs).
    pub fn spawn_invalidator(&self, store: Store) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        match store.postgres_pool().cloned() {
            Some(pool) => tokio::spawn(listen_postgres(cache, pool)),
            None => tokio::spawn(poll_sqlite(cache, store)),
        }
    }
}

async fn listen_postgres(cache: TokenCache, pool: sqlx::PgPool) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(TOKEN_CHANGE_CHANNEL).await {
                Ok(()) => {
                    // Anything may have changed while we were not listening.
                    cache.set_trusted(true);
                    backoff = Duration::from_millis(100);
                    // `try_recv` yields Ok(None) when the connection drops (notifications may
                    // have been lost then), instead of reconnecting silently like `recv`.
                    while let Ok(Some(_)) = listener.try_recv().await {
                        cache.invalidate();
                    }
                    tracing::warn!("token-change listener disconnected; bypassing the token cache until it is back");
                    cache.set_trusted(false);
                }
                Err(error) => tracing::warn!(%error, "could not LISTEN for token changes"),
            },
            Err(error) => tracing::warn!(%error, "could not connect the token-change listener"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn poll_sqlite(cache: TokenCache, store: Store) {
    let mut seen = None;
    let mut tick = tokio::time::interval(SQLITE_POLL);
    loop {
        tick.tick().await;
        match store.token_change_count().await {
            Ok(count) => {
                if seen.is_some_and(|seen| seen != count) {
                    cache.invalidate();
                }
                seen = Some(count);
            }
            Err(error) => tracing::warn!(%error, "could not poll token changes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Timestamp;
    use crate::tokens::scopes::ScopeSet;

    fn token() -> Arc<Token> {
        Arc::new(Token {
            id: uuid::Uuid::now_v7(),
            user_id: uuid::Uuid::now_v7(),
            name: "t".into(),
            prefix: "pat_12345678".into(),
            hash: vec![0; 32],
            scopes: ScopeSet::new([]),
            allowed_ips: None,
            created_at: Timestamp::now(),
            expires_at: Timestamp::now(),
            last_used_at: None,
            revoked_at: None,
        })
    }

    #[test]
    fn a_fill_that_started_before_an_invalidation_is_dropped() {
        let cache = TokenCache::new(true);
        let hash = TokenHash::of("a");
        let ticket = cache.ticket();
        cache.invalidate();
        cache.fill(ticket, hash, token());
        assert!(cache.get(&hash).is_none());
        let ticket = cache.ticket();
        cache.fill(ticket, hash, token());
        assert!(cache.get(&hash).is_some());
    }

    #[test]
    fn an_untrusted_cache_answers_nothing() {
        let cache = TokenCache::new(true);
        let hash = TokenHash::of("a");
        cache.fill(cache.ticket(), hash, token());
        cache.set_trusted(false);
        assert!(cache.get(&hash).is_none());
        cache.fill(cache.ticket(), hash, token());
        assert!(cache.get(&hash).is_none(), "still bypassed while untrusted");
    }
}
