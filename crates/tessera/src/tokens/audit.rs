//! The PAT audit log: every request that presented an attributable PAT leaves one entry, durable
//! before the client sees the answer.
//!
//! # Group commit
//! A transaction per request would cost one fsync per request. Instead, the middleware hands the
//! finished request's entry to a single writer task and waits; the writer takes everything that
//! has queued up meanwhile and commits it in one transaction, then releases all the waiters. Under
//! load, batches grow by themselves (entries pile up while the previous commit is in flight), so
//! the fsync cost is shared; at low load a batch is one entry and adds one commit of latency.
//! Because the response is held until the commit, an answered request's entry survives `kill -9`.
//!
//! # `last_used_at` without a write per request
//! The writer remembers each token's latest authorized use and writes them all every
//! [`LAST_USED_FLUSH`] (and at shutdown), so the column is at most that stale and costs one write
//! per active token per interval rather than one per request.

use prometheus_client::metrics::histogram::Histogram;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::http::client_ip::ClientIp;
use crate::http::deadline::Deadline;
use crate::http::fallback::catching_panics;
use crate::http::truncate;
use crate::http::ApiError;
use crate::state::AppState;
use crate::store::{AuditEntry, BackendKind, LastUse, Store};
use crate::tokens::auth::attribute_presented_pat;
use crate::tokens::{expiry, Token};
use crate::types::Timestamp;

/// How often pending `last_used_at` values are written.
pub const LAST_USED_FLUSH: Duration = Duration::from_secs(20);
/// Entries waiting for the writer before senders are made to wait (back-pressure).
const QUEUE_CAPACITY: usize = 16_384;
/// Largest batch committed at once.
const MAX_BATCH: usize = 2_048;
/// Longest stored endpoint; longer paths are cut (a path is not worth unbounded storage).
const MAX_ENDPOINT_LEN: usize = 2_048;

struct Pending {
    entry: AuditEntry,
    committed: oneshot::Sender<bool>,
}

/// Handle to the audit writer; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Pending>,
}

/// Owns the writer task; [`AuditWriter::shutdown`] drains and flushes it.
pub struct AuditWriter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The writer, built but not yet running: [`AuditWriterToStart::spawn`] starts it (the server
/// does, with its other background work). Entries queue until it runs.
pub struct AuditWriterToStart {
    store: Store,
    receiver: mpsc::Receiver<Pending>,
    concurrency: usize,
    /// Observes each batch's size (see `crate::metrics`).
    batch_sizes: Option<Histogram>,
}

impl AuditLog {
    /// The audit log on `store` and its writer, which will commit up to `commits_in_flight`
    /// batches at once (default: see [`default_commits_in_flight`]).
    pub fn new(store: Store, commits_in_flight: Option<usize>) -> (AuditLog, AuditWriterToStart) {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let concurrency =
            commits_in_flight.unwrap_or_else(|| default_commits_in_flight(store.kind()));
        let writer = AuditWriterToStart {
            store,
            receiver,
            concurrency,
            batch_sizes: None,
        };
        (AuditLog { queue }, writer)
    }

    /// Entries queued for the writer now.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Queues an entry and waits until it is committed.
    pub async fn record(&self, entry: AuditEntry) -> Result<(), ApiError> {
        let (committed, done) = oneshot::channel();
        let unavailable = || {
            ApiError::Unavailable(
                "The audit log is unavailable; the request was not recorded".to_owned(),
            )
        };
        self.queue
            .send(Pending { entry, committed })
            .await
            .map_err(|_| unavailable())?;
        match done.await {
            Ok(true) => Ok(()),
            _ => Err(unavailable()),
        }
    }
}

impl AuditWriterToStart {
    /// The same writer, observing each batch's size into `histogram`.
    pub fn observing(mut self, histogram: Histogram) -> Self {
        self.batch_sizes = Some(histogram);
        self
    }

    /// Starts the writer task.
    pub fn spawn(self) -> AuditWriter {
        let (stop, stopped) = oneshot::channel();
        let writer = Writer {
            store: self.store,
            last_used: LastUsed::default(),
            batch_sizes: self.batch_sizes,
        };
        let task = tokio::spawn(run_writer(writer, self.receiver, stopped, self.concurrency));
        AuditWriter { stop, task }
    }
}

impl AuditWriter {
    /// Stops taking entries, commits every queued one and the pending `last_used_at` values.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "audit writer ended abnormally");
        }
    }
}

/// Latest authorized use per token, not yet written to `last_used_at` and `last_used_ip`.
type LastUsed = Arc<Mutex<HashMap<Uuid, LastUse>>>;

/// Keeps `used` as the token's latest use unless a later one is already noted.
fn note_use(pending: &mut HashMap<Uuid, LastUse>, token_id: Uuid, used: LastUse) {
    match pending.get(&token_id) {
        Some(noted) if noted.at >= used.at => {}
        _ => {
            pending.insert(token_id, used);
        }
    }
}

/// PostgreSQL commits concurrent transactions with one WAL flush (its own group commit), so a
/// second batch in flight raises throughput; more splits the queue into batches so small that
/// per-transaction CPU dominates (measured: see BENCHMARKS.md). SQLite has one writer.
pub fn default_commits_in_flight(backend: BackendKind) -> usize {
    match backend {
        BackendKind::Postgres => 2,
        BackendKind::Sqlite => 1,
    }
}

/// What the writer task and its batches share.
#[derive(Clone)]
struct Writer {
    store: Store,
    last_used: LastUsed,
    batch_sizes: Option<Histogram>,
}

async fn run_writer(
    writer: Writer,
    mut queue: mpsc::Receiver<Pending>,
    mut stop: oneshot::Receiver<()>,
    concurrency: usize,
) {
    let permits = Arc::new(Semaphore::new(concurrency));
    let (store, last_used) = (&writer.store, &writer.last_used);
    let mut flush = tokio::time::interval(LAST_USED_FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = queue.recv() => match received {
                Some(first) => start_batch(&writer, &permits, &mut queue, first).await,
                None => break,
            },
            _ = flush.tick() => flush_last_used(store, last_used).await,
            _ = &mut stop => {
                // Refuse new entries, then drain what is queued: `recv` yields the rest, then None.
                queue.close();
                while let Some(first) = queue.recv().await {
                    start_batch(&writer, &permits, &mut queue, first).await;
                }
                break;
            }
        }
    }
    // Every batch still in flight holds a permit: taking them all waits for the last commit.
    let _all = permits.acquire_many(concurrency as u32).await;
    flush_last_used(store, last_used).await;
}

/// Waits for a commit slot, takes everything queued meanwhile (up to [`MAX_BATCH`]) and commits
/// it in the background, releasing the waiters when it is durable.
async fn start_batch(
    writer: &Writer,
    permits: &Arc<Semaphore>,
    queue: &mut mpsc::Receiver<Pending>,
    first: Pending,
) {
    let Ok(permit) = permits.clone().acquire_owned().await else {
        return;
    };
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    if let Some(sizes) = &writer.batch_sizes {
        sizes.observe(batch.len() as f64);
    }
    let writer = writer.clone();
    tokio::spawn(async move {
        commit_batch(&writer.store, batch, &writer.last_used).await;
        drop(permit);
    });
}

async fn commit_batch(store: &Store, batch: Vec<Pending>, last_used: &LastUsed) {
    let entries: Vec<AuditEntry> = batch.iter().map(|p| p.entry.clone()).collect();
    let started = std::time::Instant::now();
    let result = store.insert_audit_entries(&entries).await;
    tracing::debug!(
        entries = entries.len(),
        micros = started.elapsed().as_micros() as u64,
        "audit batch committed"
    );
    let committed = match result {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, entries = entries.len(), "could not write audit entries");
            false
        }
    };
    if committed {
        if let Ok(mut last_used) = last_used.lock() {
            for entry in entries.iter().filter(|e| e.authorized) {
                let used = LastUse {
                    at: entry.occurred_at,
                    ip: entry.ip.clone(),
                };
                note_use(&mut last_used, entry.token_id, used);
            }
        }
    }
    for pending in batch {
        let _ = pending.committed.send(committed);
    }
}

async fn flush_last_used(store: &Store, last_used: &LastUsed) {
    let uses: Vec<(Uuid, LastUse)> = match last_used.lock() {
        Ok(mut pending) => pending.drain().collect(),
        Err(_) => return,
    };
    if uses.is_empty() {
        return;
    }
    if let Err(error) = store.touch_tokens(&uses).await {
        tracing::warn!(%error, "could not update last_used_at");
        // Put them back unless a newer use arrived meanwhile.
        if let Ok(mut pending) = last_used.lock() {
            for (id, used) in uses {
                note_use(&mut pending, id, used);
            }
        }
    }
}

/// Who a PAT request is attributed to, filled in by the [`crate::tokens::Pat`] extractor.
#[derive(Debug, Clone)]
pub struct Attribution {
    /// The token presented.
    pub token_id: Uuid,
    /// Whether it was let through.
    pub authorized: bool,
    /// Why not, if not.
    pub reason: Option<&'static str>,
    /// When the token expires, once it is known to be live (not revoked, not expired): the
    /// response then says so in its headers.
    pub expires_at: Option<Timestamp>,
}

impl Attribution {
    /// A live token's request, let through or not.
    pub fn authenticated(token: &Token, authorized: bool) -> Attribution {
        Attribution {
            token_id: token.id,
            authorized,
            reason: None,
            expires_at: Some(token.expires_at),
        }
    }
}

/// A slot in the request's extensions that the extractor fills and this middleware reads after
/// the handler ran, when the final status is known.
#[derive(Debug, Clone, Default)]
pub struct AuditSlot(Arc<Mutex<Option<Attribution>>>);

impl AuditSlot {
    /// Records who the request is attributed to.
    pub fn attribute(&self, attribution: Attribution) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(attribution);
        }
    }

    fn take(&self) -> Option<Attribution> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Middleware around every route: records an entry for every request that presented an
/// attributable PAT, with the status the client receives, and holds the response until the entry
/// is durable. The extractor attributes the request; a 405 (no extractor ran) is attributed here
/// when the request bore a token this service issued.
pub async fn record_pat_requests(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !audited_path(request.uri().path()) {
        return catching_panics(next.run(request)).await;
    }
    let slot = AuditSlot::default();
    request.extensions_mut().insert(slot.clone());
    let occurred_at = state.clock.now();
    let method = request.method().as_str().to_owned();
    // Inside nested routers `uri()` lost its prefix; the contract wants the path the client sent.
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path(), |original| original.0.path());
    let endpoint = truncate(path, MAX_ENDPOINT_LEN).to_owned();
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .map(|client| client.0);
    // Only the credential is kept for a possible 405 (a refcounted clone), not the whole
    // header map: this runs on every API request, the PAT hot path included.
    let authorization = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .cloned();

    let deadline = request.extensions().get::<Deadline>().copied();

    let response = catching_panics(next.run(request)).await;

    let mut attribution = slot.take();
    // No extractor looked at the PAT (a 405), or the panic came before one did.
    let unexamined = match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => Some("Method not allowed"),
        StatusCode::INTERNAL_SERVER_ERROR => Some("Internal server error"),
        _ => None,
    };
    if let (None, Some(reason), Some(authorization)) = (&attribution, unexamined, &authorization) {
        attribution = attribute_presented_pat(&state, authorization, reason).await;
    }
    let Some(attribution) = attribution else {
        return response;
    };
    let expires_at = attribution.expires_at;
    let entry = AuditEntry {
        token_id: attribution.token_id,
        occurred_at,
        ip: ip.map(|ip| ip.to_string()).unwrap_or_default(),
        method,
        endpoint,
        status_code: i32::from(response.status().as_u16()),
        authorized: attribution.authorized,
        reason: attribution.reason.map(str::to_owned),
    };
    let recorded = match deadline {
        Some(Deadline(at)) => tokio::time::timeout_at(at, state.audit.record(entry))
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::Unavailable(
                    "The audit log did not confirm the request within its time limit".to_owned(),
                ))
            }),
        None => state.audit.record(entry).await,
    };
    let mut response = match recorded {
        Ok(()) => response,
        // A failure answer stands: the request changed nothing, and its own message says more.
        Err(_) if response.status().is_server_error() => response,
        // A success cannot be given without its audit entry; say so instead.
        Err(error) => error.into_response(),
    };
    if let Some(expires_at) = expires_at {
        expiry::add_headers(&mut response, expires_at, state.clock.now());
    }
    response
}

/// The routes a PAT may be presented to (the API and the compatibility routes); the others
/// (`/health`, documents) skip the recorder entirely.
fn audited_path(path: &str) -> bool {
    crate::http::rate_limit::is_api_path(path)
}
