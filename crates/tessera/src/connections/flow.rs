//! The authorization-code flow with PKCE (`POST /api/v1/branches/{id}/oauth/start` and the
//! callback `GET /api/v1/oauth/callback`): what starting answers, what the callback carries and
//! what completing it answers. The steps are in the service.
//!
//! The state is 256 random bits, shown once (in the authorization URL) and stored only as its
//! SHA-256, bound to the branch, the user who started the flow, the sealed PKCE verifier and the
//! redirect URI; it lives 10 minutes. The callback consumes it in one `DELETE … RETURNING`, so a
//! state works once even when two callbacks race; the state is the callback's only credential.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::types::Timestamp;

/// How long an authorization may take.
pub const STATE_LIFETIME: time::Duration = time::Duration::minutes(10);

/// What starting a flow answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedFlow {
    /// Where to send the person: the provider's consent page.
    pub auth_url: String,
    /// The state in that URL (single use).
    pub state: String,
    /// After this the state is refused (10 minutes).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// The callback's query (RFC 6749 §4.1.2): `code` and `state`, or `error`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The state from the authorization URL.
    pub state: Option<String>,
    /// The provider's error code, when the person or the provider refused.
    pub error: Option<String>,
    /// The provider's description of the error.
    pub error_description: Option<String>,
    /// If present, the branch (Tessera's id) the caller expects: must be the state's.
    pub branch_id: Option<String>,
    /// If present, must be the redirect URI the flow started with.
    pub redirect_uri: Option<String>,
    /// Extra parameters providers add (`scope`, `authuser`, `prompt`, `iss`, …) are ignored.
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: std::collections::HashMap<String, String>,
}

/// What a completed callback answers (JSON when asked for).
#[derive(Debug, Serialize, ToSchema)]
pub struct Connected {
    /// The branch (Tessera's id).
    pub branch_id: Uuid,
    /// Your identifier of the branch.
    pub branch: String,
    /// `connected`.
    pub status: &'static str,
    /// Scopes the provider granted (people can untick some).
    pub scope: String,
    /// Expiry of the first access token.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// Whether a refresh token came; without one the branch must be re-connected when the access
    /// token expires.
    pub refresh_token_received: bool,
    /// A sentence for people.
    pub message: String,
}
