//! `/webhooks`: a person's webhook endpoints — registering one (its secret shown once), and on an
//! endpoint's page its latest deliveries with each attempt and a retry button, a test event,
//! rotating the secret (the old one signs beside the new for a day), pausing and resuming, and
//! deleting. The rules are `webhooks::service`'s.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::page::{error_page, render, when, Confirm, Nav};
use super::session::{cross_site, failure, form_is_ours, require, ButtonForm, SignedIn};
use crate::accounts::sessions::ClientInfo;
use crate::http::ApiError;
use crate::state::AppState;
use crate::store::{DeliveryStatus, EndpointRecord};
use crate::webhooks::service::{CreateEndpoint, RotateSecret, UpdateEndpoint, WebhookError};

/// What the creation form offers to subscribe to.
const CHOICES: [(&str, &str); 5] = [
    (
        "connection.*",
        "Branch connections: connected, refresh failed, needs re-consent, recovered, disconnected",
    ),
    (
        "token.*",
        "Your tokens: expiring (30, 7 and 1 days before), expired, revoked, regenerated",
    ),
    (
        "account.*",
        "Your account (and, for admins, every account): locked, refresh token reused, disabled",
    ),
    (
        "webhook.*",
        "Your other endpoints: disabled after failing for days",
    ),
    ("*", "Everything above"),
];

struct EndpointRow {
    id: Uuid,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    disabled_reason: String,
    failing_since: String,
    created: String,
}

impl From<EndpointRecord> for EndpointRow {
    fn from(e: EndpointRecord) -> Self {
        EndpointRow {
            id: e.id,
            events: e.events.split_whitespace().collect::<Vec<_>>().join(", "),
            url: e.url,
            description: e.description.unwrap_or_default(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.unwrap_or_default(),
            failing_since: e.failing_since.map(when).unwrap_or_default(),
            created: when(e.created_at),
        }
    }
}

struct Choice {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct ListPage {
    nav: Nav,
    endpoints: Vec<EndpointRow>,
    choices: Vec<Choice>,
    url: String,
    description: String,
    notice: Option<String>,
    error: Option<String>,
}

struct DeliveryRow {
    id: Uuid,
    kind: String,
    status: &'static str,
    attempts: i32,
    last: String,
    next: String,
    created: String,
    log: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct EndpointPage {
    nav: Nav,
    endpoint: EndpointRow,
    deliveries: Vec<DeliveryRow>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/webhook_secret.html")]
struct SecretPage {
    nav: Nav,
    id: Uuid,
    url: String,
    heading: &'static str,
    secret: String,
}

fn shown(error: WebhookError) -> Response {
    match error {
        WebhookError::NotFound => error_page(StatusCode::NOT_FOUND, "Webhook endpoint not found"),
        error => failure(&ApiError::from(error)),
    }
}

fn not_found() -> Response {
    shown(WebhookError::NotFound)
}

async fn list_page(
    state: &AppState,
    user: &SignedIn,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    typed: (String, String, Vec<String>),
) -> Response {
    match state.webhooks.list(user.user_id).await {
        Ok(endpoints) => render(
            status,
            &ListPage {
                nav: Nav::of(user),
                endpoints: endpoints.into_iter().map(EndpointRow::from).collect(),
                choices: CHOICES
                    .iter()
                    .map(|(value, label)| Choice {
                        value,
                        label,
                        checked: typed.2.iter().any(|t| t == value),
                    })
                    .collect(),
                url: typed.0,
                description: typed.1,
                notice,
                error,
            },
        ),
        Err(error) => shown(error),
    }
}

/// `GET /webhooks`.
pub async fn list(State(state): State<AppState>, client: ClientInfo, jar: CookieJar) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/webhooks").await {
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

/// `POST /webhooks`: registered, then its secret, once.
pub async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/webhooks").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let fields = form.map(|Form(fields)| fields).unwrap_or_default();
    let field = |name: &str| {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let csrf = field("csrf").pop().unwrap_or_default();
    if !form_is_ours(&headers, &user, &csrf) {
        return (jar, cross_site()).into_response();
    }
    let (url, description, events) = (
        field("url").pop().unwrap_or_default(),
        field("description").pop().unwrap_or_default(),
        field("events"),
    );
    let request = CreateEndpoint {
        url: url.clone(),
        events: events.clone(),
        description: Some(description.clone()),
    };
    let page = match state
        .webhooks
        .create(user.user_id, request, state.clock.now())
        .await
    {
        Ok((endpoint, secret)) => render(
            StatusCode::CREATED,
            &SecretPage {
                nav: Nav::of(&user),
                id: endpoint.id,
                url: endpoint.url,
                heading: "Endpoint registered",
                secret: secret.expose().to_owned(),
            },
        ),
        Err(error @ (WebhookError::Invalid(_) | WebhookError::TooMany(_))) => {
            let status = match error {
                WebhookError::TooMany(_) => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let typed = (url, description, events);
            list_page(&state, &user, status, None, Some(error.to_string()), typed).await
        }
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}

async fn endpoint_page(
    state: &AppState,
    user: &SignedIn,
    id: Uuid,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let endpoint = match state.webhooks.get(user.user_id, id).await {
        Ok(endpoint) => endpoint,
        Err(error) => return shown(error),
    };
    let log = match state.webhooks.deliveries(user.user_id, id, 50).await {
        Ok(log) => log,
        Err(error) => return shown(error),
    };
    let deliveries = log
        .deliveries
        .into_iter()
        .map(|d| DeliveryRow {
            log: log
                .attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| {
                    let answer = a.status_code.map_or_else(
                        || a.error.clone().unwrap_or_default(),
                        |s| format!("HTTP {s}"),
                    );
                    format!(
                        "#{} {} — {answer}, {} ms",
                        a.attempt,
                        when(a.started_at),
                        a.duration_ms
                    )
                })
                .collect(),
            id: d.id,
            kind: d.event_kind,
            status: match d.status {
                DeliveryStatus::Pending => "pending",
                DeliveryStatus::Delivered => "delivered",
                DeliveryStatus::Failed => "failed",
            },
            attempts: d.attempts,
            last: d
                .last_status
                .map(|s| format!("HTTP {s}"))
                .or(d.last_error)
                .unwrap_or_default(),
            next: d.next_attempt_at.map(when).unwrap_or_default(),
            created: when(d.created_at),
        })
        .collect();
    render(
        status,
        &EndpointPage {
            nav: Nav::of(user),
            endpoint: endpoint.into(),
            deliveries,
            notice,
            error,
        },
    )
}

/// `GET /webhooks/{id}`.
pub async fn show(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/webhooks").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = endpoint_page(&state, &user, id, StatusCode::OK, None, None).await;
    (jar, page).into_response()
}

/// The signed-in person who pressed a button of these pages, if the form is theirs; else the
/// answer to send instead.
async fn pressed(
    state: &AppState,
    jar: CookieJar,
    client: &ClientInfo,
    headers: &HeaderMap,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Result<(SignedIn, CookieJar), Response> {
    let (user, jar) = require(state, jar, client, "/webhooks").await?;
    if !form_is_ours(headers, &user, &ButtonForm::csrf(form)) {
        return Err((jar, cross_site()).into_response());
    }
    Ok((user, jar))
}

/// What a button on an endpoint's page does.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Test,
    RotateSecret,
    Pause,
    Resume,
}

/// `POST /webhooks/{id}/{action}`: the buttons of an endpoint's page.
pub async fn act(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    path: Result<Path<(Uuid, Action)>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match pressed(&state, jar, &client, &headers, form).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path((id, action))) = path else {
        return (jar, not_found()).into_response();
    };
    let (webhooks, owner, now) = (&state.webhooks, user.user_id, state.clock.now());
    let toggle = |enabled| UpdateEndpoint {
        enabled: Some(enabled),
        ..Default::default()
    };
    let done = match action {
        Action::Test => webhooks
            .send_test(owner, id, now)
            .await
            .map(|_| "A webhook.test event is queued; it appears below once attempted."),
        Action::Pause => webhooks
            .update(owner, id, toggle(false), now)
            .await
            .map(|_| "Paused: events wait until you resume."),
        Action::Resume => webhooks
            .update(owner, id, toggle(true), now)
            .await
            .map(|_| "Resumed: waiting events are delivered now."),
        Action::RotateSecret => {
            let rotated = webhooks
                .rotate_secret(owner, id, RotateSecret::default(), now)
                .await;
            let page = match rotated {
                Ok((endpoint, secret)) => render(
                    StatusCode::OK,
                    &SecretPage {
                        nav: Nav::of(&user),
                        id,
                        url: endpoint.url,
                        heading: "New signing secret",
                        secret: secret.expose().to_owned(),
                    },
                ),
                Err(error) => shown(error),
            };
            return (jar, page).into_response();
        }
    };
    let page = match done {
        Ok(notice) => {
            endpoint_page(
                &state,
                &user,
                id,
                StatusCode::OK,
                Some(notice.to_owned()),
                None,
            )
            .await
        }
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}

/// `POST /webhooks/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match pressed(&state, jar, &client, &headers, form).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match state.webhooks.delete(user.user_id, id).await {
        Ok(()) => {
            let notice = Some("Endpoint deleted; nothing more is sent to it.".to_owned());
            list_page(
                &state,
                &user,
                StatusCode::OK,
                notice,
                None,
                Default::default(),
            )
            .await
        }
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}

/// `GET /webhooks/{id}/delete`: are you sure?
pub async fn confirm_delete(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/webhooks").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let page = match state.webhooks.get(user.user_id, id).await {
        Ok(endpoint) => render(
            StatusCode::OK,
            &Confirm {
                nav: Nav::of(&user),
                title: "Delete webhook endpoint",
                question: format!("Delete the endpoint {}?", endpoint.url),
                explanation: "Nothing more is sent to it, and its deliveries are forgotten. To stop it for a while, pause it instead.",
                action: format!("/webhooks/{id}/delete"),
                button: "Delete endpoint",
                danger: true,
                cancel: format!("/webhooks/{id}"),
            },
        ),
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}

/// `POST /webhooks/{id}/deliveries/{delivery}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    path: Result<Path<(Uuid, Uuid)>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match pressed(&state, jar, &client, &headers, form).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path((id, delivery))) = path else {
        return (jar, not_found()).into_response();
    };
    let retried = state
        .webhooks
        .retry(user.user_id, id, delivery, state.clock.now())
        .await;
    let page = match retried {
        Ok(_) => {
            let notice = Some("Retrying: the delivery is due now.".to_owned());
            endpoint_page(&state, &user, id, StatusCode::OK, notice, None).await
        }
        Err(error @ WebhookError::AttemptUnderWay) => {
            let error = Some(error.to_string());
            endpoint_page(&state, &user, id, StatusCode::CONFLICT, None, error).await
        }
        Err(error) => shown(error),
    };
    (jar, page).into_response()
}
