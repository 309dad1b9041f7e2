//! The OAuth connections service: a valid access token for a branch on request (the stored one,
//! or a refreshed one by the rules in [`super::refresh`]), the keep-alive pass, and sealing what
//! a provider issues. The API, the CLI and background tasks call it; it answers
//! [`ConnectionError`], never an HTTP status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use uuid::Uuid;

use super::errors::ConnectionError;
use super::limits::{InFlight, RefreshLimits};
use super::oauth::{IssuedTokens, OAuthHttp};
use super::provider::Presets;
use super::refresh::{refresh_due, usable, Need, RefreshJob, RefreshPolicy};
use super::vault::{Slot, Vault};
use crate::cache::ChangeCache;
use crate::config::{Config, SecretString};
use crate::store::Feed;
use crate::store::{BackendKind, ConnectionRecord, SealedTokens, Store, TokenRow};
use crate::types::Timestamp;

/// Token rows by (owner, branch): the hot path's one read, kept in memory and emptied by every
/// change of a connection or branch, here and on other instances (see [`crate::cache`]).
pub type ConnectionCache = ChangeCache<(Uuid, Uuid), TokenRow>;

/// The longest lifetime believed from a provider's `expires_in`.
const MAX_LIFETIME_SECONDS: u64 = 366 * 86_400;

/// A valid access token for a branch.
#[derive(Debug)]
pub struct AccessToken {
    /// The token itself.
    pub access_token: SecretString,
    /// Usually `Bearer`.
    pub token_type: String,
    /// When it expires.
    pub expires_at: Timestamp,
    /// Granted scopes (space-separated).
    pub scope: String,
}

/// The OAuth connections service: vault, provider client, refresh rules.
pub struct Connections {
    /// The database.
    pub store: Store,
    /// Seals and opens secrets.
    pub vault: Vault,
    /// Provider presets.
    pub presets: Presets,
    /// The provider client.
    pub http: OAuthHttp,
    /// The refresh rules' numbers.
    pub policy: RefreshPolicy,
    /// Token rows, so a fresh token costs no database round trip.
    pub cache: ConnectionCache,
    /// One async lock per branch being refreshed (single flight).
    pub(super) flights: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// Refreshes that may talk to a provider at once: in all (each may hold a database row
    /// lock, so well below the pool size), per owner and per provider host.
    pub(super) limits: RefreshLimits,
    /// Refreshes running, for shutdown to wait for.
    pub(super) in_flight: InFlight,
    /// When this instance last recorded each branch's use (cached rows do not see the writes).
    pub(super) uses: Mutex<HashMap<Uuid, Timestamp>>,
}

impl Connections {
    /// The service for this configuration.
    pub fn new(store: Store, config: &Config, secret: &[u8]) -> anyhow::Result<Connections> {
        Ok(Connections {
            cache: ChangeCache::new(Feed::Connections, store.kind() == BackendKind::Sqlite),
            store,
            vault: Vault::new(config.token_encryption_keys.as_ref(), secret)?,
            presets: Presets::from_config(config)?,
            http: OAuthHttp::new(
                config.oauth_http_timeout_seconds,
                config.oauth_allow_private_endpoints,
            )?,
            policy: RefreshPolicy::from_config(config),
            flights: Mutex::new(HashMap::new()),
            uses: Mutex::new(HashMap::new()),
            limits: RefreshLimits::new((config.database_max_connections as usize / 4).max(1)),
            in_flight: InFlight::default(),
        })
    }

    /// A valid access token for the owner's branch: the stored one while it is valid for longer
    /// than the buffer (one indexed read and one decryption), else a refreshed one.
    pub async fn access_token(
        self: &Arc<Self>,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<AccessToken, ConnectionError> {
        let now = Timestamp::now();
        let Some(row) = self.token_row(owner_id, branch_id).await? else {
            return Err(self.missing_connection(owner_id, branch_id).await);
        };
        if !row.is_active {
            return Err(ConnectionError::BranchInactive { branch_id });
        }
        let connection = &row.connection;
        usable(connection)?;
        if refresh_due(connection, self.policy.buffer) > now {
            self.note_use(connection, now);
            return self.stored_token(connection);
        }
        self.refresh(self.job(branch_id, Need::DueAt(now))).await
    }

    /// The owner's branch's token row, from the cache or the database.
    async fn token_row(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<Option<Arc<TokenRow>>, ConnectionError> {
        let key = (owner_id, branch_id);
        if let Some(row) = self.cache.get(&key) {
            return Ok(Some(row));
        }
        let ticket = self.cache.ticket();
        let Some(row) = self.store.token_row(owner_id, branch_id).await? else {
            return Ok(None);
        };
        let row = Arc::new(row);
        self.cache.fill(ticket, key, row.clone());
        Ok(Some(row))
    }

    /// Empties the token-row cache: call after any change of a connection or branch, before
    /// answering (other instances hear of it through the change feed).
    pub fn changed(&self) {
        self.cache.invalidate();
    }

    /// Refreshes the owner's branch now (unless a refresh happened since this call began).
    pub async fn force_refresh(
        self: &Arc<Self>,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<AccessToken, ConnectionError> {
        let requested_at = Timestamp::now();
        if self.store.find_branch(owner_id, branch_id).await?.is_none() {
            return Err(ConnectionError::BranchNotFound { branch_id });
        }
        self.refresh(self.job(branch_id, Need::RefreshedBefore(requested_at)))
            .await
    }

    /// Stops new refreshes and waits for those in flight, so that none loses a rotated refresh
    /// token to a closed database pool: call at shutdown, before the pool closes. It ends: those
    /// still waiting for a turn give up at once, and a provider exchange is bounded by the
    /// policy's budget (plus the write's retries).
    pub async fn drain(&self) {
        self.in_flight.close_and_wait().await;
    }

    /// One pass of the keep-alive task: refreshes due connections, `keepalive_concurrency` at a
    /// time, and forgets expired authorization states. Returns how many refreshes succeeded.
    pub async fn keep_alive_once(self: &Arc<Self>) -> anyhow::Result<usize> {
        let now = Timestamp::now();
        let ahead = time::Duration::try_from(self.policy.keepalive_interval).unwrap_or_default();
        let due_before = now + ahead;
        let expiring_before = due_before + self.policy.buffer;
        let idle_before = now - self.policy.idle_after;
        let used_since = now - time::Duration::days(1);
        self.store.purge_expired_oauth_states(now).await?;
        let due = self
            .store
            .connections_due(expiring_before, used_since, idle_before, now, 500)
            .await?;
        // The pass's own bound is taken after the owner's and the host's shares (see
        // `RefreshLimits::acquire`), so refreshes stuck at one owner's slow endpoint hold at most
        // that owner's share of it and the others' refreshes go on.
        let gate = Arc::new(Semaphore::new(self.policy.keepalive_concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for branch_id in due {
            let service = Arc::clone(self);
            let need = Need::KeepAlive {
                due_before,
                idle_before,
            };
            let job = RefreshJob {
                branch_id,
                need,
                deadline: None,
                gate: Some(Arc::clone(&gate)),
            };
            tasks.spawn(async move { service.refresh(job).await });
        }
        let mut refreshed = 0;
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok(Ok(_)) => refreshed += 1,
                Ok(Err(error)) => tracing::info!(%error, "keep-alive refresh did not succeed"),
                Err(error) => tracing::error!(%error, "keep-alive task failed"),
            }
        }
        Ok(refreshed)
    }

    /// Runs [`Connections::keep_alive_once`] every `keepalive_interval` (if not zero).
    pub fn spawn_keep_alive(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let interval = self.policy.keepalive_interval;
        if interval.is_zero() {
            return None;
        }
        let service = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(error) = service.keep_alive_once().await {
                    tracing::warn!(error = %error, "keep-alive pass failed");
                }
            }
        }))
    }

    /// Opens the stored access token.
    pub fn stored_token(
        &self,
        connection: &ConnectionRecord,
    ) -> Result<AccessToken, ConnectionError> {
        let access_token = self.vault.open(
            Slot::AccessToken(connection.branch_id),
            &connection.access_token_sealed,
        )?;
        Ok(AccessToken {
            access_token,
            token_type: connection.token_type.clone(),
            expires_at: connection.expires_at,
            scope: connection.scope.clone(),
        })
    }

    /// Seals tokens from the provider for a branch. `fallback_scope` applies when the provider
    /// did not say which scopes it granted.
    pub fn seal_tokens(
        &self,
        branch_id: Uuid,
        tokens: &IssuedTokens,
        fallback_scope: &str,
        now: Timestamp,
    ) -> SealedTokens {
        // Clamped to a year: a provider's nonsense must not overflow the clock.
        let lifetime = tokens
            .expires_in
            .map(|s| time::Duration::seconds(s.min(MAX_LIFETIME_SECONDS) as i64))
            .unwrap_or(self.policy.default_lifetime);
        SealedTokens {
            access_token: self
                .vault
                .seal(Slot::AccessToken(branch_id), tokens.access_token.expose()),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| self.vault.seal(Slot::RefreshToken(branch_id), t.expose())),
            token_type: tokens.token_type.clone(),
            scope: tokens
                .scope
                .clone()
                .unwrap_or_else(|| fallback_scope.to_owned()),
            expires_at: now + lifetime,
        }
    }

    /// 404 for a branch the owner does not have; 409 for one of theirs without a connection.
    async fn missing_connection(&self, owner_id: Uuid, branch_id: Uuid) -> ConnectionError {
        match self.store.find_branch(owner_id, branch_id).await {
            Ok(Some(_)) => ConnectionError::NotConnected { branch_id },
            Ok(None) => ConnectionError::BranchNotFound { branch_id },
            Err(error) => error.into(),
        }
    }

    /// Keeps `last_used_at` to within an hour without a write per request.
    fn note_use(&self, connection: &ConnectionRecord, now: Timestamp) {
        let hour_ago = now - time::Duration::hours(1);
        {
            let mut uses = self.uses.lock().expect("uses lock");
            let last = uses
                .get(&connection.branch_id)
                .copied()
                .or(connection.last_used_at);
            if last.is_some_and(|at| at >= hour_ago) {
                return;
            }
            if uses.len() >= 100_000 {
                uses.clear();
            }
            uses.insert(connection.branch_id, now);
        }
        let store = self.store.clone();
        let branch_id = connection.branch_id;
        tokio::spawn(async move {
            if let Err(error) = store.touch_connection(branch_id, now).await {
                tracing::warn!(%error, "could not record a connection's last use");
            }
        });
    }
}
