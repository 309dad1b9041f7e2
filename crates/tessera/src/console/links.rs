//! The pages behind the one-time links an admin hands out, for people who are not signed in:
//! `/reset-password?token=…` sets a new password (and signs the account out everywhere), and
//! `/invite?token=…` makes the invited account. Each says plainly when a link is spent,
//! replaced or expired, and what to do. The forms carry the token in a hidden field, so it never
//! reaches a log line (the request log leaves out query strings and bodies).

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;

use super::page::render;
use super::session::{cross_site, failure, incomplete_form, same_origin};
use crate::accounts::links::{self, LinkProblem};
use crate::accounts::service::AccountError;
use crate::state::AppState;
use crate::store::LinkPurpose;

#[derive(Template)]
#[template(path = "console/reset_password.html")]
struct ResetPage {
    token: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/accept_invite.html")]
struct InvitePage {
    token: String,
    email: String,
    role: String,
    username: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/link_done.html")]
struct Done {
    heading: &'static str,
    message: String,
}

/// `?token=…`.
#[derive(Debug, serde::Deserialize)]
pub struct TokenQuery {
    token: String,
}

/// The page for a link that cannot be used (404 unknown, 410 spent, the API's statuses) or any
/// other failure.
fn link_failure(error: AccountError) -> Response {
    failure(&error.into())
}

fn no_token() -> Response {
    link_failure(LinkProblem::Unknown.into())
}

/// `GET /reset-password?token=…`.
pub async fn reset_form(
    State(state): State<AppState>,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(TokenQuery { token })) = query else {
        return no_token();
    };
    match links::usable_link(
        &state.store,
        &token,
        LinkPurpose::PasswordReset,
        state.clock.now(),
    )
    .await
    {
        Ok(_) => render(StatusCode::OK, &ResetPage { token, error: None }),
        Err(error) => link_failure(error),
    }
}

/// The reset form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct ResetForm {
    token: String,
    password: String,
    confirm: String,
}

/// `POST /reset-password`.
pub async fn reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ResetForm>, FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let Ok(Form(form)) = form else {
        return incomplete_form();
    };
    let again = |message: String| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ResetPage {
                token: form.token.clone(),
                error: Some(message),
            },
        )
    };
    if form.password != form.confirm {
        return again("The two passwords differ; type the same one twice.".to_owned());
    }
    let done = links::reset_password(
        &state.store,
        &state.passwords,
        &form.token,
        form.password.clone(),
        state.clock.now(),
    )
    .await;
    match done {
        Ok(_) => render(
            StatusCode::OK,
            &Done {
                heading: "Password set",
                message:
                    "Your new password is set and you are signed out everywhere. Sign in with it."
                        .to_owned(),
            },
        ),
        Err(AccountError::Invalid(invalid)) => again(invalid.0),
        Err(error) => link_failure(error),
    }
}

/// `GET /invite?token=…`.
pub async fn invite_form(
    State(state): State<AppState>,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(TokenQuery { token })) = query else {
        return no_token();
    };
    match links::usable_link(&state.store, &token, LinkPurpose::Invite, state.clock.now()).await {
        Ok(link) => render(
            StatusCode::OK,
            &InvitePage {
                token,
                email: link.email.unwrap_or_default(),
                role: link.role.map(|r| r.to_string()).unwrap_or_default(),
                username: String::new(),
                error: None,
            },
        ),
        Err(error) => link_failure(error),
    }
}

/// The invitation form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct AcceptForm {
    token: String,
    username: String,
    password: String,
    confirm: String,
}

/// `POST /invite`.
pub async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<AcceptForm>, FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let Ok(Form(form)) = form else {
        return incomplete_form();
    };
    let now = state.clock.now();
    if form.password != form.confirm {
        let message = "The two passwords differ; type the same one twice.".to_owned();
        return invite_again(&state, &form, message, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let made = links::accept_invite(
        &state.store,
        &state.passwords,
        &form.token,
        form.username.clone(),
        form.password.clone(),
        now,
    )
    .await;
    match made {
        Ok(invited) => render(
            StatusCode::CREATED,
            &Done {
                heading: "Account created",
                message: format!(
                    "Your account {} ({}) is ready, with the role {}. Sign in with your username or email.",
                    invited.username, invited.email, invited.role
                ),
            },
        ),
        Err(error @ AccountError::Invalid(_)) => {
            invite_again(&state, &form, error.to_string(), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(error @ (AccountError::UsernameTaken | AccountError::EmailTaken)) => {
            invite_again(&state, &form, error.to_string(), StatusCode::CONFLICT).await
        }
        Err(error) => link_failure(error),
    }
}

/// The invitation form again, with what was typed (not the passwords) and why it was refused.
async fn invite_again(
    state: &AppState,
    form: &AcceptForm,
    message: String,
    status: StatusCode,
) -> Response {
    match links::usable_link(
        &state.store,
        &form.token,
        LinkPurpose::Invite,
        state.clock.now(),
    )
    .await
    {
        Ok(link) => render(
            status,
            &InvitePage {
                token: form.token.clone(),
                email: link.email.unwrap_or_default(),
                role: link.role.map(|r| r.to_string()).unwrap_or_default(),
                username: form.username.clone(),
                error: Some(message),
            },
        ),
        Err(error) => link_failure(error),
    }
}
