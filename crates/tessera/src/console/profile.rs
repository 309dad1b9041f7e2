//! `/profile`: the person's own account — their profile's details, changing the password (every
//! other session ends, as over the API) and the signed-in sessions, each of which can be ended.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::form::{Entered, FieldView, Kind, Spec};
use super::page::{error_page, render, when, Nav};
use super::session::{
    cross_site, failure, form_is_ours, incomplete_form, require, ButtonForm, SignedIn,
};
use crate::accounts::profile::{ProfileUpdate, ProfileView};
use crate::accounts::service::{self as accounts, AccountError, Actor};
use crate::accounts::sessions::ClientInfo;
use crate::http::ApiError;
use crate::state::AppState;
use crate::types::Timestamp;

const fn field(name: &'static str, label: &'static str, kind: Kind) -> Spec {
    Spec {
        name,
        label,
        kind,
        required: false,
    }
}

/// The profile's editable fields.
const DETAILS: &[Spec] = &[
    field("first_name", "First name", Kind::Text),
    field("last_name", "Last name", Kind::Text),
    field("phone_number", "Phone number", Kind::Tel),
    field("department", "Department", Kind::Text),
    field("specialization", "Specialization", Kind::Text),
];

/// A signed-in session as the list shows it.
struct SessionRow {
    id: Uuid,
    started: String,
    last_used: String,
    ip: String,
    client: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/profile.html")]
struct ProfilePage {
    nav: Nav,
    email: String,
    role: String,
    details: Vec<FieldView>,
    details_message: Option<String>,
    password_error: Option<String>,
    notice: Option<String>,
    sessions: Vec<SessionRow>,
}

/// What the page shows after a form: the details as sent and why they were refused, a refused
/// password change, or a notice.
#[derive(Default)]
struct Outcome {
    details: Option<Entered>,
    details_error: Option<String>,
    password_error: Option<String>,
    notice: Option<String>,
}

async fn profile_page(
    state: &AppState,
    user: &SignedIn,
    outcome: Outcome,
) -> Result<ProfilePage, ApiError> {
    let profile = state
        .store
        .profile(user.user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Account not found".to_owned()))?;
    let sessions = state
        .store
        .active_sessions(user.user_id, Timestamp::now())
        .await?;
    let profile = ProfileView::from(profile);
    let details = outcome
        .details
        .unwrap_or_else(|| Entered::of(&profile, DETAILS));
    let error = outcome.details_error.as_deref();
    Ok(ProfilePage {
        nav: Nav::of(user),
        email: profile.email,
        role: profile.role.to_string(),
        details: details.fields(DETAILS, error),
        details_message: Entered::unplaced(DETAILS, error),
        password_error: outcome.password_error,
        notice: outcome.notice,
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                current: s.id == user.session_id,
                id: s.id,
                started: when(s.created_at),
                last_used: when(s.last_used_at),
                ip: s.ip,
                client: s.user_agent.unwrap_or_default(),
            })
            .collect(),
    })
}

async fn answer(
    state: &AppState,
    user: &SignedIn,
    status: StatusCode,
    outcome: Outcome,
) -> Response {
    match profile_page(state, user, outcome).await {
        Ok(page) => render(status, &page),
        Err(error) => failure(&error),
    }
}

/// `GET /profile`.
pub async fn show(State(state): State<AppState>, client: ClientInfo, jar: CookieJar) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/profile").await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    let page = answer(&state, &user, StatusCode::OK, Outcome::default()).await;
    (jar, page).into_response()
}

/// `POST /profile`: saves the details (an emptied field is cleared).
pub async fn update(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/profile").await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    let (entered, csrf) = Entered::read(fields.map(|Form(f)| f).unwrap_or_default());
    if !form_is_ours(&headers, &user, &csrf) {
        return (jar, cross_site()).into_response();
    }
    let saved = match entered.body::<ProfileUpdate>(DETAILS, true) {
        Err(message) => Err(ApiError::Validation(message)),
        Ok(update) => match update.validate() {
            Ok(changes) => state
                .store
                .update_profile(user.user_id, &changes)
                .await
                .map_err(ApiError::from),
            Err(error) => Err(error),
        },
    };
    let page = match saved {
        Ok(_) => Redirect::to("/profile").into_response(),
        Err(ApiError::Validation(message)) => {
            let outcome = Outcome {
                details: Some(entered),
                details_error: Some(message),
                ..Outcome::default()
            };
            answer(&state, &user, StatusCode::UNPROCESSABLE_ENTITY, outcome).await
        }
        Err(error) => failure(&error),
    };
    (jar, page).into_response()
}

/// The password form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
    confirm_password: String,
}

/// `POST /profile/password`: changes the password under the login's brute-force rules; every
/// other session ends.
pub async fn change_password(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/profile").await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    let Ok(Form(form)) = form else {
        return (jar, incomplete_form()).into_response();
    };
    if !form_is_ours(&headers, &user, &form.csrf) {
        return (jar, cross_site()).into_response();
    }
    let refused = |message: String| Outcome {
        password_error: Some(message),
        ..Outcome::default()
    };
    if form.new_password != form.confirm_password {
        let outcome = refused("The new password and its confirmation differ".to_owned());
        let page = answer(&state, &user, StatusCode::UNPROCESSABLE_ENTITY, outcome).await;
        return (jar, page).into_response();
    }
    let actor = Actor {
        user_id: user.user_id,
        session_id: user.session_id,
        role: user.role,
    };
    let (store, guard, passwords) = (&state.store, &state.login_guard, &state.passwords);
    let (current, new) = (form.current_password, form.new_password);
    let changed =
        accounts::change_password(store, guard, passwords, &actor, current, new, &client).await;
    let page = match changed {
        Ok(ended) => {
            let notice = format!(
                "Password changed. {ended} other session{} ended.",
                if ended == 1 { " was" } else { "s were" }
            );
            let outcome = Outcome {
                notice: Some(notice),
                ..Outcome::default()
            };
            answer(&state, &user, StatusCode::OK, outcome).await
        }
        Err(AccountError::Invalid(invalid)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            answer(&state, &user, status, refused(invalid.to_string())).await
        }
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

/// `POST /profile/sessions/{id}/end`: ends one of the person's other sessions (signed in
/// elsewhere); its tokens stop working at once.
pub async fn end_session(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/profile").await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match accounts::end_session(&state.store, user.user_id, id).await {
        Ok(()) => Redirect::to("/profile").into_response(),
        Err(AccountError::SessionNotFound { .. }) => not_found(),
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "No such signed-in session of yours")
}
