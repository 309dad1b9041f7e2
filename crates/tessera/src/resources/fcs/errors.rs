//! Why the FCS endpoints refuse a request, and how each refusal is answered: every status and
//! message of this module's domain is written here, once.

use tessera_fcs::FcsError;

use super::upload::FILE_FIELD;
use crate::http::ApiError;

const MIB: f64 = 1024.0 * 1024.0;

/// A refusal of the FCS endpoints.
#[derive(Debug)]
pub enum FcsRefusal {
    /// The engine rejected the file; its message says why.
    Rejected(FcsError),
    /// The upload is larger than `FCS_MAX_UPLOAD_MB`.
    UploadTooLarge { limit_bytes: u64 },
    /// The upload would take the user's stored files over `FCS_QUOTA_MB`.
    OverQuota { quota_bytes: u64, used_bytes: u64 },
    /// The upload would take every user's stored files over `FCS_MAX_TOTAL_GB`.
    StorageFull { limit_bytes: u64, used_bytes: u64 },
    /// The multipart body has no `file` field.
    MissingFile,
    /// The upload took longer than `FCS_UPLOAD_TIMEOUT_SECONDS`.
    UploadTimedOut { seconds: u64 },
    /// Decoding the file would take more memory than one file may.
    DecodesTooLarge {
        events: usize,
        parameters: usize,
        bytes: u64,
        limit: DecodeLimit,
    },
    /// The events page would be larger than `FCS_MAX_RESPONSE_MB`.
    PageTooLarge {
        bound_bytes: u64,
        limit_mb: u64,
        /// The most events of this page's channels that fit; 0 when not even one does.
        max_events: usize,
    },
}

/// The setting that caps one file's decoded size, with its value in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeLimit {
    /// `FCS_CACHE_MB`: a file must fit the cache, or every read would decode it again.
    Cache(u64),
    /// `FCS_DECODE_MEMORY_MB`: a file must fit the decode budget, or it could never start.
    DecodeMemory(u64),
}

impl DecodeLimit {
    /// The cap in bytes.
    pub fn bytes(self) -> u64 {
        let mb = match self {
            DecodeLimit::Cache(mb) | DecodeLimit::DecodeMemory(mb) => mb,
        };
        mb.saturating_mul(1024 * 1024)
    }

    fn setting(self) -> String {
        match self {
            DecodeLimit::Cache(mb) => format!("FCS_CACHE_MB={mb}"),
            DecodeLimit::DecodeMemory(mb) => format!("FCS_DECODE_MEMORY_MB={mb}"),
        }
    }
}

impl From<FcsError> for FcsRefusal {
    fn from(error: FcsError) -> Self {
        FcsRefusal::Rejected(error)
    }
}

impl From<FcsRefusal> for ApiError {
    fn from(refusal: FcsRefusal) -> Self {
        match refusal {
            // Reading our own storage failed: our fault, not the file's.
            FcsRefusal::Rejected(error @ FcsError::Io { .. }) => {
                ApiError::Internal(anyhow::Error::new(error))
            }
            FcsRefusal::Rejected(error) => ApiError::invalid(format!("{FILE_FIELD}: {error}")),
            FcsRefusal::UploadTooLarge { limit_bytes } => ApiError::PayloadTooLarge(format!(
                "{FILE_FIELD}: the upload is larger than the limit of {} MiB (FCS_MAX_UPLOAD_MB)",
                limit_bytes / (1024 * 1024)
            )),
            FcsRefusal::OverQuota {
                quota_bytes,
                used_bytes,
            } => ApiError::PayloadTooLarge(over_quota(quota_bytes, used_bytes)),
            FcsRefusal::StorageFull {
                limit_bytes,
                used_bytes,
            } => ApiError::InsufficientStorage(storage_full(limit_bytes, used_bytes)),
            FcsRefusal::MissingFile => ApiError::invalid(format!(
                "{FILE_FIELD}: the multipart field `{FILE_FIELD}` with the FCS file is missing"
            )),
            FcsRefusal::UploadTimedOut { seconds } => ApiError::Unavailable(format!(
                "The upload took longer than FCS_UPLOAD_TIMEOUT_SECONDS={seconds} allows; \
                 nothing was kept"
            )),
            FcsRefusal::DecodesTooLarge {
                events,
                parameters,
                bytes,
                limit,
            } => ApiError::invalid(format!(
                "{FILE_FIELD}: decoded, its {events} events × {parameters} parameters would \
                 take {:.1} MiB, more than the {} MiB one file may take ({})",
                bytes as f64 / MIB,
                limit.bytes() / (1024 * 1024),
                limit.setting()
            )),
            FcsRefusal::PageTooLarge {
                bound_bytes,
                limit_mb,
                max_events,
            } => ApiError::invalid(page_too_large(bound_bytes, limit_mb, max_events)),
        }
    }
}

fn over_quota(quota_bytes: u64, used_bytes: u64) -> String {
    let quota_mb = quota_bytes / (1024 * 1024);
    let room = quota_bytes.saturating_sub(used_bytes) as f64 / MIB;
    format!(
        "{FILE_FIELD}: this upload would take your stored FCS files over your quota of \
         {quota_mb} MiB (FCS_QUOTA_MB={quota_mb}): you store {:.1} MiB, so at most {room:.1} MiB \
         more fits; delete files you no longer need (DELETE /api/v1/fcs/files/{{id}})",
        used_bytes as f64 / MIB
    )
}

fn storage_full(limit_bytes: u64, used_bytes: u64) -> String {
    const GIB: f64 = 1024.0 * MIB;
    format!(
        "{FILE_FIELD}: the server's FCS storage is full: {:.1} of {:.0} GiB (FCS_MAX_TOTAL_GB) are \
         stored, so at most {:.1} MiB more fits; ask an operator to make room",
        used_bytes as f64 / GIB,
        limit_bytes as f64 / GIB,
        limit_bytes.saturating_sub(used_bytes) as f64 / MIB
    )
}

fn page_too_large(bound_bytes: u64, limit_mb: u64, max_events: usize) -> String {
    let fewer_events = if max_events > 0 {
        format!("ask for fewer events (limit={max_events} or less) or ")
    } else {
        "even one event of these channels is too large; ask for ".to_owned()
    };
    format!(
        "events: this page would be about {} MiB of JSON, more than FCS_MAX_RESPONSE_MB={limit_mb}; \
         {fewer_events}fewer channels (channels=FSC-A,SSC-A,…)",
        bound_bytes.div_ceil(1024 * 1024)
    )
}
