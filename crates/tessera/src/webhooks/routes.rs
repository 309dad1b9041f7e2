//! `/api/v1/webhooks…` over HTTP: a signed-in person's own endpoints and their deliveries.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::service::{
    CreateEndpoint, DeliveryLog, RotateSecret, UpdateEndpoint, WebhookError, MAX_DELIVERIES,
};
use crate::accounts::AuthUser;
use crate::http::extract::{Json, JsonOrEmpty, Path, Query};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, Success};
use crate::input::InvalidField;
use crate::state::AppState;
use crate::store::{AttemptRecord, DeliveryRecord, DeliveryStatus, EndpointRecord};
use crate::types::Timestamp;

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Invalid(invalid) => invalid.into(),
            WebhookError::NotFound | WebhookError::DeliveryNotFound => {
                ApiError::NotFound(error.to_string())
            }
            WebhookError::AttemptUnderWay | WebhookError::TooMany(_) => {
                ApiError::Conflict(error.to_string())
            }
            WebhookError::Sealing(cause) => ApiError::Internal(cause),
            WebhookError::Store(error) => ApiError::from(error),
        }
    }
}

/// The `/api/v1/webhooks` routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
}

/// An endpoint (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    id: Uuid,
    url: String,
    description: Option<String>,
    /// Event types, families (`connection.*`) or `*`.
    events: Vec<String>,
    enabled: bool,
    /// Why it is disabled: by its owner, or failing for days.
    disabled_reason: Option<String>,
    /// Its deliveries have failed since then, without a success.
    #[schema(value_type = Option<String>)]
    failing_since: Option<Timestamp>,
    /// Until then the secret before the last rotation signs too.
    #[schema(value_type = Option<String>)]
    previous_secret_valid_until: Option<Timestamp>,
    #[schema(value_type = String)]
    created_at: Timestamp,
    #[schema(value_type = String)]
    updated_at: Timestamp,
}

impl From<EndpointRecord> for EndpointView {
    fn from(e: EndpointRecord) -> Self {
        EndpointView {
            id: e.id,
            url: e.url,
            description: e.description,
            events: e.events.split_whitespace().map(str::to_owned).collect(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            previous_secret_valid_until: e.previous_valid_until,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    endpoint: EndpointView,
    /// `whsec_` and the base64 key: verify each delivery's `webhook-signature` with it.
    secret: String,
}

/// The caller's endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    webhooks: Vec<EndpointView>,
    total: usize,
}

/// Registers an endpoint. Its signing secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("jwt" = [])),
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Registered; `secret` is shown once", body = inline(Enveloped<EndpointWithSecret>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 409, description = "The account has as many endpoints as allowed", body = ErrorEnvelope),
        (status = 422, description = "Invalid url, events or description", body = ErrorEnvelope),
    ))]
pub async fn create_endpoint(
    user: AuthUser,
    State(state): State<AppState>,
    Json(body): Json<CreateEndpoint>,
) -> ApiResult<Success<EndpointWithSecret>> {
    let (endpoint, secret) = state
        .webhooks
        .create(user.user_id, body, state.clock.now())
        .await?;
    Ok(created(EndpointWithSecret {
        endpoint: endpoint.into(),
        secret: secret.expose().to_owned(),
    }))
}

/// The caller's endpoints, oldest first.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("jwt" = [])),
    responses(
        (status = 200, description = "The endpoints", body = inline(Enveloped<EndpointList>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
    ))]
pub async fn list_endpoints(
    user: AuthUser,
    State(state): State<AppState>,
) -> ApiResult<Success<EndpointList>> {
    let webhooks: Vec<EndpointView> = state
        .webhooks
        .list(user.user_id)
        .await?
        .into_iter()
        .map(EndpointView::from)
        .collect();
    Ok(ok(EndpointList {
        total: webhooks.len(),
        webhooks,
    }))
}

/// One of the caller's endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = inline(Enveloped<EndpointView>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "The caller has no such endpoint", body = ErrorEnvelope),
    ))]
pub async fn get_endpoint(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<EndpointView>> {
    Ok(ok(state.webhooks.get(user.user_id, id).await?.into()))
}

/// Changes an endpoint's url, events, description, or pauses and resumes it.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = UpdateEndpoint,
    responses(
        (status = 200, description = "Changed", body = inline(Enveloped<EndpointView>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "The caller has no such endpoint", body = ErrorEnvelope),
        (status = 422, description = "Invalid url, events or description", body = ErrorEnvelope),
    ))]
pub async fn update_endpoint(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateEndpoint>,
) -> ApiResult<Success<EndpointView>> {
    let endpoint = state
        .webhooks
        .update(user.user_id, id, body, state.clock.now())
        .await?;
    Ok(ok(endpoint.into()))
}

/// The answer to a deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedEndpoint {
    id: Uuid,
    deleted: bool,
}

/// Deletes an endpoint and its deliveries; nothing more is sent to it.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "Deleted", body = inline(Enveloped<DeletedEndpoint>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "The caller has no such endpoint", body = ErrorEnvelope),
    ))]
pub async fn delete_endpoint(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<DeletedEndpoint>> {
    state.webhooks.delete(user.user_id, id).await?;
    Ok(ok(DeletedEndpoint { id, deleted: true }))
}

/// Gives an endpoint a new secret, shown in this answer only. The current secret keeps signing
/// beside it (a second signature) for `grace_seconds` (default a day), so the receiver can switch
/// without losing a delivery.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body(content = Option<RotateSecret>, description = "Optional"),
    responses(
        (status = 200, description = "Rotated; `secret` is shown once", body = inline(Enveloped<EndpointWithSecret>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "The caller has no such endpoint", body = ErrorEnvelope),
        (status = 422, description = "Invalid grace_seconds", body = ErrorEnvelope),
    ))]
pub async fn rotate_secret(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<RotateSecret>,
) -> ApiResult<Success<EndpointWithSecret>> {
    let (endpoint, secret) = state
        .webhooks
        .rotate_secret(user.user_id, id, body, state.clock.now())
        .await?;
    Ok(ok(EndpointWithSecret {
        endpoint: endpoint.into(),
        secret: secret.expose().to_owned(),
    }))
}

/// A queued event.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedEvent {
    event_id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Sends a `webhook.test` event to this endpoint (whatever it subscribed to); follow it in the
/// deliveries.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 202, description = "Queued", body = inline(Enveloped<QueuedEvent>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "The caller has no such endpoint", body = ErrorEnvelope),
    ))]
pub async fn send_test(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<QueuedEvent>> {
    let event_id = state
        .webhooks
        .send_test(user.user_id, id, state.clock.now())
        .await?;
    Ok(Success(
        StatusCode::ACCEPTED,
        QueuedEvent {
            event_id,
            kind: super::events::EventKind::WebhookTest.as_str(),
        },
    ))
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    attempt: i32,
    #[schema(value_type = String)]
    started_at: Timestamp,
    duration_ms: i32,
    /// The receiver's HTTP status, if it answered.
    status_code: Option<i32>,
    /// Why the attempt failed, if it did.
    error: Option<String>,
}

/// One event's delivery to the endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` header of every attempt.
    id: Uuid,
    event_id: Uuid,
    /// The event type.
    #[serde(rename = "type")]
    kind: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(value_type = String)]
    status: DeliveryStatus,
    attempts: i32,
    /// When the next attempt is due (pending only).
    #[schema(value_type = Option<String>)]
    next_attempt_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    last_attempt_at: Option<Timestamp>,
    /// The last answer's HTTP status.
    last_status: Option<i32>,
    last_error: Option<String>,
    #[schema(value_type = Option<String>)]
    delivered_at: Option<Timestamp>,
    #[schema(value_type = String)]
    created_at: Timestamp,
    /// Every attempt, first first.
    attempt_log: Vec<AttemptView>,
}

impl DeliveryView {
    fn new(d: DeliveryRecord, attempts: &[AttemptRecord]) -> Self {
        DeliveryView {
            attempt_log: attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    started_at: a.started_at,
                    duration_ms: a.duration_ms,
                    status_code: a.status_code,
                    error: a.error.clone(),
                })
                .collect(),
            id: d.id,
            event_id: d.event_id,
            kind: d.event_kind,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// An endpoint's latest deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

/// How many deliveries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// 1–100, default 50.
    limit: Option<i64>,
}

/// An endpoint's latest deliveries, newest first, each with its attempts.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id"), DeliveriesQuery),
    responses(
        (status = 200, description = "The deliveries", body = inline(Enveloped<DeliveryList>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "The caller has no such endpoint", body = ErrorEnvelope),
        (status = 422, description = "Invalid limit", body = ErrorEnvelope),
    ))]
pub async fn list_deliveries(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<DeliveriesQuery>,
) -> ApiResult<Success<DeliveryList>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_DELIVERIES).contains(&limit) {
        return Err(
            InvalidField::new(format!("limit must be between 1 and {MAX_DELIVERIES}")).into(),
        );
    }
    let DeliveryLog {
        deliveries,
        attempts,
    } = state.webhooks.deliveries(user.user_id, id, limit).await?;
    Ok(ok(DeliveryList {
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryView::new(d, &attempts))
            .collect(),
    }))
}

/// Makes a delivery due now (again): after a failure, or to send a delivered event once more.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks", security(("jwt" = [])),
    params(("id" = Uuid, Path, description = "Endpoint id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Due now", body = inline(Enveloped<DeliveryView>)),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 404, description = "No such endpoint or delivery", body = ErrorEnvelope),
        (status = 409, description = "An attempt is under way", body = ErrorEnvelope),
    ))]
pub async fn retry_delivery(
    user: AuthUser,
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Success<DeliveryView>> {
    let (delivery, attempts) = state
        .webhooks
        .retry(user.user_id, id, delivery_id, state.clock.now())
        .await?;
    Ok(Success(
        StatusCode::ACCEPTED,
        DeliveryView::new(delivery, &attempts),
    ))
}
