//! `/users` (admins): every account with its role, and changing a role — the API's rules: only
//! an admin may, and the last admin keeps theirs. A demoted account's tokens stop reaching beyond
//! the new role at once (every request checks the role now).

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::page::{error_page, render, when, Nav};
use super::session::{cross_site, failure, form_is_ours, incomplete_form, require, SignedIn};
use crate::accounts::service::{self as accounts, AccountError, Actor};
use crate::accounts::sessions::ClientInfo;
use crate::state::AppState;
use crate::types::Role;

struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    role: Role,
    origin: String,
    created: String,
    me: bool,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserRow>,
    roles: [Role; 7],
    notice: Option<String>,
    error: Option<String>,
}

fn forbidden() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Only administrators may see and change users' roles.",
    )
}

async fn users_page(
    state: &AppState,
    user: &SignedIn,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let accounts = match state.store.list_accounts(None).await {
        Ok(accounts) => accounts,
        Err(error) => return failure(&error.into()),
    };
    let page = UsersPage {
        nav: Nav::of(user),
        users: accounts
            .into_iter()
            .map(|a| UserRow {
                me: a.id == user.user_id,
                id: a.id,
                username: a.username,
                email: a.email,
                role: a.role,
                origin: a.created_via.map_or("—".to_owned(), |o| o.to_string()),
                created: when(a.created_at),
            })
            .collect(),
        roles: Role::ALL,
        notice,
        error,
    };
    render(status, &page)
}

/// `GET /users`.
pub async fn list(State(state): State<AppState>, client: ClientInfo, jar: CookieJar) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/users").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if user.role != Role::Admin {
        return (jar, forbidden()).into_response();
    }
    let page = users_page(&state, &user, StatusCode::OK, None, None).await;
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
        return (jar, error_page(StatusCode::NOT_FOUND, "User not found")).into_response();
    };
    let actor = Actor {
        user_id: user.user_id,
        session_id: user.session_id,
        role: user.role,
    };
    let page = match accounts::change_role(&state.store, &actor, id, &form.role).await {
        Ok((now, previous)) => {
            let notice = format!("Role changed from {previous} to {now}.");
            users_page(&state, &user, StatusCode::OK, Some(notice), None).await
        }
        Err(AccountError::NotAdmin) => forbidden(),
        Err(error @ (AccountError::LastAdmin | AccountError::Invalid(_))) => {
            let status = match error {
                AccountError::LastAdmin => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            users_page(&state, &user, status, None, Some(error.to_string())).await
        }
        Err(AccountError::UserNotFound { .. }) => {
            error_page(StatusCode::NOT_FOUND, "User not found")
        }
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}
