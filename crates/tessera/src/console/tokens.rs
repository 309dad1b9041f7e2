//! Tokens (GitHub's token settings are the model): the list, a new token whose secret is shown
//! once, and revoking after a confirmation. Over `tokens::service`, like `/api/v1/tokens`.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::page::{error_page, render, Nav};
use super::session::{cross_site, failure, form_is_ours, require, SignedIn};
use crate::accounts::sessions::ClientInfo;
use crate::http::ApiError;
use crate::state::AppState;
use crate::tokens::ceiling::ceiling;
use crate::tokens::scopes::{Resource, Scope};
use crate::tokens::service::{self as tokens, CreateTokenRequest};
use crate::tokens::{Token, TokenStatus};
use crate::types::Timestamp;

/// A token as the list shows it: never its secret.
struct TokenRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    last_used: String,
    expires: String,
    status: &'static str,
    active: bool,
}

impl TokenRow {
    fn of(token: &Token, now: Timestamp) -> TokenRow {
        let status = token.status(now);
        TokenRow {
            id: token.id,
            name: token.name.clone(),
            prefix: token.prefix.clone(),
            scopes: token.scopes.to_strings().join(", "),
            created: shown(token.created_at),
            last_used: token.last_used_at.map_or_else(|| "never".to_owned(), shown),
            expires: shown(token.expires_at),
            status: match status {
                TokenStatus::Active => "active",
                TokenStatus::Expired => "expired",
                TokenStatus::Revoked => "revoked",
            },
            active: status == TokenStatus::Active,
        }
    }
}

/// A time as people read it: `2026-12-07 14:30 UTC`.
fn shown(at: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.datetime()
        .format(&format)
        .unwrap_or_else(|_| at.to_rfc3339())
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
struct TokensPage {
    nav: Nav,
    tokens: Vec<TokenRow>,
}

/// `GET /tokens`.
pub async fn list(State(state): State<AppState>, client: ClientInfo, jar: CookieJar) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let page = match tokens::list_tokens(&state.store, user.user_id).await {
        Ok(mut list) => {
            list.sort_by_key(|token| std::cmp::Reverse(token.created_at));
            let now = Timestamp::now();
            render(
                StatusCode::OK,
                &TokensPage {
                    nav: Nav::of(&user),
                    tokens: list.iter().map(|t| TokenRow::of(t, now)).collect(),
                },
            )
        }
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

/// One scope a role may grant, as a checkbox.
struct ScopeChoice {
    scope: String,
    includes: String,
    checked: bool,
}

/// A resource's checkboxes, highest level first.
struct ScopeGroup {
    resource: &'static str,
    choices: Vec<ScopeChoice>,
}

/// The scopes `user`'s role may put on a token, grouped by resource; `checked` are ticked.
fn scope_groups(user: &SignedIn, checked: &[String]) -> Vec<ScopeGroup> {
    Resource::ALL
        .into_iter()
        .filter_map(|resource| {
            let top = ceiling(user.role, resource)?;
            let scopes: Vec<Scope> = Scope::all()
                .filter(|scope| scope.resource() == resource && top.satisfies(*scope))
                .collect();
            let choices = scopes
                .iter()
                .enumerate()
                .map(|(at, scope)| {
                    let below: Vec<String> =
                        scopes[at + 1..].iter().map(Scope::to_string).collect();
                    ScopeChoice {
                        scope: scope.to_string(),
                        includes: if below.is_empty() {
                            String::new()
                        } else {
                            format!("includes {}", below.join(", "))
                        },
                        checked: checked.contains(&scope.to_string()),
                    }
                })
                .collect();
            Some(ScopeGroup {
                resource: resource.name(),
                choices,
            })
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/token_new.html")]
struct NewTokenPage {
    nav: Nav,
    message: Option<String>,
    name: String,
    groups: Vec<ScopeGroup>,
    expiry: String,
    expires_on: String,
    allowed_ips: String,
}

/// What the form sent, kept to show it again with a refusal.
#[derive(Default)]
struct NewTokenForm {
    name: String,
    scopes: Vec<String>,
    expiry: String,
    expires_on: String,
    allowed_ips: String,
    csrf: String,
}

impl NewTokenForm {
    /// Reads the form's fields; repeated `scopes` are the ticked boxes.
    fn read(fields: Vec<(String, String)>) -> NewTokenForm {
        let mut form = NewTokenForm::default();
        for (name, value) in fields {
            match name.as_str() {
                "name" => form.name = value,
                "scopes" => form.scopes.push(value),
                "expiry" => form.expiry = value,
                "expires_on" => form.expires_on = value,
                "allowed_ips" => form.allowed_ips = value,
                "csrf" => form.csrf = value,
                _ => {}
            }
        }
        form
    }

    /// The API's request for this form.
    fn request(&self) -> CreateTokenRequest {
        let (expires_in_days, expires_at) = match self.expiry.as_str() {
            "custom" => (None, Some(format!("{}T23:59:59Z", self.expires_on.trim()))),
            days => (Some(days.parse().unwrap_or(0)), None),
        };
        let allowed: Vec<String> = self
            .allowed_ips
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        CreateTokenRequest {
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            expires_in_days,
            expires_at,
            allowed_ips: (!allowed.is_empty()).then_some(allowed),
        }
    }

    fn page(self, user: &SignedIn, message: Option<String>) -> NewTokenPage {
        NewTokenPage {
            nav: Nav::of(user),
            message,
            groups: scope_groups(user, &self.scopes),
            name: self.name,
            expiry: self.expiry,
            expires_on: self.expires_on,
            allowed_ips: self.allowed_ips,
        }
    }
}

/// `GET /tokens/new`.
pub async fn new_form(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens/new").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let form = NewTokenForm {
        expiry: "30".to_owned(),
        ..NewTokenForm::default()
    };
    (jar, render(StatusCode::OK, &form.page(&user, None))).into_response()
}

#[derive(Template)]
#[template(path = "console/token_created.html")]
struct CreatedPage {
    nav: Nav,
    name: String,
    secret: String,
}

/// `POST /tokens`: mints the token and shows its secret, once.
pub async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let form = NewTokenForm::read(fields.map(|Form(f)| f).unwrap_or_default());
    if !form_is_ours(&headers, &user, &form.csrf) {
        return (jar, cross_site()).into_response();
    }
    let page = match tokens::issue_token(&state.store, user.user_id, &form.request()).await {
        Ok(issued) => render(
            StatusCode::CREATED,
            &CreatedPage {
                nav: Nav::of(&user),
                name: issued.token.name,
                secret: issued.secret,
            },
        ),
        Err(error) => {
            let error = ApiError::from(error);
            if error.status().is_server_error() {
                failure(&error)
            } else {
                render(error.status(), &form.page(&user, Some(error.to_string())))
            }
        }
    };
    (jar, page).into_response()
}

#[derive(Template)]
#[template(path = "console/token_revoke.html")]
struct RevokePage {
    nav: Nav,
    id: Uuid,
    name: String,
}

/// `GET /tokens/{id}/revoke`: asks to confirm.
pub async fn confirm_revoke(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match tokens::owned_token(&state.store, user.user_id, id).await {
        Ok(token) => render(
            StatusCode::OK,
            &RevokePage {
                nav: Nav::of(&user),
                id,
                name: token.name,
            },
        ),
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

/// The revocation form's fields.
#[derive(serde::Deserialize)]
pub struct RevokeForm {
    csrf: String,
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let presented = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !form_is_ours(&headers, &user, &presented) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let revoked = tokens::revoke_token(&state.store, &state.token_cache, user.user_id, id).await;
    match revoked {
        Ok(_) => (jar, Redirect::to("/tokens")).into_response(),
        Err(error) => (jar, failure(&error.into())).into_response(),
    }
}

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Token not found")
}
