-- Webhooks (webhooks/): endpoints people register, the transactional outbox of events, and the
-- deliveries of each event to each endpoint that subscribed to it.

-- An endpoint. Its signing secret is sealed like a third-party token (crypto.rs); after a
-- rotation the previous secret keeps signing too (a second signature) until previous_valid_until,
-- so a receiver can switch without losing a delivery.
CREATE TABLE webhook_endpoints (
    id                      BLOB PRIMARY KEY,
    owner_id                BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                     TEXT NOT NULL,
    description             TEXT,
    -- Event patterns, space-separated: `token.revoked`, `connection.*`.
    events                  TEXT NOT NULL,
    secret_sealed           BLOB NOT NULL,
    previous_secret_sealed  BLOB,
    previous_valid_until    TEXT,
    enabled                 INTEGER NOT NULL DEFAULT 1,
    disabled_reason         TEXT,
    -- The first failed attempt since the last success: five days of failures disable it.
    failing_since           TEXT,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_owner_idx ON webhook_endpoints (owner_id);

-- The outbox: one row per event, written in the transaction of the change that caused it, so an
-- event exists exactly when its change committed. The worker fans each one out into deliveries
-- (and sets dispatched_at) in one transaction. `owner_id` is the person the event concerns;
-- `audience` says whether admins' endpoints hear of it too (account and security events);
-- `endpoint_id` names the one endpoint a `webhook.test` event is for.
CREATE TABLE webhook_events (
    id             BLOB PRIMARY KEY,
    kind           TEXT NOT NULL,
    owner_id       BLOB,
    audience       TEXT NOT NULL CHECK (audience IN ('owner', 'owner_and_admins')),
    endpoint_id    BLOB REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    data           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    dispatched_at  TEXT
);
CREATE INDEX webhook_events_pending_idx ON webhook_events (created_at) WHERE dispatched_at IS NULL;

-- One event to one endpoint. Its id is the `webhook-id` header, the same on every attempt. A
-- worker claims a due delivery by setting lease_until (under FOR UPDATE SKIP LOCKED on
-- PostgreSQL), so one instance at a time attempts it; a lease that ran out (the instance died)
-- makes it due again.
CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY,
    endpoint_id      BLOB NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         BLOB NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    lease_until      TEXT,
    last_attempt_at  TEXT,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at);

-- Every attempt of a delivery: when, how long, what the receiver answered (never the secret).
CREATE TABLE webhook_attempts (
    delivery_id   BLOB NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    started_at    TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
