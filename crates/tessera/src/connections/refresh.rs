//! The refresher: hands out a valid access token for a branch, refreshing it when needed by the
//! rules of `oauth-connections.md`.
//!
//! * **Once.** Callers for one branch queue on an in-process lock (single flight), then on the
//!   database lock ([`crate::store::ConnectionLock`]), and re-read the row before calling the
//!   provider: whoever waited finds the token the first caller stored and returns it. So 1,000
//!   concurrent requests on an expired token cost one provider call, on one instance or many.
//! * **Rotation.** A new refresh token replaces the old one in the same write as the new access
//!   token; a response without one keeps the old.
//! * **Dead grants.** `invalid_grant` flips the connection to `needs_reauth` once; from then on
//!   token requests answer 409 without calling the provider.
//! * **Passing faults.** A few retries with doubling back-off; then, if the stored token has not
//!   expired, it is handed out anyway; else 502 (504 on a timeout). After a failure no new attempt
//!   is made for the connection for `OAUTH_FAILURE_COOLDOWN_SECONDS`.
//! * **No silent immortality.** No `expires_in` → `OAUTH_DEFAULT_TOKEN_LIFETIME_SECONDS`.
//! * **Keep-alive.** [`Connections::keep_alive_once`] refreshes tokens about to expire that
//!   consumers are using, and grants nobody refreshed for a week; the same locks make it safe to
//!   run on every instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::oauth::{ClientCredentials, IssuedTokens, OAuthHttp, ProviderError};
use super::provider::Presets;
use super::vault::{Slot, Vault};
use crate::cache::{ChangeCache, Feed};
use crate::config::{Config, SecretString};
use crate::http::ApiError;
use crate::store::{
    BackendKind, ConnectionRecord, ConnectionStatus, RefreshResult, SealedTokens, Store, Timestamp,
    TokenRow,
};

/// Token rows by (owner, branch): the hot path's one read, kept in memory and emptied by every
/// change of a connection or branch, here and on other instances (see [`crate::cache`]).
pub type ConnectionCache = ChangeCache<(Uuid, Uuid), TokenRow>;

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

/// The refresh rules' numbers, from configuration.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Tokens valid for less than this are refreshed before they are handed out.
    pub buffer: time::Duration,
    /// Lifetime of a token whose response had no `expires_in`.
    pub default_lifetime: time::Duration,
    /// Extra attempts after a passing fault.
    pub retries: u32,
    /// First back-off; doubles per retry.
    pub backoff: Duration,
    /// No new attempt this long after a failure.
    pub cooldown: time::Duration,
    /// How often the keep-alive task runs (zero: never).
    pub keepalive_interval: Duration,
    /// Refreshes the keep-alive task runs at once.
    pub keepalive_concurrency: usize,
    /// Grants not refreshed for this long are refreshed by the keep-alive task.
    pub idle_after: time::Duration,
}

impl RefreshPolicy {
    /// The policy of this configuration.
    pub fn from_config(config: &Config) -> RefreshPolicy {
        let seconds = |s: u64| time::Duration::seconds(s as i64);
        RefreshPolicy {
            buffer: seconds(config.token_refresh_buffer_seconds),
            default_lifetime: seconds(config.oauth_default_token_lifetime_seconds),
            retries: config.oauth_refresh_retries,
            backoff: Duration::from_millis(config.oauth_retry_backoff_ms),
            cooldown: seconds(config.oauth_failure_cooldown_seconds),
            keepalive_interval: Duration::from_secs(config.oauth_keepalive_interval_seconds),
            keepalive_concurrency: config.oauth_keepalive_concurrency as usize,
            idle_after: time::Duration::days(config.oauth_idle_refresh_days as i64),
        }
    }
}

/// When a caller wants a refresh.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Only if the token expires before this instant.
    ExpiringBefore(Timestamp),
    /// Always, unless someone refreshed since this instant (a forced refresh).
    RefreshedBefore(Timestamp),
    /// The keep-alive task: expiring soon, or not refreshed for a long time.
    KeepAlive {
        expiring_before: Timestamp,
        idle_before: Timestamp,
    },
}

impl Need {
    fn is_met_by(self, row: &ConnectionRecord) -> bool {
        let last_refresh = row.last_refresh_at.unwrap_or(row.connected_at);
        match self {
            Need::ExpiringBefore(at) => row.expires_at >= at,
            Need::RefreshedBefore(at) => last_refresh >= at,
            Need::KeepAlive {
                expiring_before,
                idle_before,
            } => row.expires_at >= expiring_before && last_refresh >= idle_before,
        }
    }
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
    flights: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// When this instance last recorded each branch's use (cached rows do not see the writes).
    uses: Mutex<HashMap<Uuid, Timestamp>>,
}

impl Connections {
    /// The service for this configuration.
    pub fn new(store: Store, config: &Config, secret: &[u8]) -> anyhow::Result<Connections> {
        Ok(Connections {
            cache: ChangeCache::new(Feed::Connections, store.kind() == BackendKind::Sqlite),
            store,
            vault: Vault::new(config.token_encryption_keys.as_ref(), secret)?,
            presets: Presets::from_config(config)?,
            http: OAuthHttp::new(config.oauth_http_timeout_seconds)?,
            policy: RefreshPolicy::from_config(config),
            flights: Mutex::new(HashMap::new()),
            uses: Mutex::new(HashMap::new()),
        })
    }

    /// A valid access token for the owner's branch: the stored one while it is valid for longer
    /// than the buffer (one indexed read and one decryption), else a refreshed one.
    pub async fn access_token(
        self: &Arc<Self>,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<AccessToken, ApiError> {
        let now = Timestamp::now();
        let Some(row) = self.token_row(owner_id, branch_id).await? else {
            return Err(self.not_connected(owner_id, branch_id).await);
        };
        if !row.is_active {
            return Err(ApiError::Conflict(format!(
                "Branch {branch_id} is inactive: activate it (PATCH /api/v1/branches/{branch_id} with \"is_active\": true) to use its token"
            )));
        }
        let connection = &row.connection;
        usable(connection)?;
        if connection.expires_at >= now + self.policy.buffer {
            self.note_use(connection, now);
            return self.stored_token(connection);
        }
        self.refresh(branch_id, Need::ExpiringBefore(now + self.policy.buffer))
            .await
    }

    /// The owner's branch's token row, from the cache or the database.
    async fn token_row(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<Option<Arc<TokenRow>>, ApiError> {
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
    ) -> Result<AccessToken, ApiError> {
        let requested_at = Timestamp::now();
        if self.store.find_branch(owner_id, branch_id).await?.is_none() {
            return Err(ApiError::NotFound("Branch not found".to_owned()));
        }
        self.refresh(branch_id, Need::RefreshedBefore(requested_at))
            .await
    }

    /// One pass of the keep-alive task: refreshes due connections, `keepalive_concurrency` at a
    /// time, and forgets expired authorization states. Returns how many refreshes succeeded.
    pub async fn keep_alive_once(self: &Arc<Self>) -> anyhow::Result<usize> {
        let now = Timestamp::now();
        let ahead = time::Duration::try_from(self.policy.keepalive_interval).unwrap_or_default();
        let expiring_before = now + self.policy.buffer + ahead;
        let idle_before = now - self.policy.idle_after;
        let used_since = now - time::Duration::days(1);
        self.store.purge_expired_oauth_states(now).await?;
        let due = self
            .store
            .connections_due(expiring_before, used_since, idle_before, now, 500)
            .await?;
        let gate = Arc::new(tokio::sync::Semaphore::new(
            self.policy.keepalive_concurrency,
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for branch_id in due {
            let service = Arc::clone(self);
            let permit = Arc::clone(&gate).acquire_owned().await?;
            tasks.spawn(async move {
                let _permit = permit;
                let need = Need::KeepAlive {
                    expiring_before,
                    idle_before,
                };
                service.refresh(branch_id, need).await
            });
        }
        let mut refreshed = 0;
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok(Ok(_)) => refreshed += 1,
                Ok(Err(error)) => tracing::info!(%error, "keep-alive refresh did not succeed"),
                Err(error) => tracing::error!(%error, "keep-alive task failed"),
            }
        }
        self.flights
            .lock()
            .expect("flights lock")
            .retain(|_, flight| Arc::strong_count(flight) > 1);
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
    pub fn stored_token(&self, connection: &ConnectionRecord) -> Result<AccessToken, ApiError> {
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
        let lifetime = tokens
            .expires_in
            .map(|s| time::Duration::seconds(s.min(i64::MAX as u64) as i64))
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

    /// Serialised refresh of one branch: see the module docs.
    async fn refresh(
        self: &Arc<Self>,
        branch_id: Uuid,
        need: Need,
    ) -> Result<AccessToken, ApiError> {
        // In a task of its own, so it runs to the end even if the request that started it is
        // dropped (the client went away, the request timed out): a provider that rotated the
        // refresh token must see the new one stored, or the grant is lost.
        let service = Arc::clone(self);
        tokio::spawn(async move { service.refresh_now(branch_id, need).await })
            .await
            .map_err(|error| ApiError::Internal(error.into()))?
    }

    async fn refresh_now(&self, branch_id: Uuid, need: Need) -> Result<AccessToken, ApiError> {
        let flight = {
            let mut flights = self.flights.lock().expect("flights lock");
            Arc::clone(flights.entry(branch_id).or_default())
        };
        let _in_process = flight.lock().await;
        let (lock, row) = self.store.lock_connection(branch_id).await?;
        let Some(row) = row else {
            lock.release().await?;
            return Err(ApiError::Conflict(format!(
                "Branch {branch_id} is not connected: start an authorization with POST /api/v1/branches/{branch_id}/oauth/start"
            )));
        };
        let now = Timestamp::now();
        let unusable = usable(&row).err();
        let cooling_down = row.next_attempt_at.is_some_and(|at| at > now);
        if unusable.is_some()
            || need.is_met_by(&row)
            || cooling_down
            || row.refresh_token_sealed.is_none()
        {
            lock.release().await?;
            if let Some(error) = unusable {
                return Err(error);
            }
            if need.is_met_by(&row) {
                return self.stored_token(&row);
            }
            return self.without_refresh(&row, now);
        }
        let outcome = self.call_provider(&row).await;
        let now = Timestamp::now();
        let (result, answer) = match outcome {
            Ok((tokens, sealed)) => {
                let answer = Ok(AccessToken {
                    access_token: tokens.access_token,
                    token_type: sealed.token_type.clone(),
                    expires_at: sealed.expires_at,
                    scope: sealed.scope.clone(),
                });
                (RefreshResult::Refreshed(sealed), answer)
            }
            Err(error) if error.is_dead_grant() => {
                tracing::warn!(%branch_id, error = %error, "grant is dead: connection needs re-authorization");
                let message = error.to_string();
                (
                    RefreshResult::GrantDead {
                        error: message.clone(),
                    },
                    Err(needs_reauth(branch_id, Some(&message))),
                )
            }
            Err(error) => {
                tracing::warn!(%branch_id, error = %error, "token refresh failed");
                let answer = if row.expires_at > now {
                    // Still valid, just inside the buffer: better than failing.
                    self.stored_token(&row)
                } else {
                    Err(provider_failure(
                        &error,
                        "Refreshing the branch's token failed",
                    ))
                };
                let result = RefreshResult::Failed {
                    error: error.to_string(),
                    next_attempt_at: now + self.policy.cooldown,
                };
                (result, answer)
            }
        };
        let written = lock.finish(&result, now).await;
        self.changed();
        written?;
        answer
    }

    /// A refresh attempt with retries for passing faults.
    async fn call_provider(
        &self,
        row: &ConnectionRecord,
    ) -> Result<(IssuedTokens, SealedTokens), ProviderError> {
        let fault = |e: ApiError| ProviderError::Unavailable(format!("configuration: {e}"));
        let client = self
            .store
            .client_of_branch(row.branch_id)
            .await
            .map_err(|e| fault(e.into()))?
            .ok_or_else(|| {
                ProviderError::Unavailable("the branch has no OAuth client".to_owned())
            })?;
        let provider = self.presets.resolve(&client).map_err(fault)?;
        let secret = self
            .vault
            .open(Slot::ClientSecret(client.id), &client.client_secret_sealed)
            .map_err(|e| fault(e.into()))?;
        let refresh_token = self
            .vault
            .open(
                Slot::RefreshToken(row.branch_id),
                row.refresh_token_sealed.as_deref().unwrap_or_default(),
            )
            .map_err(|e| fault(e.into()))?;
        let credentials = ClientCredentials {
            client_id: &client.client_id,
            client_secret: &secret,
        };
        let mut attempt = 0;
        loop {
            match self
                .http
                .refresh(&provider, &credentials, &refresh_token)
                .await
            {
                Ok(tokens) => {
                    let sealed =
                        self.seal_tokens(row.branch_id, &tokens, &row.scope, Timestamp::now());
                    return Ok((tokens, sealed));
                }
                Err(error) if error.is_passing() && attempt < self.policy.retries => {
                    tokio::time::sleep(self.policy.backoff * 2u32.pow(attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The answer when no provider call may be made (cooling down after a failure, or no refresh
    /// token): the stored token while it has not expired, else a clear error.
    fn without_refresh(
        &self,
        row: &ConnectionRecord,
        now: Timestamp,
    ) -> Result<AccessToken, ApiError> {
        if row.expires_at > now {
            return self.stored_token(row);
        }
        if row.refresh_token_sealed.is_none() {
            return Err(ApiError::Conflict(format!(
                "Branch {} has no refresh token and its access token has expired: re-connect it with offline access (POST /api/v1/branches/{}/oauth/start)",
                row.branch_id, row.branch_id
            )));
        }
        let wait = row
            .next_attempt_at
            .map(|at| (at - now).whole_seconds().max(1))
            .unwrap_or(1);
        let last = row.last_error.as_deref().unwrap_or("unknown error");
        Err(ApiError::BadGateway(format!(
            "The last refresh of this branch's token failed ({last}); the next attempt is allowed in {wait} s"
        )))
    }

    /// 404 for a branch the owner does not have; 409 for one of theirs without a connection.
    async fn not_connected(&self, owner_id: Uuid, branch_id: Uuid) -> ApiError {
        match self.store.find_branch(owner_id, branch_id).await {
            Ok(Some(_)) => ApiError::Conflict(format!(
                "Branch {branch_id} is not connected: start an authorization with POST /api/v1/branches/{branch_id}/oauth/start"
            )),
            Ok(None) => ApiError::NotFound("Branch not found".to_owned()),
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

/// Refuses connections that cannot hand out tokens.
fn usable(connection: &ConnectionRecord) -> Result<(), ApiError> {
    match connection.status {
        ConnectionStatus::Active => Ok(()),
        ConnectionStatus::NeedsReauth => Err(needs_reauth(
            connection.branch_id,
            connection.last_error.as_deref(),
        )),
        ConnectionStatus::Revoked => Err(ApiError::Conflict(format!(
            "Branch {} was disconnected: connect it again with POST /api/v1/branches/{}/oauth/start",
            connection.branch_id, connection.branch_id
        ))),
    }
}

/// The 409 for a dead grant.
pub fn needs_reauth(branch_id: Uuid, reason: Option<&str>) -> ApiError {
    let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
    ApiError::Conflict(format!(
        "Branch {branch_id} must be re-connected: the provider no longer accepts its grant{reason}. \
         Start a new authorization with POST /api/v1/branches/{branch_id}/oauth/start"
    ))
}

/// 504 for a timeout, else 502, with what the provider did.
pub fn provider_failure(error: &ProviderError, what: &str) -> ApiError {
    match error {
        ProviderError::Timeout(_) => ApiError::GatewayTimeout(format!("{what}: {error}")),
        _ => ApiError::BadGateway(format!("{what}: {error}")),
    }
}
