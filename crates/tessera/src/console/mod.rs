//! The console: server-rendered pages at `/` for the people who use Tessera. Each page is a thin
//! layer over the same services the API handlers call (no HTTP round trip to itself), with one
//! module and one askama template (`templates/console/`) per page.
//!
//! * [`profile`] — `/profile`: the person's details, password and signed-in sessions.
//! * [`users`] — `/users` (admins): the people's accounts, their roles and status; disabling,
//!   unlocking, reset links and invitations.
//! * [`service_accounts`] — `/service-accounts` (admins and managers): the lab's service
//!   accounts and their tokens.
//! * [`security_events`] — `/security-events`: everyone's for admins, one's own otherwise.
//! * [`links`] — `/reset-password` and `/invite`: the pages behind those one-time links.
//! * [`connect`] — `/connect`: the page behind a branch's reconnect link.
//! * [`webhooks`] — `/webhooks`: the person's webhook endpoints, their deliveries and retries.
//! * [`session`] — signing in and out: the session's tokens in `HttpOnly`, `SameSite=Strict`
//!   cookies, refreshed (and rotated) like the API's, and the CSRF check of every form.
//! * [`page`] — what every page shares: the navigation, the error pages, the stylesheet and the
//!   headers (a CSP that allows this origin's stylesheet and nothing inline).
//! * [`home`] — `/`: the sign-in form when signed out, else the home page.
//! * [`branches`] — `/branches`: OAuth clients, branches and their connections, the consent
//!   flow and its result page.
//! * [`case_records`] — `/beneficiaries` and `/sessions`: the centre's case records, with the
//!   API's role rules.
//! * [`fcs`] — `/fcs`: the sample and the user's uploads, uploading, a file's parameters,
//!   statistics and histograms, deleting.
//! * [`form`] — forms whose fields show the services' refusals next to the field.
//! * [`tokens`] — `/tokens`: the personal access tokens, a new one shown once, a token's audit
//!   log, regenerating and revoking.
//!
//! Every page works without JavaScript: plain links and forms. `/console.js`, the one script,
//! only adds conveniences (copy buttons, upload progress).

pub mod branches;
pub mod case_records;
pub mod connect;
pub mod fcs;
pub mod form;
pub mod home;
pub mod links;
pub mod page;
pub mod profile;
pub mod security_events;
pub mod service_accounts;
pub mod session;
pub mod tokens;
pub mod users;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::from_fn;
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;
use case_records::{beneficiaries, sessions};

/// The console's pages. Their CSP replaces the API's `default-src 'none'`: a page loads this
/// origin's stylesheet and script, and nothing else, and is never framed. Their referrer policy lets the
/// browser name this origin on the console's own requests, and no other.
pub fn routes() -> Router<AppState> {
    let pages = Router::new()
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
        .route(
            fcs::UPLOAD_PATH,
            // The upload limits are FCS_MAX_UPLOAD_MB and the quotas, enforced while receiving.
            get(fcs::list)
                .post(fcs::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/fcs/{id}", get(fcs::file::show))
        .route("/fcs/{id}/plot", get(fcs::files::plot))
        .route("/fcs/{id}/export", get(fcs::files::export))
        .route("/fcs/{id}/download", get(fcs::files::download))
        .route("/fcs/{id}/gates", post(fcs::gates::create))
        .route("/fcs/{id}/gates/{gate}/delete", post(fcs::gates::delete))
        .route(
            "/fcs/{id}/delete",
            get(fcs::delete::confirm).post(fcs::delete::submit),
        )
        .route(
            "/beneficiaries",
            get(beneficiaries::list).post(beneficiaries::form::create),
        )
        .route("/beneficiaries/new", get(beneficiaries::form::new_form))
        .route("/beneficiaries/{id}", get(beneficiaries::show::show))
        .route(
            "/beneficiaries/{id}/edit",
            get(beneficiaries::form::edit_form).post(beneficiaries::form::update),
        )
        .route(
            "/beneficiaries/{id}/log",
            get(beneficiaries::log::access_log),
        )
        .route("/beneficiaries/{id}/sessions", post(sessions::book))
        .route("/sessions", get(sessions::upcoming))
        .route("/sessions/{id}", get(sessions::show::show))
        .route("/sessions/{id}/complete", post(sessions::show::complete))
        .route("/sessions/{id}/cancel", post(sessions::show::cancel))
        .route("/profile", get(profile::show).post(profile::update))
        .route("/profile/password", post(profile::change_password))
        .route("/profile/sessions/{id}/end", post(profile::end_session))
        .route("/users", get(users::list))
        .route("/users/{id}/role", post(users::change_role))
        .route("/users/{id}/reset-link", post(users::reset_link))
        // disable, enable, unlock (an unknown action is the 404 page)
        .route("/users/{id}/{action}", post(users::act))
        .route("/users/invite", post(users::invite))
        .route("/security-events", get(security_events::list))
        .route(
            "/service-accounts",
            get(service_accounts::list).post(service_accounts::create),
        )
        .route(
            "/service-accounts/{id}",
            get(service_accounts::show).post(service_accounts::update),
        )
        .route(
            "/service-accounts/{id}/tokens",
            post(service_accounts::mint),
        )
        .route(
            "/service-accounts/{id}/tokens/{token_id}/revoke",
            post(service_accounts::revoke_token),
        )
        .route(
            "/service-accounts/{id}/delete",
            get(service_accounts::confirm_delete).post(service_accounts::delete),
        )
        .route("/connect", get(connect::page).post(connect::start))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", get(webhooks::show))
        .route(
            "/webhooks/{id}/delete",
            get(webhooks::confirm_delete).post(webhooks::delete),
        )
        .route("/webhooks/{id}/{action}", post(webhooks::act))
        .route(
            "/webhooks/{id}/deliveries/{delivery}/retry",
            post(webhooks::retry),
        )
        .route(
            crate::admin::service::RESET_PAGE,
            get(links::reset_form).post(links::reset),
        )
        .route(
            crate::admin::service::INVITE_PAGE,
            get(links::invite_form).post(links::accept),
        )
        .route(
            "/branches",
            get(branches::list).post(branches::create_branch),
        )
        .route("/branches/clients", post(branches::create_client))
        .route(branches::CALLBACK_PATH, get(branches::callback::callback))
        .route("/branches/{id}/connect", post(branches::connect))
        .route("/branches/{id}/refresh", post(branches::refresh))
        .route("/branches/{id}/connect-link", post(branches::connect_link))
        .route(
            "/branches/{id}/disconnect",
            get(branches::disconnect::confirm).post(branches::disconnect::submit),
        )
        .route("/console.css", get(page::stylesheet))
        .route("/console.js", get(page::script));
    in_console_look(pages)
}

/// What every console route gets (public so that tests can put a page that panics behind it):
/// a panicking page is answered with the console's 500 page, before the API's catch (outside)
/// would answer with the envelope; other errors not answered by a page become one; and the
/// console's CSP and referrer policy.
pub fn in_console_look(pages: Router<AppState>) -> Router<AppState> {
    pages
        .layer(CatchPanicLayer::custom(|_| page::panic_page()))
        .layer(from_fn(page::in_console_look))
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

/// Whether a request is the console's FCS upload, which keeps the upload's own time limit
/// (`FCS_UPLOAD_TIMEOUT_SECONDS`) rather than `REQUEST_TIMEOUT_SECONDS`, as the API's does.
pub fn has_own_timeout(method: &Method, path: &str) -> bool {
    method == Method::POST && path == fcs::UPLOAD_PATH
}
