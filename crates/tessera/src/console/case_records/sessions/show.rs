//! `/sessions/{id}`: a session's facts; completing it with a rating and cancelling it with a
//! reason, while it is scheduled and the role may change sessions.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::{field, not_found};
use crate::accounts::sessions::ClientInfo;
use crate::console::case_records::{may, refused, staff};
use crate::console::form::{Entered, FieldView, Kind, Spec};
use crate::console::page::{render, Nav};
use crate::console::session::{cross_site, form_is_ours, require, SignedIn};
use crate::input::InvalidField;
use crate::resources::case_records::rules::Action;
use crate::resources::case_records::service::{self as case_records, CaseRecordsError};
use crate::resources::case_records::therapy_sessions::{
    CancelBody, CompleteBody, SessionStatus, ATTENDANCE, ENGAGEMENT,
};
use crate::state::AppState;

/// The completion form's fields.
const COMPLETION: &[Spec] = &[
    field(
        "progress_rating",
        "Progress rating (1–10)",
        Kind::Number,
        true,
    ),
    field(
        "attendance_status",
        "Attendance",
        Kind::Choice(ATTENDANCE),
        false,
    ),
    field("engagement", "Engagement", Kind::Choice(ENGAGEMENT), false),
    field("goals_achieved", "Goals achieved", Kind::Lines, false),
    field("observations", "Observations", Kind::Area, false),
    field("recommendations", "Recommendations", Kind::Area, false),
];

/// The cancellation form's field.
const CANCELLATION: &[Spec] = &[field("reason", "Reason", Kind::Area, true)];

/// What a session's page shows of it.
const SHOWN: &[Spec] = &[
    field("session_type", "Type", Kind::Text, false),
    field("session_date", "Date", Kind::Text, false),
    field("start_time", "Start", Kind::Text, false),
    field("end_time", "End", Kind::Text, false),
    field("status", "Status", Kind::Text, false),
    field("objectives", "Objectives", Kind::Lines, false),
    field("activities", "Activities", Kind::Lines, false),
    field("goals_achieved", "Goals achieved", Kind::Lines, false),
    field("progress_rating", "Progress rating", Kind::Text, false),
    field("attendance_status", "Attendance", Kind::Text, false),
    field("engagement", "Engagement", Kind::Text, false),
    field("notes", "Notes", Kind::Text, false),
    field("observations", "Observations", Kind::Text, false),
    field("recommendations", "Recommendations", Kind::Text, false),
    field(
        "cancellation_reason",
        "Cancellation reason",
        Kind::Text,
        false,
    ),
];

/// A fact of the session's page.
struct Fact {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "console/session.html")]
struct SessionPage {
    nav: Nav,
    id: Uuid,
    number: String,
    beneficiary_id: Uuid,
    facts: Vec<Fact>,
    /// Scheduled, and the role may change sessions.
    may_change: bool,
    completion: Vec<FieldView>,
    cancellation: Vec<FieldView>,
    message: Option<String>,
}

/// Which of the session page's forms was sent, as it was sent, and why it was refused.
struct Sent<'a> {
    completion: &'a Entered,
    cancellation: &'a Entered,
    error: Option<&'a str>,
}

async fn session_page(
    state: &AppState,
    user: &SignedIn,
    id: Uuid,
    sent: Sent<'_>,
) -> Result<SessionPage, CaseRecordsError> {
    let found = case_records::session(&state.store, &staff(user), id).await?;
    let shown = Entered::of(&found.values, SHOWN);
    let scheduled = found.values.status == SessionStatus::Scheduled;
    let in_completion = sent.error.filter(|_| !sent.completion.0.is_empty());
    let in_cancellation = sent.error.filter(|_| !sent.cancellation.0.is_empty());
    Ok(SessionPage {
        nav: Nav::of(user),
        id,
        number: found.session_number,
        beneficiary_id: found.beneficiary_id,
        facts: SHOWN
            .iter()
            .filter_map(|spec| {
                let value = shown.0.get(spec.name).cloned().unwrap_or_default();
                (!value.is_empty()).then(|| Fact {
                    label: spec.label,
                    value: value.replace('\n', ", "),
                })
            })
            .collect(),
        may_change: scheduled && may(user, Action::UpdateSession),
        completion: sent.completion.fields(COMPLETION, in_completion),
        cancellation: sent.cancellation.fields(CANCELLATION, in_cancellation),
        message: Entered::unplaced(COMPLETION, in_completion)
            .or_else(|| Entered::unplaced(CANCELLATION, in_cancellation)),
    })
}

/// `GET /sessions/{id}`.
pub async fn show(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/sessions").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let nothing = Entered::default();
    let sent = Sent {
        completion: &nothing,
        cancellation: &nothing,
        error: None,
    };
    let answer = match session_page(&state, &user, id, sent).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(error) => refused(error),
    };
    (jar, answer).into_response()
}

/// Which change a form on the session page asks for.
#[derive(Clone, Copy)]
enum Change {
    Complete,
    Cancel,
}

/// `POST /sessions/{id}/complete`.
pub async fn complete(
    state: State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    change(state, client, headers, jar, id, fields, Change::Complete).await
}

/// `POST /sessions/{id}/cancel`.
pub async fn cancel(
    state: State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    change(state, client, headers, jar, id, fields, Change::Cancel).await
}

async fn change(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
    change: Change,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/sessions").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (entered, csrf) = Entered::read(fields.map(|Form(f)| f).unwrap_or_default());
    if !form_is_ours(&headers, &user, &csrf) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let (store, staff) = (&state.store, staff(&user));
    let changed = match change {
        Change::Complete => match entered.body::<CompleteBody>(COMPLETION, false) {
            Ok(body) => case_records::complete_session(store, &staff, id, body).await,
            Err(message) => Err(InvalidField::new(message).into()),
        },
        Change::Cancel => match entered.body::<CancelBody>(CANCELLATION, false) {
            Ok(body) => case_records::cancel_session(store, &staff, id, body).await,
            Err(message) => Err(InvalidField::new(message).into()),
        },
    };
    let error = match changed {
        Ok(_) => return (jar, Redirect::to(&format!("/sessions/{id}"))).into_response(),
        Err(error) => error,
    };
    let status = match &error {
        CaseRecordsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CaseRecordsError::NotScheduled { .. } => StatusCode::CONFLICT,
        // Not about the form (forbidden, not found, the database): the page for it.
        _ => return (jar, refused(error)).into_response(),
    };
    let error = error.to_string();
    let nothing = Entered::default();
    let sent = match change {
        Change::Complete => Sent {
            completion: &entered,
            cancellation: &nothing,
            error: Some(&error),
        },
        Change::Cancel => Sent {
            completion: &nothing,
            cancellation: &entered,
            error: Some(&error),
        },
    };
    let answer = match session_page(&state, &user, id, sent).await {
        Ok(page) => render(status, &page),
        Err(error) => refused(error),
    };
    (jar, answer).into_response()
}
