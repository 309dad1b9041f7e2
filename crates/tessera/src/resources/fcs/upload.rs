//! Receiving an upload: the multipart body is streamed chunk by chunk into object storage, never
//! held whole in memory, and its size is counted as it arrives.
//!
//! axum's default body limit (sized for JSON bodies) is disabled on the upload route; this module
//! applies the upload limit instead, twice: exactly, on the bytes of the `file` field, and
//! loosely, on the whole body (the limit plus room for multipart framing and small fields), so
//! that other fields cannot be used to push unbounded data through the server either.

use axum::body::Body;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use http_body_util::Limited;
use object_store::WriteMultipart;

use super::storage::Storage;
use crate::http::{ApiError, ApiResult};

/// The multipart field that carries the file.
pub const FILE_FIELD: &str = "file";

/// Room for multipart framing and small extra fields beyond the file's own limit.
const FRAMING_ALLOWANCE: u64 = 64 * 1024;

/// Longest stored file name, in characters.
const MAX_FILENAME_CHARS: usize = 120;

/// What was received.
#[derive(Debug)]
pub struct Received {
    /// The client's file name, sanitised.
    pub filename: String,
    /// Bytes stored.
    pub size_bytes: u64,
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

/// Streams the `file` field into `key`, at most `limit` bytes. On any failure nothing is left
/// under `key`. Fields before and after it are skipped.
pub async fn receive(
    multipart: &mut Multipart,
    storage: &Storage,
    key: &str,
    limit: u64,
) -> ApiResult<Received> {
    let next = |error| multipart_error(error, limit);
    while let Some(mut field) = multipart.next_field().await.map_err(next)? {
        if field.name() != Some(FILE_FIELD) {
            continue;
        }
        let filename = sanitize_filename(field.file_name().unwrap_or(""));
        let mut writer = storage.begin(key).await.map_err(storage_error)?;
        let copied = copy(&mut field, &mut writer, limit).await;
        let size_bytes = match copied {
            Ok(size) => size,
            Err(error) => {
                // Best effort: the staging file is also removed when the writer is dropped.
                let _ = writer.abort().await;
                return Err(error);
            }
        };
        writer.finish().await.map_err(storage_error)?;
        return Ok(Received {
            filename,
            size_bytes,
        });
    }
    Err(ApiError::invalid(format!(
        "{FILE_FIELD}: the multipart field `{FILE_FIELD}` with the FCS file is missing"
    )))
}

/// Copies the field's chunks into the writer, counting bytes against `limit`.
async fn copy(
    field: &mut axum::extract::multipart::Field<'_>,
    writer: &mut WriteMultipart,
    limit: u64,
) -> ApiResult<u64> {
    let mut size: u64 = 0;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|error| multipart_error(error, limit))?
    {
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        // Back pressure: at most two parts in flight, so memory per upload stays bounded.
        writer.wait_for_capacity(2).await.map_err(storage_error)?;
        writer.put(chunk);
    }
    Ok(size)
}

fn too_large(limit: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "{FILE_FIELD}: the upload is larger than the limit of {} MiB (FCS_MAX_UPLOAD_MB)",
        limit / (1024 * 1024)
    ))
}

/// A body over the whole-body cap is refused like a file over the limit: same status, same
/// message (which of the two trips first depends on how the body was chunked).
fn multipart_error(error: MultipartError, limit: u64) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::BadRequest(format!("Malformed multipart body: {}", error.body_text()))
    }
}

fn storage_error(error: object_store::Error) -> ApiError {
    ApiError::Internal(anyhow::Error::new(error).context("writing an FCS upload"))
}

/// The client's file name made safe to store and show: the last path component only, letters,
/// digits, `.`, `-`, `_` and spaces kept and anything else replaced by `_`, no leading dots,
/// at most [`MAX_FILENAME_CHARS`] characters; `upload.fcs` when nothing is left.
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
    use super::sanitize_filename;

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
