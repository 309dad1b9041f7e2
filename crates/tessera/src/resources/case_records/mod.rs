//! A rehabilitation centre's case records (`case-records.md`, "Case records"): beneficiaries,
//! their therapy sessions, and a per-record access log.
//!
//! * [`rules`] — who may do what: the one role table, checked on top of the PAT scope.
//! * [`input`] — absent/null/value fields, validators that name the field, pagination.
//! * [`beneficiaries`] — the beneficiary routes.
//! * [`sessions`] — the therapy-session routes, with the booking rules.
//! * [`access_log`] — reading the access log.
//!
//! Every route takes a staff JWT or a PAT with a `beneficiaries` scope ([`Caller`]); the routes sit
//! in the PAT group of the router, so PAT uses are also in the token's audit log.
//!
//! [`Caller`]: crate::auth::Caller

pub mod access_log;
pub mod beneficiaries;
pub mod input;
pub mod rules;
pub mod sessions;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// The case-records routes. `/api/v1/sessions/upcoming` is a static segment, which axum prefers
/// over `/api/v1/sessions/{id}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/beneficiaries",
            get(beneficiaries::list_beneficiaries).post(beneficiaries::create),
        )
        .route(
            "/api/v1/beneficiaries/{id}",
            get(beneficiaries::get_beneficiary)
                .patch(beneficiaries::update_beneficiary)
                .delete(beneficiaries::delete_beneficiary),
        )
        .route(
            "/api/v1/beneficiaries/{id}/sessions",
            get(sessions::list_sessions).post(sessions::create_session),
        )
        .route(
            "/api/v1/beneficiaries/{id}/access-log",
            get(access_log::access_log),
        )
        .route(
            "/api/v1/sessions/upcoming",
            get(sessions::upcoming_sessions),
        )
        .route(
            "/api/v1/sessions/{id}",
            get(sessions::get_session).patch(sessions::update_session),
        )
        .route(
            "/api/v1/sessions/{id}/complete",
            post(sessions::complete_session),
        )
        .route(
            "/api/v1/sessions/{id}/cancel",
            post(sessions::cancel_session),
        )
}
