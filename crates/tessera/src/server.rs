//! The HTTP server loop: the layer under the router that owns sockets.
//!
//! `axum::serve` has no knobs for what a public server needs, so connections are served here with
//! hyper-util directly, under three limits (all settings):
//! - **a connection cap** (`MAX_CONNECTIONS`): a connection is accepted only when a slot is free,
//!   so a flood of idle sockets queues in the kernel's backlog instead of exhausting memory and
//!   file descriptors;
//! - **a header-read timeout** (`HEADER_READ_TIMEOUT_SECONDS`): a client that opens a connection
//!   and sends its request head slowly (slowloris) is disconnected;
//! - **a shutdown deadline** (`SHUTDOWN_DEADLINE_SECONDS`): on shutdown no new connection is
//!   accepted, in-flight requests may finish, and whatever is still open at the deadline is
//!   dropped, so a stuck client cannot hold a deployment hostage.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
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

/// The limits the server loop applies.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_deadline: Duration,
}

impl ServeLimits {
    /// The limits configured in `config`.
    pub fn from_config(config: &Config) -> Self {
        ServeLimits {
            max_connections: config.max_connections as usize,
            header_read_timeout: Duration::from_secs(config.header_read_timeout_seconds),
            shutdown_deadline: Duration::from_secs(config.shutdown_deadline_seconds),
        }
    }
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
    builder.http2().timer(TokioTimer::new());
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
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
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
