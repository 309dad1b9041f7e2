//! `/tokens/{id}/regenerate`: a new secret for a token after a confirmation, shown once. The old
//! secret stops working at once or after the grace chosen (up to a day); the scopes stay, and the
//! expiry is the token's lifetime again, counted from now (`tokens::service::regenerate_token`,
//! as `POST /api/v1/tokens/{id}/regenerate`).

use askama::Template;
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
use crate::console::page::{render, Nav};
use crate::console::session::{cross_site, failure, form_is_ours, require};
use crate::state::AppState;
use crate::tokens::service as tokens;

#[derive(Template)]
#[template(path = "console/token_regenerate.html")]
struct RegeneratePage {
    nav: Nav,
    id: Uuid,
    name: String,
}

/// The form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct RegenerateForm {
    csrf: String,
    /// Absent: none (the form before graces, or a script).
    grace_seconds: Option<i64>,
}

/// `GET /tokens/{id}/regenerate`: asks to confirm, and how long the current secret may last.
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
            &RegeneratePage {
                nav: Nav::of(&user),
                id,
                name: token.name,
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
    form: Result<Form<RegenerateForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Form(form)) = form else {
        return (jar, cross_site()).into_response();
    };
    if !form_is_ours(&headers, &user, &form.csrf) {
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
        &tokens::RenewTokenRequest {
            expires_in_days: None,
            grace_seconds: form.grace_seconds,
        },
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
