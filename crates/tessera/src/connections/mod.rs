//! OAuth connections (`oauth-connections.md`): Tessera holds third-party OAuth grants for business
//! branches and hands internal consumers (a review fetcher) a valid access token on request,
//! so that no consumer ever handles a refresh token or a client secret.
//!
//! * [`provider`] — provider presets (`google`) and endpoint resolution.
//! * [`oauth`] — the protocol: authorization URL with PKCE, code exchange, refresh, revocation.
//! * [`vault`] — sealing every secret at rest, bound to its row and column.
//! * [`refresh`] — the refresh rules: once, rotation, dead grants, passing faults, keep-alive.
//! * [`limits`] — a refresh's deadline and the bounds on refreshes at once (per owner, per host).
//! * [`clients`], [`branches`], [`flow`], [`provider_tokens`] — the `/api/v1` routes.
//! * [`compat`] — the `/token-management/*` routes of the earlier service.
//!
//! Every route but the callback takes the owner's JWT or a PAT with a `connections` scope
//! ([`Caller`]); another user's objects answer 404.
//!
//! [`Caller`]: crate::auth::Caller

pub mod branches;
pub mod clients;
pub mod compat;
pub mod flow;
pub mod limits;
pub mod oauth;
pub mod provider;
pub mod provider_tokens;
pub mod refresh;
pub mod vault;

use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use refresh::Connections;

use crate::state::AppState;

/// The routes that take a JWT or a PAT (they go in the audited PAT group), with their
/// documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(
            clients::get_client,
            clients::update_client,
            clients::delete_client
        ))
        .routes(routes!(branches::list, branches::create))
        .routes(routes!(branches::get_by_branch_id))
        .routes(routes!(
            branches::get_branch,
            branches::update_branch,
            branches::delete_branch
        ))
        .routes(routes!(flow::start))
        .routes(routes!(provider_tokens::get_token))
        .routes(routes!(provider_tokens::validate_token))
        .routes(routes!(provider_tokens::refresh_token))
        .routes(routes!(
            provider_tokens::get_connection,
            provider_tokens::disconnect
        ))
        .routes(routes!(compat::create_client_and_branch))
        .routes(routes!(compat::login))
        .routes(routes!(compat::refresh))
        .routes(routes!(compat::token))
}

/// The callbacks: no token, the state authenticates them. The compatibility path is the same
/// handler and stays out of the document.
pub fn callback_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(flow::callback))
        .route("/token-management/auth/callback", get(flow::callback))
}
