//! Tessera: accounts, personal access tokens, OAuth connections and the resources they guard,
//! behind one scope model.
//!
//! # Layers
//!
//! Read from the top; each layer uses only the ones below it.
//!
//! * [`server`] — builds the state and the router, starts the background work, serves
//!   connections (deadlines, a cap, panics answered) and shuts down. The `tessera` binary's
//!   commands are in [`cli`].
//! * [`router`] — every route in one assembly and the one middleware stack; `/health`, `/ready`,
//!   the JWKS. Each capability declares its routes with their documentation, so merging them
//!   gives the router and the document's paths at once; [`openapi`] adds the document's top
//!   level and the statuses every operation shares.
//! * [`console`] — the pages people use at `/`, over the same services as the API.
//! * The capabilities: [`accounts`] (registration, login, sessions, roles), [`admin`] (what admins
//!   do to other people's accounts), [`service_accounts`] (accounts owned by the lab, which hold
//!   tokens), [`tokens`] (PATs,
//!   scopes, the audit log), [`connections`] (OAuth grants for branches) and [`resources`] (FCS
//!   files, case records, the contract's stubs). Where a capability has a `service.rs`, that is
//!   its logic with its own error and nothing of HTTP (the CLI and the console call it too), and
//!   its `routes.rs` parses, calls, renders and maps the error to a status in one place.
//! * [`auth`] — the extractor for routes that take a person's JWT or a PAT.
//! * [`state`] — [`state::AppState`], the built services and the configuration.
//! * [`http`] — what every handler relies on: the envelope, [`http::ApiError`], extractors that
//!   answer in the envelope, client IP, the rate limit, fallbacks. It knows no capability.
//! * [`store`] — the database boundary: every SQL statement, for SQLite and PostgreSQL. It knows
//!   no capability.
//! * [`types`] — the values stored and shown the same way everywhere: `Timestamp`, `Day`,
//!   `ClockTime`, `Role`.
//! * Beside them, used from any layer: [`config`] (every setting), [`crypto`] (sealing secrets,
//!   random secrets), [`clock`] (the one "now", which tests move), [`cache`] (caches emptied by the store's change feeds), [`input`] (reading
//!   what people send: absent, null or a value; validators whose [`input::InvalidField`] names
//!   the field).
//!
//! Still crossing a line: the handlers take the whole [`state::AppState`] (so the capabilities
//! and `state` import each other), and `tokens` and `accounts` share the JWT and role checks.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod console;
pub mod crypto;
pub mod http;
pub mod input;
pub mod metrics;
pub mod openapi;
pub mod resources;
pub mod router;
pub mod server;
pub mod service_accounts;
pub mod state;
pub mod store;
pub mod tokens;
pub mod types;
pub mod webhooks;
