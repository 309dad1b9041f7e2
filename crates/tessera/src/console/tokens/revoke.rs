//! `/tokens/{id}/revoke`: revoking a token after a confirmation; the API refuses it at once.

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
use crate::state::AppState;
use crate::tokens::service as tokens;

/// `GET /tokens/{id}/revoke`: asks to confirm.
pub async fn confirm(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match tokens::owned_token(&state.store, user.user_id, id).await {
        Ok(token) => render(
            StatusCode::OK,
            &Confirm {
                nav: Nav::of(&user),
                title: "Revoke token",
                question: format!("Revoke “{}”?", token.name),
                explanation: "Scripts using it will be refused from now on. This cannot be undone.",
                action: format!("/tokens/{id}/revoke"),
                button: "Revoke",
                danger: true,
                cancel: format!("/tokens/{id}"),
            },
        ),
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

/// `POST /tokens/{id}/revoke`.
pub async fn submit(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let revoked = tokens::revoke_token(
        &state.store,
        &state.token_cache,
        user.user_id,
        id,
        state.clock.now(),
    )
    .await;
    match revoked {
        Ok(_) => (jar, Redirect::to(&format!("/tokens/{id}"))).into_response(),
        Err(error) => (jar, failure(&error.into())).into_response(),
    }
}
