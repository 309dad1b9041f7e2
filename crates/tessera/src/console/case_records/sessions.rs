//! Therapy sessions: booking one from a beneficiary's page, `/sessions` (the person's upcoming
//! sessions), a session's page, completing it with a rating and cancelling it with a reason.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use uuid::Uuid;

use super::beneficiaries::beneficiary_page;
use super::{may, refused, staff};
use crate::accounts::sessions::ClientInfo;
use crate::console::form::{Entered, FieldView, Kind, Spec};
use crate::console::page::{error_page, render, Nav};
use crate::console::session::{cross_site, form_is_ours, require, SignedIn};
use crate::input::InvalidField;
use crate::resources::case_records::rules::Action;
use crate::resources::case_records::service::{self as case_records, CaseRecordsError};
use crate::resources::case_records::therapy_sessions::{
    CancelBody, CompleteBody, SessionBody, SessionStatus, SessionView, UpcomingQuery, ATTENDANCE,
    ENGAGEMENT, SESSION_TYPES,
};
use crate::state::AppState;

const fn field(name: &'static str, label: &'static str, kind: Kind, required: bool) -> Spec {
    Spec {
        name,
        label,
        kind,
        required,
    }
}

/// The booking form's fields (the therapist is the person booking).
pub const BOOKING: &[Spec] = &[
    field(
        "session_type",
        "Session type",
        Kind::Choice(SESSION_TYPES),
        true,
    ),
    field("session_date", "Date", Kind::Date, true),
    field("start_time", "Start", Kind::Time, true),
    field("end_time", "End", Kind::Time, true),
    field("objectives", "Objectives", Kind::Lines, false),
    field("notes", "Notes", Kind::Area, false),
];

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

/// A session in a list.
pub struct SessionRow {
    pub id: Uuid,
    pub number: String,
    pub beneficiary_id: Uuid,
    pub date: String,
    pub time: String,
    pub kind: String,
    pub status: String,
}

impl SessionRow {
    pub fn of(session: SessionView) -> SessionRow {
        SessionRow {
            id: session.id,
            number: session.session_number,
            beneficiary_id: session.beneficiary_id,
            date: session.values.session_date.to_string(),
            time: format!("{}–{}", session.values.start_time, session.values.end_time),
            kind: session.values.session_type,
            status: session.values.status.to_string(),
        }
    }
}

/// `POST /beneficiaries/{id}/sessions`: books a session with the person as therapist, then opens
/// it; a refusal shows the beneficiary's page again with the message by its field.
pub async fn book(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries").await {
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
    let answer = match entered.body::<SessionBody>(BOOKING, false) {
        Err(message) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            booking_refused(&state, &user, id, &entered, status, &message).await
        }
        Ok(body) => match case_records::book_session(&state.store, &staff(&user), id, body).await {
            Ok(session) => Redirect::to(&format!("/sessions/{}", session.id)).into_response(),
            Err(error @ CaseRecordsError::Invalid(_)) => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                booking_refused(&state, &user, id, &entered, status, &error.to_string()).await
            }
            Err(error @ CaseRecordsError::TherapistBusy { .. }) => {
                let status = StatusCode::CONFLICT;
                booking_refused(&state, &user, id, &entered, status, &error.to_string()).await
            }
            Err(error) => refused(error),
        },
    };
    (jar, answer).into_response()
}

/// The beneficiary's page again, the booking form as it was sent, `message` by its field.
async fn booking_refused(
    state: &AppState,
    user: &SignedIn,
    id: Uuid,
    entered: &Entered,
    status: StatusCode,
    message: &str,
) -> Response {
    match beneficiary_page(state, user, id, entered, Some(message)).await {
        Ok(page) => render(status, &page),
        Err(error) => refused(error),
    }
}

/// `?days=`: how far ahead `/sessions` looks.
#[derive(Debug, Default, Deserialize)]
pub struct UpcomingParams {
    #[serde(default)]
    days: Option<String>,
}

#[derive(Template)]
#[template(path = "console/sessions.html")]
struct UpcomingPage {
    nav: Nav,
    days: i64,
    choices: [i64; 4],
    rows: Vec<SessionRow>,
}

/// `GET /sessions`: the person's scheduled sessions from today, in time order.
pub async fn upcoming(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    params: Result<Query<UpcomingParams>, QueryRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/sessions").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Query(params)) = params else {
        let message = "This address's query is not one this page understands.";
        return (jar, error_page(StatusCode::BAD_REQUEST, message)).into_response();
    };
    let Some(days) = params
        .days
        .as_deref()
        .map_or(Some(7), |raw| raw.parse().ok())
    else {
        let message = "days must be a whole number from 1 to 90";
        return (jar, error_page(StatusCode::BAD_REQUEST, message)).into_response();
    };
    let query = UpcomingQuery { days: Some(days) };
    let answer = match case_records::upcoming_sessions(&state.store, &staff(&user), query).await {
        Ok(found) => render(
            StatusCode::OK,
            &UpcomingPage {
                nav: Nav::of(&user),
                days,
                choices: [7, 14, 30, 90],
                rows: found.into_iter().map(SessionRow::of).collect(),
            },
        ),
        Err(error) => refused(error),
    };
    (jar, answer).into_response()
}

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

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Therapy session not found")
}
