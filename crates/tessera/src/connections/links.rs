//! Reconnect links: a way for a branch manager without a Tessera account to consent again.
//!
//! The branch's owner (or a script with `connections:write`) makes a link
//! (`POST /api/v1/branches/{id}/connect-link`) and sends it, by email for instance. It opens a
//! page without login (`/connect?token=…`) that names the branch and the access asked for, with
//! one button starting the provider's consent, with state and PKCE as any other authorization.
//! A link stops working once a consent through it connects the branch with every required
//! scope, at its expiry, or when a newer link for the branch is made. A consent that leaves out
//! a scope leaves the link working, so the manager can try again.
//!
//! The link's secret travels in the query string (which the request log leaves out) and is
//! stored only as its SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

use super::errors::ConnectionError;
use super::flow::StartedFlow;
use super::oauth::random_bytes;
use super::service::Connections;
use crate::input::InvalidField;
use crate::store::{BranchRecord, ConnectLinkRecord};
use crate::types::Timestamp;

/// Hours a link lasts unless asked otherwise: three days, a weekend's margin for an email.
pub const DEFAULT_HOURS: i64 = 72;
/// The longest a link may last: a week.
pub const MAX_HOURS: i64 = 168;

/// Why a link cannot start a consent; each says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkProblem {
    #[error("This link is not valid: check that it was copied whole, or ask for a new one")]
    Unknown,
    #[error("This link was already used to connect the branch; ask for a new one if it must connect again")]
    Used,
    #[error("A newer link was made for this branch; use the newest link you were sent")]
    Replaced,
    #[error("This link has expired; ask for a new one")]
    Expired,
    #[error("This branch is inactive and cannot be connected; ask whoever sent the link")]
    BranchInactive,
}

/// A link made: the URL to send, and when it stops working.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConnectLink {
    /// Opens the consent page; shown once (only its hash is kept).
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// What a usable link's page shows.
#[derive(Debug, Clone)]
pub struct OpenLink {
    pub branch: BranchRecord,
    /// The scopes the consent will ask for.
    pub scopes: Vec<String>,
    pub expires_at: Timestamp,
}

fn hash(secret: &str) -> Vec<u8> {
    crate::crypto::sha256(secret).to_vec()
}

impl Connections {
    /// Makes a reconnect link for one of the owner's branches, ending its earlier links.
    /// `public_base` is where the link points (`PUBLIC_URL`, or the request's host).
    pub async fn create_connect_link(
        &self,
        owner_id: Uuid,
        branch_id: Uuid,
        expires_in_hours: Option<i64>,
        public_base: &str,
        now: Timestamp,
    ) -> Result<ConnectLink, ConnectionError> {
        let hours = expires_in_hours.unwrap_or(DEFAULT_HOURS);
        if !(1..=MAX_HOURS).contains(&hours) {
            return Err(InvalidField::new(format!(
                "expires_in_hours must be between 1 and {MAX_HOURS}"
            ))
            .into());
        }
        let branch = self.branch(owner_id, branch_id).await?;
        if !branch.is_active {
            return Err(ConnectionError::InactiveBranchNotConnectable { branch_id });
        }
        let secret = URL_SAFE_NO_PAD.encode(random_bytes());
        let link = ConnectLinkRecord {
            token_hash: hash(&secret),
            branch_id,
            created_by: Some(owner_id),
            created_at: now,
            expires_at: now + time::Duration::hours(hours),
            used_at: None,
            ended_at: None,
        };
        self.store.insert_connect_link(&link).await?;
        tracing::info!(%branch_id, hours, "connect link made");
        Ok(ConnectLink {
            url: format!("{public_base}/connect?token={secret}"),
            expires_at: link.expires_at,
        })
    }

    /// The link `secret` opens, if it can start a consent now.
    pub async fn open_connect_link(
        &self,
        secret: &str,
        now: Timestamp,
    ) -> Result<OpenLink, ConnectionError> {
        let (link, branch) = self
            .store
            .connect_link(&hash(secret))
            .await?
            .ok_or(ConnectionError::ConnectLink(LinkProblem::Unknown))?;
        let problem = if link.used_at.is_some() {
            Some(LinkProblem::Used)
        } else if link.ended_at.is_some() {
            Some(LinkProblem::Replaced)
        } else if link.expires_at <= now {
            Some(LinkProblem::Expired)
        } else if !branch.is_active {
            Some(LinkProblem::BranchInactive)
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ConnectionError::ConnectLink(problem));
        }
        let client = self
            .store
            .find_oauth_client(branch.owner_id, branch.oauth_client_id)
            .await?
            .ok_or(ConnectionError::BranchClientGone {
                branch_id: branch.id,
            })?;
        let scopes = self.presets.resolve(&client)?.scopes;
        Ok(OpenLink {
            branch,
            scopes,
            expires_at: link.expires_at,
        })
    }

    /// Starts the provider's consent from a usable link, on behalf of the branch's owner.
    pub async fn start_from_connect_link(
        &self,
        secret: &str,
        now: Timestamp,
    ) -> Result<StartedFlow, ConnectionError> {
        let open = self.open_connect_link(secret, now).await?;
        self.start_authorization_from(open.branch.owner_id, &open.branch, Some(hash(secret)))
            .await
    }
}
