//! Service accounts: tokens owned by the lab, not by a technician.
//!
//! A PAT owned by a person dies with their account; an instrument's or a pipeline's should not.
//! A service account is an account that cannot sign in, made and managed by admins and managers
//! (`/api/v1/service-accounts`). They mint its PATs (`/api/v1/service-accounts/{id}/tokens`):
//! each within what the service account's role allows *and* what the minter's role allows, and
//! recording who minted it, so disabling or deleting that person leaves the token working.
//! Case-record access follows the service account's own role, given at creation (least: `member`).
//!
//! [`service`] holds the rules, [`routes`] the HTTP side; the token operations themselves are
//! `tokens::service`'s, with the service account as the owner.

pub mod routes;
pub mod service;
