//! `/fcs/{id}/delete`: deleting one of the user's uploads after a confirmation (the sample
//! cannot be deleted, and has no such page).

use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::not_found;
use crate::accounts::sessions::ClientInfo;
use crate::console::page::{render, Confirm, Nav};
use crate::console::session::{cross_site, failure, form_is_ours, require, ButtonForm};
use crate::http::ApiError;
use crate::state::AppState;

/// `GET /fcs/{id}/delete`: asks to confirm.
pub async fn confirm(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match state.store.find_fcs_file(user.user_id, id).await {
        Ok(Some(record)) => render(
            StatusCode::OK,
            &Confirm {
 nav: Nav::of(&user),
 title: "Delete FCS file",
 question: format!("Delete “{}”?", record.filename),
 explanation: "The file and its data are removed for good; scripts reading it get “not found”.",
 action: format!("/fcs/{id}/delete"),
 button: "Delete",
 danger: true,
 cancel: format!("/fcs/{id}"),
},
        ),
        Ok(None) => not_found(),
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

/// `POST /fcs/{id}/delete`.
pub async fn submit(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match state
        .fcs
        .delete_upload(&state.store, user.user_id, id)
        .await
    {
        Ok(_) => Redirect::to("/fcs").into_response(),
        Err(refusal) => match ApiError::from(refusal) {
            ApiError::NotFound(_) => not_found(),
            error => failure(&error),
        },
    };
    (jar, page).into_response()
}
