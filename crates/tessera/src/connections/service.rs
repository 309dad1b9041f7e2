//! The OAuth connections service, apart from HTTP: a valid access token for a branch on request
//! (the stored one, or a refreshed one by the rules in [`super::refresh`]), the keep-alive pass,
//! the owner's OAuth clients and branches, the authorization flow, and disconnecting. The API
//! and the background tasks call it (and the console will); it answers [`ConnectionError`],
//! never an HTTP status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use uuid::Uuid;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::branches::{self, BranchBody};
use super::clients::{self, OAuthClientBody};
use super::compat::CompatClientBody;
use super::errors::ConnectionError;
use super::events;
use super::flow::{CallbackQuery, Connected, StartedFlow, STATE_LIFETIME};
use super::limits::{InFlight, RefreshLimits};
use super::oauth::{authorization_url, random_bytes, ClientCredentials, Pkce};
use super::oauth::{IssuedTokens, OAuthHttp};
use super::provider::Presets;
use super::refresh::{refresh_due, usable, Need, RefreshJob, RefreshPolicy};
use super::vault::{Slot, Vault};
use crate::cache::ChangeCache;
use crate::config::{Config, SecretString};
use crate::input::{echo, Field};
use crate::store::{
    unique_violation, BackendKind, BranchRecord, ConnectionRecord, ConnectionStatus, Feed,
    OAuthClientRecord, OAuthStateRecord, Provider, SealedTokens, Store, TokenRow,
};
use crate::types::Timestamp;
use crate::webhooks::events::EventKind;
use serde_json::json;

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

/// The OAuth connections service: the store, the vault, the provider client and the refresh
/// rules, behind every connections operation.
pub struct Connections {
    /// The database.
    pub store: Store,
    /// Seals and opens secrets.
    pub vault: Vault,
    /// Provider presets.
    pub presets: Presets,
    /// The provider client.
    pub http: OAuthHttp,
    /// Whether clients may name endpoints on internal addresses (`OAUTH_ALLOW_PRIVATE_ENDPOINTS`,
    /// local development only).
    pub allow_private_endpoints: bool,
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
    /// Provider refreshes by outcome, for the metrics.
    pub refreshes: RefreshCounters,
}

/// Provider refreshes by outcome (see `crate::metrics`).
#[derive(Debug, Clone, Default)]
pub struct RefreshCounters {
    pub refreshed: prometheus_client::metrics::counter::Counter,
    pub grant_dead: prometheus_client::metrics::counter::Counter,
    pub failed: prometheus_client::metrics::counter::Counter,
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
            allow_private_endpoints: config.oauth_allow_private_endpoints,
            policy: RefreshPolicy::from_config(config),
            flights: Mutex::new(HashMap::new()),
            uses: Mutex::new(HashMap::new()),
            refreshes: RefreshCounters::default(),
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

    /// Why the owner's branch has no token row: it is not theirs, or it is not connected.
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

/// Maps a unique violation to `taken`, anything else to a store error.
fn unless_taken(error: sqlx::Error, taken: ConnectionError) -> ConnectionError {
    match unique_violation(&error) {
        Some(_) => taken,
        None => error.into(),
    }
}

/// OAuth clients: app registrations at a provider, each the owner's. The secret is sealed on the
/// way in and never given out again.
impl Connections {
    /// Validates and stores a new client.
    pub async fn create_client(
        &self,
        owner_id: Uuid,
        body: OAuthClientBody,
    ) -> Result<OAuthClientRecord, ConnectionError> {
        let record = clients::apply(
            &self.vault,
            self.allow_private_endpoints,
            owner_id,
            body,
            None,
        )?;
        self.store
            .insert_oauth_client(&record)
            .await
            .map_err(|error| unless_taken(error, ConnectionError::ClientIdTaken))?;
        Ok(record)
    }

    /// The owner's clients, oldest first.
    pub async fn clients(&self, owner_id: Uuid) -> Result<Vec<OAuthClientRecord>, ConnectionError> {
        Ok(self.store.list_oauth_clients(owner_id).await?)
    }

    /// One of the owner's clients.
    pub async fn client(
        &self,
        owner_id: Uuid,
        client_id: Uuid,
    ) -> Result<OAuthClientRecord, ConnectionError> {
        self.store
            .find_oauth_client(owner_id, client_id)
            .await?
            .ok_or(ConnectionError::ClientNotFound { client_id })
    }

    /// Applies a partial change to the owner's client and stores it.
    pub async fn update_client(
        &self,
        owner_id: Uuid,
        client_id: Uuid,
        body: OAuthClientBody,
    ) -> Result<OAuthClientRecord, ConnectionError> {
        let current = self.client(owner_id, client_id).await?;
        self.change_client(owner_id, current, body).await
    }

    async fn change_client(
        &self,
        owner_id: Uuid,
        current: OAuthClientRecord,
        body: OAuthClientBody,
    ) -> Result<OAuthClientRecord, ConnectionError> {
        let record = clients::apply(
            &self.vault,
            self.allow_private_endpoints,
            owner_id,
            body,
            Some(current),
        )?;
        self.store
            .update_oauth_client(&record)
            .await
            .map_err(|error| unless_taken(error, ConnectionError::ClientIdTaken))?;
        Ok(record)
    }

    /// Deletes the owner's client; refused while branches connect through it.
    pub async fn delete_client(
        &self,
        owner_id: Uuid,
        client_id: Uuid,
    ) -> Result<(), ConnectionError> {
        let deleted = self
            .store
            .delete_oauth_client(owner_id, client_id)
            .await
            .map_err(|error| match &error {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    ConnectionError::ClientInUse { client_id }
                }
                _ => error.into(),
            })?;
        if !deleted {
            return Err(ConnectionError::ClientNotFound { client_id });
        }
        Ok(())
    }
}

/// Branches: business locations, each connecting through one of the owner's clients.
impl Connections {
    /// Validates and stores a new branch.
    pub async fn create_branch(
        &self,
        owner_id: Uuid,
        body: BranchBody,
    ) -> Result<BranchRecord, ConnectionError> {
        let record = branches::apply(&self.store, owner_id, body, None).await?;
        self.store
            .insert_branch(&record)
            .await
            .map_err(|error| unless_taken(error, ConnectionError::BranchIdTaken))?;
        Ok(record)
    }

    /// The owner's branches (only those of one client, if given), oldest first.
    pub async fn branches(
        &self,
        owner_id: Uuid,
        client_id: Option<Uuid>,
    ) -> Result<Vec<BranchRecord>, ConnectionError> {
        Ok(self.store.list_branches(owner_id, client_id).await?)
    }

    /// One of the owner's branches, by Tessera's id.
    pub async fn branch(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<BranchRecord, ConnectionError> {
        self.store
            .find_branch(owner_id, branch_id)
            .await?
            .ok_or(ConnectionError::BranchNotFound { branch_id })
    }

    /// One of the owner's branches, by the owner's own identifier.
    pub async fn branch_named(
        &self,
        owner_id: Uuid,
        branch_id: &str,
    ) -> Result<BranchRecord, ConnectionError> {
        self.store
            .find_branch_by_branch_id(owner_id, branch_id)
            .await?
            .ok_or_else(|| ConnectionError::BranchIdNotFound {
                branch_id: branch_id.to_owned(),
            })
    }

    /// Applies a partial change to the owner's branch and stores it.
    pub async fn update_branch(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
        body: BranchBody,
    ) -> Result<BranchRecord, ConnectionError> {
        let current = self.branch(owner_id, branch_id).await?;
        let record = branches::apply(&self.store, owner_id, body, Some(current)).await?;
        self.store
            .update_branch(&record)
            .await
            .map_err(|error| unless_taken(error, ConnectionError::BranchIdTaken))?;
        self.changed();
        Ok(record)
    }

    /// Revokes the branch's grant at the provider (best effort), then deletes the branch, its
    /// connection and pending authorizations.
    pub async fn delete_branch(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<Revocation, ConnectionError> {
        self.branch(owner_id, branch_id).await?;
        let revocation = self.revoke_at_provider(owner_id, branch_id).await?;
        self.store.delete_branch(owner_id, branch_id).await?;
        self.changed();
        Ok(revocation)
    }

    /// The owner's branches, each with its grant as stored (`None`: never connected), for
    /// listing them: one read per branch, not the two that [`Self::connection`] takes.
    pub async fn branches_with_connections(
        &self,
        owner_id: Uuid,
    ) -> Result<Vec<(BranchRecord, Option<ConnectionRecord>)>, ConnectionError> {
        let branches = self.store.list_branches(owner_id, None).await?;
        let mut listed = Vec::with_capacity(branches.len());
        for branch in branches {
            let row = self.store.token_row(owner_id, branch.id).await?;
            listed.push((branch, row.map(|r| r.connection)));
        }
        Ok(listed)
    }

    /// The branch's grant as stored (`None`: never connected), for showing its state.
    pub async fn connection(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<Option<ConnectionRecord>, ConnectionError> {
        self.branch(owner_id, branch_id).await?;
        let row = self.store.token_row(owner_id, branch_id).await?;
        Ok(row.map(|r| r.connection))
    }

    /// Revokes the grant at the provider (RFC 7009) and deletes it here, even if the provider
    /// fails; the answer says whether the provider confirmed.
    pub async fn disconnect(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<Revocation, ConnectionError> {
        let branch = self.branch(owner_id, branch_id).await?;
        let revocation = self.revoke_at_provider(owner_id, branch_id).await?;
        let now = Timestamp::now();
        let mut tx = self.store.begin().await?;
        let deleted = tx.delete_connection(branch_id).await?;
        if deleted {
            let details = json!({ "revoked_at_provider": revocation.revoked });
            let event = events::about(&branch, EventKind::ConnectionDisconnected, details, now);
            tx.enqueue_event(&event.row()).await?;
        }
        tx.commit().await?;
        self.changed();
        if !deleted {
            return Err(ConnectionError::NoConnection { branch_id });
        }
        Ok(revocation)
    }

    /// Revokes a branch's grant at its provider (the refresh token, which takes the access
    /// tokens with it at Google; the access token when there is no refresh token). Best effort
    /// throughout: a provider that fails, or a secret of ours that no longer opens, does not keep
    /// a person from disconnecting here; the answer says what happened.
    async fn revoke_at_provider(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<Revocation, ConnectionError> {
        let Some(row) = self
            .store
            .token_row(owner_id, branch_id)
            .await?
            .map(|r| r.connection)
        else {
            return Ok(Revocation {
                revoked: false,
                error: None,
            });
        };
        let outcome = match self.try_revoke(&row).await {
            Ok(outcome) => outcome,
            // A database that fails now is passing: fail the request rather than delete a grant
            // here that is still live at the provider.
            Err(error @ ConnectionError::Store(_)) => return Err(error),
            Err(error) => {
                let cause = error.to_string();
                tracing::error!(%branch_id, error = ?error, "could not prepare the revocation");
                Err(format!("not attempted: {cause}"))
            }
        };
        Ok(match outcome {
            Ok(()) => Revocation {
                revoked: true,
                error: None,
            },
            Err(error) => {
                tracing::warn!(%branch_id, %error, "revocation at the provider did not succeed");
                Revocation {
                    revoked: false,
                    error: Some(error),
                }
            }
        })
    }

    /// The provider's answer to a revocation (`Err` says why not); the outer error is a fault of
    /// ours.
    async fn try_revoke(
        &self,
        row: &ConnectionRecord,
    ) -> Result<Result<(), String>, ConnectionError> {
        let branch_id = row.branch_id;
        let client = self
            .store
            .client_of_branch(branch_id)
            .await?
            .ok_or_else(|| ConnectionError::Broken(anyhow::anyhow!("branch without client")))?;
        let provider = self.presets.resolve(&client)?;
        let Some(revocation) = provider.revocation.clone() else {
            return Ok(Err("the provider has no revocation endpoint".to_owned()));
        };
        let secret = self
            .vault
            .open(Slot::ClientSecret(client.id), &client.client_secret_sealed)?;
        let (token, hint) = match &row.refresh_token_sealed {
            Some(sealed) => (
                self.vault.open(Slot::RefreshToken(branch_id), sealed)?,
                "refresh_token",
            ),
            None => (
                self.vault
                    .open(Slot::AccessToken(branch_id), &row.access_token_sealed)?,
                "access_token",
            ),
        };
        let credentials = ClientCredentials {
            client_id: &client.client_id,
            client_secret: &secret,
        };
        Ok(self
            .http
            .revoke(&revocation, &provider, &credentials, &token, hint)
            .await
            .map_err(|error| error.to_string()))
    }
}

/// What revoking at the provider came to.
#[derive(Debug)]
pub struct Revocation {
    /// The provider confirmed (RFC 7009: 200 means the token is no longer valid).
    pub revoked: bool,
    /// Why not, if not.
    pub error: Option<String>,
}

/// The authorization-code flow with PKCE (the state's rules are in `flow.rs`).
impl Connections {
    /// Starts an authorization for one of the caller's branches: the provider's consent page,
    /// with a fresh single-use state.
    pub async fn start_authorization(
        &self,
        user_id: Uuid,
        branch: &BranchRecord,
    ) -> Result<StartedFlow, ConnectionError> {
        self.start_authorization_from(user_id, branch, None).await
    }

    /// [`Connections::start_authorization`], remembering the reconnect link (its SHA-256) the
    /// consent was started from, so a successful callback spends it.
    pub(super) async fn start_authorization_from(
        &self,
        user_id: Uuid,
        branch: &BranchRecord,
        connect_link_hash: Option<Vec<u8>>,
    ) -> Result<StartedFlow, ConnectionError> {
        if !branch.is_active {
            return Err(ConnectionError::InactiveBranchNotConnectable {
                branch_id: branch.id,
            });
        }
        let client = self
            .store
            .find_oauth_client(user_id, branch.oauth_client_id)
            .await?
            .ok_or(ConnectionError::BranchClientGone {
                branch_id: branch.id,
            })?;
        let provider = self.presets.resolve(&client)?;
        let state_value = URL_SAFE_NO_PAD.encode(random_bytes());
        let state_hash: [u8; 32] = Sha256::digest(state_value.as_bytes()).into();
        let pkce = Pkce::generate();
        let now = Timestamp::now();
        let record = OAuthStateRecord {
            state_hash: state_hash.to_vec(),
            branch_id: branch.id,
            user_id,
            oauth_client_id: client.id,
            pkce_verifier_sealed: self
                .vault
                .seal(Slot::PkceVerifier(state_hash), pkce.verifier.expose()),
            redirect_uri: client.redirect_uri.clone(),
            created_at: now,
            expires_at: now + STATE_LIFETIME,
            connect_link_hash,
        };
        self.store.insert_oauth_state(&record).await?;
        let url = authorization_url(
            &provider,
            &client.client_id,
            &client.redirect_uri,
            &state_value,
            &pkce.challenge,
        );
        Ok(StartedFlow {
            auth_url: url.into(),
            state: state_value,
            expires_at: record.expires_at,
        })
    }

    /// Completes an authorization from the provider's callback: the state (single use) names the
    /// branch, the code is exchanged for the grant, and the grant is stored sealed.
    pub async fn complete_authorization(
        &self,
        query: CallbackQuery,
    ) -> Result<Connected, ConnectionError> {
        let bad = |message: String| Err(ConnectionError::CallbackRefused(message));
        let Some(state_value) = query.state.filter(|s| !s.is_empty() && s.len() <= 512) else {
            return bad("The callback has no state: start the authorization again".to_owned());
        };
        let state_hash: [u8; 32] = Sha256::digest(state_value.as_bytes()).into();
        let Some(pending) = self.store.take_oauth_state(&state_hash).await? else {
            return bad(
                "Unknown or already used authorization state: start the authorization again"
                    .to_owned(),
            );
        };
        let now = Timestamp::now();
        if pending.expires_at < now {
            return bad("The authorization state has expired (states last 10 minutes): start the authorization again".to_owned());
        }
        if let Some(error) = query.error {
            let description = query
                .error_description
                .map(|d| format!(": {}", echo(&d)))
                .unwrap_or_default();
            return bad(format!(
                "The provider refused the authorization ({}){description}",
                echo(&error)
            ));
        }
        if query
            .branch_id
            .is_some_and(|b| b != pending.branch_id.to_string())
        {
            return bad("This authorization was started for another branch".to_owned());
        }
        if query
            .redirect_uri
            .is_some_and(|r| r != pending.redirect_uri)
        {
            return bad(
                "The redirect URI does not match the one the authorization started with".to_owned(),
            );
        }
        let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 4096) else {
            return bad("The callback has no authorization code".to_owned());
        };
        let branch = self
            .store
            .find_branch(pending.user_id, pending.branch_id)
            .await?
            .ok_or_else(|| {
                ConnectionError::CallbackRefused(
                    "The branch this authorization was for no longer exists".to_owned(),
                )
            })?;
        let client = self
            .store
            .find_oauth_client(pending.user_id, branch.oauth_client_id)
            .await?
            .ok_or_else(|| {
                ConnectionError::CallbackRefused(
                    "The branch's OAuth client no longer exists".to_owned(),
                )
            })?;
        if client.id != pending.oauth_client_id {
            return bad(
            "The branch's OAuth client changed since this authorization started: start it again"
                .to_owned(),
        );
        }
        if client.redirect_uri != pending.redirect_uri {
            return bad("The OAuth client's redirect URI changed since this authorization started: start it again".to_owned());
        }
        let provider = self.presets.resolve(&client)?;
        let verifier = self.vault.open(
            Slot::PkceVerifier(state_hash),
            &pending.pkce_verifier_sealed,
        )?;
        let secret = self
            .vault
            .open(Slot::ClientSecret(client.id), &client.client_secret_sealed)?;
        let credentials = ClientCredentials {
            client_id: &client.client_id,
            client_secret: &secret,
        };
        let tokens = self
            .http
            .exchange_code(
                &provider,
                &credentials,
                &code,
                &verifier,
                &pending.redirect_uri,
            )
            .await
            .map_err(|error| {
                if error.is_passing() {
                    ConnectionError::Provider {
                        doing: "Exchanging the authorization code failed",
                        error,
                    }
                } else {
                    ConnectionError::CallbackRefused(format!(
                        "Exchanging the authorization code failed: {error}"
                    ))
                }
            })?;
        let sealed = self.seal_tokens(branch.id, &tokens, &provider.scopes.join(" "), now);
        // Google lets the person untick a scope on the consent page: compare what was granted
        // with what the client needs.
        let missing: Vec<&str> = provider
            .scopes
            .iter()
            .map(String::as_str)
            .filter(|needed| {
                !sealed
                    .scope
                    .split_whitespace()
                    .any(|granted| granted == *needed)
            })
            .collect();
        let missing = missing.join(" ");
        let mut tx = self.store.begin().await?;
        let event = if missing.is_empty() {
            tx.connect_branch(branch.id, &sealed, ConnectionStatus::Active, None, now)
                .await?;
            if let Some(link) = &pending.connect_link_hash {
                tx.spend_connect_link(link, now).await?;
            }
            let details =
                json!({ "scope": sealed.scope, "expires_at": sealed.expires_at.to_rfc3339() });
            events::about(&branch, EventKind::ConnectionConnected, details, now)
        } else {
            tracing::warn!(branch_id = %branch.id, %missing, "the consent left out a required scope");
            let status = ConnectionStatus::InsufficientScope;
            tx.connect_branch(branch.id, &sealed, status, Some(&missing), now)
                .await?;
            let details = json!({ "reason": "insufficient_scope", "missing_scopes": missing });
            events::about(&branch, EventKind::ConnectionNeedsReauth, details, now)
        };
        tx.enqueue_event(&event.row()).await?;
        tx.commit().await?;
        self.changed();
        if !missing.is_empty() {
            return Ok(Connected {
                branch_id: branch.id,
                branch: branch.branch_id,
                status: "insufficient_scope",
                message: format!(
                    "Branch {} is not connected: the permission {missing} was not granted (it was unticked on the consent page). Start again and leave every permission ticked.",
                    branch.name
                ),
                scope: sealed.scope,
                expires_at: sealed.expires_at,
                refresh_token_received: tokens.refresh_token.is_some(),
            });
        }
        let refresh_token_received = tokens.refresh_token.is_some();
        let message = if refresh_token_received || !provider.expects_refresh_token {
            format!("Branch {} is connected.", branch.name)
        } else {
            tracing::warn!(branch_id = %branch.id, "the provider issued no refresh token");
            format!(
            "Branch {} is connected, but the provider issued no refresh token: the connection will stop working when the access token expires. Remove Tessera's access in the provider's account settings and connect again.",
            branch.name
        )
        };
        tracing::info!(branch_id = %branch.id, refresh_token_received, "branch connected");
        Ok(Connected {
            branch_id: branch.id,
            branch: branch.branch_id,
            status: "connected",
            scope: sealed.scope,
            expires_at: sealed.expires_at,
            refresh_token_received,
            message,
        })
    }
}

/// What the routes of the earlier service (`compat.rs`) need: they name a branch by its
/// provider client id.
impl Connections {
    /// Registers a Google client (or reuses the owner's with the same client id and redirect
    /// URI, keeping the secret given now) and a branch on it.
    pub async fn register_client_and_branch(
        &self,
        owner: Uuid,
        body: CompatClientBody,
    ) -> Result<(OAuthClientRecord, BranchRecord), ConnectionError> {
        let name = body
            .workspace_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| body.branch_id.clone());
        // Checked first, so a taken branch_id leaves no new client behind.
        if self
            .store
            .find_branch_by_branch_id(owner, &body.branch_id)
            .await?
            .is_some()
        {
            return Err(ConnectionError::BranchIdTaken);
        }
        let existing = self
            .store
            .find_oauth_client_by_client_id(owner, &body.client_id)
            .await?;
        let client = match existing {
            // The same registration: the secret given now is the current one.
            Some(existing) if existing.redirect_uri == body.redirect_uri => {
                let update = OAuthClientBody {
                    client_secret: Field::Value(body.client_secret),
                    ..OAuthClientBody::default()
                };
                self.change_client(owner, existing, update).await?
            }
            Some(_) => return Err(ConnectionError::ClientIdRedirectMismatch),
            None => {
                let client_body = OAuthClientBody {
                    name: Field::Value(name.clone()),
                    provider: Field::Value(Provider::Google.as_str().to_owned()),
                    client_id: Field::Value(body.client_id.clone()),
                    client_secret: Field::Value(body.client_secret),
                    redirect_uri: Field::Value(body.redirect_uri),
                    ..OAuthClientBody::default()
                };
                self.create_client(owner, client_body).await?
            }
        };
        let branch_body = BranchBody {
            branch_id: Field::Value(body.branch_id),
            client_id: Field::Value(client.id),
            name: Field::Value(name),
            email: body.workspace_email.map_or(Field::Absent, Field::Value),
            ..BranchBody::default()
        };
        let branch = self.create_branch(owner, branch_body).await?;
        Ok((client, branch))
    }

    /// The caller's client with this client id and its one branch.
    pub async fn branch_of_client_id(
        &self,
        owner: Uuid,
        client_id: &str,
    ) -> Result<(OAuthClientRecord, BranchRecord), ConnectionError> {
        let client = self
            .store
            .find_oauth_client_by_client_id(owner, client_id)
            .await?
            .ok_or(ConnectionError::ClientIdUnknown)?;
        let mut branches = self.store.list_branches(owner, Some(client.id)).await?;
        match branches.len() {
            1 => Ok((client, branches.remove(0))),
            0 => Err(ConnectionError::ClientIdUnused),
            n => Err(ConnectionError::ClientIdShared { branches: n }),
        }
    }

    /// The client a branch of the owner's connects through.
    pub async fn client_of(
        &self,
        owner: Uuid,
        branch: &BranchRecord,
    ) -> Result<OAuthClientRecord, ConnectionError> {
        self.store
            .find_oauth_client(owner, branch.oauth_client_id)
            .await?
            .ok_or_else(|| ConnectionError::Broken(anyhow::anyhow!("branch without client")))
    }
}
