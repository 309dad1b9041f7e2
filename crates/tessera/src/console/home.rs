//! `/`: the sign-in form for someone signed out, else the home page with the navigation.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::page::{render, Nav};
use super::session::{current, failure};
use crate::accounts::sessions::ClientInfo;
use crate::state::AppState;

/// The sign-in form, with what was typed and why it was refused, if it was.
#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage {
    /// The login typed last (never the password).
    pub login: String,
    /// The login API's message for a refused attempt.
    pub message: Option<String>,
    /// The page to go back to after signing in.
    pub next: String,
}

/// `?next=`: the page that sent a signed-out person here.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Back {
    #[serde(default)]
    next: String,
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    nav: Nav,
}

/// `GET /`.
pub async fn show(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    back: Result<Query<Back>, QueryRejection>,
) -> Response {
    let (jar, user) = current(&state, jar, &client).await;
    let page = match user {
        Err(error) => failure(&error),
        Ok(Some(user)) => render(
            StatusCode::OK,
            &HomePage {
                nav: Nav::of(&user),
            },
        ),
        Ok(None) => render(
            StatusCode::OK,
            &SignInPage {
                login: String::new(),
                message: None,
                next: back.map(|Query(back)| back.next).unwrap_or_default(),
            },
        ),
    };
    (jar, page).into_response()
}
