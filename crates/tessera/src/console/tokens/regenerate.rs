//! `/tokens/{id}/regenerate`: a new secret for a token after a confirmation, shown once. The old
//! secret stops working at once; the scopes stay, and the expiry is the token's lifetime again,
//! counted from now (`tokens::service::regenerate_token`, as `POST /api/v1/tokens/{id}/regenerate`).

use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::new::CreatedPage;
use super::not_found;
use crate::accounts::sessions::ClientInfo;
use crate::console::page::{render, Confirm, Nav};
use crate::console::session::{cross_site, failure, form_is_ours, require, ButtonForm};
use crate::state::AppState;
use crate::tokens::service as tokens;

/// `GET /tokens/{id}/regenerate`: asks to confirm.
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
 title: "Regenerate token",
 question: format!("Regenerate “{}”?", token.name),
 explanation: "The token gets a new secret, shown once on the next page. The current secret stops working at once: scripts using it need the new one. The scopes stay; the token lives as long as it was first given, counted from now.",
 action: format!("/tokens/{id}/regenerate"),
 button: "Regenerate token",
 danger: false,
 cancel: format!("/tokens/{id}"),
},
        ),
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

/// `POST /tokens/{id}/regenerate`: shows the new secret, once.
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
    let regenerated = tokens::regenerate_token(
        &state.store,
        &state.token_cache,
        user.user_id,
        id,
        &tokens::RenewTokenRequest::default(),
        state.clock.now(),
    )
    .await;
    let page = match regenerated {
        Ok(issued) => render(
            StatusCode::OK,
            &CreatedPage {
                nav: Nav::of(&user),
                id,
                name: issued.token.name,
                secret: issued.secret,
                regenerated: true,
            },
        ),
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}
