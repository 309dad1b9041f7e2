//! The delivery worker: moves events from the outbox to the receivers.
//!
//! Every `WEBHOOK_POLL_INTERVAL_MS` it (1) fans new events out into one delivery per subscribed
//! endpoint, (2) leases the deliveries that are due to this instance and (3) attempts them, at
//! most `WEBHOOK_CONCURRENCY` at once, writing each attempt and what it came to. Each step is a
//! transaction safe beside other instances (see `store::webhooks`), so any number of instances
//! may run it: each delivery is attempted by one of them at a time, and at least once even if an
//! instance dies mid-attempt (its lease runs out and another takes the delivery).
//!
//! A failed attempt is retried after the next pause of `WEBHOOK_RETRY_SCHEDULE`; after the last
//! the delivery is failed. An endpoint whose deliveries have failed without a success for
//! `WEBHOOK_DISABLE_AFTER_HOURS` is disabled, and its owner hears of it (`webhook.disabled`).

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::events::{stored_patterns, Event, EventKind};
use super::service::{WebhookSettings, Webhooks};
use super::signing;
use crate::clock::Clock;
use crate::connections::vault::Slot;
use crate::store::{
    AttemptOutcome, AttemptRecord, DueDelivery, EndpointDisabling, Listener, PendingEvent,
};
use crate::types::Timestamp;

/// Events fanned out per transaction.
const DISPATCH_BATCH: i64 = 100;
/// How long a leased delivery stays this instance's: the attempt's timeout and a margin for
/// writing its outcome. Past it, another instance may attempt the delivery.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Characters of a receiver's error kept with an attempt.
const MAX_ERROR: usize = 200;

/// The running worker; [`Worker::stop`] lets its round finish.
pub struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    /// How long a round may still take: an attempt's timeout and the margin to record it.
    grace: Duration,
}

impl Worker {
    /// Stops taking work and waits for the round under way, so that every attempt it made is
    /// recorded (an attempt posted but not recorded would be posted again by the next instance).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(self.grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Starts the worker, unless this instance does not deliver (`WEBHOOK_DELIVERY=false`).
pub fn spawn(webhooks: Webhooks, clock: Clock) -> Option<Worker> {
    if !webhooks.settings.deliver {
        return None;
    }
    let grace = webhooks.settings.timeout + LEASE_MARGIN;
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(webhooks.settings.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = tick.tick() => {}
            }
            // Not raced against the stop: a round, once begun, records what it sent.
            if let Err(error) = run_once(&webhooks, &clock).await {
                tracing::warn!(%error, "webhook delivery round failed; trying again next round");
            }
        }
    });
    Some(Worker { stop, task, grace })
}

/// The client deliveries are posted with: no redirects (a receiver must not bounce Tessera
/// elsewhere), the attempt's timeout, and unless private endpoints are allowed, the resolver
/// that drops internal addresses.
pub(super) fn client(settings: &WebhookSettings) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tessera-webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if settings.allow_private {
        builder
    } else {
        // No proxy either: a proxy would resolve the host itself, past the resolver's check.
        builder.no_proxy().dns_resolver(std::sync::Arc::new(
            crate::connections::provider::PublicOnly,
        ))
    };
    Ok(builder.build()?)
}

/// One round: fan out, lease, attempt; returns once every attempt is recorded. Returns the
/// number of attempts made. (Tests call it instead of running the worker.)
pub async fn run_once(webhooks: &Webhooks, clock: &Clock) -> anyhow::Result<usize> {
    let store = &webhooks.store;
    while store
        .dispatch_events(DISPATCH_BATCH, clock.now(), subscribed)
        .await?
        == DISPATCH_BATCH as usize
    {}
    let now = clock.now();
    let lease = to_time(webhooks.settings.timeout + LEASE_MARGIN);
    let due = store
        .claim_due_deliveries(now, now + lease, webhooks.settings.concurrency as i64)
        .await?;
    let attempts = due.len();
    stream::iter(due)
        .for_each_concurrent(webhooks.settings.concurrency, |delivery| async move {
            let id = delivery.id;
            if let Err(error) = attempt(webhooks, clock, delivery).await {
                tracing::warn!(%error, delivery = %id, "a webhook attempt could not be recorded");
            }
        })
        .await;
    Ok(attempts)
}

/// The endpoints among `listeners` that get `event`: the one it names, or those whose patterns
/// match its type.
fn subscribed(event: &PendingEvent, listeners: &[Listener]) -> Vec<uuid::Uuid> {
    listeners
        .iter()
        .filter(|listener| {
            event.endpoint_id == Some(listener.id)
                || (event.endpoint_id.is_none()
                    && stored_patterns(&listener.events)
                        .iter()
                        .any(|pattern| pattern.matches(&event.kind)))
        })
        .map(|listener| listener.id)
        .collect()
}

/// Posts one delivery and records the attempt.
async fn attempt(webhooks: &Webhooks, clock: &Clock, delivery: DueDelivery) -> anyhow::Result<()> {
    let started_at = clock.now();
    let started = Instant::now();
    let result = post(webhooks, &delivery, started_at).await;
    let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let (status_code, error) = match result {
        Ok(status) if (200..300).contains(&status) => (Some(status), None),
        Ok(status) => (
            Some(status),
            Some(format!("the receiver answered {status}")),
        ),
        Err(error) => (None, Some(error)),
    };
    let record = AttemptRecord {
        delivery_id: delivery.id,
        attempt: delivery.attempts + 1,
        started_at,
        duration_ms,
        status_code: status_code.map(i32::from),
        error,
    };
    let outcome = outcome(&webhooks.settings.retry_schedule, &record);
    let disable_after = webhooks.settings.disable_after;
    let hours = disable_after.as_secs() / 3_600;
    let reason = format!("failing without a success for {hours} hours or more");
    let event = disabled_event(&delivery, hours, started_at);
    let disabling = EndpointDisabling {
        failing_before: started_at - to_time(disable_after),
        reason: &reason,
        event: event.row(),
    };
    let recorded = webhooks
        .store
        .record_attempt(
            &record,
            outcome,
            delivery.endpoint_id,
            delivery.lease_until,
            Some(disabling),
        )
        .await?;
    let counter = match outcome {
        AttemptOutcome::Delivered => &webhooks.attempts.delivered,
        AttemptOutcome::RetryAt(_) => &webhooks.attempts.retrying,
        AttemptOutcome::Failed => &webhooks.attempts.failed,
    };
    counter.inc();
    if !recorded {
        tracing::warn!(delivery = %delivery.id, "a webhook attempt outlasted its lease; another instance took the delivery");
    }
    Ok(())
}

/// What an attempt leads to: done, another attempt after the schedule's next pause, or failed.
fn outcome(schedule: &[Duration], attempt: &AttemptRecord) -> AttemptOutcome {
    if attempt.error.is_none() {
        return AttemptOutcome::Delivered;
    }
    match schedule.get(attempt.attempt as usize - 1) {
        Some(pause) => AttemptOutcome::RetryAt(attempt.started_at + to_time(*pause)),
        None => AttemptOutcome::Failed,
    }
}

/// The event telling an endpoint's owner it was disabled. It goes to their other endpoints,
/// maybe other systems: the URL is named by its host only (its path or query may hold the
/// receiver's own token).
fn disabled_event(delivery: &DueDelivery, hours: u64, now: Timestamp) -> Event {
    let host = url::Url::parse(&delivery.url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned));
    let data = json!({
        "endpoint": { "id": delivery.endpoint_id, "host": host },
        "failing_for_hours": hours,
    });
    Event::new(EventKind::WebhookDisabled, delivery.owner_id, data, now)
}

/// Signs and posts the event; the receiver's status, or why there was none.
async fn post(webhooks: &Webhooks, delivery: &DueDelivery, now: Timestamp) -> Result<u16, String> {
    let body = body(delivery);
    let secrets = secrets(webhooks, delivery, now).map_err(|error| {
        tracing::error!(%error, endpoint = %delivery.endpoint_id, "a webhook secret would not open");
        "the endpoint's secret could not be opened (an operator must check the keys)".to_owned()
    })?;
    let message_id = delivery.id.to_string();
    // The receiver checks this against its own clock (a five-minute tolerance), so it is the
    // wall clock's time of this attempt, not the event's.
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = signing::signature_header(&secrets, &message_id, timestamp, body.as_bytes())
        .map_err(|_| "the endpoint's secret is malformed".to_owned())?;
    let response = webhooks
        .http
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("webhook-id", &message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(describe)?;
    Ok(response.status().as_u16())
}

/// The payload: `{"type","timestamp","data"}`, the same bytes on every attempt.
fn body(delivery: &DueDelivery) -> String {
    let data: Box<serde_json::value::RawValue> =
        serde_json::value::RawValue::from_string(delivery.event_data.clone())
            .unwrap_or_else(|_| serde_json::value::to_raw_value(&json!({})).expect("{} is JSON"));
    json!({
        "type": delivery.event_kind,
        "timestamp": delivery.event_created_at.to_rfc3339(),
        "data": data,
    })
    .to_string()
}

/// The secrets to sign with: the current one, and the previous one while its grace lasts.
fn secrets(
    webhooks: &Webhooks,
    delivery: &DueDelivery,
    now: Timestamp,
) -> anyhow::Result<Vec<crate::config::SecretString>> {
    let slot = Slot::WebhookSecret(delivery.endpoint_id);
    let mut secrets = vec![webhooks.vault.open(slot, &delivery.secret_sealed)?];
    if let (Some(previous), Some(until)) = (
        &delivery.previous_secret_sealed,
        delivery.previous_valid_until,
    ) {
        if now < until {
            secrets.push(webhooks.vault.open(slot, previous)?);
        }
    }
    Ok(secrets)
}

/// Why a post got no answer, without the URL's query (it may carry a receiver's token).
fn describe(error: reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect (or the address is not public)".to_owned()
    } else {
        error.without_url().to_string()
    };
    what.chars().take(MAX_ERROR).collect()
}

fn to_time(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_attempt(attempt: i32) -> AttemptRecord {
        AttemptRecord {
            delivery_id: uuid::Uuid::nil(),
            attempt,
            started_at: Timestamp::now(),
            duration_ms: 1,
            status_code: Some(500),
            error: Some("the receiver answered 500".into()),
        }
    }

    #[test]
    fn each_failure_waits_the_next_pause_and_the_last_fails() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(300)];
        let first = failed_attempt(1);
        assert!(matches!(outcome(&schedule, &first),
            AttemptOutcome::RetryAt(at) if at == first.started_at + time::Duration::seconds(5)));
        let second = failed_attempt(2);
        assert!(matches!(outcome(&schedule, &second),
            AttemptOutcome::RetryAt(at) if at == second.started_at + time::Duration::seconds(300)));
        assert!(matches!(
            outcome(&schedule, &failed_attempt(3)),
            AttemptOutcome::Failed
        ));
    }
}
