//! What every console page shares: rendering a template into a response, the navigation's
//! facts, the error pages in the console's look, and the stylesheet.

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::session::SignedIn;
use crate::types::Role;

/// The stylesheet, in the binary: no file to deploy, nothing fetched from elsewhere.
const STYLESHEET: &str = include_str!("console.css");

/// `GET /console.css`.
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// What the navigation shows of the person signed in.
pub struct Nav {
    /// Their username.
    pub username: String,
    /// Their role's name.
    pub role: String,
    /// Whether the "Users" page is theirs to see.
    pub is_admin: bool,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
}

impl Nav {
    /// The navigation of `user`.
    pub fn of(user: &SignedIn) -> Nav {
        Nav {
            username: user.username.clone(),
            role: user.role.to_string(),
            is_admin: user.role == Role::Admin,
            csrf: user.csrf.clone(),
        }
    }
}

/// Renders `template` with `status`; a template that fails to render is a 500 page.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console template failed to render");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side; try again.",
            )
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// An error page in the console's look: never raw JSON.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let page = ErrorPage {
        title: status.canonical_reason().unwrap_or("Error"),
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        // The error page itself failed: plain text is all that is left.
        Err(_) => (status, message.to_owned()).into_response(),
    }
}
