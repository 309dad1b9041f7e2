//! Webhooks: Tessera tells people's own systems when something needs them.
//!
//! A person registers endpoints (`/api/v1/webhooks`) with the event types they want; each gets a
//! signing secret shown once. A change that raises an event — a branch's grant dying, a PAT
//! revoked, an account locked — writes the event in its own transaction (the outbox,
//! [`events`]), and the [`worker`] on some instance later posts it, signed as the Standard
//! Webhooks specification says ([`signing`]), retrying with back-off until the receiver answers
//! 2xx or the schedule runs out. Every attempt is kept for the owner to read and retry.
//!
//! [`service`] holds the rules, [`routes`] the HTTP side.

pub mod events;
pub mod routes;
pub mod service;
pub mod signing;
pub mod worker;

pub use service::Webhooks;
