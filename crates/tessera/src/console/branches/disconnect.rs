//! `/branches/{id}/disconnect`: revokes the branch's grant at the provider (RFC 7009) and forgets
//! it here, after a confirmation; the page says whether the provider confirmed.

use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::{answer, forbidden, may, not_found, refused, staff, Outcome};
use crate::accounts::sessions::ClientInfo;
use crate::console::page::{render, Confirm, Nav};
use crate::console::session::{cross_site, failure, form_is_ours, ButtonForm};
use crate::http::ApiError;
use crate::state::AppState;
use crate::tokens::scopes::ConnectionsWrite;

/// `GET /branches/{id}/disconnect`: asks to confirm.
pub async fn confirm(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match staff(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    if !may::<ConnectionsWrite>(&user) {
        return (jar, forbidden()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match state.connections.branch(user.user_id, id).await {
        Ok(branch) => render(
            StatusCode::OK,
            &Confirm {
 nav: Nav::of(&user),
 title: "Disconnect branch",
 question: format!("Disconnect “{}”?", branch.name),
 explanation: "Tessera revokes the grant at the provider and forgets its tokens. Consumers such as the review fetcher get nothing for this branch until it is connected again.",
 action: format!("/branches/{id}/disconnect"),
 button: "Disconnect",
 danger: true,
 cancel: "/branches".to_owned(),
},
        ),
        Err(error) => match ApiError::from(error) {
            ApiError::NotFound(_) => not_found(),
            other => failure(&other),
        },
    };
    (jar, page).into_response()
}

/// `POST /branches/{id}/disconnect`.
pub async fn submit(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match staff(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    if !may::<ConnectionsWrite>(&user) {
        return (jar, forbidden()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match state.connections.disconnect(user.user_id, id).await {
        Ok(revocation) => {
            let notice = match revocation.error {
                None if revocation.revoked => "Disconnected: the provider confirmed the grant is revoked.".to_owned(),
                None => "Disconnected.".to_owned(),
                Some(why) => format!("Disconnected here; the provider did not confirm the revocation ({why}). Remove Tessera's access in the provider's account settings to be sure."),
            };
            let outcome = Outcome {
                notice: Some(notice),
                ..Outcome::default()
            };
            answer(&state, &user, &headers, StatusCode::OK, outcome).await
        }
        Err(error) => refused(&state, &user, &headers, error).await,
    };
    (jar, page).into_response()
}
