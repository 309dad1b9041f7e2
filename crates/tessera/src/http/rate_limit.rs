//! Per-client rate limiting on every `/api/` route, keyed by [`ClientKey`] (IPv6 by prefix) (GCRA, from the `governor` crate).
//!
//! `RATE_LIMIT_PER_MINUTE` requests per minute, as a burst of that size refilled evenly over the
//! minute. Over the limit the answer is `429` with `Retry-After` and `data.retry_after` in whole
//! seconds; every answer carries the limit state in the IETF draft headers (`RateLimit-Policy`,
//! `RateLimit`) and the older `X-RateLimit-*` triple, so clients of either convention can pace
//! themselves.
//!
//! The limiter lives in process memory. With several instances each enforces the limit on the
//! requests it sees; sharing counters in Redis is planned (see the README).

use governor::clock::QuantaInstant;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::client_ip::ClientKey;
use super::error::ApiError;
use crate::clock::Clock;

/// Paths of the rate-limited, audited group (`router::api_routes`): `/api/…` and the
/// `/token-management` compatibility routes (tests/api/operations.rs checks this against the
/// running router).
const API_PREFIXES: [&str; 2] = ["/api/", "/token-management/"];

/// Whether `path` is in that group.
pub fn is_api_path(path: &str) -> bool {
    API_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
}

type KeyedLimiter =
    RateLimiter<ClientKey, DefaultKeyedStateStore<ClientKey>, Clock, StateInformationMiddleware>;

/// The shared limiter; cheap to clone.
#[derive(Clone)]
pub struct IpRateLimit {
    limiter: Arc<KeyedLimiter>,
    clock: Clock,
    per_minute: u32,
}

impl IpRateLimit {
    /// A limiter allowing `per_minute` requests per minute per IP.
    pub fn new(per_minute: NonZeroU32, clock: Clock) -> Self {
        let limiter = RateLimiter::<
            ClientKey,
            _,
            _,
            governor::middleware::NoOpMiddleware<QuantaInstant>,
        >::new(
            Quota::per_minute(per_minute),
            DefaultKeyedStateStore::default(),
            clock.clone(),
        )
        .with_middleware::<StateInformationMiddleware>();
        IpRateLimit {
            limiter: Arc::new(limiter),
            clock,
            per_minute: per_minute.get(),
        }
    }

    /// Forgets IPs whose buckets are full again, so memory follows the active clients only.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    fn check(&self, key: ClientKey) -> Result<StateSnapshot, u64> {
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&self.clock));
            // Whole seconds, rounded up: retrying after `Retry-After` must succeed.
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    fn seconds_per_request(&self) -> f64 {
        60.0 / f64::from(self.per_minute)
    }

    fn write_headers(&self, headers: &mut HeaderMap, remaining: u32, reset_seconds: u64) {
        let limit = self.per_minute;
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        set("ratelimit-policy", format!("{limit};w=60"));
        set(
            "ratelimit",
            format!("limit={limit}, remaining={remaining}, reset={reset_seconds}"),
        );
        set("x-ratelimit-limit", limit.to_string());
        set("x-ratelimit-remaining", remaining.to_string());
        set("x-ratelimit-reset", reset_seconds.to_string());
    }
}

/// Middleware for `/api/`: refuses over-limit clients with 429, annotates every other answer.
pub async fn limit_by_client_ip(
    State(limit): State<IpRateLimit>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .extensions()
        .get::<ClientKey>()
        .copied()
        .unwrap_or_else(|| ClientKey::of(IpAddr::from([0, 0, 0, 0]), 128));
    match limit.check(key) {
        Ok(snapshot) => {
            let remaining = snapshot.remaining_burst_capacity();
            // Seconds until the bucket is full again.
            let reset = (f64::from(limit.per_minute - remaining.min(limit.per_minute))
                * limit.seconds_per_request())
            .ceil() as u64;
            let mut response = next.run(request).await;
            limit.write_headers(response.headers_mut(), remaining, reset);
            response
        }
        Err(retry_after) => {
            let retry_after = retry_after.max(1);
            let mut response = ApiError::TooManyRequests { retry_after }.into_response();
            limit.write_headers(response.headers_mut(), 0, retry_after);
            response
        }
    }
}
