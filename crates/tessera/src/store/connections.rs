//! Queries on the OAuth connections tables: `oauth_clients`, `branches`, `oauth_connections` and
//! `oauth_states`. Every read a caller can reach is filtered by the owner, so another user's id
//! behaves exactly like a missing one. Secret columns hold sealed bytes only; sealing and opening
//! happen in `crate::connections::vault`, never here.
//!
//! Refreshes are serialised across instances by [`ConnectionLock`]: on PostgreSQL a transaction
//! holding the connection row `FOR UPDATE` while the provider is called, so a second instance
//! waits and then re-reads the row the first one wrote. SQLite serves one process, whose
//! in-process single flight is the lock; holding SQLite's only write lock across a provider call
//! would stall every other writer (the audit log among them), so there the "lock" is a plain read.

use crate::types::{text_backed, text_enum, Timestamp};
use uuid::Uuid;

use super::tx::on_tx;
use super::{on_pool, Backend, NewEvent, Store, Tx};

text_enum! {
    /// Which provider preset a client talks to: `Google` brings Google's endpoints, scopes and
    /// consent parameters; `Generic` asks for nothing beyond RFC 6749 and needs its endpoints set.
    pub enum Provider("OAuth provider") {
        Google = "google",
        Generic = "generic",
    }
}

text_enum! {
    /// How a client authenticates at the token endpoint (RFC 6749 §2.3.1).
    pub enum TokenAuthMethod("token endpoint auth method") {
        ClientSecretPost = "client_secret_post",
        ClientSecretBasic = "client_secret_basic",
    }
}

/// An OAuth client registration (an app at a provider), as the row holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthClientRecord {
    /// Tessera's id of the registration.
    pub id: Uuid,
    /// The user who owns it.
    pub owner_id: Uuid,
    /// A name for people.
    pub name: String,
    /// Provider preset.
    pub provider: Provider,
    /// The provider's client id.
    pub client_id: String,
    /// The client secret, sealed.
    pub client_secret_sealed: Vec<u8>,
    /// The exact redirect URI registered at the provider.
    pub redirect_uri: String,
    /// Requested scopes (JSON array of strings); empty means the provider's defaults.
    pub scopes: sqlx::types::Json<Vec<String>>,
    /// Endpoint overrides; `None` takes the preset's.
    pub authorization_url: Option<String>,
    /// Token endpoint override.
    pub token_url: Option<String>,
    /// Revocation endpoint override.
    pub revocation_url: Option<String>,
    /// How the client authenticates at the token endpoint: `client_secret_post` or
    /// `client_secret_basic`.
    pub token_auth_method: TokenAuthMethod,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A business location that holds (at most) one connection.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BranchRecord {
    /// Tessera's id.
    pub id: Uuid,
    /// The user who owns it.
    pub owner_id: Uuid,
    /// The OAuth client the branch connects through.
    pub oauth_client_id: Uuid,
    /// The caller's own identifier, unique per owner.
    pub branch_id: String,
    /// Display name.
    pub name: String,
    /// Provider account id (e.g. `accounts/123`).
    pub account_id: Option<String>,
    /// Provider location id (e.g. `locations/456`).
    pub location_id: Option<String>,
    /// Contact email.
    pub email: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Inactive branches hand out no tokens.
    pub is_active: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

text_enum! {
    /// The state of a branch's grant.
    pub enum ConnectionStatus("connection status") {
        /// Tokens are held and refreshable.
        Active = "active",
        /// The provider refused the grant for good (`invalid_grant`): the branch must re-connect.
        NeedsReauth = "needs_reauth",
        /// The consent left out a required scope: the branch must consent again, granting it.
        InsufficientScope = "insufficient_scope",
        /// Disconnected by a person (kept only until it is deleted).
        Revoked = "revoked",
    }
}

/// A branch's grant, as the row holds it (tokens sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRecord {
    /// The branch (Tessera's id).
    pub branch_id: Uuid,
    /// The access token, sealed.
    pub access_token_sealed: Vec<u8>,
    /// The refresh token, sealed; `None` when the provider gave none.
    pub refresh_token_sealed: Option<Vec<u8>>,
    /// Usually `Bearer`.
    pub token_type: String,
    /// Scopes as the provider granted them (space-separated).
    pub scope: String,
    /// When the access token expires.
    pub expires_at: Timestamp,
    /// Grant state.
    pub status: ConnectionStatus,
    /// When the authorization completed.
    pub connected_at: Timestamp,
    /// Last successful refresh.
    pub last_refresh_at: Option<Timestamp>,
    /// Last refresh attempt, successful or not.
    pub last_attempt_at: Option<Timestamp>,
    /// After a passing fault, no provider call before this.
    pub next_attempt_at: Option<Timestamp>,
    /// Last time a consumer fetched the token (kept to within an hour).
    pub last_used_at: Option<Timestamp>,
    /// The last refresh error (provider error code and description; never a secret).
    pub last_error: Option<String>,
    /// Failed refreshes since the last success.
    pub consecutive_failures: i32,
    /// Successful refreshes since connecting.
    pub refresh_count: i32,
}

/// A token read: the connection and whether its branch is active.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    /// The connection.
    #[sqlx(flatten)]
    pub connection: ConnectionRecord,
    /// The branch's `is_active`.
    pub is_active: bool,
}

/// A pending authorization, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthStateRecord {
    /// SHA-256 of the state value.
    pub state_hash: Vec<u8>,
    /// The branch the flow was started for.
    pub branch_id: Uuid,
    /// The user who started it.
    pub user_id: Uuid,
    /// The OAuth client the authorization URL was made for.
    pub oauth_client_id: Uuid,
    /// The PKCE verifier, sealed.
    pub pkce_verifier_sealed: Vec<u8>,
    /// The redirect URI the authorization request named.
    pub redirect_uri: String,
    /// When the flow started.
    pub created_at: Timestamp,
    /// After this the state is refused.
    pub expires_at: Timestamp,
    /// The reconnect link the authorization was started from, if any (its SHA-256).
    pub connect_link_hash: Option<Vec<u8>>,
}

/// Tokens from a provider, sealed, to store on a connection.
#[derive(Debug, Clone)]
pub struct SealedTokens {
    /// The access token, sealed.
    pub access_token: Vec<u8>,
    /// The refresh token, sealed; on a refresh `None` keeps the stored one.
    pub refresh_token: Option<Vec<u8>>,
    pub token_type: String,
    /// Granted scopes.
    pub scope: String,
    /// Expiry of the access token.
    pub expires_at: Timestamp,
}

/// What a refresh attempt came to, to be written under the [`ConnectionLock`].
#[derive(Debug, Clone)]
pub enum RefreshResult {
    /// New tokens (a refresh token replaces the old one in the same write, if one came).
    Refreshed(SealedTokens),
    /// The grant is dead: `needs_reauth`, no further attempts.
    GrantDead {
        /// What the provider said.
        error: String,
    },
    /// A passing fault: counted, and no new attempt before `next_attempt_at`.
    Failed {
        /// What went wrong.
        error: String,
        /// The earliest next attempt.
        next_attempt_at: Timestamp,
    },
}

const CLIENT_COLUMNS: &str =
    "id, owner_id, name, provider, client_id, client_secret_sealed, redirect_uri, scopes, \
     authorization_url, token_url, revocation_url, token_auth_method, created_at, updated_at";
const BRANCH_COLUMNS: &str =
    "id, owner_id, oauth_client_id, branch_id, name, account_id, location_id, email, \
     description, is_active, created_at, updated_at";
const CONNECTION_COLUMNS: &str = "c.branch_id, c.access_token_sealed, c.refresh_token_sealed, c.token_type, c.scope, \
     c.expires_at, c.status, c.connected_at, c.last_refresh_at, c.last_attempt_at, c.next_attempt_at, \
     c.last_used_at, c.last_error, c.consecutive_failures, c.refresh_count";

/// A refresh in progress for one connection: see the module docs.
pub struct ConnectionLock {
    store: Store,
    branch_id: Uuid,
    /// The grant the refresh started from: a re-connection meanwhile (a callback does not wait
    /// for the lock on SQLite) must not be overwritten by the old grant's outcome.
    connected_at: Option<Timestamp>,
    /// PostgreSQL's transaction holding the row lock; `None` on SQLite.
    postgres: Option<Tx>,
}

impl Store {
    /// Stores a new OAuth client registration.
    pub async fn insert_oauth_client(&self, c: &OAuthClientRecord) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(c.id).bind(c.owner_id).bind(&c.name).bind(c.provider).bind(&c.client_id)
            .bind(&c.client_secret_sealed).bind(&c.redirect_uri).bind(&c.scopes)
            .bind(&c.authorization_url).bind(&c.token_url).bind(&c.revocation_url)
            .bind(c.token_auth_method).bind(c.created_at).bind(c.updated_at)
            .execute(pool).await.map(drop))
    }

    /// Rewrites every editable column of an OAuth client (the caller merged the changes).
    pub async fn update_oauth_client(&self, c: &OAuthClientRecord) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE oauth_clients SET name = $3, provider = $4, client_id = $5, client_secret_sealed = $6, \
             redirect_uri = $7, scopes = $8, authorization_url = $9, token_url = $10, revocation_url = $11, \
             token_auth_method = $12, updated_at = $13 WHERE id = $1 AND owner_id = $2",
        )
        .bind(c.id).bind(c.owner_id).bind(&c.name).bind(c.provider).bind(&c.client_id)
        .bind(&c.client_secret_sealed).bind(&c.redirect_uri).bind(&c.scopes)
        .bind(&c.authorization_url).bind(&c.token_url).bind(&c.revocation_url)
        .bind(c.token_auth_method).bind(c.updated_at)
        .execute(pool).await.map(drop))
    }

    /// The owner's OAuth clients, oldest first.
    pub async fn list_oauth_clients(
        &self,
        owner_id: Uuid,
    ) -> Result<Vec<OAuthClientRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE owner_id = $1 ORDER BY created_at, id"
        );
        on_pool!(self, pool => sqlx::query_as(&sql).bind(owner_id).fetch_all(pool).await)
    }

    /// One of the owner's OAuth clients by Tessera's id.
    pub async fn find_oauth_client(
        &self,
        owner_id: Uuid,
        id: Uuid,
    ) -> Result<Option<OAuthClientRecord>, sqlx::Error> {
        let sql =
            format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1 AND owner_id = $2");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(id).bind(owner_id).fetch_optional(pool).await)
    }

    /// One of the owner's OAuth clients by the provider's client id.
    pub async fn find_oauth_client_by_client_id(
        &self,
        owner_id: Uuid,
        client_id: &str,
    ) -> Result<Option<OAuthClientRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1 AND owner_id = $2"
        );
        on_pool!(self, pool => sqlx::query_as(&sql).bind(client_id).bind(owner_id).fetch_optional(pool).await)
    }

    /// An OAuth client by id, whoever owns it (for the callback, which the state authenticates).
    pub async fn oauth_client_by_id(
        &self,
        id: Uuid,
    ) -> Result<Option<OAuthClientRecord>, sqlx::Error> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)
    }

    /// The OAuth client a branch connects through (for refreshes, which have no caller).
    pub async fn client_of_branch(
        &self,
        branch_id: Uuid,
    ) -> Result<Option<OAuthClientRecord>, sqlx::Error> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let columns: Vec<String> = CLIENT_COLUMNS
                .split(", ")
                .map(|c| format!("o.{}", c.trim()))
                .collect();
            format!(
                "SELECT {} FROM oauth_clients o JOIN branches b ON b.oauth_client_id = o.id WHERE b.id = $1",
                columns.join(", ")
            )
        });
        on_pool!(self, pool => sqlx::query_as(&SQL).bind(branch_id).fetch_optional(pool).await)
    }

    /// Deletes an OAuth client. A client that branches still use is refused by the foreign key
    /// (the caller maps that to 409). Returns whether a row went.
    pub async fn delete_oauth_client(&self, owner_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query("DELETE FROM oauth_clients WHERE id = $1 AND owner_id = $2")
            .bind(id).bind(owner_id).execute(pool).await.map(|r| r.rows_affected() > 0))
    }

    /// Stores a new branch.
    pub async fn insert_branch(&self, b: &BranchRecord) -> Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO branches ({BRANCH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(b.id).bind(b.owner_id).bind(b.oauth_client_id).bind(&b.branch_id).bind(&b.name)
            .bind(&b.account_id).bind(&b.location_id).bind(&b.email).bind(&b.description)
            .bind(b.is_active).bind(b.created_at).bind(b.updated_at)
            .execute(pool).await.map(drop))
    }

    /// Rewrites every editable column of a branch (the caller merged the changes).
    pub async fn update_branch(&self, b: &BranchRecord) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE branches SET oauth_client_id = $3, branch_id = $4, name = $5, account_id = $6, \
             location_id = $7, email = $8, description = $9, is_active = $10, updated_at = $11 \
             WHERE id = $1 AND owner_id = $2",
        )
        .bind(b.id).bind(b.owner_id).bind(b.oauth_client_id).bind(&b.branch_id).bind(&b.name)
        .bind(&b.account_id).bind(&b.location_id).bind(&b.email).bind(&b.description)
        .bind(b.is_active).bind(b.updated_at)
        .execute(pool).await.map(drop))
    }

    /// The owner's branches, oldest first, optionally only those using one OAuth client.
    pub async fn list_branches(
        &self,
        owner_id: Uuid,
        oauth_client_id: Option<Uuid>,
    ) -> Result<Vec<BranchRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {BRANCH_COLUMNS} FROM branches WHERE owner_id = $1 \
             AND ($2 IS NULL OR oauth_client_id = $2) ORDER BY created_at, id"
        );
        on_pool!(self, pool => sqlx::query_as(&sql).bind(owner_id).bind(oauth_client_id).fetch_all(pool).await)
    }

    /// One of the owner's branches by Tessera's id.
    pub async fn find_branch(
        &self,
        owner_id: Uuid,
        id: Uuid,
    ) -> Result<Option<BranchRecord>, sqlx::Error> {
        let sql = format!("SELECT {BRANCH_COLUMNS} FROM branches WHERE id = $1 AND owner_id = $2");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(id).bind(owner_id).fetch_optional(pool).await)
    }

    /// One of the owner's branches by the caller's own `branch_id`.
    pub async fn find_branch_by_branch_id(
        &self,
        owner_id: Uuid,
        branch_id: &str,
    ) -> Result<Option<BranchRecord>, sqlx::Error> {
        let sql =
            format!("SELECT {BRANCH_COLUMNS} FROM branches WHERE branch_id = $1 AND owner_id = $2");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(branch_id).bind(owner_id).fetch_optional(pool).await)
    }

    /// Deletes a branch with its connection and pending states. Returns whether a row went.
    pub async fn delete_branch(&self, owner_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query("DELETE FROM branches WHERE id = $1 AND owner_id = $2")
            .bind(id).bind(owner_id).execute(pool).await.map(|r| r.rows_affected() > 0))
    }

    /// Records a pending authorization.
    pub async fn insert_oauth_state(&self, s: &OAuthStateRecord) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO oauth_states (state_hash, branch_id, user_id, oauth_client_id, pkce_verifier_sealed, \
             redirect_uri, created_at, expires_at, connect_link_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.state_hash).bind(s.branch_id).bind(s.user_id).bind(s.oauth_client_id).bind(&s.pkce_verifier_sealed)
        .bind(&s.redirect_uri).bind(s.created_at).bind(s.expires_at).bind(&s.connect_link_hash)
        .execute(pool).await.map(drop))
    }

    /// Consumes a state: deletes it and returns it, in one statement, so of two racing callbacks
    /// with the same state exactly one gets it. Expired states are returned too (the caller says
    /// "expired" rather than "unknown"); they are gone either way.
    pub async fn take_oauth_state(
        &self,
        state_hash: &[u8],
    ) -> Result<Option<OAuthStateRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as(
            "DELETE FROM oauth_states WHERE state_hash = $1 RETURNING state_hash, branch_id, user_id, \
             oauth_client_id, pkce_verifier_sealed, redirect_uri, created_at, expires_at, connect_link_hash",
        )
        .bind(state_hash).fetch_optional(pool).await)
    }

    /// Forgets states that expired before `now`; returns how many.
    pub async fn purge_expired_oauth_states(&self, now: Timestamp) -> Result<u64, sqlx::Error> {
        on_pool!(self, pool => sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now).execute(pool).await.map(|r| r.rows_affected()))
    }

    /// The token route's one indexed read: the owner's branch's connection and `is_active`.
    pub async fn token_row(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT {CONNECTION_COLUMNS}, b.is_active FROM oauth_connections c \
                 JOIN branches b ON b.id = c.branch_id WHERE c.branch_id = $1 AND b.owner_id = $2"
            )
        });
        on_pool!(self, pool => sqlx::query_as(&SQL).bind(branch_id).bind(owner_id).fetch_optional(pool).await)
    }

    /// Notes that a consumer fetched the token (the caller rate-limits this write).
    pub async fn touch_connection(
        &self,
        branch_id: Uuid,
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("UPDATE oauth_connections SET last_used_at = $2 WHERE branch_id = $1")
            .bind(branch_id).bind(now).execute(pool).await.map(drop))
    }

    /// Active connections the keep-alive task should refresh: with a refresh token, not in a
    /// back-off, and either expiring before `expiring_before` while used since `used_since`, or
    /// not refreshed (nor connected) since `idle_before`.
    pub async fn connections_due(
        &self,
        expiring_before: Timestamp,
        used_since: Timestamp,
        idle_before: Timestamp,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_scalar(
            "SELECT branch_id FROM oauth_connections c WHERE status = 'active' AND refresh_token_sealed IS NOT NULL \
             AND (next_attempt_at IS NULL OR next_attempt_at <= $4) AND consecutive_failures < 3 \
             AND ((expires_at < $1 AND last_used_at >= $2) \
                  OR (COALESCE(last_refresh_at, connected_at) < $3)) \
             ORDER BY expires_at LIMIT $5",
        )
        .bind(expiring_before).bind(used_since).bind(idle_before).bind(now).bind(limit)
        .fetch_all(pool).await)
    }

    /// A branch's connection, read without a lock.
    pub async fn read_connection(
        &self,
        branch_id: Uuid,
    ) -> Result<Option<ConnectionRecord>, sqlx::Error> {
        let sql =
            format!("SELECT {CONNECTION_COLUMNS} FROM oauth_connections c WHERE c.branch_id = $1");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(branch_id).fetch_optional(pool).await)
    }

    /// How many connections have each status (statuses with none are left out).
    pub async fn connections_by_status(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as(
            "SELECT status, COUNT(*) FROM oauth_connections GROUP BY status",
        )
        .fetch_all(pool)
        .await)
    }

    /// Starts a refresh of one connection and reads it (see [`ConnectionLock`]).
    pub async fn lock_connection(
        &self,
        branch_id: Uuid,
    ) -> Result<(ConnectionLock, Option<ConnectionRecord>), sqlx::Error> {
        let (postgres, row) = match &self.backend {
            Backend::Postgres(_) => {
                let mut tx = self.begin().await?;
                let sql = format!(
                    "SELECT {CONNECTION_COLUMNS} FROM oauth_connections c WHERE c.branch_id = $1 FOR UPDATE"
                );
                let row: Option<ConnectionRecord> = on_tx!(tx, conn => sqlx::query_as(&sql)
                    .bind(branch_id)
                    .fetch_optional(&mut **conn)
                    .await?);
                (Some(tx), row)
            }
            Backend::Sqlite(_) => (None, self.read_connection(branch_id).await?),
        };
        let lock = ConnectionLock {
            store: self.clone(),
            branch_id,
            connected_at: row.as_ref().map(|r| r.connected_at),
            postgres,
        };
        Ok((lock, row))
    }

    /// Every sealed value, for `tessera connections rekey`: (table, key, column, value).
    pub async fn sealed_values(&self) -> Result<Vec<SealedValue>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as(
            "SELECT 'client_secret' AS kind, id AS row_id, client_secret_sealed AS sealed FROM oauth_clients \
             UNION ALL SELECT 'access_token', branch_id, access_token_sealed FROM oauth_connections \
             UNION ALL SELECT 'refresh_token', branch_id, refresh_token_sealed FROM oauth_connections \
               WHERE refresh_token_sealed IS NOT NULL \
             UNION ALL SELECT 'webhook_secret', id, secret_sealed FROM webhook_endpoints \
             UNION ALL SELECT 'webhook_previous_secret', id, previous_secret_sealed FROM webhook_endpoints \
               WHERE previous_secret_sealed IS NOT NULL",
        )
        .fetch_all(pool).await)
    }

    /// Replaces one sealed value if it is still the one read (a concurrent refresh wins).
    pub async fn replace_sealed_value(
        &self,
        value: &SealedValue,
        resealed: &[u8],
    ) -> Result<bool, sqlx::Error> {
        let sql = match value.kind {
            SealedColumn::ClientSecret => "UPDATE oauth_clients SET client_secret_sealed = $3 WHERE id = $1 AND client_secret_sealed = $2",
            SealedColumn::AccessToken => "UPDATE oauth_connections SET access_token_sealed = $3 WHERE branch_id = $1 AND access_token_sealed = $2",
            SealedColumn::RefreshToken => "UPDATE oauth_connections SET refresh_token_sealed = $3 WHERE branch_id = $1 AND refresh_token_sealed = $2",
            SealedColumn::WebhookSecret => "UPDATE webhook_endpoints SET secret_sealed = $3 WHERE id = $1 AND secret_sealed = $2",
            SealedColumn::WebhookPreviousSecret => "UPDATE webhook_endpoints SET previous_secret_sealed = $3 WHERE id = $1 AND previous_secret_sealed = $2",
        };
        on_pool!(self, pool => sqlx::query(sql).bind(value.row_id).bind(&value.sealed).bind(resealed)
            .execute(pool).await.map(|r| r.rows_affected() > 0))
    }
}

impl Tx {
    /// Stores the tokens of a completed authorization, replacing any earlier grant of the
    /// branch, with its status: `active`, or `insufficient_scope` (and why) when the consent
    /// left out a required scope.
    pub async fn connect_branch(
        &mut self,
        branch_id: Uuid,
        tokens: &SealedTokens,
        status: ConnectionStatus,
        problem: Option<&str>,
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => sqlx::query(
            "INSERT INTO oauth_connections (branch_id, access_token_sealed, refresh_token_sealed, token_type, scope, \
             expires_at, status, connected_at, consecutive_failures, refresh_count, last_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $8, $7, 0, 0, $9) \
             ON CONFLICT (branch_id) DO UPDATE SET access_token_sealed = excluded.access_token_sealed, \
             refresh_token_sealed = excluded.refresh_token_sealed, token_type = excluded.token_type, \
             scope = excluded.scope, expires_at = excluded.expires_at, status = excluded.status, \
             connected_at = excluded.connected_at, last_refresh_at = NULL, last_attempt_at = NULL, \
             next_attempt_at = NULL, last_error = excluded.last_error, consecutive_failures = 0, refresh_count = 0",
        )
        .bind(branch_id).bind(&tokens.access_token).bind(&tokens.refresh_token)
        .bind(&tokens.token_type).bind(&tokens.scope).bind(tokens.expires_at).bind(now)
        .bind(status).bind(problem)
        .execute(&mut **conn).await.map(drop))
    }

    /// Spends a reconnect link (its consent connected the branch); whether it was still open.
    pub async fn spend_connect_link(
        &mut self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        on_tx!(self, conn => sqlx::query(
            "UPDATE branch_connect_links SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND ended_at IS NULL",
        )
        .bind(token_hash).bind(now).execute(&mut **conn).await.map(|r| r.rows_affected() > 0))
    }

    /// Deletes a branch's connection; returns whether there was one.
    pub async fn delete_connection(&mut self, branch_id: Uuid) -> Result<bool, sqlx::Error> {
        on_tx!(self, conn => sqlx::query("DELETE FROM oauth_connections WHERE branch_id = $1")
            .bind(branch_id).execute(&mut **conn).await.map(|r| r.rows_affected() > 0))
    }
}

/// A reconnect link, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectLinkRecord {
    /// SHA-256 of the link's secret.
    pub token_hash: Vec<u8>,
    pub branch_id: Uuid,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// A consent through it connected the branch.
    pub used_at: Option<Timestamp>,
    /// A newer link for the branch replaced it.
    pub ended_at: Option<Timestamp>,
}

impl Store {
    /// Stores a new reconnect link, ending the branch's earlier open ones, in one transaction.
    pub async fn insert_connect_link(&self, link: &ConnectLinkRecord) -> Result<(), sqlx::Error> {
        let mut tx = self.begin().await?;
        on_tx!(tx, conn => sqlx::query(
            "UPDATE branch_connect_links SET ended_at = $2 \
             WHERE branch_id = $1 AND used_at IS NULL AND ended_at IS NULL",
        )
        .bind(link.branch_id).bind(link.created_at).execute(&mut **conn).await.map(drop))?;
        on_tx!(tx, conn => sqlx::query(
            "INSERT INTO branch_connect_links (token_hash, branch_id, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&link.token_hash).bind(link.branch_id).bind(link.created_by)
        .bind(link.created_at).bind(link.expires_at)
        .execute(&mut **conn).await.map(drop))?;
        tx.commit().await
    }

    /// The reconnect link with this secret hash, and its branch.
    pub async fn connect_link(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(ConnectLinkRecord, BranchRecord)>, sqlx::Error> {
        let link: Option<ConnectLinkRecord> = on_pool!(self, pool => sqlx::query_as(
            "SELECT token_hash, branch_id, created_by, created_at, expires_at, used_at, ended_at \
             FROM branch_connect_links WHERE token_hash = $1",
        )
        .bind(token_hash).fetch_optional(pool).await)?;
        let Some(link) = link else { return Ok(None) };
        let sql = format!("SELECT {BRANCH_COLUMNS} FROM branches WHERE id = $1");
        let branch: Option<BranchRecord> = on_pool!(self, pool => sqlx::query_as(&sql)
            .bind(link.branch_id).fetch_optional(pool).await)?;
        Ok(branch.map(|branch| (link, branch)))
    }
}

/// Which secret column a sealed value is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `oauth_clients.client_secret_sealed` (row: the client's id).
    ClientSecret,
    /// `oauth_connections.access_token_sealed` (row: the branch id).
    AccessToken,
    /// `oauth_connections.refresh_token_sealed` (row: the branch id).
    RefreshToken,
    /// `webhook_endpoints.secret_sealed` (row: the endpoint's id).
    WebhookSecret,
    /// `webhook_endpoints.previous_secret_sealed` (row: the endpoint's id).
    WebhookPreviousSecret,
}

impl SealedColumn {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "client_secret" => Some(SealedColumn::ClientSecret),
            "access_token" => Some(SealedColumn::AccessToken),
            "refresh_token" => Some(SealedColumn::RefreshToken),
            "webhook_secret" => Some(SealedColumn::WebhookSecret),
            "webhook_previous_secret" => Some(SealedColumn::WebhookPreviousSecret),
            _ => None,
        }
    }
}

impl std::fmt::Display for SealedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SealedColumn::ClientSecret => "client_secret",
            SealedColumn::AccessToken => "access_token",
            SealedColumn::RefreshToken => "refresh_token",
            SealedColumn::WebhookSecret => "webhook_secret",
            SealedColumn::WebhookPreviousSecret => "webhook_previous_secret",
        })
    }
}

text_backed!(SealedColumn, "sealed column");

/// One sealed column value (see [`Store::sealed_values`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedValue {
    /// Which column.
    pub kind: SealedColumn,
    /// The row's id (client id or branch id).
    pub row_id: Uuid,
    /// The sealed bytes.
    pub sealed: Vec<u8>,
}

/// Which grant a refresh's outcome belongs to: the branch, and when the grant it started from
/// was connected (a re-connection meanwhile must not be overwritten by the old grant's outcome).
#[derive(Debug, Clone, Copy)]
pub struct RefreshTarget {
    branch_id: Uuid,
    connected_at: Option<Timestamp>,
}

/// The statement that stores a refresh's outcome, bound the same way on whichever executor runs
/// it (the row lock's transaction, or the pool for a retry).
macro_rules! store_refresh_result {
    ($executor:expr, $target:expr, $result:expr, $now:expr) => {{
        let target: RefreshTarget = $target;
        match $result {
            RefreshResult::Refreshed(tokens) => sqlx::query(
                "UPDATE oauth_connections SET access_token_sealed = $2, \
                 refresh_token_sealed = COALESCE($3, refresh_token_sealed), token_type = $4, scope = $5, \
                 expires_at = $6, last_refresh_at = $7, last_attempt_at = $7, next_attempt_at = NULL, \
                 last_error = NULL, consecutive_failures = 0, refresh_count = refresh_count + 1 \
                 WHERE branch_id = $1 AND connected_at = $8",
            )
            .bind(target.branch_id)
            .bind(&tokens.access_token)
            .bind(&tokens.refresh_token)
            .bind(&tokens.token_type)
            .bind(&tokens.scope)
            .bind(tokens.expires_at)
            .bind($now)
            .bind(target.connected_at)
            .execute($executor)
            .await,
            RefreshResult::GrantDead { error } => sqlx::query(
                "UPDATE oauth_connections SET status = 'needs_reauth', last_error = $2, last_attempt_at = $3, \
                 next_attempt_at = NULL, consecutive_failures = consecutive_failures + 1 \
                 WHERE branch_id = $1 AND connected_at = $4",
            )
            .bind(target.branch_id)
            .bind(error)
            .bind($now)
            .bind(target.connected_at)
            .execute($executor)
            .await,
            RefreshResult::Failed { error, next_attempt_at } => sqlx::query(
                "UPDATE oauth_connections SET last_error = $2, last_attempt_at = $3, next_attempt_at = $4, \
                 consecutive_failures = consecutive_failures + 1 WHERE branch_id = $1 AND connected_at = $5",
            )
            .bind(target.branch_id)
            .bind(error)
            .bind($now)
            .bind(*next_attempt_at)
            .bind(target.connected_at)
            .execute($executor)
            .await,
        }
    }};
}

impl Tx {
    /// Writes a refresh's outcome and the events it raises.
    async fn store_refresh_result(
        &mut self,
        target: RefreshTarget,
        result: &RefreshResult,
        events: &[NewEvent<'_>],
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        let updated = on_tx!(self, conn => store_refresh_result!(&mut **conn, target, result, now)
            .map(|done| done.rows_affected()))?;
        // Nothing written (the branch was re-connected meanwhile, so this outcome belongs to a
        // grant that is gone): nothing to tell either.
        if updated == 0 {
            return Ok(());
        }
        for event in events {
            self.enqueue_event(event).await?;
        }
        Ok(())
    }
}

impl Store {
    /// Stores a refresh's outcome (and its events) without the row lock: the retry after a
    /// failed [`ConnectionLock::finish`], so that a rotated refresh token is not lost to a
    /// passing database fault.
    pub async fn store_refresh_result(
        &self,
        target: RefreshTarget,
        result: &RefreshResult,
        events: &[NewEvent<'_>],
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        if events.is_empty() {
            // One statement is atomic on its own: no transaction to pay for.
            return on_pool!(self, pool => store_refresh_result!(pool, target, result, now).map(drop));
        }
        let mut tx = self.begin().await?;
        tx.store_refresh_result(target, result, events, now).await?;
        tx.commit().await
    }
}

impl ConnectionLock {
    /// The grant this refresh started from, to store its outcome again if
    /// [`ConnectionLock::finish`] fails.
    pub fn target(&self) -> RefreshTarget {
        RefreshTarget {
            branch_id: self.branch_id,
            connected_at: self.connected_at,
        }
    }

    /// Writes what the refresh came to, with the events it raises, and ends the lock.
    pub async fn finish(
        mut self,
        result: &RefreshResult,
        events: &[NewEvent<'_>],
        now: Timestamp,
    ) -> Result<(), sqlx::Error> {
        let target = self.target();
        let mut tx = match self.postgres.take() {
            Some(tx) => tx,
            None => {
                return self
                    .store
                    .store_refresh_result(target, result, events, now)
                    .await
            }
        };
        match tx.store_refresh_result(target, result, events, now).await {
            Ok(()) => tx.commit().await,
            Err(error) => {
                // At once, so a retry is not left waiting for this transaction's row lock.
                let _ = tx.rollback().await;
                Err(error)
            }
        }
    }

    /// Ends the lock without writing (another instance had refreshed already).
    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        match self.postgres.take() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }
}
