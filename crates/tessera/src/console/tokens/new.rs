//! `/tokens/new`: the form for a new token, with only the scopes the user's role may hold, and
//! the page that shows its secret, once.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use crate::accounts::sessions::ClientInfo;
use crate::console::page::{render, Nav};
use crate::console::session::{cross_site, failure, form_is_ours, require, SignedIn};
use crate::http::ApiError;
use crate::state::AppState;
use crate::tokens::ceiling::ceiling;
use crate::tokens::scopes::{Resource, Scope};
use crate::tokens::service::{self as tokens, CreateTokenRequest};
use crate::types::Role;

/// One scope a role may grant, as a checkbox.
pub(crate) struct ScopeChoice {
    pub(crate) scope: String,
    pub(crate) includes: String,
    pub(crate) checked: bool,
}

/// A resource's checkboxes, highest level first.
pub(crate) struct ScopeGroup {
    pub(crate) resource: &'static str,
    pub(crate) choices: Vec<ScopeChoice>,
}

/// The scopes every one of `roles` may put on a token (a person's own role; or a service
/// account's and its minter's), grouped by resource; `checked` are ticked.
pub(crate) fn scope_groups(roles: &[Role], checked: &[String]) -> Vec<ScopeGroup> {
    Resource::ALL
        .into_iter()
        .filter_map(|resource| {
            let tops: Vec<Scope> = roles
                .iter()
                .map(|role| ceiling(*role, resource))
                .collect::<Option<_>>()?;
            let scopes: Vec<Scope> = Scope::all()
                .filter(|scope| {
                    scope.resource() == resource && tops.iter().all(|top| top.satisfies(*scope))
                })
                .collect();
            if scopes.is_empty() {
                return None;
            }
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
pub(crate) struct NewTokenForm {
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expiry: String,
    pub(crate) expires_on: String,
    pub(crate) allowed_ips: String,
    pub(crate) csrf: String,
}

impl NewTokenForm {
    /// Reads the form's fields; repeated `scopes` are the ticked boxes.
    pub(crate) fn read(fields: Vec<(String, String)>) -> NewTokenForm {
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
    pub(crate) fn request(&self) -> CreateTokenRequest {
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
            groups: scope_groups(&[user.role], &self.scopes),
            name: self.name,
            expiry: self.expiry,
            expires_on: self.expires_on,
            allowed_ips: self.allowed_ips,
        }
    }
}

/// `GET /tokens/new`.
pub async fn form(State(state): State<AppState>, client: ClientInfo, jar: CookieJar) -> Response {
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

/// A token's secret, on the page that made it: the only time it is shown.
#[derive(Template)]
#[template(path = "console/token_created.html")]
pub(super) struct CreatedPage {
    pub nav: Nav,
    pub id: Uuid,
    pub name: String,
    pub secret: String,
    /// Whether the token was regenerated rather than new.
    pub regenerated: bool,
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
    let page = match tokens::issue_token(
        &state.store,
        user.user_id,
        &form.request(),
        state.clock.now(),
    )
    .await
    {
        Ok(issued) => render(
            StatusCode::CREATED,
            &CreatedPage {
                nav: Nav::of(&user),
                id: issued.token.id,
                name: issued.token.name,
                secret: issued.secret,
                regenerated: false,
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
