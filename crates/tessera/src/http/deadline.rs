//! A request's deadline, for routes whose time limit must cover more than the handler.
//!
//! An FCS upload's `FCS_UPLOAD_TIMEOUT_SECONDS` counts from the request's arrival and covers
//! receiving, checking, storing and auditing it. The deadline is set once, as the request enters
//! the stack outside the audit recorder (`resources::fcs::set_upload_deadline`); the handler
//! bounds each of its steps by it, and the recorder bounds its wait for the audit commit by it.

use tokio::time::Instant;

/// When the request must be answered by.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);
