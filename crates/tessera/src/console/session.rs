//! Signing in and out of the console, on the same session machinery as the API.
//!
//! Signing in calls [`accounts::service::sign_in`](crate::accounts::service::sign_in): the same
//! lockout, delays and messages as `POST /api/v1/auth/login`, and a new login session each time.
//! The session's access JWT and refresh token live in cookies that script cannot read
//! (`HttpOnly`), that no other site's page sends (`SameSite=Strict`) and, when
//! `CONSOLE_SECURE_COOKIES` is on, that travel over https only (`Secure`). A page whose access
//! token has expired is served after a refresh, which rotates the refresh token as the API's
//! does (with a short grace for the browser's other tabs, `CONSOLE_REFRESH_GRACE_SECONDS`: see
//! [`accounts::sessions`](crate::accounts::sessions)); a session ended anywhere (sign-out, a password change, a replayed refresh token) ends
//! the console's too.
//!
//! **CSRF.** Every state-changing form carries the session's CSRF token (a random value kept in
//! its own `HttpOnly` cookie, compared in constant time), and every POST must come from this
//! origin (`Origin`, else `Referer`); a cross-site POST gets the 403 page.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::home::SignInPage;
use super::page::{error_page, render};
use crate::accounts::service::{sign_in as start_session, sign_out as sign_out_of, AccountError};
use crate::accounts::sessions::{ClientInfo, Refreshed, TokenPair};
use crate::crypto::random_base62;
use crate::http::ApiError;
use crate::state::AppState;
use crate::store::SessionRole;
use crate::types::Role;

const ACCESS_COOKIE: &str = "tessera_access";
const REFRESH_COOKIE: &str = "tessera_refresh";
const CSRF_COOKIE: &str = "tessera_csrf";

/// The person signed in to the console, for one request.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who.
    pub user_id: Uuid,
    /// Their login session (the API's).
    pub session_id: Uuid,
    /// Shown in the navigation.
    pub username: String,
    /// Their role now.
    pub role: Role,
    /// The value every form of this session carries.
    pub csrf: String,
}

/// The console's session for this request: who is signed in (refreshing the access token on
/// the way when it has expired or no longer verifies), and the cookies to send back, which the
/// caller must answer with whatever happens (after a refresh they hold the rotated refresh
/// token; the spent one would read as a replay next time and end the session). `None` when
/// nobody is signed in: the cookies are cleared.
pub async fn current(
    state: &AppState,
    jar: CookieJar,
    client: &ClientInfo,
) -> (CookieJar, Result<Option<SignedIn>, ApiError>) {
    let Some(csrf) = jar.get(CSRF_COOKIE).map(|c| c.value().to_owned()) else {
        return (cleared(jar), Ok(None));
    };
    if let Some(access) = jar.get(ACCESS_COOKIE) {
        // An expired token, or one signed with a key since retired: the refresh token decides.
        if let Ok(verified) = state.jwt.verify(access.value()).await {
            let user = signed_in(state, verified.user_id, verified.session_id, csrf).await;
            return keep_if_signed_in(jar, user);
        }
    }
    let Some(refresh) = jar.get(REFRESH_COOKIE).map(|c| c.value().to_owned()) else {
        return (cleared(jar), Ok(None));
    };
    let grace = time::Duration::seconds(state.config.console_refresh_grace_seconds as i64);
    let refreshed = state
        .login_sessions
        .refresh_allowing_races(&refresh, client, grace)
        .await;
    let secure = state.config.console_secure_cookies;
    let (jar, access) = match refreshed {
        Ok(Refreshed::Rotated(pair)) => {
            let access = pair.access_token.clone();
            (with_tokens(jar, &pair, &csrf, secure), access)
        }
        // Another tab's request spent the token a moment ago, and the browser has (or is about
        // to get) the new one from its answer: only the access token is renewed here.
        Ok(Refreshed::Raced(only)) => {
            let lifetime = only.session_expires_in;
            let jar = jar.add(cookie(
                ACCESS_COOKIE,
                only.access_token.clone(),
                lifetime,
                secure,
            ));
            (jar, only.access_token)
        }
        Err(AccountError::InvalidRefreshToken) => return (cleared(jar), Ok(None)),
        Err(error) => return (jar, Err(error.into())),
    };
    let Ok(verified) = state.jwt.verify(&access).await else {
        return (cleared(jar), Ok(None));
    };
    let user = signed_in(state, verified.user_id, verified.session_id, csrf).await;
    keep_if_signed_in(jar, user)
}

/// The jar as it is while someone is signed in (or the lookup failed), cleared when not.
fn keep_if_signed_in(
    jar: CookieJar,
    user: Result<Option<SignedIn>, ApiError>,
) -> (CookieJar, Result<Option<SignedIn>, ApiError>) {
    match user {
        Ok(None) => (cleared(jar), Ok(None)),
        other => (jar, other),
    }
}

/// The signed-in person, if their session is still running.
async fn signed_in(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    csrf: String,
) -> Result<Option<SignedIn>, ApiError> {
    let Some(SessionRole::Running(role)) = state.store.session_role(session_id, user_id).await?
    else {
        return Ok(None);
    };
    let Some(user) = state.store.find_user(user_id).await? else {
        return Ok(None);
    };
    Ok(Some(SignedIn {
        user_id,
        session_id,
        username: user.username,
        role,
        csrf,
    }))
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    login: String,
    password: String,
    /// The page to go back to (from the sign-in form's hidden field).
    #[serde(default)]
    next: String,
}

/// `POST /sign-in`: starts a session and goes home, or shows the form again with the login
/// API's message.
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let Ok(Form(form)) = form else {
        let page = SignInPage {
            login: String::new(),
            message: Some("Fill in your username or email and your password.".to_owned()),
            next: String::new(),
        };
        return render(StatusCode::BAD_REQUEST, &page);
    };
    let started = start_session(
        &state.store,
        &state.login_guard,
        &state.login_sessions,
        &form.login,
        form.password,
        &client,
    )
    .await;
    match started {
        Ok(pair) => {
            let csrf = random_base62(43);
            let jar = with_tokens(jar, &pair, &csrf, state.config.console_secure_cookies);
            (jar, Redirect::to(local_page(&form.next))).into_response()
        }
        Err(error) => {
            let error = ApiError::from(error);
            let page = SignInPage {
                login: form.login,
                message: Some(shown(&error)),
                next: form.next,
            };
            render(error.status(), &page)
        }
    }
}

/// A form whose only field is the session's CSRF token: a button that does one thing (sign out,
/// revoke, regenerate, end a session…).
#[derive(Debug, Deserialize)]
pub struct ButtonForm {
    csrf: String,
}

impl ButtonForm {
    /// The token the form carried; empty when the body was not this form.
    pub fn csrf(form: Result<Form<ButtonForm>, FormRejection>) -> String {
        form.map(|Form(form)| form.csrf).unwrap_or_default()
    }
}

/// `POST /sign-out`: ends the session for real (its tokens stop working everywhere) and clears
/// the cookies.
pub async fn sign_out(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (jar, user) = current(&state, jar, &client).await;
    let user = match user {
        Ok(Some(user)) => user,
        Ok(None) => return (jar, Redirect::to("/")).into_response(),
        Err(error) => return (jar, failure(&error)).into_response(),
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    if let Err(error) = sign_out_of(&state.store, user.user_id, user.session_id).await {
        return (jar, failure(&ApiError::from(error))).into_response();
    }
    (cleared(jar), Redirect::to("/")).into_response()
}

/// The signed-in person for a page that needs one; otherwise the answer to send instead: the
/// sign-in form, which brings the person back to `page` afterwards, or an error page.
pub async fn require(
    state: &AppState,
    jar: CookieJar,
    client: &ClientInfo,
    page: &str,
) -> Result<(SignedIn, CookieJar), Response> {
    match current(state, jar, client).await {
        (jar, Ok(Some(user))) => Ok((user, jar)),
        (jar, Ok(None)) => {
            let encoded: String = url::form_urlencoded::byte_serialize(page.as_bytes()).collect();
            let to_sign_in = format!("/?next={encoded}");
            Err((jar, Redirect::to(&to_sign_in)).into_response())
        }
        (jar, Err(error)) => Err((jar, failure(&error)).into_response()),
    }
}

/// Where to go after signing in: `next` when it is a path of this console (one leading slash,
/// so never another site), else home.
pub fn local_page(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2_000
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if local {
        next
    } else {
        "/"
    }
}

/// Whether a state-changing form comes from this origin with the session's CSRF token.
pub fn form_is_ours(headers: &HeaderMap, user: &SignedIn, presented: &str) -> bool {
    same_origin(headers) && csrf_matches(user, presented)
}

/// Whether a form's token is the session's.
pub fn csrf_matches(user: &SignedIn, presented: &str) -> bool {
    !user.csrf.is_empty() && bool::from(user.csrf.as_bytes().ct_eq(presented.as_bytes()))
}

/// Whether the request comes from a page of this origin: its `Origin` (or, without one, its
/// `Referer`) names the host the request was sent to. Neither header: refused.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| url::Url::parse(value).ok());
    let Some(source) = source else {
        return false;
    };
    let Some(source_host) = source.host_str() else {
        return false;
    };
    let authority = match source.port() {
        Some(port) => format!("{source_host}:{port}"),
        None => source_host.to_owned(),
    };
    authority.eq_ignore_ascii_case(host)
}

/// The 403 page for a form from elsewhere (or without this session's token).
pub fn cross_site() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form did not come from a Tessera page of this session, so nothing was done. Go back, reload the page and try again.",
    )
}

/// The 422 page for a form that arrived without fields it must have (not one of our pages').
pub fn incomplete_form() -> Response {
    error_page(
        StatusCode::UNPROCESSABLE_ENTITY,
        "The form arrived incomplete, so nothing was done. Go back, reload the page and try again.",
    )
}

/// The error page for a failure while serving a page.
pub fn failure(error: &ApiError) -> Response {
    error_page(error.status(), &shown(error))
}

/// What a person is told of `error`: the API's message, except for faults of ours, whose cause
/// is logged and never shown.
fn shown(error: &ApiError) -> String {
    match error {
        ApiError::Internal(cause) => {
            tracing::error!(error = ?cause, "console: internal error");
            "Something went wrong on our side; try again.".to_owned()
        }
        ApiError::Unavailable(_) => {
            "The database is unavailable right now; try again in a moment.".to_owned()
        }
        other => other.to_string(),
    }
}

fn cookie(
    name: &'static str,
    value: String,
    max_age_seconds: u64,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(max_age_seconds as i64))
        .build()
}

/// The session's cookies, all living as long as its refresh token.
fn with_tokens(jar: CookieJar, pair: &TokenPair, csrf: &str, secure: bool) -> CookieJar {
    let lifetime = pair.refresh_expires_in;
    jar.add(cookie(
        ACCESS_COOKIE,
        pair.access_token.clone(),
        lifetime,
        secure,
    ))
    .add(cookie(
        REFRESH_COOKIE,
        pair.refresh_token.clone(),
        lifetime,
        secure,
    ))
    .add(cookie(CSRF_COOKIE, csrf.to_owned(), lifetime, secure))
}

/// The jar with the session's cookies removed (expired in the browser).
fn cleared(jar: CookieJar) -> CookieJar {
    [ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE]
        .into_iter()
        .fold(jar, |jar, name| {
            jar.remove(Cookie::build(name).path("/").build())
        })
}
