//! Receiving an upload: the multipart body is streamed chunk by chunk into object storage, never
//! held whole in memory, and its size is counted as it arrives.
//!
//! axum's default body limit (sized for JSON bodies) is disabled on the upload route; this module
//! applies the upload limit instead, twice: exactly, on the bytes of the `file` field, and
//! loosely, on the whole body (the limit plus room for multipart framing and small fields), so
//! that other fields cannot be used to push unbounded data through the server either. The limit
//! is `FCS_MAX_UPLOAD_MB` or what is left of the user's `FCS_QUOTA_MB`, whichever is smaller,
//! so an upload over the quota is refused as soon as it passes it, not after it is stored.

use axum::body::Body;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use http_body_util::Limited;
use object_store::WriteMultipart;

use std::sync::Arc;

use anyhow::Context;
use tokio::time::Instant;
use uuid::Uuid;

use super::errors::FcsRefusal;
use super::service::FcsService;
use super::storage::{PendingObject, Storage, STAGING};
use super::view::FcsData;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::FcsFileRecord;
use crate::types::Timestamp;

/// The multipart field that carries the file.
pub const FILE_FIELD: &str = "file";

/// Room for multipart framing and small extra fields beyond the file's own limit.
const FRAMING_ALLOWANCE: u64 = 64 * 1024;

/// Longest stored file name, in characters.
const MAX_FILENAME_CHARS: usize = 120;

/// How much one upload may bring: `FCS_MAX_UPLOAD_MB`, what is left of the user's quota, and what
/// is left of the storage all users share.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    /// `FCS_MAX_UPLOAD_MB` in bytes.
    pub max_upload_bytes: u64,
    /// `FCS_QUOTA_MB` and the user's stored bytes, when there is a quota.
    pub quota: Option<Usage>,
    /// `FCS_MAX_TOTAL_GB` and every user's stored bytes, when there is a cap.
    pub total: Option<Usage>,
}

/// A storage limit and what is stored against it, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub limit_bytes: u64,
    pub used_bytes: u64,
}

impl Usage {
    fn left(self) -> u64 {
        self.limit_bytes.saturating_sub(self.used_bytes)
    }
}

impl Room {
    /// The most bytes this upload may have.
    pub fn limit(&self) -> u64 {
        let left = |usage: Option<Usage>| usage.map_or(u64::MAX, Usage::left);
        self.max_upload_bytes
            .min(left(self.quota))
            .min(left(self.total))
    }

    /// Refuses an upload of more than [`Self::limit`] bytes, naming what limits it: the shared
    /// storage, else the user's quota, else the upload limit.
    pub fn refusal(&self) -> FcsRefusal {
        let limit = self.limit();
        match (self.total, self.quota) {
            (Some(total), _) if total.left() == limit && limit < self.max_upload_bytes => {
                FcsRefusal::StorageFull {
                    limit_bytes: total.limit_bytes,
                    used_bytes: total.used_bytes,
                }
            }
            (_, Some(quota)) if quota.left() == limit && limit < self.max_upload_bytes => {
                FcsRefusal::OverQuota {
                    quota_bytes: quota.limit_bytes,
                    used_bytes: quota.used_bytes,
                }
            }
            _ => FcsRefusal::UploadTooLarge {
                limit_bytes: self.max_upload_bytes,
            },
        }
    }
}

/// What was received.
#[derive(Debug)]
pub struct Received {
    /// The client's file name, sanitised.
    pub filename: String,
    /// Bytes stored.
    pub size_bytes: u64,
}

/// Longest small text field read before the file (the console's CSRF token).
const MAX_TEXT_FIELD_BYTES: usize = 256;

/// One upload on its way in: the multipart body, bounded by the room the user has, by a deadline
/// that covers receiving, checking, storing and recording the file. The API's `POST
/// /api/v1/fcs/upload` and the console's upload form both go through it.
pub struct Upload {
    multipart: Multipart,
    room: Room,
    user_id: Uuid,
    deadline: Instant,
}

impl Upload {
    /// Opens `request`'s body as `user_id`'s upload, to be done by `deadline`: another content
    /// type answers 415; a user with no room left is refused once the file's bytes pass it.
    pub async fn open(
        state: &AppState,
        user_id: Uuid,
        request: Request,
        deadline: Instant,
    ) -> ApiResult<Upload> {
        let fcs = &state.fcs;
        let opening = async {
            let room = fcs.room(&state.store, user_id).await?;
            let multipart = multipart(request, room.limit()).await?;
            Ok::<_, ApiError>((room, multipart))
        };
        let (room, multipart) = tokio::time::timeout_at(deadline, opening)
            .await
            .map_err(|_| timed_out(fcs))??;
        Ok(Upload {
            multipart,
            room,
            user_id,
            deadline,
        })
    }

    /// The next field, which must be the short text field `name` (a form's field sent before
    /// the file, such as the console's CSRF token); `None` when the body holds something else.
    pub async fn leading_text(&mut self, name: &str) -> ApiResult<Option<String>> {
        let field = self
            .multipart
            .next_field()
            .await
            .map_err(|e| multipart_error(e, &self.room))?;
        let Some(mut field) = field.filter(|f| f.name() == Some(name)) else {
            return Ok(None);
        };
        let mut text = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| multipart_error(e, &self.room))?
        {
            if text.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
                return Ok(None);
            }
            text.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8(text).ok())
    }

    /// Receives the `file` field, has the engine check it, and stores and records it; on any
    /// failure, the deadline, or a client that leaves, nothing is left behind.
    pub async fn accept(mut self, state: &AppState) -> ApiResult<FcsFileRecord> {
        let fcs = &state.fcs;
        let deadline = self.deadline;
        let receiving = self.receive_and_validate(fcs);
        let Accepted {
            staged,
            record,
            data,
        } = tokio::time::timeout_at(deadline, receiving)
            .await
            .map_err(|_| timed_out(fcs))??;
        match keep(state, fcs, staged, record.clone(), deadline).await? {
            Kept::Stored => {}
            Kept::Refused(refusal) => return Err(refusal.into()),
            Kept::TimedOut => return Err(timed_out(fcs).into()),
        }
        fcs.remember(record.id, Arc::new(data));
        Ok(record)
    }

    async fn receive_and_validate(&mut self, fcs: &FcsService) -> ApiResult<Accepted> {
        let storage = fcs.storage().await?;
        let id = Uuid::now_v7();
        // Received under a staging key and moved to its final key only once the engine accepts
        // it.
        let staging = format!("{STAGING}/{id}.fcs");
        let (staged, received) = receive(&mut self.multipart, storage, staging, &self.room).await?;
        // Other uploads may finish meanwhile: the limits are checked again, atomically, when the
        // file is recorded (`keep`).
        let data = fcs.validate(&staged).await?;
        let record = new_record(id, self.user_id, received, &data);
        Ok(Accepted {
            staged,
            record,
            data,
        })
    }
}

fn timed_out(fcs: &FcsService) -> FcsRefusal {
    FcsRefusal::UploadTimedOut {
        seconds: fcs.upload_timeout().as_secs(),
    }
}

/// An upload the engine accepted, still in staging.
struct Accepted {
    staged: PendingObject,
    record: FcsFileRecord,
    data: FcsData,
}

fn new_record(id: Uuid, user_id: Uuid, received: Received, data: &FcsData) -> FcsFileRecord {
    FcsFileRecord {
        id,
        user_id,
        filename: received.filename,
        object_key: format!("users/{user_id}/{id}.fcs"),
        size_bytes: i64::try_from(received.size_bytes).unwrap_or(i64::MAX),
        total_events: data.event_count() as i64,
        total_parameters: data.parameters.len() as i64,
        created_at: Timestamp::now(),
    }
}

/// How storing an accepted upload ended.
enum Kept {
    /// Moved to its final key and recorded.
    Stored,
    /// Recording it would break the user's quota or the shared cap, counting every file recorded
    /// before it (another upload may have finished meanwhile); nothing was kept.
    Refused(FcsRefusal),
    /// The deadline passed before it could be recorded; nothing was kept.
    TimedOut,
}

/// Moves the staged object to its final key and records it within the storage limits, by
/// `deadline`. This runs in a task of its own, so that a client leaving half-way cannot part the
/// object from its row: both are kept, or neither.
async fn keep(
    state: &AppState,
    fcs: &FcsService,
    staged: PendingObject,
    record: FcsFileRecord,
    deadline: Instant,
) -> ApiResult<Kept> {
    let store = state.store.clone();
    let limits = fcs.storage_limits();
    let fcs = fcs.clone();
    let kept = tokio::spawn(async move {
        let Ok(moved) = tokio::time::timeout_at(deadline, staged.rename(&record.object_key)).await
        else {
            return Ok(Kept::TimedOut);
        };
        let stored = moved.context("storing an FCS upload")?;
        let admission = store
            .insert_fcs_file_within(&record, limits, deadline)
            .await?;
        let Some(admission) = admission else {
            return Ok(Kept::TimedOut);
        };
        if let Some(refusal) = fcs.refusal(admission) {
            return Ok(Kept::Refused(refusal));
        }
        stored.keep();
        Ok::<_, ApiError>(Kept::Stored)
    });
    kept.await.context("storing an FCS upload")?
}

/// Reads a `multipart/form-data` body whose total size is bounded by `limit` plus framing.
/// Another content type answers 415.
pub async fn multipart(request: Request, limit: u64) -> ApiResult<Multipart> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !is_multipart {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Expected a `multipart/form-data` body with the FCS file in the field `{FILE_FIELD}`"
        )));
    }
    let cap = usize::try_from(limit.saturating_add(FRAMING_ALLOWANCE)).unwrap_or(usize::MAX);
    let request = request.map(|body| Body::new(Limited::new(body, cap)));
    Multipart::from_request(request, &())
        .await
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

/// Streams the `file` field into `key`, at most `room.limit()` bytes. The object is pending:
/// whatever ends this upload before it is kept deletes it. Fields before and after it are
/// skipped.
pub async fn receive(
    multipart: &mut Multipart,
    storage: &Storage,
    key: String,
    room: &Room,
) -> ApiResult<(PendingObject, Received)> {
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, room))?
    {
        if field.name() != Some(FILE_FIELD) {
            continue;
        }
        let filename = sanitize_filename(field.file_name().unwrap_or(""));
        // Before the first byte is written, so that even a cancelled upload leaves nothing.
        let pending = PendingObject::new(storage, key);
        let mut writer = storage.begin(pending.key()).await.map_err(storage_error)?;
        let copied = copy(&mut field, &mut writer, room).await;
        let size_bytes = match copied {
            Ok(size) => size,
            Err(error) => {
                let _ = writer.abort().await;
                return Err(error);
            }
        };
        writer.finish().await.map_err(storage_error)?;
        let received = Received {
            filename,
            size_bytes,
        };
        return Ok((pending, received));
    }
    Err(FcsRefusal::MissingFile.into())
}

/// Copies the field's chunks into the writer, counting bytes against the room.
async fn copy(
    field: &mut axum::extract::multipart::Field<'_>,
    writer: &mut WriteMultipart,
    room: &Room,
) -> ApiResult<u64> {
    let limit = room.limit();
    let mut size: u64 = 0;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|error| multipart_error(error, room))?
    {
        size += chunk.len() as u64;
        if size > limit {
            return Err(room.refusal().into());
        }
        // Back pressure: at most two parts in flight, so memory per upload stays bounded.
        writer.wait_for_capacity(2).await.map_err(storage_error)?;
        writer.put(chunk);
    }
    Ok(size)
}

/// A body over the whole-body cap is refused like a file over the limit: same status, same
/// message (which of the two trips first depends on how the body was chunked).
fn multipart_error(error: MultipartError, room: &Room) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        room.refusal().into()
    } else {
        ApiError::BadRequest(format!("Malformed multipart body: {}", error.body_text()))
    }
}

fn storage_error(error: object_store::Error) -> ApiError {
    ApiError::Internal(anyhow::Error::new(error).context("writing an FCS upload"))
}

/// The client's file name made safe to store and show: the last path component only, letters,
/// digits, `.`, `-`, `_` and spaces kept and anything else replaced by `_`, no leading dots,
/// at most `MAX_FILENAME_CHARS` characters; `upload.fcs` when nothing is left.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    let capped: String = trimmed.chars().take(MAX_FILENAME_CHARS).collect();
    if capped.trim().is_empty() {
        "upload.fcs".to_owned()
    } else {
        capped.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_the_smaller_of_the_upload_limit_and_what_the_quota_leaves() {
        const MIB: u64 = 1024 * 1024;
        let room = |used_bytes| Room {
            max_upload_bytes: 256 * MIB,
            quota: Some(Usage {
                limit_bytes: 1024 * MIB,
                used_bytes,
            }),
            total: None,
        };
        assert_eq!(room(0).limit(), 256 * MIB);
        assert!(matches!(
            room(0).refusal(),
            FcsRefusal::UploadTooLarge { .. }
        ));
        assert_eq!(room(1000 * MIB).limit(), 24 * MIB);
        assert!(matches!(
            room(1000 * MIB).refusal(),
            FcsRefusal::OverQuota { .. }
        ));
        assert!(24 * MIB <= room(1000 * MIB).limit(), "what is left fits");
        assert!(
            24 * MIB + 1 > room(1000 * MIB).limit(),
            "a byte more does not"
        );
        // Over the quota already (it was lowered): nothing fits.
        assert_eq!(room(2000 * MIB).limit(), 0);
        let unlimited = Room {
            max_upload_bytes: 256 * MIB,
            quota: None,
            total: None,
        };
        assert_eq!(unlimited.limit(), 256 * MIB);
        // The shared storage, when it leaves least, is what refuses.
        let nearly_full = Room {
            total: Some(Usage {
                limit_bytes: 2048 * MIB,
                used_bytes: 2040 * MIB,
            }),
            ..room(1000 * MIB)
        };
        assert_eq!(nearly_full.limit(), 8 * MIB);
        assert!(matches!(
            nearly_full.refusal(),
            FcsRefusal::StorageFull { .. }
        ));
    }

    #[test]
    fn file_names_are_reduced_to_a_safe_basename() {
        assert_eq!(sanitize_filename("sample.fcs"), "sample.fcs");
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\data\\run 1.fcs"), "run 1.fcs");
        assert_eq!(sanitize_filename("..hidden"), "hidden");
        assert_eq!(
            sanitize_filename("tab\tnew\nline;rm.fcs"),
            "tab_new_line_rm.fcs"
        );
        assert_eq!(sanitize_filename("Zellen-ä.fcs"), "Zellen-_.fcs");
        assert_eq!(sanitize_filename(""), "upload.fcs");
        assert_eq!(sanitize_filename("dir/"), "upload.fcs");
        assert_eq!(sanitize_filename(&"a".repeat(500)).len(), 120);
    }
}
