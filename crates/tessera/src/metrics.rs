//! Metrics in the Prometheus text format, for operators' dashboards and alerts.
//!
//! They are served on a listener of their own (`METRICS_ADDR`; unset: none), never on the public
//! port: the numbers say how the service is used, which is nobody's business outside the
//! operator's network. Each [`Metrics`] has its own registry (the `prometheus-client` crate), so
//! several apps in one test process count apart.
//!
//! Names follow the OpenTelemetry semantic conventions where one exists:
//! `http_server_request_duration_seconds` (a histogram by `http_request_method`, `http_route` —
//! the route's template, never the raw path, so ids do not multiply series — and
//! `http_response_status_code`), and `db_client_connections_usage{state="idle"|"used"}`, read
//! from the pool at each scrape. Tessera's own carry the `tessera_` prefix.
//!
//! Two kinds of number: counters the code moves as things happen (each component holds a
//! handle, [`Metrics::counter`], wired in `Services::build`; a component built elsewhere, as in
//! a unit test, counts into a handle nobody reads), and levels read at each scrape (queues, the
//! cache's bytes, connections by status, the webhook backlog — the last two by a query).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::state::AppState;

/// The OpenTelemetry HTTP duration buckets, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// What `prometheus-client` writes: the OpenMetrics text format (which Prometheus scrapes; a
/// counter family `x` has the sample `x_total`).
const TEXT_FORMAT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    http_request_method: String,
    /// The matched route's template (`/api/v1/tokens/{id}`), or `unmatched`.
    http_route: String,
    http_response_status_code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// One label: a cache, an outcome, a status, a subject.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// A cache lookup's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    cache: &'static str,
    result: &'static str,
}

/// Audit batch sizes, in entries.
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

#[derive(Debug, Clone, Copy)]
struct BatchHistogram;

impl MetricConstructor<Histogram> for BatchHistogram {
    fn new_metric(&self) -> Histogram {
        Histogram::new(BATCH_BUCKETS)
    }
}

/// What a counter counts, for [`Metrics::counter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A PAT found in the token cache, or not.
    PatCache(bool),
    /// A branch's token row found in its cache, or not.
    ConnectionCache(bool),
    /// A provider refresh's outcome: `refreshed`, `grant_dead`, `failed`.
    OAuthRefresh(&'static str),
    /// A checked wrong password at login.
    LoginFailure,
    /// A lock reached: `account` or `client_ip`.
    LoginLock(&'static str),
    /// A webhook attempt's outcome: `delivered`, `retrying`, `failed`.
    WebhookAttempt(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct DurationHistogram;

impl MetricConstructor<Histogram> for DurationHistogram {
    fn new_metric(&self) -> Histogram {
        Histogram::new(DURATION_BUCKETS)
    }
}

/// The service's metrics: a registry and handles to what the code updates.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_duration: Family<HttpLabels, Histogram, DurationHistogram>,
    db_connections: Family<PoolLabels, Gauge>,
    cache_lookups: Family<LookupLabels, Counter>,
    oauth_refreshes: Family<KindLabel, Counter>,
    login_failures: Counter,
    login_locks: Family<KindLabel, Counter>,
    webhook_attempts: Family<KindLabel, Counter>,
    audit_batch: Histogram,
    audit_queue: Gauge,
    hashing_queue: Gauge,
    fcs_cache_bytes: Gauge,
    connections: Family<KindLabel, Gauge>,
    outbox_events: Gauge,
    pending_deliveries: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered and at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_duration = Family::new_with_constructor(DurationHistogram);
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            Unit::Seconds,
            http_duration.clone(),
        );
        let db_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_client_connections_usage",
            "Database connections of this instance's pool, by state",
            db_connections.clone(),
        );
        let cache_lookups = Family::<LookupLabels, Counter>::default();
        registry.register(
            "tessera_cache_lookups",
            "Lookups in the PAT cache and the connection token cache, by result",
            cache_lookups.clone(),
        );
        let oauth_refreshes = Family::<KindLabel, Counter>::default();
        registry.register(
            "tessera_oauth_refresh",
            "Calls to a provider to refresh a branch's token, by outcome",
            oauth_refreshes.clone(),
        );
        let login_failures = Counter::default();
        registry.register(
            "tessera_login_failures",
            "Checked wrong passwords (and unknown logins) at sign-in",
            login_failures.clone(),
        );
        let login_locks = Family::<KindLabel, Counter>::default();
        registry.register(
            "tessera_login_locks",
            "Login locks reached, by what was locked (account or client IP)",
            login_locks.clone(),
        );
        let webhook_attempts = Family::<KindLabel, Counter>::default();
        registry.register(
            "tessera_webhook_attempts",
            "Webhook delivery attempts, by outcome (delivered, retrying, failed)",
            webhook_attempts.clone(),
        );
        let audit_batch = BatchHistogram.new_metric();
        registry.register(
            "tessera_audit_batch_entries",
            "Entries per PAT audit-log commit",
            audit_batch.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let audit_queue = gauge(
            &mut registry,
            "tessera_audit_queue_entries",
            "PAT audit entries waiting for a commit",
        );
        let hashing_queue = gauge(
            &mut registry,
            "tessera_password_hashing_jobs",
            "Argon2 password checks running or waiting for a hashing thread",
        );
        let fcs_cache_bytes = gauge(
            &mut registry,
            "tessera_fcs_cache_bytes",
            "Bytes of decoded FCS data kept in memory",
        );
        let connections = Family::<KindLabel, Gauge>::default();
        registry.register(
            "tessera_oauth_connections",
            "Branch connections, by status",
            connections.clone(),
        );
        let outbox_events = gauge(
            &mut registry,
            "tessera_webhook_outbox_events",
            "Webhook events not yet fanned out into deliveries",
        );
        let pending_deliveries = gauge(
            &mut registry,
            "tessera_webhook_pending_deliveries",
            "Webhook deliveries waiting for an attempt",
        );
        Metrics {
            registry,
            http_duration,
            db_connections,
            cache_lookups,
            oauth_refreshes,
            login_failures,
            login_locks,
            webhook_attempts,
            audit_batch,
            audit_queue,
            hashing_queue,
            fcs_cache_bytes,
            connections,
            outbox_events,
            pending_deliveries,
        }
    }

    /// The handle that counts `what`, for the component that sees it happen.
    pub fn counter(&self, what: Counted) -> Counter {
        let kind = |family: &Family<KindLabel, Counter>, kind: &str| {
            family
                .get_or_create(&KindLabel {
                    kind: kind.to_owned(),
                })
                .clone()
        };
        let lookup = |cache, hit: bool| {
            self.cache_lookups
                .get_or_create(&LookupLabels {
                    cache,
                    result: if hit { "hit" } else { "miss" },
                })
                .clone()
        };
        match what {
            Counted::PatCache(hit) => lookup("pat", hit),
            Counted::ConnectionCache(hit) => lookup("connection", hit),
            Counted::OAuthRefresh(outcome) => kind(&self.oauth_refreshes, outcome),
            Counted::LoginFailure => self.login_failures.clone(),
            Counted::LoginLock(subject) => kind(&self.login_locks, subject),
            Counted::WebhookAttempt(outcome) => kind(&self.webhook_attempts, outcome),
        }
    }

    /// The histogram of audit batch sizes, for the audit writer.
    pub fn audit_batches(&self) -> Histogram {
        self.audit_batch.clone()
    }

    fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_duration
            .get_or_create(&HttpLabels {
                http_request_method: method.to_owned(),
                http_route: route.to_owned(),
                http_response_status_code: status,
            })
            .observe(seconds);
    }

    /// The metrics as a scrape reads them, the levels read now (two by a query each; if the
    /// database fails, they keep their last values).
    pub async fn render(&self, state: &AppState) -> String {
        self.audit_queue.set(state.audit.queued() as i64);
        self.hashing_queue.set(state.passwords.jobs() as i64);
        self.fcs_cache_bytes.set(state.fcs.cache_bytes() as i64);
        match state.store.connections_by_status().await {
            Ok(counts) => {
                for status in crate::store::ConnectionStatus::NAMES {
                    self.connections
                        .get_or_create(&KindLabel {
                            kind: (*status).to_owned(),
                        })
                        .set(0);
                }
                for (status, count) in counts {
                    self.connections
                        .get_or_create(&KindLabel { kind: status })
                        .set(count);
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: connections by status unread"),
        }
        match state.store.webhook_backlog().await {
            Ok((events, deliveries)) => {
                self.outbox_events.set(events);
                self.pending_deliveries.set(deliveries);
            }
            Err(error) => tracing::warn!(%error, "metrics: webhook backlog unread"),
        }
        let (size, idle) = state.store.pool_connections();
        let used = i64::from(size).saturating_sub(i64::try_from(idle).unwrap_or(i64::MAX));
        self.db_connections
            .get_or_create(&PoolLabels { state: "used" })
            .set(used.max(0));
        self.db_connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::try_from(idle).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Middleware: times every request and counts it by method, route template and status.
pub async fn record_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The metrics listener's routes: `GET /metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        state.metrics.render(&state).await,
    )
        .into_response()
}
