//! What every console page shares: rendering a template into a response, the navigation's
//! facts, the error pages in the console's look, and the stylesheet.

use askama::Template;
use axum::extract::{OriginalUri, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::session::SignedIn;
use crate::http::{accepts, fallback};
use crate::types::{Role, Timestamp};

/// The console's content security policy: this origin's stylesheet and script, nothing inline,
/// never framed.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// The console's referrer policy: same-origin requests say where they come from (so a form's
/// POST carries its `Origin`), others are told nothing.
pub const REFERRER_POLICY: &str = "same-origin";

/// The stylesheet, in the binary: no file to deploy, nothing fetched from elsewhere.
const STYLESHEET: &str = include_str!("console.css");

/// The one script, in the binary too: optional enhancements (copy buttons); no page needs it.
const SCRIPT: &str = include_str!("console.js");

/// `GET /console.js`.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

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
    /// Whether the "Service accounts" page is (admins and managers).
    pub manages_service_accounts: bool,
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
            manages_service_accounts: matches!(user.role, Role::Admin | Role::Manager),
            csrf: user.csrf.clone(),
        }
    }
}

/// A time as people read it: `2026-12-07 14:30 UTC`.
pub fn when(at: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.datetime()
        .format(&format)
        .unwrap_or_else(|_| at.to_rfc3339())
}

/// A time to the second, for logs: `2026-12-07 14:30:05 UTC`.
pub fn when_exactly(at: Timestamp) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.datetime()
        .format(&format)
        .unwrap_or_else(|_| at.to_rfc3339())
}

/// The page that asks before an action that cannot be undone (revoke, regenerate, delete,
/// disconnect): one question, what will happen, the button that does it, and a way back.
#[derive(Template)]
#[template(path = "console/confirm.html")]
pub struct Confirm {
    pub nav: Nav,
    /// The window's title.
    pub title: &'static str,
    /// The heading: `Revoke “backup script”?`.
    pub question: String,
    /// What the action will do.
    pub explanation: &'static str,
    /// Where the form posts.
    pub action: String,
    /// The button's label.
    pub button: &'static str,
    /// Whether the button is drawn as destructive.
    pub danger: bool,
    /// Where "Cancel" leads.
    pub cancel: String,
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

/// The fallback for paths no route serves, outside `/api/`: a browser (one that asks for HTML)
/// gets the console's 404 page; every other client the API's envelope, as the contract says.
pub async fn not_found(
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if method == Method::GET && accepts(&headers, "text/html") {
        return error_page(
            StatusCode::NOT_FOUND,
            "There is no page at this address. The navigation at the top leads to every page.",
        );
    }
    fallback::not_found(method, OriginalUri(uri))
        .await
        .into_response()
}

/// The 500 page for a console handler that panicked (the panic itself was printed by the panic
/// hook; its payload may hold anything, so it is not shown).
pub fn panic_page() -> Response {
    tracing::error!("a console page panicked");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side; try again. If it happens again, tell your administrator.",
    )
}

/// Middleware for the console's routes: an error answered by something other than a console
/// page (an extractor's rejection, a method a route does not take) becomes one, so that a
/// browser never shows raw JSON or an empty page.
pub async fn in_console_look(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_page || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "This page cannot be used that way. Use the links and buttons on the pages."
        }
        StatusCode::PAYLOAD_TOO_LARGE => "What was sent is larger than Tessera accepts.",
        StatusCode::SERVICE_UNAVAILABLE => {
            "Tessera is busy or the database is unavailable right now; try again in a moment."
        }
        s if s.is_server_error() => "Something went wrong on our side; try again.",
        _ => "The request could not be processed. Go back and try again.",
    };
    let mut page = error_page(status, message);
    // Keep what tells a client what to do next (Allow, Retry-After).
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            page.headers_mut().insert(name, value.clone());
        }
    }
    page
}

/// The 405 for paths outside `/api/`: a browser gets the console's page, every other client the
/// envelope, as the contract says (the method router adds `Allow` either way).
pub async fn method_not_allowed(headers: HeaderMap) -> Response {
    if accepts(&headers, "text/html") {
        return error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "This page cannot be used that way. Use the links and buttons on the pages.",
        );
    }
    fallback::method_not_allowed().await.into_response()
}

/// An error page in the console's look: never raw JSON.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let page = ErrorPage {
        title: status.canonical_reason().unwrap_or("Error"),
        message,
    };
    match page.render() {
        // Also served outside the console's routes (the fallback), so it brings its own CSP.
        Ok(html) => (
            status,
            [
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::REFERRER_POLICY, REFERRER_POLICY),
            ],
            Html(html),
        )
            .into_response(),
        // The error page itself failed: plain text is all that is left.
        Err(_) => (status, message.to_owned()).into_response(),
    }
}
