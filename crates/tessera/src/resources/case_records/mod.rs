//! A rehabilitation centre's case records (`case-records.md`, "Case records"): beneficiaries,
//! their therapy sessions, and a per-record access log.
//!
//! * [`service`] — every operation, apart from HTTP, with its [`service::CaseRecordsError`].
//! * [`routes`](mod@routes) — the HTTP handlers, and the one mapping of that error to a status.
//! * [`rules`] — who may do what: the one role table, checked on top of the PAT scope.
//! * [`input`] — absent/null/value fields, validators that name the field, pagination.
//! * [`beneficiaries`] — a beneficiary's fields and their rules.
//! * [`therapy_sessions`] — a therapy session's fields and how its status moves.
//! * [`access_log`] — an access-log entry and page as shown.

pub mod access_log;
pub mod beneficiaries;
pub mod input;
pub mod routes;
pub mod rules;
pub mod service;
pub mod therapy_sessions;

pub use routes::routes;
