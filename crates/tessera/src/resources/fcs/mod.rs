//! The FCS endpoints (`fcs.md`): parameters, events and statistics of the built-in sample or of
//! the caller's uploads, and the uploads themselves.
//!
//! Each handler names its scope in its first argument (`Pat<FcsRead>`, …). Reading resolves
//! `file_id` to a file the caller may see ([`service`]), takes its decoded columns from the
//! cache ([`cache`]) or decodes them on the blocking pool, and renders them ([`view`]). Uploads
//! stream into object storage ([`upload`], [`storage`]), are validated by the engine, and only
//! then get their database row: a file the engine rejects leaves nothing behind. Event pages
//! are size-checked and streamed ([`events`]); decoding is bounded ([`decoding`]); every refusal
//! is answered from one place ([`errors`]). The handlers and the one mapping of
//! [`errors::FcsRefusal`] to a status are in [`routes`](mod@routes).

pub mod analysis;
pub mod cache;
pub mod decoding;
pub mod errors;
pub mod events;
pub mod export;
pub mod gates;
pub mod plot;
pub mod routes;
pub mod service;
pub mod statistics;
pub mod storage;
pub mod upload;
pub mod view;

pub use routes::{has_own_timeout, routes, set_upload_deadline, UPLOAD_PATH};
