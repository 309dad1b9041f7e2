//! A rehabilitation centre's case records (`case-records.md`, "Case records"): beneficiaries,
//! their therapy sessions, and a per-record access log.
//!
//! * [`rules`] — who may do what: the one role table, checked on top of the PAT scope.
//! * [`input`] — absent/null/value fields, validators that name the field, pagination.
//! * [`beneficiaries`] — the beneficiary routes.
//! * [`therapy_sessions`] — the therapy-session routes, with the booking rules.
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
pub mod therapy_sessions;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The case-records routes, with their documentation. `/api/v1/sessions/upcoming` is a static
/// segment, which axum prefers over `/api/v1/sessions/{id}`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(
            beneficiaries::list_beneficiaries,
            beneficiaries::create
        ))
        .routes(routes!(
            beneficiaries::get_beneficiary,
            beneficiaries::update_beneficiary,
            beneficiaries::delete_beneficiary
        ))
        .routes(routes!(
            therapy_sessions::list_sessions,
            therapy_sessions::create_session
        ))
        .routes(routes!(access_log::access_log))
        .routes(routes!(therapy_sessions::upcoming_sessions))
        .routes(routes!(
            therapy_sessions::get_session,
            therapy_sessions::update_session
        ))
        .routes(routes!(therapy_sessions::complete_session))
        .routes(routes!(therapy_sessions::cancel_session))
}
