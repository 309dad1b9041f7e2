//! Why a connections operation did not happen. Each refusal's message is its `Display`, written
//! here (the callback's reasons and a field's rule travel as text: [`ConnectionError::CallbackRefused`],
//! [`ConnectionError::Invalid`]). Which status each becomes over HTTP is decided in one place
//! (`routes/mod.rs`).

use uuid::Uuid;

use super::oauth::ProviderError;
use crate::input::InvalidField;

/// A refusal or failure of the OAuth connections.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// A field of a client or branch breaks its rule; the text names it.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// No OAuth client with this id is the caller's (another user's reads the same).
    #[error("OAuth client not found")]
    ClientNotFound {
        /// The id asked for.
        client_id: Uuid,
    },
    /// Another of the caller's clients has this provider client id.
    #[error("client_id is already registered: one OAuth client per client_id")]
    ClientIdTaken,
    /// Branches still connect through the client, so it cannot be deleted.
    #[error(
        "Branches still use this OAuth client: delete them or move them to another client first"
    )]
    ClientInUse {
        /// The client.
        client_id: Uuid,
    },
    /// Another of the caller's branches has this `branch_id`.
    #[error("branch_id is already used by another of your branches")]
    BranchIdTaken,
    /// A connected branch cannot move to another client: the grant belongs to the old one, and
    /// the new one's endpoints must never receive it.
    #[error(
        "The branch is connected: disconnect it (DELETE /api/v1/branches/{{id}}/connection) \
         before changing its client_id"
    )]
    BranchConnected {
        /// The branch.
        branch_id: Uuid,
    },
    /// An inactive branch is not sent to the provider's consent page.
    #[error("The branch is inactive: activate it before connecting it")]
    InactiveBranchNotConnectable {
        /// The branch.
        branch_id: Uuid,
    },
    /// The branch's client was deleted while a flow was being started.
    #[error("The branch's OAuth client no longer exists")]
    BranchClientGone {
        /// The branch.
        branch_id: Uuid,
    },
    /// Disconnecting a branch that holds no grant.
    #[error("The branch has no connection")]
    NoConnection {
        /// The branch.
        branch_id: Uuid,
    },
    /// The authorization callback cannot complete; the text says why and what to do.
    #[error("{0}")]
    CallbackRefused(String),
    /// The compatibility routes: no client of the caller's has this provider client id.
    #[error("No OAuth client with this client_id")]
    ClientIdUnknown,
    /// The compatibility routes: the client exists but no branch uses it.
    #[error("No branch uses this client_id")]
    ClientIdUnused,
    /// The compatibility routes name a branch by its provider client id, which several of the
    /// caller's branches share: refused rather than guessed.
    #[error("{branches} branches use this client_id: use the /api/v1/branches/{{id}} routes to name one")]
    ClientIdShared {
        /// How many branches share it.
        branches: usize,
    },
    /// The compatibility routes: the client id is registered with another redirect URI.
    #[error(
        "client_id is already registered with another redirect_uri: change it with PATCH \
         /api/v1/oauth-clients/{{id}}"
    )]
    ClientIdRedirectMismatch,
    /// No branch with this id is the caller's (another user's reads the same).
    #[error("Branch not found")]
    BranchNotFound {
        /// The id asked for.
        branch_id: Uuid,
    },
    /// No branch of the caller's has this identifier of theirs.
    #[error("Branch not found")]
    BranchIdNotFound {
        /// The identifier asked for.
        branch_id: String,
    },
    /// The branch is switched off, so it hands out no token.
    #[error(
        "Branch {branch_id} is inactive: activate it (PATCH /api/v1/branches/{branch_id} with \
         \"is_active\": true) to use its token"
    )]
    BranchInactive {
        /// The branch.
        branch_id: Uuid,
    },
    /// The branch has never been connected (or its connection was deleted).
    #[error(
        "Branch {branch_id} is not connected: start an authorization with POST \
         /api/v1/branches/{branch_id}/oauth/start"
    )]
    NotConnected {
        /// The branch.
        branch_id: Uuid,
    },
    /// A person disconnected the branch.
    #[error(
        "Branch {branch_id} was disconnected: connect it again with POST \
         /api/v1/branches/{branch_id}/oauth/start"
    )]
    Disconnected {
        /// The branch.
        branch_id: Uuid,
    },
    /// The consent left out a required scope: a person must consent again, granting it.
    #[error(
        "Branch {branch_id} was connected without a scope it needs ({missing}): the person who \
         consented unticked it. Consent again with every permission ticked: POST \
         /api/v1/branches/{branch_id}/oauth/start, or a new connect link \
         (POST /api/v1/branches/{branch_id}/connect-link)"
    )]
    InsufficientScope {
        /// The branch.
        branch_id: Uuid,
        /// The scopes not granted, space-separated.
        missing: String,
    },
    /// A reconnect link that cannot start a consent (the message says why and what to do).
    #[error("{0}")]
    ConnectLink(super::links::LinkProblem),
    /// The provider no longer accepts the grant (`invalid_grant`): a person must connect again.
    #[error(
        "Branch {branch_id} must be re-connected: the provider no longer accepts its grant{}. \
         Start a new authorization with POST /api/v1/branches/{branch_id}/oauth/start",
        .reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    NeedsReauth {
        /// The branch.
        branch_id: Uuid,
        /// What the provider said, if known.
        reason: Option<String>,
    },
    /// The stored token has expired and the provider gave no refresh token to renew it.
    #[error(
        "Branch {branch_id} has no refresh token: re-connect it with offline access (POST \
         /api/v1/branches/{branch_id}/oauth/start)"
    )]
    NoRefreshToken {
        /// The branch.
        branch_id: Uuid,
    },
    /// The client lacks an endpoint its provider needs (a generic client without a token URL).
    #[error(
        "The OAuth client has no {missing}: set it on the client (PATCH \
         /api/v1/oauth-clients/{client_id})"
    )]
    ClientIncomplete {
        /// The client (Tessera's id).
        client_id: Uuid,
        /// The missing setting, e.g. `token_url`.
        missing: &'static str,
    },
    /// The last refresh failed and the pause after a failure has not passed.
    #[error(
        "The last refresh of this branch's token failed ({last_error}); the next attempt is \
         allowed in {wait_seconds} s"
    )]
    CoolingDown {
        /// The branch.
        branch_id: Uuid,
        /// What went wrong last time.
        last_error: String,
        /// Whole seconds until the next attempt, at least 1.
        wait_seconds: i64,
    },
    /// The provider failed or refused; `doing` says what was being done.
    #[error("{doing}: {error}")]
    Provider {
        /// What was being done, e.g. `Refreshing the branch's token failed`.
        doing: &'static str,
        /// What the provider did.
        error: ProviderError,
    },
    /// Waiting for other refreshes (of this branch, its owner or its provider) used the time.
    #[error(
        "Refreshing the branch's token did not finish in time: other refreshes (of this branch, \
         its owner or its provider) are still running; try again shortly"
    )]
    RefreshTimedOut {
        /// The branch.
        branch_id: Uuid,
    },
    /// Shutdown has begun: no new refresh starts.
    #[error("The service is shutting down: try again shortly")]
    ShuttingDown,
    /// A fault of ours (a secret that does not open, a stored URL that does not parse, a task
    /// that died). The cause is logged, never shown.
    #[error(transparent)]
    Broken(#[from] anyhow::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts as the handlers wrote them before this enum existed: consumers match on them.
    #[test]
    fn the_refusals_read_as_they_always_have() {
        let branch_id = Uuid::nil();
        let b = "00000000-0000-0000-0000-000000000000";
        let cases = [
            (
                ConnectionError::BranchInactive { branch_id },
                format!("Branch {b} is inactive: activate it (PATCH /api/v1/branches/{b} with \"is_active\": true) to use its token"),
            ),
            (
                ConnectionError::NotConnected { branch_id },
                format!("Branch {b} is not connected: start an authorization with POST /api/v1/branches/{b}/oauth/start"),
            ),
            (
                ConnectionError::Disconnected { branch_id },
                format!("Branch {b} was disconnected: connect it again with POST /api/v1/branches/{b}/oauth/start"),
            ),
            (
                ConnectionError::NeedsReauth { branch_id, reason: Some("invalid_grant".into()) },
                format!("Branch {b} must be re-connected: the provider no longer accepts its grant (invalid_grant). Start a new authorization with POST /api/v1/branches/{b}/oauth/start"),
            ),
            (
                ConnectionError::NeedsReauth { branch_id, reason: None },
                format!("Branch {b} must be re-connected: the provider no longer accepts its grant. Start a new authorization with POST /api/v1/branches/{b}/oauth/start"),
            ),
            (
                ConnectionError::NoRefreshToken { branch_id },
                format!("Branch {b} has no refresh token: re-connect it with offline access (POST /api/v1/branches/{b}/oauth/start)"),
            ),
            (
                ConnectionError::ClientIncomplete { client_id: branch_id, missing: "token_url" },
                format!("The OAuth client has no token_url: set it on the client (PATCH /api/v1/oauth-clients/{b})"),
            ),
            (
                ConnectionError::CoolingDown { branch_id, last_error: "boom".into(), wait_seconds: 30 },
                "The last refresh of this branch's token failed (boom); the next attempt is allowed in 30 s".to_owned(),
            ),
            (
                ConnectionError::RefreshTimedOut { branch_id },
                "Refreshing the branch's token did not finish in time: other refreshes (of this branch, its owner or its provider) are still running; try again shortly".to_owned(),
            ),
            (
                ConnectionError::Provider { doing: "Refreshing the branch's token failed", error: ProviderError::Timeout(10) },
                "Refreshing the branch's token failed: the provider did not answer within 10 s".to_owned(),
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
