//! Therapy sessions, a module per page:
//!
//! * this module — booking a session from a beneficiary's page, and `/sessions`, the person's
//!   upcoming sessions;
//! * [`show`] — a session's page, completing it with a rating and cancelling it with a reason.

pub mod show;

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use uuid::Uuid;

use crate::accounts::sessions::ClientInfo;
use crate::console::case_records::beneficiaries::show::beneficiary_page;
use crate::console::case_records::{refused, staff};
use crate::console::form::{Entered, Kind, Spec};
use crate::console::page::{error_page, render, Nav};
use crate::console::session::{cross_site, form_is_ours, require, SignedIn};
use crate::resources::case_records::service::{self as case_records, CaseRecordsError};
use crate::resources::case_records::therapy_sessions::{
    SessionBody, SessionView, UpcomingQuery, SESSION_TYPES,
};
use crate::state::AppState;

pub(super) const fn field(
    name: &'static str,
    label: &'static str,
    kind: Kind,
    required: bool,
) -> Spec {
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

pub(super) fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Therapy session not found")
}
