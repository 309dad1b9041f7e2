//! Branches and their OAuth connections (Nango's connections page is the model), over the
//! `Connections` service like `/api/v1/branches` and `/api/v1/oauth-clients`, with the API's
//! scopes as role rules: managers and admins see and connect their branches
//! (`connections:write`), admins also keep the OAuth clients (`connections:admin`).
//!
//! * this module — `/branches`: the OAuth clients (admins), the branches with their connection
//!   status and the token's expiry, "Connect"/"Reconnect" (the provider's consent page), "Refresh
//!   now", new clients and branches;
//! * [`disconnect`] — disconnecting after a confirmation (revoked at the provider);
//! * [`callback`] — `/branches/callback`: where the provider sends the person back, and the
//!   result page.

pub mod callback;
pub mod disconnect;

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::form::{Entered, FieldView, Kind, Spec};
use super::page::{error_page, render, when, Nav};
use super::session::{cross_site, failure, form_is_ours, require, ButtonForm, SignedIn};
use crate::accounts::sessions::ClientInfo;
use crate::connections::branches::BranchBody;
use crate::connections::clients::OAuthClientBody;
use crate::connections::errors::ConnectionError;
use crate::http::ApiError;
use crate::state::AppState;
use crate::store::{ConnectionStatus, Provider};
use crate::tokens::ceiling::role_allows;
use crate::tokens::scopes::{ConnectionsAdmin, ConnectionsRead, ConnectionsWrite, RequiredScope};

/// The path the console's OAuth clients send people back to (the provider must know it).
pub const CALLBACK_PATH: &str = "/branches/callback";

const fn field(name: &'static str, label: &'static str, kind: Kind, required: bool) -> Spec {
    Spec {
        name,
        label,
        kind,
        required,
    }
}

/// The new-client form.
const CLIENT_FIELDS: &[Spec] = &[
    field("name", "Client name", Kind::Text, false),
    field("provider", "Provider", Kind::Choice(Provider::NAMES), true),
    field("client_id", "Client ID", Kind::Text, true),
    field("client_secret", "Client secret", Kind::Secret, true),
    field("redirect_uri", "Redirect URI", Kind::Text, true),
    field(
        "authorization_url",
        "Authorization endpoint (generic providers)",
        Kind::Text,
        false,
    ),
    field(
        "token_url",
        "Token endpoint (generic providers)",
        Kind::Text,
        false,
    ),
    field("revocation_url", "Revocation endpoint", Kind::Text, false),
];

/// The new-branch form (its client is chosen from a list of the person's).
const BRANCH_FIELDS: &[Spec] = &[
    field("branch_id", "Branch identifier", Kind::Text, true),
    field("name", "Branch name", Kind::Text, true),
    field("account_id", "Provider account ID", Kind::Text, false),
    field("location_id", "Provider location ID", Kind::Text, false),
];

/// Whether `user`'s role reaches scope `S` of the connections.
fn may<S: RequiredScope>(user: &SignedIn) -> bool {
    role_allows(user.role, S::SCOPE)
}

fn forbidden() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Your role may not manage branches: connections are for managers and administrators.",
    )
}

/// A branch as the list shows it.
struct BranchRow {
    id: Uuid,
    branch_id: String,
    name: String,
    client: String,
    /// `connected`, `needs re-consent` or `not connected`.
    status: &'static str,
    expires: String,
    connected: bool,
    inactive: bool,
}

struct ClientRow {
    name: String,
    provider: String,
    client_id: String,
    redirect_uri: String,
}

#[derive(Template)]
#[template(path = "console/branches.html")]
struct BranchesPage {
    nav: Nav,
    branches: Vec<BranchRow>,
    clients: Vec<ClientRow>,
    /// (id, name) of the person's clients, for the branch form.
    client_choices: Vec<(Uuid, String)>,
    /// The client the refused branch form had chosen (kept selected).
    chosen_client: String,
    may_write: bool,
    may_admin: bool,
    notice: Option<String>,
    error: Option<String>,
    /// A reconnect link just made: (branch, url, expiry), shown once.
    connect_link: Option<(String, String, String)>,
    client_form: Vec<FieldView>,
    client_message: Option<String>,
    branch_form: Vec<FieldView>,
    branch_message: Option<String>,
}

/// What the page shows after a form.
#[derive(Default)]
struct Outcome {
    notice: Option<String>,
    error: Option<String>,
    connect_link: Option<(String, String, String)>,
    client: Option<(Entered, String)>,
    branch: Option<(Entered, String)>,
}

async fn branches_page(
    state: &AppState,
    user: &SignedIn,
    origin: &str,
    outcome: Outcome,
) -> Result<BranchesPage, ApiError> {
    let connections = &state.connections;
    let clients = connections.clients(user.user_id).await?;
    let branches = connections.branches_with_connections(user.user_id).await?;
    let mut rows = Vec::with_capacity(branches.len());
    for (branch, connection) in branches {
        let (status, expires) = match &connection {
            Some(c) if c.status == ConnectionStatus::Active => ("connected", when(c.expires_at)),
            Some(c) if c.status == ConnectionStatus::NeedsReauth => {
                ("needs re-consent", String::new())
            }
            Some(c) if c.status == ConnectionStatus::InsufficientScope => {
                ("missing a permission", String::new())
            }
            _ => ("not connected", String::new()),
        };
        let client = clients
            .iter()
            .find(|c| c.id == branch.oauth_client_id)
            .map_or_else(String::new, |c| c.name.clone());
        rows.push(BranchRow {
            id: branch.id,
            branch_id: branch.branch_id,
            name: branch.name,
            client,
            status,
            expires,
            connected: status == "connected",
            inactive: !branch.is_active,
        });
    }
    let (client_entered, client_error) = match outcome.client {
        Some((entered, error)) => (entered, Some(error)),
        None => {
            let mut fresh = Entered::default();
            fresh.0.insert("provider".to_owned(), "google".to_owned());
            fresh.0.insert(
                "redirect_uri".to_owned(),
                format!("{origin}{CALLBACK_PATH}"),
            );
            (fresh, None)
        }
    };
    let (branch_entered, branch_error) = outcome
        .branch
        .map_or((Entered::default(), None), |(e, m)| (e, Some(m)));
    Ok(BranchesPage {
        nav: Nav::of(user),
        branches: rows,
        client_choices: clients.iter().map(|c| (c.id, c.name.clone())).collect(),
        chosen_client: branch_entered
            .0
            .get("client_id")
            .cloned()
            .unwrap_or_default(),
        clients: clients
            .into_iter()
            .map(|c| ClientRow {
                name: c.name,
                provider: c.provider.to_string(),
                client_id: c.client_id,
                redirect_uri: c.redirect_uri,
            })
            .collect(),
        may_write: may::<ConnectionsWrite>(user),
        may_admin: may::<ConnectionsAdmin>(user),
        notice: outcome.notice,
        error: outcome.error,
        connect_link: outcome.connect_link,
        // Both forms have a `name` field: the client form's ids are prefixed.
        client_form: client_entered
            .fields(CLIENT_FIELDS, client_error.as_deref())
            .into_iter()
            .map(|field| FieldView {
                id: format!("client-{}", field.name),
                ..field
            })
            .collect(),
        client_message: Entered::unplaced(CLIENT_FIELDS, client_error.as_deref()),
        branch_form: branch_entered.fields(BRANCH_FIELDS, branch_error.as_deref()),
        branch_message: Entered::unplaced(BRANCH_FIELDS, branch_error.as_deref()),
    })
}

/// This site's origin as the browser reached it, for the default redirect URI.
fn origin_of(headers: &HeaderMap, secure: bool) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8000");
    format!("{}://{host}", if secure { "https" } else { "http" })
}

async fn answer(
    state: &AppState,
    user: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    outcome: Outcome,
) -> Response {
    let origin = origin_of(headers, state.config.console_secure_cookies);
    match branches_page(state, user, &origin, outcome).await {
        Ok(page) => render(status, &page),
        Err(error) => failure(&error),
    }
}

/// The signed-in person, if their role reaches the connections at all; otherwise the answer.
async fn staff(
    state: &AppState,
    jar: CookieJar,
    client: &ClientInfo,
) -> Result<(SignedIn, CookieJar), Response> {
    let (user, jar) = require(state, jar, client, "/branches").await?;
    if !may::<ConnectionsRead>(&user) {
        return Err((jar, forbidden()).into_response());
    }
    Ok((user, jar))
}

/// `GET /branches`.
pub async fn list(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let (user, jar) = match staff(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    let page = answer(&state, &user, &headers, StatusCode::OK, Outcome::default()).await;
    (jar, page).into_response()
}

/// The status a refused form answers with, when the refusal is about the form.
fn form_status(error: &ApiError) -> Option<StatusCode> {
    matches!(
        error,
        ApiError::Validation(_) | ApiError::Conflict(_) | ApiError::BadRequest(_)
    )
    .then(|| error.status())
}

/// `POST /branches/clients` (admins): a new OAuth client; its secret is sealed and never shown.
pub async fn create_client(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, jar) = match staff(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    let (entered, csrf) = Entered::read(fields.map(|Form(f)| f).unwrap_or_default());
    if !form_is_ours(&headers, &user, &csrf) {
        return (jar, cross_site()).into_response();
    }
    if !may::<ConnectionsAdmin>(&user) {
        return (jar, forbidden()).into_response();
    }
    let created = match entered.body::<OAuthClientBody>(CLIENT_FIELDS, false) {
        Err(message) => Err(ApiError::Validation(message)),
        Ok(body) => state
            .connections
            .create_client(user.user_id, body)
            .await
            .map_err(ApiError::from),
    };
    let page = match created {
        Ok(record) => {
            let notice = format!(
                "OAuth client {} added. Its secret is stored sealed and never shown again.",
                record.name
            );
            let outcome = Outcome {
                notice: Some(notice),
                ..Outcome::default()
            };
            answer(&state, &user, &headers, StatusCode::CREATED, outcome).await
        }
        Err(error) => match form_status(&error) {
            Some(status) => {
                // The secret typed is not sent back to the page.
                let mut entered = entered;
                entered.0.remove("client_secret");
                let outcome = Outcome {
                    client: Some((entered, error.to_string())),
                    ..Outcome::default()
                };
                answer(&state, &user, &headers, status, outcome).await
            }
            None => failure(&error),
        },
    };
    (jar, page).into_response()
}

/// `POST /branches`: a new branch on one of the person's clients.
pub async fn create_branch(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, jar) = match staff(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    let (entered, csrf) = Entered::read(fields.map(|Form(f)| f).unwrap_or_default());
    if !form_is_ours(&headers, &user, &csrf) {
        return (jar, cross_site()).into_response();
    }
    if !may::<ConnectionsWrite>(&user) {
        return (jar, forbidden()).into_response();
    }
    let mut with_client = BRANCH_FIELDS.to_vec();
    with_client.push(field("client_id", "OAuth client", Kind::Text, true));
    let created = match entered.body::<BranchBody>(&with_client, false) {
        Err(message) => Err(ApiError::Validation(message)),
        Ok(body) => state
            .connections
            .create_branch(user.user_id, body)
            .await
            .map_err(ApiError::from),
    };
    let page = match created {
        Ok(record) => {
            let notice = format!(
                "Branch {} added: connect it to the provider next.",
                record.name
            );
            let outcome = Outcome {
                notice: Some(notice),
                ..Outcome::default()
            };
            answer(&state, &user, &headers, StatusCode::CREATED, outcome).await
        }
        Err(error) => match form_status(&error) {
            Some(status) => {
                let outcome = Outcome {
                    branch: Some((entered, error.to_string())),
                    ..Outcome::default()
                };
                answer(&state, &user, &headers, status, outcome).await
            }
            None => failure(&error),
        },
    };
    (jar, page).into_response()
}

/// `POST /branches/{id}/connect`: sends the person to the provider's consent page.
pub async fn connect(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match staff(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    if !may::<ConnectionsWrite>(&user) {
        return (jar, forbidden()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let connections = &state.connections;
    let started = async {
        let branch = connections.branch(user.user_id, id).await?;
        connections.start_authorization(user.user_id, &branch).await
    };
    let page = match started.await {
        Ok(flow) => Redirect::to(&flow.auth_url).into_response(),
        Err(error) => refused(&state, &user, &headers, error).await,
    };
    (jar, page).into_response()
}

/// `POST /branches/{id}/connect-link`: makes a reconnect link for the branch's manager (valid
/// three days; a newer one ends it) and shows it once.
pub async fn connect_link(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match staff(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    if !may::<ConnectionsWrite>(&user) {
        return (jar, forbidden()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let connections = &state.connections;
    let base = crate::http::public_base(state.config.public_url.as_deref(), &headers);
    let made = async {
        let branch = connections.branch(user.user_id, id).await?;
        let link = connections
            .create_connect_link(user.user_id, id, None, &base, state.clock.now())
            .await?;
        Ok::<_, crate::connections::errors::ConnectionError>((branch.name, link))
    };
    let page = match made.await {
        Ok((name, link)) => {
            let outcome = Outcome {
                connect_link: Some((name, link.url, when(link.expires_at))),
                ..Outcome::default()
            };
            answer(&state, &user, &headers, StatusCode::CREATED, outcome).await
        }
        Err(error) => refused(&state, &user, &headers, error).await,
    };
    (jar, page).into_response()
}

/// `POST /branches/{id}/refresh`: refreshes the branch's access token now.
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match staff(&state, jar, &client).await {
        Ok(found) => found,
        Err(answer_) => return answer_,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    if !may::<ConnectionsWrite>(&user) {
        return (jar, forbidden()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match state.connections.force_refresh(user.user_id, id).await {
        Ok(token) => {
            let notice = format!(
                "Refreshed: the access token now expires {}.",
                when(token.expires_at)
            );
            let outcome = Outcome {
                notice: Some(notice),
                ..Outcome::default()
            };
            answer(&state, &user, &headers, StatusCode::OK, outcome).await
        }
        Err(error) => refused(&state, &user, &headers, error).await,
    };
    (jar, page).into_response()
}

/// A refusal of an action on a branch: the list again saying why, or the page for it.
async fn refused(
    state: &AppState,
    user: &SignedIn,
    headers: &HeaderMap,
    error: ConnectionError,
) -> Response {
    let error = ApiError::from(error);
    match error {
        ApiError::NotFound(_) => not_found(),
        ApiError::Conflict(_)
        | ApiError::BadGateway(_)
        | ApiError::GatewayTimeout(_)
        | ApiError::Unavailable(_) => {
            let status = error.status();
            let outcome = Outcome {
                error: Some(error.to_string()),
                ..Outcome::default()
            };
            answer(state, user, headers, status, outcome).await
        }
        other => failure(&other),
    }
}

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Branch not found")
}
