//! `/users` (admins): the people's accounts, found by name, status and role, and what an admin
//! does to them — the API's rules through the same services: change a role (the last admin keeps
//! theirs), disable and enable (sessions end, tokens are refused), clear a login lock, hand out a
//! one-time password-reset link, and invite someone with a role.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::page::{error_page, render, when, Nav};
use super::session::{
    cross_site, failure, form_is_ours, incomplete_form, require, ButtonForm, SignedIn,
};
use crate::accounts::service::{self as accounts, AccountError, Actor};
use crate::accounts::sessions::ClientInfo;
use crate::admin::service::{self as admin, AdminError, Administrator, UserQuery};
use crate::state::AppState;
use crate::store::{AccountStatus, AdminAccountRecord};
use crate::types::Role;

const PAGE: i64 = 50;

struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    role: Role,
    status: AccountStatus,
    /// Why, for people: "disabled 2026-12-07 14:30 UTC", "locked until …".
    status_detail: String,
    origin: String,
    created: String,
    last_login: String,
    me: bool,
}

impl UserRow {
    fn of(account: AdminAccountRecord, me: Uuid) -> Self {
        let status = account.status();
        let status_detail = match status {
            AccountStatus::Disabled => account
                .disabled_at
                .map_or_else(String::new, |at| format!("since {}", when(at))),
            AccountStatus::Locked => account
                .locked_until
                .map_or_else(String::new, |until| format!("until {}", when(until))),
            AccountStatus::Active => String::new(),
        };
        UserRow {
            me: account.id == me,
            id: account.id,
            username: account.username,
            email: account.email,
            role: account.role,
            status,
            status_detail,
            origin: account
                .created_via
                .map_or("—".to_owned(), |o| o.to_string()),
            created: when(account.created_at),
            last_login: account.last_login.map_or("never".to_owned(), when),
        }
    }
}

/// The filter as the form shows it back.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    search: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    role: String,
    offset: Option<i64>,
}

impl Filter {
    fn query(&self) -> UserQuery {
        let given = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        UserQuery {
            search: given(&self.search),
            status: given(&self.status),
            role: given(&self.role),
            limit: Some(PAGE),
            offset: self.offset,
        }
    }

    /// `/users?…` at another offset, keeping the filter.
    fn page_link(&self, offset: i64) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("search", &self.search)
            .append_pair("status", &self.status)
            .append_pair("role", &self.role)
            .append_pair("offset", &offset.to_string())
            .finish();
        format!("/users?{query}")
    }
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserRow>,
    total: i64,
    roles: [Role; 7],
    filter: Filter,
    previous: Option<String>,
    next: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

/// A one-time link, shown once.
#[derive(Template)]
#[template(path = "console/link_created.html")]
struct LinkCreated {
    nav: Nav,
    title: &'static str,
    /// Who it is for.
    subject: String,
    url: String,
    expires: String,
    explanation: &'static str,
}

fn forbidden() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Only administrators may see and manage users.",
    )
}

async fn users_page(
    state: &AppState,
    user: &SignedIn,
    filter: Filter,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let (page, error, status) =
        match admin::list_users(&state.store, &filter.query(), state.clock.now()).await {
            Ok(page) => (page, error, status),
            // A bad filter (a hand-edited address) shows every account and says why.
            Err(AdminError::Invalid(invalid)) => {
                let everyone = Filter::default();
                match admin::list_users(&state.store, &everyone.query(), state.clock.now()).await {
                    Ok(page) => (page, Some(invalid.0), StatusCode::UNPROCESSABLE_ENTITY),
                    Err(error) => return admin_failure(error),
                }
            }
            Err(error) => return admin_failure(error),
        };
    let offset = page.paging.offset;
    let previous = (offset > 0).then(|| filter.page_link((offset - PAGE).max(0)));
    let next = (offset.saturating_add(PAGE) < page.total).then(|| filter.page_link(offset + PAGE));
    let listing = UsersPage {
        nav: Nav::of(user),
        users: page
            .accounts
            .into_iter()
            .map(|account| UserRow::of(account, user.user_id))
            .collect(),
        total: page.total,
        roles: Role::ALL,
        filter,
        previous,
        next,
        notice,
        error,
    };
    render(status, &listing)
}

fn admin_failure(error: AdminError) -> Response {
    failure(&error.into())
}

/// The admin signed in, or the answer to send instead.
async fn admin_signed_in(
    state: &AppState,
    jar: CookieJar,
    client: &ClientInfo,
) -> Result<(SignedIn, CookieJar), Response> {
    let (user, jar) = require(state, jar, client, "/users").await?;
    if user.role != Role::Admin {
        return Err((jar, forbidden()).into_response());
    }
    Ok((user, jar))
}

/// `GET /users`.
pub async fn list(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    let (user, jar) = match admin_signed_in(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let filter = filter.map(|Query(filter)| filter).unwrap_or_default();
    let page = users_page(&state, &user, filter, StatusCode::OK, None, None).await;
    (jar, page).into_response()
}

/// The role form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct RoleForm {
    csrf: String,
    role: String,
}

/// `POST /users/{id}/role`.
pub async fn change_role(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<RoleForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/users").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Form(form)) = form else {
        return (jar, incomplete_form()).into_response();
    };
    if !form_is_ours(&headers, &user, &form.csrf) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, user_not_found()).into_response();
    };
    let actor = Actor {
        user_id: user.user_id,
        session_id: user.session_id,
        role: user.role,
    };
    let back = Filter::default();
    let page = match accounts::change_role(&state.store, &actor, id, &form.role).await {
        Ok((now, previous)) => {
            let notice = format!("Role changed from {previous} to {now}.");
            users_page(&state, &user, back, StatusCode::OK, Some(notice), None).await
        }
        Err(AccountError::NotAdmin) => forbidden(),
        Err(error @ (AccountError::LastAdmin | AccountError::Invalid(_))) => {
            let status = match error {
                AccountError::LastAdmin => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            users_page(&state, &user, back, status, None, Some(error.to_string())).await
        }
        Err(AccountError::UserNotFound { .. }) => user_not_found(),
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

fn user_not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "User not found")
}

/// What a button on a user's row does: `POST /users/{id}/{action}`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserAction {
    Disable,
    Enable,
    Unlock,
}

/// `POST /users/{id}/disable`, `…/enable`, `…/unlock`: done, and the list says so.
pub async fn act(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    target: Result<Path<(Uuid, UserAction)>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match admin_signed_in(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path((id, action))) = target else {
        return (jar, user_not_found()).into_response();
    };
    let by = Administrator::Admin(user.user_id);
    let now = state.clock.now();
    let done = match action {
        UserAction::Disable => {
            admin::disable_user(&state.store, &state.token_cache, by, id, now)
                .await
                .map(|disabled| {
                    format!(
                        "{} is disabled: {} session(s) ended; their tokens are refused until you enable them.",
                        disabled.account.username, disabled.sessions_ended
                    )
                })
        }
        UserAction::Enable => admin::enable_user(&state.store, &state.token_cache, by, id, now)
            .await
            .map(|account| format!("{} is enabled: they may sign in, and their tokens work again.", account.username)),
        UserAction::Unlock => admin::unlock_user(&state.store, by, id, now)
            .await
            .map(|account| format!("{}'s login lock is cleared.", account.username)),
    };
    let back = Filter::default();
    let page = match done {
        Ok(notice) => users_page(&state, &user, back, StatusCode::OK, Some(notice), None).await,
        Err(error @ (AdminError::OwnAccount | AdminError::LastAdmin)) => {
            users_page(
                &state,
                &user,
                back,
                StatusCode::CONFLICT,
                None,
                Some(error.to_string()),
            )
            .await
        }
        Err(AdminError::UserNotFound { .. }) => user_not_found(),
        Err(error) => admin_failure(error),
    };
    (jar, page).into_response()
}

/// The base of the links handed out (see [`crate::http::public_base`]).
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    crate::http::public_base(state.config.public_url.as_deref(), headers)
}

/// `POST /users/{id}/reset-link`: a one-time link, shown once.
pub async fn reset_link(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match admin_signed_in(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, user_not_found()).into_response();
    };
    let by = Administrator::Admin(user.user_id);
    let now = state.clock.now();
    let made = async {
        let account = admin::user(&state.store, id, now).await?;
        let link = admin::create_reset_link(&state.store, by, id, &Default::default(), now).await?;
        Ok::<_, AdminError>((account, link))
    };
    let page = match made.await {
        Ok((account, link)) => render(
            StatusCode::CREATED,
            &LinkCreated {
                nav: Nav::of(&user),
                title: "Password-reset link",
                subject: account.username,
                url: admin::link_url(&public_base(&state, &headers), admin::RESET_PAGE, &link.secret),
                expires: when(link.expires_at),
                explanation: "Hand it to them in person or over a channel you trust. It works once: its page sets a new password and signs them out everywhere. A newer link ends this one.",
            },
        ),
        Err(error @ AdminError::Disabled) => {
            users_page(&state, &user, Filter::default(), StatusCode::CONFLICT, None, Some(error.to_string())).await
        }
        Err(AdminError::UserNotFound { .. }) => user_not_found(),
        Err(error) => admin_failure(error),
    };
    (jar, page).into_response()
}

/// The invitation form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct InviteForm {
    csrf: String,
    email: String,
    role: String,
    /// Days the invitation lasts.
    days: i64,
}

/// `POST /users/invite`: a one-time invitation link, shown once.
pub async fn invite(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<InviteForm>, FormRejection>,
) -> Response {
    let (user, jar) = match admin_signed_in(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Form(form)) = form else {
        return (jar, incomplete_form()).into_response();
    };
    if !form_is_ours(&headers, &user, &form.csrf) {
        return (jar, cross_site()).into_response();
    }
    let request = admin::InviteRequest {
        email: form.email,
        role: form.role,
        expires_in_minutes: Some(form.days.saturating_mul(1440)),
    };
    let by = Administrator::Admin(user.user_id);
    let page = match admin::create_invite(&state.store, by, &request, state.clock.now()).await {
        Ok((link, email, role)) => render(
            StatusCode::CREATED,
            &LinkCreated {
                nav: Nav::of(&user),
                title: "Invitation",
                subject: format!("{email} (as {role})"),
                url: admin::link_url(&public_base(&state, &headers), admin::INVITE_PAGE, &link.secret),
                expires: when(link.expires_at),
                explanation: "Send it to them. It works once: its page lets them choose a username and password, and makes their account with this email and role. A newer invitation to the same email ends this one.",
            },
        ),
        Err(error @ (AdminError::Invalid(_) | AdminError::EmailTaken)) => {
            let status = match error {
                AdminError::EmailTaken => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            users_page(&state, &user, Filter::default(), status, None, Some(error.to_string())).await
        }
        Err(error) => admin_failure(error),
    };
    (jar, page).into_response()
}
