//! OAuth connections (`oauth-connections.md`): Tessera holds third-party OAuth grants for business
//! branches and hands internal consumers (a review fetcher) a valid access token on request,
//! so that no consumer ever handles a refresh token or a client secret.
//!
//! * [`provider`] — provider presets (`google`) and endpoint resolution.
//! * [`oauth`] — the protocol: authorization URL with PKCE, code exchange, refresh, revocation.
//! * [`vault`] — sealing every secret at rest, bound to its row and column.
//! * [`service`] — the [`Connections`] service: a valid token for a branch, by the refresh rules
//!   (once, rotation, dead grants, passing faults, keep-alive).
//! * [`errors`] — [`ConnectionError`], every refusal's message, written once.
//! * [`limits`] — a refresh's deadline and the bounds on refreshes at once (per owner, per host).
//! * [`routes`](mod@routes) — the router's view: which handlers, and the one mapping of [`ConnectionError`]
//!   to a status.
//! * [`clients`], [`branches`], [`flow`], [`provider_tokens`] — the `/api/v1` handlers.
//! * [`compat`] — the `/token-management/*` handlers of the earlier service.
//!
//! Every route but the callback takes the owner's JWT or a PAT with a `connections` scope
//! ([`Caller`]); another user's objects answer 404.
//!
//! [`Caller`]: crate::auth::Caller

pub mod branches;
pub mod clients;
pub mod compat;
pub mod errors;
pub mod flow;
pub mod limits;
pub mod oauth;
pub mod provider;
pub mod provider_tokens;
pub mod refresh;
pub mod routes;
pub mod service;
pub mod vault;

pub use errors::ConnectionError;
pub use routes::{callback_routes, routes};
pub use service::Connections;
