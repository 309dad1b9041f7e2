//! Queries on webhooks: `webhook_endpoints`, the outbox `webhook_events`, `webhook_deliveries`
//! and `webhook_attempts` (see migration 0017 and `crate::webhooks`).
//!
//! An event is written with [`Tx::enqueue_event`] inside the transaction of the change that
//! caused it. The worker then moves it along in three steps, each safe to run on several
//! instances at once: [`Store::dispatch_events`] fans events out into deliveries,
//! [`Store::claim_due_deliveries`] leases due deliveries to one instance, and
//! [`Store::record_attempt`] writes what the receiver answered.

use uuid::Uuid;

use super::tx::on_tx;
use super::{on_pool, Backend, Store, Tx};
use crate::types::{text_enum, Timestamp};

text_enum! {
    /// Whose endpoints hear of an event.
    pub enum EventAudience("event audience") {
        /// The endpoints of the person the event concerns.
        Owner = "owner",
        /// Those, and every admin's (account and security events).
        OwnerAndAdmins = "owner_and_admins",
    }
}

text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus("delivery status") {
        /// Not delivered yet; attempted when `next_attempt_at` comes.
        Pending = "pending",
        /// A receiver answered 2xx.
        Delivered = "delivered",
        /// Every attempt failed.
        Failed = "failed",
    }
}

/// An event to put in the outbox.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub id: Uuid,
    /// `token.revoked`, `connection.needs_reauth`, …
    pub kind: &'a str,
    /// The person the event concerns.
    pub owner_id: Option<Uuid>,
    pub audience: EventAudience,
    /// The one endpoint it is for (`webhook.test`); `None`: every endpoint that subscribed.
    pub endpoint_id: Option<Uuid>,
    /// The event's `data`, as JSON text.
    pub data: &'a str,
    pub created_at: Timestamp,
}

/// An endpoint as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRecord {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Event patterns, space-separated.
    pub events: String,
    pub secret_sealed: Vec<u8>,
    /// The secret before the last rotation, still signing until `previous_valid_until`.
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_valid_until: Option<Timestamp>,
    pub enabled: bool,
    /// Why it was disabled (by its owner, or for failing).
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last success.
    pub failing_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A delivery as listed, with its event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_kind: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRecord {
    pub delivery_id: Uuid,
    /// 1 for the first.
    pub attempt: i32,
    pub started_at: Timestamp,
    pub duration_ms: i32,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// Why it failed, if it did (a status outside 2xx, a timeout, a refused address).
    pub error: Option<String>,
}

/// An event waiting to be fanned out.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingEvent {
    pub id: Uuid,
    pub kind: String,
    pub owner_id: Option<Uuid>,
    pub audience: EventAudience,
    pub endpoint_id: Option<Uuid>,
}

/// An endpoint (enabled or paused: a paused one's deliveries wait) that may hear of an event, with whether its owner is an admin.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listener {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub events: String,
    pub owner_is_admin: bool,
}

/// A delivery leased to this instance, with all it takes to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub owner_id: Uuid,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_valid_until: Option<Timestamp>,
    /// Attempts made before this one.
    pub attempts: i32,
    pub failing_since: Option<Timestamp>,
    pub event_kind: String,
    pub event_data: String,
    pub event_created_at: Timestamp,
    /// The lease this instance holds on it.
    pub lease_until: Timestamp,
}

/// When a failing endpoint is to be disabled (see [`Store::record_attempt`]).
#[derive(Debug, Clone, Copy)]
pub struct EndpointDisabling<'a> {
    /// Failing since this time or earlier disables it.
    pub failing_before: Timestamp,
    pub reason: &'a str,
    /// Tells its owner.
    pub event: NewEvent<'a>,
}

/// What an attempt came to, as the worker decided.
#[derive(Debug, Clone, Copy)]
pub enum AttemptOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Failed; try again at this time.
    RetryAt(Timestamp),
    /// Failed, and no attempt is left.
    Failed,
}

const ENDPOINT_COLUMNS: &str = "id, owner_id, url, description, events, secret_sealed, \
     previous_secret_sealed, previous_valid_until, enabled, disabled_reason, failing_since, \
     created_at, updated_at";
const DELIVERY_SELECT: &str = "SELECT d.id, d.endpoint_id, d.event_id, ev.kind AS event_kind, \
     d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, \
     d.delivered_at, d.created_at \
     FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id";

impl Tx {
    /// Puts an event in the outbox, to be delivered once this transaction commits.
    pub async fn enqueue_event(&mut self, event: &NewEvent<'_>) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => sqlx::query(
            "INSERT INTO webhook_events (id, kind, owner_id, audience, endpoint_id, data, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(event.id)
        .bind(event.kind)
        .bind(event.owner_id)
        .bind(event.audience)
        .bind(event.endpoint_id)
        .bind(event.data)
        .bind(event.created_at)
        .execute(&mut **conn)
        .await
        .map(drop))
    }
}

impl Store {
    /// Stores a new endpoint.
    pub async fn insert_endpoint(&self, e: &EndpointRecord) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(e.id)
        .bind(e.owner_id)
        .bind(&e.url)
        .bind(&e.description)
        .bind(&e.events)
        .bind(&e.secret_sealed)
        .bind(&e.previous_secret_sealed)
        .bind(e.previous_valid_until)
        .bind(e.enabled)
        .bind(&e.disabled_reason)
        .bind(e.failing_since)
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(pool)
        .await
        .map(drop))
    }

    /// A person's endpoints, oldest first.
    pub async fn list_endpoints(&self, owner_id: Uuid) -> Result<Vec<EndpointRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE owner_id = $1 ORDER BY created_at, id"
        );
        on_pool!(self, pool => sqlx::query_as(&sql).bind(owner_id).fetch_all(pool).await)
    }

    /// One of a person's endpoints.
    pub async fn find_endpoint(
        &self,
        owner_id: Uuid,
        id: Uuid,
    ) -> Result<Option<EndpointRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND owner_id = $2"
        );
        on_pool!(self, pool => sqlx::query_as(&sql).bind(id).bind(owner_id).fetch_optional(pool).await)
    }

    /// Writes an endpoint's url, description and events, and with `enabled` pauses or resumes
    /// it: resuming forgets its failures, so the whole time is needed to disable it again. (Not
    /// given, the enabled state is left as the database has it: the worker may have just
    /// disabled it.)
    pub async fn update_endpoint(
        &self,
        e: &EndpointRecord,
        enabled: Option<bool>,
    ) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE webhook_endpoints SET url = $3, description = $4, events = $5, \
             enabled = COALESCE($6, enabled), \
             disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason WHEN $6 THEN NULL ELSE $7 END, \
             failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END, \
             updated_at = $8 WHERE id = $1 AND owner_id = $2",
        )
        .bind(e.id)
        .bind(e.owner_id)
        .bind(&e.url)
        .bind(&e.description)
        .bind(&e.events)
        .bind(enabled)
        .bind(&e.disabled_reason)
        .bind(e.updated_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
    }

    /// Gives an endpoint a new secret; the current one keeps signing until `previous_valid_until`
    /// (`None`: it stops at once).
    pub async fn replace_endpoint_secret(
        &self,
        owner_id: Uuid,
        id: Uuid,
        secret_sealed: &[u8],
        previous_secret_sealed: Option<&[u8]>,
        previous_valid_until: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE webhook_endpoints SET secret_sealed = $3, previous_secret_sealed = $4, \
             previous_valid_until = $5, updated_at = $6 WHERE id = $1 AND owner_id = $2",
        )
        .bind(id)
        .bind(owner_id)
        .bind(secret_sealed)
        .bind(previous_secret_sealed)
        .bind(previous_valid_until)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
    }

    /// Deletes one of a person's endpoints and its deliveries.
    pub async fn delete_endpoint(&self, owner_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND owner_id = $2")
            .bind(id)
            .bind(owner_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0))
    }

    /// An endpoint's deliveries, newest first, at most `limit`.
    pub async fn list_deliveries(
        &self,
        endpoint_id: Uuid,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, sqlx::Error> {
        let sql = format!(
            "{DELIVERY_SELECT} WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2"
        );
        on_pool!(self, pool => sqlx::query_as(&sql).bind(endpoint_id).bind(limit).fetch_all(pool).await)
    }

    /// One delivery of an endpoint.
    pub async fn find_delivery(
        &self,
        endpoint_id: Uuid,
        id: Uuid,
    ) -> Result<Option<DeliveryRecord>, sqlx::Error> {
        let sql = format!("{DELIVERY_SELECT} WHERE d.endpoint_id = $1 AND d.id = $2");
        on_pool!(self, pool => sqlx::query_as(&sql).bind(endpoint_id).bind(id).fetch_optional(pool).await)
    }

    /// The attempts of an endpoint's deliveries made since `since` (the oldest listed delivery),
    /// in order.
    pub async fn list_attempts(
        &self,
        endpoint_id: Uuid,
        since: Timestamp,
    ) -> Result<Vec<AttemptRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as(
            "SELECT a.delivery_id, a.attempt, a.started_at, a.duration_ms, a.status_code, a.error \
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.endpoint_id = $1 AND d.created_at >= $2 ORDER BY a.delivery_id, a.attempt",
        )
        .bind(endpoint_id)
        .bind(since)
        .fetch_all(pool)
        .await)
    }

    /// Makes a delivery due now again (a person asked), unless an attempt is under way. Returns
    /// whether it was.
    pub async fn retry_delivery(
        &self,
        endpoint_id: Uuid,
        id: Uuid,
        now: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3 \
             WHERE endpoint_id = $1 AND id = $2 AND (lease_until IS NULL OR lease_until <= $3)",
        )
        .bind(endpoint_id)
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
    }

    /// Fans out up to `limit` undispatched events: `deliveries_for` names, for each event and
    /// the endpoints that may hear of it, the endpoints that subscribed; a delivery is made for
    /// each and the event is marked dispatched, all in one transaction. On PostgreSQL the events
    /// are locked (`SKIP LOCKED`), so instances running this at once take different ones.
    /// Returns the number of events dispatched.
    pub async fn dispatch_events(
        &self,
        limit: i64,
        now: Timestamp,
        deliveries_for: impl Fn(&PendingEvent, &[Listener]) -> Vec<Uuid>,
    ) -> Result<usize, sqlx::Error> {
        let lock = match self.backend {
            Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite(_) => "",
        };
        let events_sql = format!(
            "SELECT id, kind, owner_id, audience, endpoint_id FROM webhook_events WHERE dispatched_at IS NULL \
             ORDER BY created_at, id LIMIT $1{lock}"
        );
        // Most rounds find nothing: a read says so without taking a write lock.
        let waiting: Option<Uuid> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT id FROM webhook_events WHERE dispatched_at IS NULL LIMIT 1",
        )
        .fetch_optional(pool)
        .await?);
        if waiting.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        // The first statement writes, so SQLite takes its write lock before reading.
        on_tx!(tx, conn => sqlx::query("UPDATE webhook_events SET dispatched_at = NULL WHERE 1 = 0")
            .execute(&mut **conn).await.map(drop)?);
        let events: Vec<PendingEvent> = on_tx!(tx, conn => sqlx::query_as(&events_sql)
            .bind(limit).fetch_all(&mut **conn).await?);
        for event in &events {
            let listeners: Vec<Listener> = on_tx!(tx, conn => sqlx::query_as(
                "SELECT e.id, e.owner_id, e.events, u.role = 'admin' AS owner_is_admin \
                 FROM webhook_endpoints e JOIN users u ON u.id = e.owner_id \
                 WHERE u.disabled_at IS NULL \
                 AND (e.owner_id = $1 OR ($2 = 'owner_and_admins' AND u.role = 'admin')) \
                 AND ($3 IS NULL OR e.id = $3)",
            )
            .bind(event.owner_id)
            .bind(event.audience)
            .bind(event.endpoint_id)
            .fetch_all(&mut **conn)
            .await?);
            for endpoint_id in deliveries_for(event, &listeners) {
                on_tx!(tx, conn => sqlx::query(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT (event_id, endpoint_id) DO NOTHING",
                )
                .bind(Uuid::now_v7())
                .bind(endpoint_id)
                .bind(event.id)
                .bind(now)
                .execute(&mut **conn)
                .await
                .map(drop)?);
            }
            on_tx!(tx, conn => sqlx::query("UPDATE webhook_events SET dispatched_at = $2 WHERE id = $1")
                .bind(event.id).bind(now).execute(&mut **conn).await.map(drop)?);
        }
        tx.commit().await?;
        Ok(events.len())
    }

    /// Leases up to `limit` due deliveries of enabled endpoints to the caller until
    /// `lease_until`, so no other instance attempts them meanwhile (on PostgreSQL the rows are
    /// locked while they are chosen: `SKIP LOCKED`). A lease that ran out (its instance died
    /// mid-attempt) makes the delivery due again: delivery is at least once.
    pub async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, sqlx::Error> {
        let lock = match self.backend {
            Backend::Postgres(_) => " FOR UPDATE OF d SKIP LOCKED",
            Backend::Sqlite(_) => "",
        };
        let claim_sql = format!(
            "UPDATE webhook_deliveries SET lease_until = $2 WHERE id IN (\
             SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
             AND (d.lease_until IS NULL OR d.lease_until <= $1) AND e.enabled \
             ORDER BY d.next_attempt_at LIMIT $3{lock}) RETURNING id"
        );
        let ids: Vec<Uuid> = {
            let _turn = self.write_turn().await;
            on_pool!(self, pool => sqlx::query_scalar(&claim_sql)
                .bind(now).bind(lease_until).bind(limit).fetch_all(pool).await?)
        };
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<DueDelivery> = on_pool!(self, pool => sqlx::query_as(
                "SELECT d.id, d.endpoint_id, e.owner_id, e.url, e.secret_sealed, e.previous_secret_sealed, \
                 e.previous_valid_until, d.attempts, e.failing_since, ev.kind AS event_kind, \
                 ev.data AS event_data, ev.created_at AS event_created_at, d.lease_until \
                 FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?);
            due.extend(row);
        }
        Ok(due)
    }

    /// Writes an attempt and what it came to, ending the lease — unless the lease (`leased_until`,
    /// as claimed) is no longer this attempt's, because it ran out and another instance took the
    /// delivery: then nothing is written and `false` returned. A failure marks the endpoint
    /// failing (if it was not) and a success clears that. A failure with `disable` disables the
    /// endpoint if it is still enabled and has failed since `disable.failing_before` or earlier,
    /// with `disable.reason`, and puts `disable.event` (telling its owner) in the outbox — once,
    /// however many attempts fail at once.
    pub async fn record_attempt(
        &self,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
        endpoint_id: Uuid,
        leased_until: Timestamp,
        disable: Option<EndpointDisabling<'_>>,
    ) -> Result<bool, sqlx::Error> {
        let (status, next_attempt_at, delivered_at) = match outcome {
            AttemptOutcome::Delivered => {
                (DeliveryStatus::Delivered, None, Some(attempt.started_at))
            }
            AttemptOutcome::RetryAt(at) => (DeliveryStatus::Pending, Some(at), None),
            AttemptOutcome::Failed => (DeliveryStatus::Failed, None, None),
        };
        let mut tx = self.begin().await?;
        let updated = on_tx!(tx, conn => sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at = $4, \
             lease_until = NULL, last_attempt_at = $5, last_status = $6, last_error = $7, \
             delivered_at = $8 WHERE id = $1 AND lease_until = $9",
        )
        .bind(attempt.delivery_id)
        .bind(status)
        .bind(attempt.attempt)
        .bind(next_attempt_at)
        .bind(attempt.started_at)
        .bind(attempt.status_code)
        .bind(&attempt.error)
        .bind(delivered_at)
        .bind(leased_until)
        .execute(&mut **conn)
        .await
        .map(|done| done.rows_affected()))?;
        if updated == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        on_tx!(tx, conn => sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(attempt.delivery_id)
        .bind(attempt.attempt)
        .bind(attempt.started_at)
        .bind(attempt.duration_ms)
        .bind(attempt.status_code)
        .bind(&attempt.error)
        .execute(&mut **conn)
        .await
        .map(drop)?);
        // A success ends the endpoint's failing streak; a failure starts one if none runs.
        on_tx!(tx, conn => match outcome {
            AttemptOutcome::Delivered => {
                sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
                    .bind(endpoint_id)
                    .execute(&mut **conn)
                    .await
            }
            _ => sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1",
            )
            .bind(endpoint_id)
            .bind(attempt.started_at)
            .execute(&mut **conn)
            .await,
        }
        .map(drop)?);
        if let (Some(disabling), false) = (disable, matches!(outcome, AttemptOutcome::Delivered)) {
            let disabled = on_tx!(tx, conn => sqlx::query(
                "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $2, updated_at = $3 \
                 WHERE id = $1 AND enabled AND failing_since <= $4",
            )
            .bind(endpoint_id)
            .bind(disabling.reason)
            .bind(attempt.started_at)
            .bind(disabling.failing_before)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected()))?;
            if disabled == 1 {
                tx.enqueue_event(&disabling.event).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Undispatched events and pending deliveries: the outbox backlog, for the metrics.
    pub async fn webhook_backlog(&self) -> Result<(i64, i64), sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM webhook_events WHERE dispatched_at IS NULL), \
             (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending')",
        )
        .fetch_one(pool)
        .await)
    }
}
