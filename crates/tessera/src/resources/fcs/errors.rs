//! Why an FCS operation did not happen, with every message of this capability's domain written
//! here, once, as the errors' `Display`. Which status each becomes over HTTP is decided in one
//! place, beside the routes (`mod.rs`); the CLI prints the same text.

use tessera_fcs::FcsError;
use uuid::Uuid;

use super::service::SAMPLE_ID;
use super::upload::FILE_FIELD;

const MIB: f64 = 1024.0 * 1024.0;

/// A refusal or failure of the FCS side.
#[derive(Debug, thiserror::Error)]
pub enum FcsRefusal {
    /// The engine rejected the file; its message says why.
    #[error("{FILE_FIELD}: {0}")]
    Rejected(FcsError),
    /// An analysis argument (a dataset, channel, transform parameter, bin count, …) is outside
    /// its domain; the message starts with the argument's name.
    #[error(transparent)]
    Invalid(FcsError),
    /// The upload is larger than `FCS_MAX_UPLOAD_MB`.
    #[error(
        "{FILE_FIELD}: the upload is larger than the limit of {} MiB (FCS_MAX_UPLOAD_MB)",
        limit_bytes / (1024 * 1024)
    )]
    UploadTooLarge { limit_bytes: u64 },
    /// The upload would take the user's stored files over `FCS_QUOTA_MB`.
    #[error("{}", over_quota(*quota_bytes, *used_bytes))]
    OverQuota { quota_bytes: u64, used_bytes: u64 },
    /// The upload would take every user's stored files over `FCS_MAX_TOTAL_GB`.
    #[error("{}", storage_full(*limit_bytes, *used_bytes))]
    StorageFull { limit_bytes: u64, used_bytes: u64 },
    /// The multipart body has no `file` field.
    #[error("{FILE_FIELD}: the multipart field `{FILE_FIELD}` with the FCS file is missing")]
    MissingFile,
    /// The upload took longer than `FCS_UPLOAD_TIMEOUT_SECONDS`.
    #[error(
        "The upload took longer than FCS_UPLOAD_TIMEOUT_SECONDS={seconds} allows; nothing was kept"
    )]
    UploadTimedOut { seconds: u64 },
    /// Decoding the file would take more memory than one file may.
    #[error(
        "{FILE_FIELD}: decoded, its {events} events × {parameters} parameters would take {:.1} \
         MiB, more than the {} MiB one file may take ({})",
        *bytes as f64 / MIB,
        limit.bytes() / (1024 * 1024),
        limit.setting()
    )]
    DecodesTooLarge {
        events: usize,
        parameters: usize,
        bytes: u64,
        limit: DecodeLimit,
    },
    /// The events page would be larger than `FCS_MAX_RESPONSE_MB`.
    #[error("{}", page_too_large(*bound_bytes, *limit_mb, *max_events))]
    PageTooLarge {
        bound_bytes: u64,
        limit_mb: u64,
        /// The most events of this page's channels that fit; 0 when not even one does.
        max_events: usize,
    },
    /// The upload store could not be opened (the cause is logged where it happened).
    #[error("FCS file storage is not available")]
    StorageUnavailable,
    /// The sample could not be found, generated or read (the cause is logged).
    #[error("The FCS sample file is not available")]
    SampleUnavailable,
    /// No such file of the caller's: unknown ids and other users' ids read alike, so ids leak
    /// nothing.
    #[error("FCS file not found")]
    NotFound,
    /// A `file_id` that is neither `sample` nor a UUID.
    #[error("file_id must be `{SAMPLE_ID}` or the UUID of one of your uploads")]
    MalformedFileId,
    /// A stored upload passed validation before it became visible, but the engine's limits
    /// have tightened since (longer names, overlapping `$NEXTDATA`, the TEXT budget): it is
    /// refused naming the limit it breaks, and stays listed and deletable.
    #[error(
        "file_id: the stored file {id} no longer reads under the current limits: {error}; it \
         stays listed, and DELETE /api/v1/fcs/files/{id} removes it"
    )]
    StoredFileUnreadable { id: Uuid, error: FcsError },
    /// Reading our own storage or the sample failed: our fault, not the file's.
    #[error(transparent)]
    Broken(anyhow::Error),
    /// The database failed.
    #[error("the FCS file records failed: {0}")]
    Store(#[from] sqlx::Error),
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
