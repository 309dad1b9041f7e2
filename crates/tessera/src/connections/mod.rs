//! OAuth connections (`oauth-connections.md`): Tessera holds third-party OAuth grants for business
//! branches and hands internal consumers (a review fetcher) a valid access token on request,
//! so that no consumer ever handles a refresh token or a client secret.
//!
//! * [`provider`] — provider presets (`google`) and endpoint resolution.
//! * [`oauth`] — the protocol: authorization URL with PKCE, code exchange, refresh, revocation.
//! * [`vault`] — sealing every secret at rest, bound to its row and column.
//! * [`service`] — the [`Connections`] service, apart from HTTP: clients, branches, the
//!   authorization flow, a valid token for a branch, disconnecting, the keep-alive pass.
//! * [`refresh`] — the refresh rules behind it (once, rotation, dead grants, passing faults).
//! * [`errors`] — [`ConnectionError`]: why an operation did not happen, with its message.
//! * [`limits`] — a refresh's deadline and the bounds on refreshes at once (per owner, per host).
//! * [`clients`], [`branches`], [`flow`], [`provider_tokens`], [`compat`] — what each resource
//!   takes and shows (bodies, views) and the field rules of clients and branches.
//! * [`routes`](mod@routes) — the HTTP handlers, a module per resource, and the one mapping of
//!   [`ConnectionError`] to a status.
//!
//! Every route but the callback takes the owner's JWT or a PAT with a `connections` scope
//! ([`Caller`]); another user's objects answer 404.
//!
//! [`Caller`]: crate::auth::Caller

pub mod branches;
pub mod clients;
pub mod compat;
pub mod errors;
pub mod events;
pub mod flow;
pub mod limits;
pub mod links;
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
