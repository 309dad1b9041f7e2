//! Personal access tokens: their format, scopes, the tokens API, PAT authentication and the audit
//! log. Everything about PATs lives in this folder.
//!
//! * [`format`](mod@format) — what a token looks like and how it is hashed.
//! * [`scopes`] — the scope hierarchy and the per-route requirement types.
//! * [`ceiling`] — the scopes each role may hold: no token outranks its owner.
//! * [`auth`] — the [`Pat`] extractor: authentication, IP allowlist and scope check.
//! * [`cache`] — authenticated tokens kept in memory, emptied at once by any revocation.
//! * [`audit`] — the group-commit audit writer and the middleware that records every PAT request.
//! * [`service`] — the owner's token management (mint, list, revoke, regenerate, audit log),
//!   apart from HTTP, with its [`service::TokenError`].
//! * [`routes`] — `/api/v1/tokens` over HTTP: create, list, get, revoke, regenerate, logs.

pub mod audit;
pub mod auth;
pub mod cache;
pub mod ceiling;
pub mod expiry;
pub mod format;
pub mod routes;
pub mod scopes;
pub mod service;

use ipnet::IpNet;
use uuid::Uuid;

pub use auth::Pat;
use scopes::ScopeSet;

use crate::store::TokenRecord;
use crate::types::Timestamp;

/// A token's state at a moment, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    /// Usable.
    Active,
    /// Past `expires_at`.
    Expired,
    /// Revoked (wins over expired).
    Revoked,
}

/// A stored token in domain types.
#[derive(Debug, Clone)]
pub struct Token {
    /// Token id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Label.
    pub name: String,
    /// First 12 characters.
    pub prefix: String,
    /// SHA-256 of the token.
    pub hash: Vec<u8>,
    /// Granted scopes, in grant order.
    pub scopes: ScopeSet,
    /// Networks the token may be used from; `None` means anywhere.
    pub allowed_ips: Option<Vec<IpNet>>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Last authorized use (at most a minute stale).
    pub last_used_at: Option<Timestamp>,
    /// The client address of that use.
    pub last_used_ip: Option<String>,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
    /// Who minted it, when that is not its owner (a service account's token).
    pub created_by: Option<Uuid>,
}

impl Token {
    /// The status at `now`; revoked wins over expired, as the contract orders the 401s.
    pub fn status(&self, now: Timestamp) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at <= now {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// Whether a request from `ip` may use this token.
    pub fn allows_ip(&self, ip: std::net::IpAddr) -> bool {
        match &self.allowed_ips {
            None => true,
            Some(nets) => nets.iter().any(|net| net.contains(&ip)),
        }
    }
}

impl TryFrom<TokenRecord> for Token {
    type Error = anyhow::Error;

    /// Decodes the JSON columns; a row that does not decode is a bug or tampering, never user input.
    fn try_from(row: TokenRecord) -> anyhow::Result<Token> {
        let scope_strings: Vec<String> = serde_json::from_str(&row.scopes)?;
        let scopes = ScopeSet::parse(&scope_strings).map_err(|unknown| {
            anyhow::anyhow!("token {} holds unknown scopes {unknown:?}", row.id)
        })?;
        let allowed_ips = row
            .allowed_ips
            .as_deref()
            .map(serde_json::from_str::<Vec<IpNet>>)
            .transpose()?;
        Ok(Token {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            prefix: row.token_prefix,
            hash: row.token_hash,
            scopes,
            allowed_ips,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            last_used_ip: row.last_used_ip,
            revoked_at: row.revoked_at,
            created_by: row.created_by,
        })
    }
}
