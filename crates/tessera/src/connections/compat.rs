//! `/token-management/*`: the routes an existing review-fetcher integration calls, with their
//! old shapes, on top of the same clients, branches and refresher; here, the bodies they take.
//! Same auth rules as the `/api/v1` routes (the owner's JWT or a PAT with a `connections` scope).
//!
//! The old service kept one row per Google client id, so `client_id` names a branch there: a
//! client id that several of the caller's branches share is refused as ambiguous (409) rather
//! than guessed.

use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /token-management/clients` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompatClientBody {
    /// Google client id.
    pub client_id: String,
    /// Google client secret (sealed; never answered).
    pub client_secret: String,
    /// Redirect URI registered at Google.
    pub redirect_uri: String,
    /// Your identifier of the branch.
    pub branch_id: String,
    /// The branch's email.
    #[serde(default)]
    pub workspace_email: Option<String>,
    /// The branch's name.
    #[serde(default)]
    pub workspace_name: Option<String>,
}

/// `POST /token-management/tokens/refresh` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompatRefreshBody {
    /// Google client id.
    pub client_id: String,
}
