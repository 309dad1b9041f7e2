//! A request's deadline, for routes whose time limit must cover more than the handler.
//!
//! An FCS upload's `FCS_UPLOAD_TIMEOUT_SECONDS` counts from the request's arrival and covers
//! receiving, checking, storing and auditing it. The deadline is set once, as the request enters
//! the stack outside the audit recorder ([`set_upload_deadline`]); the handler bounds each of its
//! steps by it, and the recorder bounds its wait for the audit commit by it.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::{Duration, Instant};

/// When the request must be answered by.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

/// Gives FCS uploads their deadline, `timeout` from now.
pub async fn set_upload_deadline(
    State(timeout): State<Duration>,
    mut request: Request,
    next: Next,
) -> Response {
    if crate::resources::fcs::has_own_timeout(request.method(), request.uri().path()) {
        request
            .extensions_mut()
            .insert(Deadline(Instant::now() + timeout));
    }
    next.run(request).await
}
