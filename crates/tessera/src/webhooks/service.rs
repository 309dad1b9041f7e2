//! The webhook rules: who may register what, and each endpoint operation.
//!
//! Every person may register endpoints (at most `WEBHOOK_MAX_ENDPOINTS`) for events about their
//! own objects; an admin's endpoints hear of every account's account events too (decided when
//! an event is fanned out, so a demoted admin stops hearing at once). An endpoint's URL follows
//! the rules of OAuth endpoints: public `https` unless `WEBHOOK_ALLOW_PRIVATE_ENDPOINTS`, and
//! resolved on each delivery through the resolver that drops internal addresses.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::{Event, EventKind, EventPattern};
use super::signing;
use crate::config::{Config, SecretString};
use crate::connections::provider::checked_endpoint;
use crate::connections::vault::{Slot, Vault};
use crate::input::{optional_text, Field, InvalidField};
use crate::store::{AttemptRecord, DeliveryRecord, EndpointRecord, Store};
use crate::types::Timestamp;

/// Patterns one endpoint may list.
const MAX_PATTERNS: usize = 20;
/// Characters of a description.
const MAX_DESCRIPTION: usize = 200;
/// Deliveries listed per page.
pub const MAX_DELIVERIES: i64 = 100;
/// How long a rotated-out secret keeps signing unless the request says otherwise: a day, as
/// long as a receiver's deploy of the new secret may take.
const DEFAULT_SECRET_GRACE_SECONDS: u64 = 86_400;
/// The longest such grace: a week.
const MAX_SECRET_GRACE_SECONDS: u64 = 604_800;

/// Why a webhook operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A field of the request is wrong (the message says which and why).
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The caller has no such endpoint (someone else's is "no such" too: ids are not confirmed
    /// to strangers).
    #[error("No webhook endpoint with this id")]
    NotFound,
    /// The endpoint has no such delivery.
    #[error("No delivery with this id for this endpoint")]
    DeliveryNotFound,
    /// An attempt of the delivery is under way; a retry now would send it twice at once.
    #[error("This delivery is being attempted right now; retry once the attempt ends")]
    AttemptUnderWay,
    /// The caller has registered as many endpoints as allowed.
    #[error("At most {0} webhook endpoints per account; delete one first")]
    TooMany(u64),
    /// A stored secret would not open: a fault of the deployment's keys, never the caller's.
    #[error("a webhook secret could not be opened")]
    Sealing(#[source] anyhow::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// The numbers the webhook rules and the delivery worker run by (from [`Config`]).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `WEBHOOK_ALLOW_PRIVATE_ENDPOINTS`.
    pub allow_private: bool,
    /// Whether this instance runs the delivery worker (`WEBHOOK_DELIVERY`).
    pub deliver: bool,
    /// One attempt's timeout.
    pub timeout: Duration,
    /// The pause before each retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    /// Failing this long disables an endpoint.
    pub disable_after: Duration,
    /// How often the worker looks for work.
    pub poll_interval: Duration,
    /// Attempts at once on this instance.
    pub concurrency: usize,
    /// Endpoints per account.
    pub max_endpoints: u64,
}

impl WebhookSettings {
    /// The settings `config` names.
    pub fn from_config(config: &Config) -> WebhookSettings {
        WebhookSettings {
            allow_private: config.webhook_allow_private_endpoints,
            deliver: config.webhook_delivery,
            timeout: Duration::from_secs(config.webhook_timeout_seconds),
            retry_schedule: config.webhook_retry_schedule.0.clone(),
            disable_after: Duration::from_secs(config.webhook_disable_after_hours * 3_600),
            poll_interval: Duration::from_millis(config.webhook_poll_interval_ms),
            concurrency: config.webhook_concurrency as usize,
            max_endpoints: config.webhook_max_endpoints,
        }
    }
}

/// The webhooks service: endpoints, their secrets and deliveries.
#[derive(Clone)]
pub struct Webhooks {
    pub(super) store: Store,
    pub(super) vault: Vault,
    pub(super) settings: WebhookSettings,
    /// Posts deliveries (see [`super::worker`]).
    pub(super) http: reqwest::Client,
    /// Attempts by outcome, for the metrics.
    pub attempts: AttemptCounters,
}

/// Delivery attempts by outcome (see `crate::metrics`).
#[derive(Debug, Clone, Default)]
pub struct AttemptCounters {
    pub delivered: prometheus_client::metrics::counter::Counter,
    pub retrying: prometheus_client::metrics::counter::Counter,
    pub failed: prometheus_client::metrics::counter::Counter,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where events are posted: public `https`.
    pub url: String,
    /// Event types, families (`connection.*`) or `*`.
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// `PATCH /api/v1/webhooks/{id}`: absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// `null` or `""` clears it.
    #[schema(value_type = Option<String>)]
    pub description: Field<String>,
    /// `false` pauses deliveries (events keep queueing for it and wait); `true` resumes them
    /// and forgets past failures.
    pub enabled: Option<bool>,
}

/// `POST /api/v1/webhooks/{id}/rotate-secret` (the body is optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RotateSecret {
    /// Seconds the current secret keeps signing beside the new one (0–604800, default 86400).
    pub grace_seconds: Option<u64>,
}

/// An endpoint's deliveries, newest first, and their attempts.
#[derive(Debug)]
pub struct DeliveryLog {
    pub deliveries: Vec<DeliveryRecord>,
    pub attempts: Vec<AttemptRecord>,
}

impl Webhooks {
    /// The service for this configuration, sealing secrets with `vault`.
    pub fn new(store: Store, vault: Vault, config: &Config) -> anyhow::Result<Webhooks> {
        let settings = WebhookSettings::from_config(config);
        Ok(Webhooks {
            http: super::worker::client(&settings)?,
            attempts: AttemptCounters::default(),
            store,
            vault,
            settings,
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Registers an endpoint; the secret is returned this once.
    pub async fn create(
        &self,
        owner_id: Uuid,
        request: CreateEndpoint,
        now: Timestamp,
    ) -> Result<(EndpointRecord, SecretString), WebhookError> {
        let url = checked_endpoint("url", &request.url, self.settings.allow_private)?;
        let events = checked_patterns(&request.events)?;
        let description = optional_text(
            "description",
            request.description.map_or(Field::Null, Field::Value),
            None,
            MAX_DESCRIPTION,
        )?;
        let existing = self.store.list_endpoints(owner_id).await?.len() as u64;
        if existing >= self.settings.max_endpoints {
            return Err(WebhookError::TooMany(self.settings.max_endpoints));
        }
        let id = Uuid::now_v7();
        let secret = signing::new_secret();
        let endpoint = EndpointRecord {
            id,
            owner_id,
            url,
            description,
            events,
            secret_sealed: self.vault.seal(Slot::WebhookSecret(id), secret.expose()),
            previous_secret_sealed: None,
            previous_valid_until: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_endpoint(&endpoint).await?;
        Ok((endpoint, secret))
    }

    /// The caller's endpoints.
    pub async fn list(&self, owner_id: Uuid) -> Result<Vec<EndpointRecord>, WebhookError> {
        Ok(self.store.list_endpoints(owner_id).await?)
    }

    /// One of the caller's endpoints.
    pub async fn get(&self, owner_id: Uuid, id: Uuid) -> Result<EndpointRecord, WebhookError> {
        self.store
            .find_endpoint(owner_id, id)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    /// Changes an endpoint's URL, events, description or whether it is enabled.
    pub async fn update(
        &self,
        owner_id: Uuid,
        id: Uuid,
        request: UpdateEndpoint,
        now: Timestamp,
    ) -> Result<EndpointRecord, WebhookError> {
        let mut endpoint = self.get(owner_id, id).await?;
        if let Some(url) = &request.url {
            endpoint.url = checked_endpoint("url", url, self.settings.allow_private)?;
        }
        if let Some(events) = &request.events {
            endpoint.events = checked_patterns(events)?;
        }
        endpoint.description = optional_text(
            "description",
            request.description,
            endpoint.description,
            MAX_DESCRIPTION,
        )?;
        if let Some(enabled) = request.enabled {
            endpoint.disabled_reason = (!enabled).then(|| "disabled by its owner".to_owned());
            endpoint.enabled = enabled;
            if enabled {
                endpoint.failing_since = None;
            }
        }
        endpoint.updated_at = now;
        if !self
            .store
            .update_endpoint(&endpoint, request.enabled)
            .await?
        {
            return Err(WebhookError::NotFound);
        }
        self.get(owner_id, id).await
    }

    /// Deletes an endpoint with its deliveries.
    pub async fn delete(&self, owner_id: Uuid, id: Uuid) -> Result<(), WebhookError> {
        match self.store.delete_endpoint(owner_id, id).await? {
            true => Ok(()),
            false => Err(WebhookError::NotFound),
        }
    }

    /// Gives an endpoint a new secret, returned this once; the current one keeps signing for
    /// the grace (a second signature in the header), so the receiver can switch without losing a
    /// delivery.
    pub async fn rotate_secret(
        &self,
        owner_id: Uuid,
        id: Uuid,
        request: RotateSecret,
        now: Timestamp,
    ) -> Result<(EndpointRecord, SecretString), WebhookError> {
        let grace = request
            .grace_seconds
            .unwrap_or(DEFAULT_SECRET_GRACE_SECONDS);
        if grace > MAX_SECRET_GRACE_SECONDS {
            return Err(InvalidField::new(format!(
                "grace_seconds must be between 0 and {MAX_SECRET_GRACE_SECONDS}"
            ))
            .into());
        }
        let current = self.get(owner_id, id).await?;
        let secret = signing::new_secret();
        let sealed = self.vault.seal(Slot::WebhookSecret(id), secret.expose());
        let previous = (grace > 0).then_some(current.secret_sealed.as_slice());
        let previous_valid_until = (grace > 0).then(|| now + time::Duration::seconds(grace as i64));
        if !self
            .store
            .replace_endpoint_secret(owner_id, id, &sealed, previous, previous_valid_until, now)
            .await?
        {
            return Err(WebhookError::NotFound);
        }
        Ok((self.get(owner_id, id).await?, secret))
    }

    /// Queues a `webhook.test` event for this endpoint only; returns its id.
    pub async fn send_test(
        &self,
        owner_id: Uuid,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Uuid, WebhookError> {
        let endpoint = self.get(owner_id, id).await?;
        let data = json!({ "endpoint": { "id": endpoint.id, "url": endpoint.url } });
        let event = Event::new(EventKind::WebhookTest, owner_id, data, now).for_endpoint(id);
        let mut tx = self.store.begin().await?;
        tx.enqueue_event(&event.row()).await?;
        tx.commit().await?;
        Ok(event.row().id)
    }

    /// An endpoint's latest deliveries (at most `limit`), with their attempts.
    pub async fn deliveries(
        &self,
        owner_id: Uuid,
        id: Uuid,
        limit: i64,
    ) -> Result<DeliveryLog, WebhookError> {
        self.get(owner_id, id).await?;
        let deliveries = self.store.list_deliveries(id, limit).await?;
        let attempts = match deliveries.last() {
            Some(oldest) => self.store.list_attempts(id, oldest.created_at).await?,
            None => Vec::new(),
        };
        Ok(DeliveryLog {
            deliveries,
            attempts,
        })
    }

    /// Makes a delivery (delivered, failed or waiting for a retry) due now; answers it with its
    /// attempts so far.
    pub async fn retry(
        &self,
        owner_id: Uuid,
        id: Uuid,
        delivery_id: Uuid,
        now: Timestamp,
    ) -> Result<(DeliveryRecord, Vec<AttemptRecord>), WebhookError> {
        self.get(owner_id, id).await?;
        if self.store.find_delivery(id, delivery_id).await?.is_none() {
            return Err(WebhookError::DeliveryNotFound);
        }
        if !self.store.retry_delivery(id, delivery_id, now).await? {
            return Err(WebhookError::AttemptUnderWay);
        }
        let delivery = self
            .store
            .find_delivery(id, delivery_id)
            .await?
            .ok_or(WebhookError::DeliveryNotFound)?;
        let attempts = self.store.list_attempts(id, delivery.created_at).await?;
        Ok((delivery, attempts))
    }
}

/// Checks a pattern list and gives its stored form (space-separated, each once, in order).
fn checked_patterns(raw: &[String]) -> Result<String, InvalidField> {
    if raw.is_empty() {
        return Err(InvalidField::new(
            "events must name at least one event type (or `*`)",
        ));
    }
    if raw.len() > MAX_PATTERNS {
        return Err(InvalidField::new(format!(
            "events may hold at most {MAX_PATTERNS} entries"
        )));
    }
    let mut patterns: Vec<EventPattern> = Vec::with_capacity(raw.len());
    for entry in raw {
        let pattern = EventPattern::parse(entry)?;
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Ok(patterns
        .iter()
        .map(EventPattern::as_str)
        .collect::<Vec<_>>()
        .join(" "))
}
