//! The server: runs the built state and router, with every background task, until shutdown.
//!
//! [`Server::build`] builds the services and the router (starting nothing); [`Server::serve`]
//! starts the background work — the audit writer, signing-key reloads, cache invalidation from
//! the change feeds, the OAuth keep-alive, the FCS warm-up, forgetting idle rate-limit clients —
//! serves connections, and on shutdown drains requests, commits queued audit entries, drains
//! OAuth refreshes and closes the database.
//!
//! Below that, the loop that owns sockets.
//! `axum::serve` has no knobs for what a public server needs, so connections are served here with
//! hyper-util directly, under these limits (all settings):
//! - **a connection cap** (`MAX_CONNECTIONS`): a connection is accepted only when a slot is free,
//!   so a flood of sockets queues in the kernel's backlog instead of exhausting memory and file
//!   descriptors. Every connection below has a deadline, so a slot taken by a client that does
//!   nothing frees within `HEADER_READ_TIMEOUT_SECONDS` and the clients queued behind it get in;
//! - **a first-request deadline** (`HEADER_READ_TIMEOUT_SECONDS`, from connect): a connection
//!   whose first request has not reached the service by then is closed, whatever it is doing:
//!   silent (hyper's HTTP/1-or-2 detection has no timer of its own), sending its head slowly
//!   (slowloris), or an HTTP/2 preface and nothing else. On HTTP/1.1 hyper also applies the same
//!   timeout to every later request head;
//! - **an idle timeout** (`IDLE_TIMEOUT_SECONDS`): a connection with no request in flight (a
//!   response body still streaming counts as in flight) for this long is closed, on HTTP/1.1 and
//!   HTTP/2 alike;
//! - **HTTP/2 keep-alive pings** (`HTTP2_KEEPALIVE_SECONDS`): a peer that stops answering pings
//!   is dropped;
//! - **a shutdown deadline** (`SHUTDOWN_DEADLINE_SECONDS`): on shutdown no new connection is
//!   accepted, in-flight requests may finish, and whatever is still open at the deadline is
//!   dropped, so a stuck client cannot hold a deployment hostage.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::Config;
use crate::state::{AppState, Services};
use crate::tokens::audit::AuditWriterToStart;

/// A built application, ready to serve.
pub struct Server {
    /// Shared state (also handed to tests).
    pub state: AppState,
    router: Router,
    audit_writer: AuditWriterToStart,
}

impl Server {
    /// Builds the services (database, migrations) and the router. Starts nothing.
    pub async fn build(config: Config) -> anyhow::Result<Server> {
        let Services {
            state,
            audit_writer,
        } = Services::build(config).await?;
        Ok(Server {
            router: crate::router::router(state.clone()),
            state,
            audit_writer,
        })
    }

    /// Starts the background work, serves on `listener` until `shutdown` resolves, then finishes
    /// in-flight requests, commits queued audit entries and closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let metrics = match state.config.metrics_addr {
            Some(addr) => Some(serve_metrics(addr, state.clone()).await?),
            None => None,
        };
        let audit_writer = self.audit_writer.spawn();
        let background = start_background_work(&state);
        let webhooks = crate::webhooks::worker::spawn(state.webhooks.clone(), state.clock.clone());
        let limits = ServeLimits::from_config(&state.config);
        serve_router(listener, self.router, limits, shutdown).await;
        for task in background.iter().chain(&metrics) {
            task.abort();
        }
        if let Some(webhooks) = webhooks {
            webhooks.stop().await;
        }
        audit_writer.shutdown().await;
        state.connections.drain().await;
        state.store.close().await;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

/// Serves `/metrics` on `addr`, a listener of its own (see [`crate::metrics`]). Failing to bind
/// stops the start: an operator who asked for metrics wants to know at once.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    state: AppState,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| anyhow::anyhow!("METRICS_ADDR {addr}: {error}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "metrics at /metrics");
    let router = crate::metrics::router(state);
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    }))
}

/// Every periodic or warming task the state needs while serving.
fn start_background_work(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let invalidator = crate::cache::spawn_change_feed(
        state.store.clone(),
        vec![
            Box::new(state.token_cache.clone()),
            Box::new(state.connections.cache.clone()),
        ],
    );
    let key_reloader = state.jwt.keys().spawn_reloader();
    let fcs = state.fcs.clone();
    let fcs_warm_up = tokio::spawn(async move { fcs.warm_up().await });
    let rate_limit = state.rate_limit.clone();
    let forget_idle_clients = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            rate_limit.forget_idle();
        }
    });
    let expiry_notices = crate::tokens::expiry::spawn_notices(
        state.store.clone(),
        state.clock.clone(),
        state.config.token_expiry_notice_interval_seconds,
    );
    [invalidator, key_reloader, fcs_warm_up, forget_idle_clients]
        .into_iter()
        .chain(state.connections.spawn_keep_alive())
        .chain(crate::admin::retention::spawn(state))
        .chain(expiry_notices)
        .collect()
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}

/// The limits the server loop applies.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request head (the first one: from connect).
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// HTTP/2 ping interval, and how long a ping's answer may take.
    pub http2_keepalive: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_deadline: Duration,
}

impl ServeLimits {
    /// The limits configured in `config`.
    pub fn from_config(config: &Config) -> Self {
        ServeLimits {
            max_connections: config.max_connections as usize,
            header_read_timeout: Duration::from_secs(config.header_read_timeout_seconds),
            idle_timeout: Duration::from_secs(config.idle_timeout_seconds),
            http2_keepalive: Duration::from_secs(config.http2_keepalive_seconds),
            shutdown_deadline: Duration::from_secs(config.shutdown_deadline_seconds),
        }
    }
}

/// What one connection's requests are doing: how many are in flight (until their response body
/// is done or dropped), how many have started, and when the last one began or ended. Plain
/// atomics, so a request costs two clock reads and no wake-up; [`Activity::idle_too_long`] looks
/// at them when its deadline comes.
#[derive(Clone)]
struct Activity(Arc<Requests>);

struct Requests {
    opened: Instant,
    in_flight: AtomicUsize,
    started: AtomicU64,
    /// Milliseconds from `opened` to the last begin or end.
    last_change_ms: AtomicU64,
}

/// One request in flight; ends when dropped.
struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0 .0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl Activity {
    fn new() -> Self {
        Activity(Arc::new(Requests {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            last_change_ms: AtomicU64::new(0),
        }))
    }

    fn touch(&self) {
        let since_open = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_change_ms.store(since_open, Ordering::Relaxed);
    }

    fn begin(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        self.0.started.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// Resolves once the connection has gone `first` from its start without a request, or later
    /// `idle` with none in flight.
    async fn idle_too_long(&self, first: Duration, idle: Duration) {
        loop {
            let requests = &self.0;
            let allowance = if requests.started.load(Ordering::Relaxed) == 0 {
                first
            } else {
                idle
            };
            let last_change =
                Duration::from_millis(requests.last_change_ms.load(Ordering::Relaxed));
            let due = requests.opened + last_change + allowance;
            let busy = requests.in_flight.load(Ordering::Relaxed) > 0;
            let now = Instant::now();
            if !busy && now >= due {
                return;
            }
            // Busy: it cannot be idle long enough before an allowance from now. Idle: requests
            // may come and go before `due` without waking this task, so look again at the
            // latest when the shorter allowance could have run out since.
            let look_again = if busy {
                now + allowance
            } else {
                due.min(now + first.min(idle))
            };
            tokio::time::sleep_until(look_again.into()).await;
        }
    }
}

/// The router as one connection's service: each request learns its peer address, counts as in
/// flight until its response body is finished or dropped, and is answered 500 in the envelope if
/// anything in it panics.
fn counted_service(
    router: Router,
    peer: std::net::SocketAddr,
    activity: Activity,
) -> impl tower::Service<
    Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Clone
       + Send {
    tower::service_fn(move |mut request: Request<Incoming>| {
        let in_flight = activity.begin();
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            // The stack's own catcher (the audit recorder) answers panics inside it; this one
            // answers the rest, so no panic ever drops a connection.
            let response = crate::http::fallback::catching_panics(async move {
                match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            })
            .await;
            Ok(response.map(|body| {
                axum::body::Body::new(body.map_frame(move |frame| {
                    let _ = &in_flight;
                    frame
                }))
            }))
        }
    })
}

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again, so the loop
/// does not spin on an error that persists for a while.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` resolves, then drains (see the module docs).
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // Flipped at the deadline: every connection task still running drops its connection.
    let (deadline_passed, deadline) = tokio::sync::watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.http2_keepalive)
        .keep_alive_timeout(limits.http2_keepalive);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Activity::new();
        let service = counted_service(router.clone(), peer, activity.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        let mut deadline = deadline.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                _ = deadline.wait_for(|passed| *passed) => {}
                () = activity.idle_too_long(limits.header_read_timeout, limits.idle_timeout) => {
                    tracing::debug!("closing a connection with no request in flight");
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_deadline) => {
            tracing::warn!("shutdown deadline reached: closing connections still open");
            let _ = deadline_passed.send(true);
        }
    }
}
