//! `/service-accounts` (admins and managers): the lab's service accounts, making one, and on an
//! account's page its tokens — minting one (shown once), revoking one — its role and
//! description, and deleting it (which revokes its tokens). The rules are
//! `service_accounts::service`'s: a token stays within the account's role and the minter's.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::page::{error_page, render, when, Confirm, Nav};
use super::session::{
    cross_site, failure, form_is_ours, incomplete_form, require, ButtonForm, SignedIn,
};
use super::tokens::new::{scope_groups, NewTokenForm, ScopeGroup};
use crate::accounts::sessions::ClientInfo;
use crate::http::ApiError;
use crate::input::Field;
use crate::service_accounts::service::{
    self as accounts, CreateServiceAccount, Manager, ServiceAccountError, UpdateServiceAccount,
};
use crate::state::AppState;
use crate::store::ServiceAccountRecord;
use crate::tokens::{Token, TokenStatus};
use crate::types::Role;

struct AccountRow {
    id: Uuid,
    name: String,
    description: String,
    role: Role,
    disabled: bool,
    live_tokens: i64,
    made_by: String,
    created: String,
}

impl From<ServiceAccountRecord> for AccountRow {
    fn from(r: ServiceAccountRecord) -> Self {
        AccountRow {
            id: r.id,
            name: r.name,
            description: r.description.unwrap_or_default(),
            role: r.role,
            disabled: r.disabled_at.is_some(),
            live_tokens: r.live_tokens,
            made_by: r
                .created_by_username
                .unwrap_or_else(|| "an operator".to_owned()),
            created: when(r.created_at),
        }
    }
}

/// Roles a service account may have: any but admin.
fn account_roles() -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Admin)
        .collect()
}

#[derive(Template)]
#[template(path = "console/service_accounts.html")]
struct ListPage {
    nav: Nav,
    accounts: Vec<AccountRow>,
    roles: Vec<Role>,
    notice: Option<String>,
    error: Option<String>,
    name: String,
    description: String,
}

struct TokenRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: String,
    status: &'static str,
    expires: String,
    last_used: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "console/service_account.html")]
struct AccountPage {
    nav: Nav,
    account: AccountRow,
    roles: Vec<Role>,
    tokens: Vec<TokenRow>,
    groups: Vec<ScopeGroup>,
    token_name: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/service_account_token.html")]
struct TokenCreated {
    nav: Nav,
    account_id: Uuid,
    account: String,
    name: String,
    secret: String,
}

fn forbidden() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Only administrators and managers manage service accounts.",
    )
}

fn shown(error: ServiceAccountError) -> Response {
    match error {
        ServiceAccountError::NotFound { .. } => {
            error_page(StatusCode::NOT_FOUND, "Service account not found")
        }
        error => failure(&ApiError::from(error)),
    }
}

/// The signed-in manager, or the answer to send instead.
async fn manager(
    state: &AppState,
    jar: CookieJar,
    client: &ClientInfo,
    page: &str,
) -> Result<(SignedIn, Manager, CookieJar), Response> {
    let (user, jar) = require(state, jar, client, page).await?;
    match Manager::check(user.user_id, user.role) {
        Ok(manager) => Ok((user, manager, jar)),
        Err(_) => Err((jar, forbidden()).into_response()),
    }
}

async fn list_page(
    state: &AppState,
    user: &SignedIn,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    typed: (String, String),
) -> Response {
    match accounts::list(&state.store, state.clock.now()).await {
        Ok(list) => render(
            status,
            &ListPage {
                nav: Nav::of(user),
                accounts: list.into_iter().map(AccountRow::from).collect(),
                roles: account_roles(),
                notice,
                error,
                name: typed.0,
                description: typed.1,
            },
        ),
        Err(error) => shown(error),
    }
}

/// `GET /service-accounts`.
pub async fn list(State(state): State<AppState>, client: ClientInfo, jar: CookieJar) -> Response {
    let (user, _, jar) = match manager(&state, jar, &client, "/service-accounts").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let page = list_page(
        &state,
        &user,
        StatusCode::OK,
        None,
        None,
        Default::default(),
    )
    .await;
    (jar, page).into_response()
}

/// The creation form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct CreateForm {
    csrf: String,
    name: String,
    #[serde(default)]
    description: String,
    role: String,
}

/// `POST /service-accounts`: made, then its page.
pub async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<CreateForm>, FormRejection>,
) -> Response {
    let (user, by, jar) = match manager(&state, jar, &client, "/service-accounts").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Form(form)) = form else {
        return (jar, incomplete_form()).into_response();
    };
    if !form_is_ours(&headers, &user, &form.csrf) {
        return (jar, cross_site()).into_response();
    }
    let request = CreateServiceAccount {
        name: form.name.clone(),
        description: Some(form.description.clone()),
        role: Some(form.role.clone()),
    };
    let made = accounts::create(
        &state.store,
        &state.passwords,
        by,
        &request,
        state.clock.now(),
    )
    .await;
    let page = match made {
        Ok(account) => Redirect::to(&format!("/service-accounts/{}", account.id)).into_response(),
        Err(error @ (ServiceAccountError::Invalid(_) | ServiceAccountError::NameTaken)) => {
            let status = match error {
                ServiceAccountError::NameTaken => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let typed = (form.name, form.description);
            list_page(&state, &user, status, None, Some(error.to_string()), typed).await
        }
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}

fn token_row(token: Token, now: crate::types::Timestamp) -> TokenRow {
    let status = token.status(now);
    TokenRow {
        id: token.id,
        prefix: token.prefix.clone(),
        scopes: token.scopes.to_strings().join(", "),
        status: match status {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        },
        live: status == TokenStatus::Active,
        expires: when(token.expires_at),
        last_used: token.last_used_at.map_or("never".to_owned(), when),
        name: token.name,
    }
}

async fn account_page(
    state: &AppState,
    user: &SignedIn,
    id: Uuid,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    form: NewTokenForm,
) -> Response {
    let now = state.clock.now();
    let account = match accounts::get(&state.store, id, now).await {
        Ok(account) => account,
        Err(error) => return shown(error),
    };
    let tokens = match accounts::tokens_of(&state.store, id, now).await {
        Ok(tokens) => tokens,
        Err(error) => return shown(error),
    };
    let page = AccountPage {
        nav: Nav::of(user),
        groups: scope_groups(&[account.role, user.role], &form.scopes),
        token_name: form.name,
        account: AccountRow::from(account),
        roles: account_roles(),
        tokens: tokens.into_iter().map(|t| token_row(t, now)).collect(),
        notice,
        error,
    };
    render(status, &page)
}

/// `GET /service-accounts/{id}`.
pub async fn show(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, _, jar) = match manager(&state, jar, &client, "/service-accounts").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (
            jar,
            shown(ServiceAccountError::NotFound { id: Uuid::nil() }),
        )
            .into_response();
    };
    let page = account_page(
        &state,
        &user,
        id,
        StatusCode::OK,
        None,
        None,
        NewTokenForm::default(),
    )
    .await;
    (jar, page).into_response()
}

/// The edit form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct EditForm {
    csrf: String,
    #[serde(default)]
    description: String,
    role: String,
}

/// `POST /service-accounts/{id}`: a new role or description.
pub async fn update(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<EditForm>, FormRejection>,
) -> Response {
    let (user, by, jar) = match manager(&state, jar, &client, "/service-accounts").await {
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
        return (
            jar,
            shown(ServiceAccountError::NotFound { id: Uuid::nil() }),
        )
            .into_response();
    };
    let request = UpdateServiceAccount {
        name: None,
        description: if form.description.trim().is_empty() {
            Field::Null
        } else {
            Field::Value(form.description)
        },
        role: Some(form.role),
    };
    let done = accounts::update(&state.store, by, id, &request, state.clock.now()).await;
    let blank = NewTokenForm::default();
    let page = match done {
        Ok(_) => {
            account_page(
                &state,
                &user,
                id,
                StatusCode::OK,
                Some("Saved.".to_owned()),
                None,
                blank,
            )
            .await
        }
        Err(error @ ServiceAccountError::Invalid(_)) => {
            account_page(
                &state,
                &user,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(error.to_string()),
                blank,
            )
            .await
        }
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}

/// `POST /service-accounts/{id}/tokens`: the new token, shown once.
pub async fn mint(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, by, jar) = match manager(&state, jar, &client, "/service-accounts").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Form(fields)) = form else {
        return (jar, incomplete_form()).into_response();
    };
    let form = NewTokenForm::read(fields);
    if !form_is_ours(&headers, &user, &form.csrf) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (
            jar,
            shown(ServiceAccountError::NotFound { id: Uuid::nil() }),
        )
            .into_response();
    };
    let now = state.clock.now();
    let minted = accounts::mint_token(&state.store, by, id, &form.request(), now).await;
    let page = match minted {
        Ok(issued) => {
            let account = accounts::get(&state.store, id, now).await.map(|a| a.name);
            render(
                StatusCode::CREATED,
                &TokenCreated {
                    nav: Nav::of(&user),
                    account_id: id,
                    account: account.unwrap_or_default(),
                    name: issued.token.name,
                    secret: issued.secret,
                },
            )
        }
        Err(error @ (ServiceAccountError::Invalid(_) | ServiceAccountError::Token(_))) => {
            let api = ApiError::from(error);
            let message = api.to_string();
            account_page(&state, &user, id, api.status(), None, Some(message), form).await
        }
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}

/// `POST /service-accounts/{id}/tokens/{token_id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    ids: Result<Path<(Uuid, Uuid)>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, _, jar) = match manager(&state, jar, &client, "/service-accounts").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path((id, token_id))) = ids else {
        return (
            jar,
            shown(ServiceAccountError::NotFound { id: Uuid::nil() }),
        )
            .into_response();
    };
    let now = state.clock.now();
    if let Err(error) = accounts::get(&state.store, id, now).await {
        return (jar, shown(error)).into_response();
    }
    let revoked =
        crate::tokens::service::revoke_token(&state.store, &state.token_cache, id, token_id, now)
            .await;
    let blank = NewTokenForm::default();
    let page = match revoked {
        Ok(_) => {
            account_page(
                &state,
                &user,
                id,
                StatusCode::OK,
                Some("Token revoked.".to_owned()),
                None,
                blank,
            )
            .await
        }
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

/// `GET /service-accounts/{id}/delete`: asks to confirm.
pub async fn confirm_delete(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, _, jar) = match manager(&state, jar, &client, "/service-accounts").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (
            jar,
            shown(ServiceAccountError::NotFound { id: Uuid::nil() }),
        )
            .into_response();
    };
    let page = match accounts::get(&state.store, id, state.clock.now()).await {
        Ok(account) => render(
            StatusCode::OK,
            &Confirm {
                nav: Nav::of(&user),
                title: "Delete service account",
                question: format!("Delete “{}”?", account.name),
                explanation: "Every token of it is revoked at once: instruments and scripts using them stop working. Its tokens' audit logs are kept, and its name stays taken.",
                action: format!("/service-accounts/{id}/delete"),
                button: "Delete service account",
                danger: true,
                cancel: format!("/service-accounts/{id}"),
            },
        ),
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}

/// `POST /service-accounts/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, by, jar) = match manager(&state, jar, &client, "/service-accounts").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (
            jar,
            shown(ServiceAccountError::NotFound { id: Uuid::nil() }),
        )
            .into_response();
    };
    let page =
        match accounts::delete(&state.store, &state.token_cache, by, id, state.clock.now()).await {
            Ok(revoked) => {
                let notice = format!("Service account deleted; {revoked} token(s) revoked.");
                list_page(
                    &state,
                    &user,
                    StatusCode::OK,
                    Some(notice),
                    None,
                    Default::default(),
                )
                .await
            }
            Err(error) => shown(error),
        };
    (jar, page).into_response()
}
