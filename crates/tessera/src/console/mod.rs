//! The console: server-rendered pages at `/` for the people who use Tessera. Each page is a thin
//! layer over the same services the API handlers call (no HTTP round trip to itself), with one
//! module and one askama template (`templates/console/`) per page.
//!
//! * [`session`] — signing in and out: the session's tokens in `HttpOnly`, `SameSite=Strict`
//!   cookies, refreshed (and rotated) like the API's, and the CSRF check of every form.
//! * [`page`] — what every page shares: the navigation, the error pages, the stylesheet and the
//!   headers (a CSP that allows this origin's stylesheet and nothing inline).
//! * [`home`] — `/`: the sign-in form when signed out, else the home page.
//! * [`tokens`] — `/tokens`: the personal access tokens, a new one shown once, a token's audit
//!   log, regenerating and revoking.
//!
//! Every page works without JavaScript: plain links and forms. `/console.js`, the one script,
//! only adds conveniences (copy buttons).

pub mod home;
pub mod page;
pub mod session;
pub mod tokens;

use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// The console's pages. Their CSP replaces the API's `default-src 'none'`: a page loads this
/// origin's stylesheet and script, and nothing else, and is never framed. Their referrer policy lets the
/// browser name this origin on the console's own requests, and no other.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::show))
        .route("/sign-in", post(session::sign_in))
        .route("/sign-out", post(session::sign_out))
        .route("/tokens", get(tokens::list).post(tokens::new::create))
        .route("/tokens/new", get(tokens::new::form))
        .route("/tokens/{id}", get(tokens::token::show))
        .route(
            "/tokens/{id}/regenerate",
            get(tokens::regenerate::confirm).post(tokens::regenerate::submit),
        )
        .route(
            "/tokens/{id}/revoke",
            get(tokens::revoke::confirm).post(tokens::revoke::submit),
        )
        .route("/console.css", get(page::stylesheet))
        .route("/console.js", get(page::script))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(page::CSP),
        ))
        // The API's `no-referrer` would make browsers send `Origin: null` with the console's
        // own forms, which the origin check must then refuse.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static(page::REFERRER_POLICY),
        ))
}
