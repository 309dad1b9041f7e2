//! `/connect?token=…`: the page behind a reconnect link (see `connections::links`), for a branch
//! manager who is not signed in. It names the branch and the access asked for; its one button
//! starts the provider's consent. A link that cannot be used says why, in the console's look.
//! The form carries the token in a hidden field, so it never reaches a log line.

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::page::render;
use super::session::{cross_site, failure, incomplete_form, same_origin};
use crate::connections::errors::ConnectionError;
use crate::connections::links::LinkProblem;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/connect.html")]
struct ConnectPage {
    token: String,
    branch: String,
    branch_id: String,
    scopes: Vec<String>,
    expires_at: String,
}

/// `?token=…`, or the form's hidden field.
#[derive(Debug, serde::Deserialize)]
pub struct LinkToken {
    token: String,
}

fn link_failure(error: ConnectionError) -> Response {
    failure(&error.into())
}

/// `GET /connect?token=…`.
pub async fn page(
    State(state): State<AppState>,
    query: Result<Query<LinkToken>, QueryRejection>,
) -> Response {
    let Ok(Query(LinkToken { token })) = query else {
        return link_failure(ConnectionError::ConnectLink(LinkProblem::Unknown));
    };
    match state
        .connections
        .open_connect_link(&token, state.clock.now())
        .await
    {
        Ok(open) => render(
            StatusCode::OK,
            &ConnectPage {
                token,
                branch: open.branch.name,
                branch_id: open.branch.branch_id,
                scopes: open.scopes,
                expires_at: open.expires_at.to_rfc3339(),
            },
        ),
        Err(error) => link_failure(error),
    }
}

/// `POST /connect`: starts the consent and sends the browser to the provider.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LinkToken>, FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let Ok(Form(LinkToken { token })) = form else {
        return incomplete_form();
    };
    match state
        .connections
        .start_from_connect_link(&token, state.clock.now())
        .await
    {
        Ok(started) => Redirect::to(&started.auth_url).into_response(),
        Err(error) => link_failure(error),
    }
}
