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
//! `http_response_status_code`), and `db_client_connection_count{state="idle"|"used"}`, read
//! from the pool at each scrape.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::state::AppState;

/// The OpenTelemetry HTTP duration buckets, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

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
            "db_client_connection_count",
            "Database connections of this instance's pool, by state",
            db_connections.clone(),
        );
        Metrics {
            registry,
            http_duration,
            db_connections,
        }
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

    /// The metrics as a scrape reads them, the gauges read now.
    pub fn render(&self, state: &AppState) -> String {
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
        state.metrics.render(&state),
    )
        .into_response()
}
