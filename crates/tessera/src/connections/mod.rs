//! OAuth connections (`oauth-connections.md`): Tessera holds third-party OAuth grants for business
//! branches and hands internal consumers (a review fetcher) a valid access token on request,
//! so that no consumer ever handles a refresh token or a client secret.
//!
//! * [`provider`] — provider presets (`google`) and endpoint resolution.
//! * [`oauth`] — the protocol: authorization URL with PKCE, code exchange, refresh, revocation.
//! * [`vault`] — sealing every secret at rest, bound to its row and column.
//! * [`refresh`] — the refresh rules: once, rotation, dead grants, passing faults, keep-alive.
//! * [`limits`] — a refresh's deadline and the bounds on refreshes at once (per owner, per host).
//! * [`clients`], [`branches`], [`flow`], [`tokens`] — the `/api/v1` routes.
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
pub mod refresh;
pub mod tokens;
pub mod vault;

use axum::routing::{get, post};
use axum::Router;

pub use refresh::Connections;

use crate::state::AppState;

/// The routes that take a JWT or a PAT (they go in the audited PAT group).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/oauth-clients",
            get(clients::list).post(clients::create),
        )
        .route(
            "/api/v1/oauth-clients/{id}",
            get(clients::get_client)
                .patch(clients::update_client)
                .delete(clients::delete_client),
        )
        .route(
            "/api/v1/branches",
            get(branches::list).post(branches::create),
        )
        .route(
            "/api/v1/branches/by-branch-id/{branch_id}",
            get(branches::get_by_branch_id),
        )
        .route(
            "/api/v1/branches/{id}",
            get(branches::get_branch)
                .patch(branches::update_branch)
                .delete(branches::delete_branch),
        )
        .route("/api/v1/branches/{id}/oauth/start", post(flow::start))
        .route("/api/v1/branches/{id}/token", get(tokens::get_token))
        .route(
            "/api/v1/branches/{id}/token/validate",
            get(tokens::validate_token),
        )
        .route(
            "/api/v1/branches/{id}/token/refresh",
            post(tokens::refresh_token),
        )
        .route(
            "/api/v1/branches/{id}/connection",
            get(tokens::get_connection).delete(tokens::disconnect),
        )
        .route(
            "/token-management/clients",
            post(compat::create_client_and_branch),
        )
        .route(
            "/token-management/oauth/login/{client_id}",
            get(compat::login),
        )
        .route("/token-management/tokens/refresh", post(compat::refresh))
        .route("/token-management/tokens/{branch_id}", get(compat::token))
}

/// The callbacks: no token, the state authenticates them.
pub fn callback_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/oauth/callback", get(flow::callback))
        .route("/token-management/auth/callback", get(flow::callback))
}
