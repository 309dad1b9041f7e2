//! The rehabilitation centre's case records, over `resources::case_records::service` like
//! `/api/v1/beneficiaries` and `/api/v1/sessions`, with the same role rules: a page shows only
//! the buttons the person's role may use, and the service refuses the rest anyway.
//!
//! * [`beneficiaries`] — `/beneficiaries`: the list (search, status filter, paging), creating,
//!   a beneficiary's page with their sessions, editing, and the access log (admins, managers);
//! * [`sessions`] — `/sessions`: the person's upcoming sessions, booking, a session's page,
//!   completing and cancelling.

pub mod beneficiaries;
pub mod sessions;

use axum::http::StatusCode;
use axum::response::Response;

use super::page::error_page;
use super::session::{failure, SignedIn};
use crate::http::ApiError;
use crate::resources::case_records::rules::{permits, Action, Staff};
use crate::resources::case_records::service::CaseRecordsError;
use crate::store::Actor;

/// The person as the case records see them: who (for the access log; no PAT) and their role now.
fn staff(user: &SignedIn) -> Staff {
    Staff {
        actor: Actor {
            user_id: user.user_id,
            token_id: None,
        },
        role: user.role,
    }
}

/// Whether `user`'s role may take `action`: whether its button is shown.
fn may(user: &SignedIn, action: Action) -> bool {
    permits(user.role, action)
}

/// The page for a refusal that is not about a form's field: the API's status and message.
fn refused(error: CaseRecordsError) -> Response {
    match ApiError::from(error) {
        ApiError::NotFound(message) => error_page(StatusCode::NOT_FOUND, &message),
        other => failure(&other),
    }
}
