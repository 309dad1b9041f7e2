//! `/beneficiaries/{id}`: the record, their sessions (for roles that read sessions) and the
//! booking form (for roles that book).

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::{not_found, FIELDS};
use crate::accounts::sessions::ClientInfo;
use crate::console::case_records::sessions::{SessionRow, BOOKING};
use crate::console::case_records::{may, refused, staff};
use crate::console::form::{Entered, FieldView};
use crate::console::page::{render, Nav};
use crate::console::session::{require, SignedIn};
use crate::resources::case_records::rules::Action;
use crate::resources::case_records::service::{self as case_records, CaseRecordsError};
use crate::resources::case_records::therapy_sessions::SessionListQuery;
use crate::state::AppState;

/// A fact of the beneficiary's page.
struct Fact {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "console/beneficiary.html")]
pub struct BeneficiaryPage {
    nav: Nav,
    id: Uuid,
    name: String,
    age: i64,
    facts: Vec<Fact>,
    sessions: Vec<SessionRow>,
    sessions_total: i64,
    may_read_sessions: bool,
    may_edit: bool,
    may_book: bool,
    may_read_log: bool,
    booking: Vec<FieldView>,
    booking_message: Option<String>,
}

/// The beneficiary's page, with the booking form as `entered` and `error` left it.
pub async fn beneficiary_page(
    state: &AppState,
    user: &SignedIn,
    id: Uuid,
    entered: &Entered,
    error: Option<&str>,
) -> Result<BeneficiaryPage, CaseRecordsError> {
    let query = SessionListQuery {
        page: Some(1),
        per_page: Some(100),
        status: None,
        from: None,
        to: None,
    };
    let (found, sessions) =
        case_records::beneficiary_with_sessions(&state.store, &staff(user), id, query).await?;
    // A role that reads beneficiaries but not sessions (data entry) sees the record alone.
    let may_read_sessions = sessions.is_some();
    let (sessions, sessions_total) = match sessions {
        Some(page) => {
            let total = page.pagination.total;
            (page.rows.into_iter().map(SessionRow::of).collect(), total)
        }
        None => (Vec::new(), 0),
    };
    let shown = Entered::of(&found.values, FIELDS);
    Ok(BeneficiaryPage {
        nav: Nav::of(user),
        id,
        name: format!("{} {}", found.values.first_name, found.values.last_name),
        age: found.age,
        facts: FIELDS
            .iter()
            .filter_map(|spec| {
                let value = shown.0.get(spec.name).cloned().unwrap_or_default();
                (!value.is_empty()).then(|| Fact {
                    label: spec.label,
                    value: value.replace('\n', ", "),
                })
            })
            .collect(),
        sessions,
        sessions_total,
        may_read_sessions,
        may_edit: may(user, Action::UpdateBeneficiary),
        may_book: may(user, Action::CreateSession),
        may_read_log: may(user, Action::ReadAccessLog),
        booking: entered.fields(BOOKING, error),
        booking_message: Entered::unplaced(BOOKING, error),
    })
}

/// `GET /beneficiaries/{id}`.
pub async fn show(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let answer = match beneficiary_page(&state, &user, id, &Entered::default(), None).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(error) => refused(error),
    };
    (jar, answer).into_response()
}
