//! The FCS endpoints over HTTP: each handler names its scope, parses the request, calls the
//! [`FcsService`] and renders; an [`FcsRefusal`] becomes a status
//! here, in one place.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use super::errors::FcsRefusal;
use super::events::EventsPage;
use super::service::{parse_file_id, FcsService, Sample, SAMPLE_ID};
use super::upload::Upload;
use super::view::{EventsView, FcsData, ParametersView, StatisticsView};
use crate::http::deadline::Deadline;
use crate::http::extract::{Path, Query};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, Success};
use crate::state::AppState;
use crate::store::FcsFileRecord;
use crate::tokens::scopes::{FcsAnalyze, FcsRead, FcsWrite};
use crate::tokens::Pat;
use crate::types::Timestamp;

/// Events per page when `limit` is not given.
const DEFAULT_LIMIT: i64 = 100;
/// Largest `limit` accepted.
const MAX_LIMIT: i64 = 10_000;

/// The upload route, which has its own timeout (`FCS_UPLOAD_TIMEOUT_SECONDS`).
pub const UPLOAD_PATH: &str = "/api/v1/fcs/upload";

/// Whether a request is one whose route keeps its own time limit, longer than
/// `REQUEST_TIMEOUT_SECONDS`, so the global timeout must let it be: an FCS upload.
pub fn has_own_timeout(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST && path == UPLOAD_PATH
}

/// Gives FCS uploads their deadline, `timeout` from now.
pub async fn set_upload_deadline(
    State(timeout): State<std::time::Duration>,
    mut request: Request,
    next: Next,
) -> Response {
    if has_own_timeout(request.method(), request.uri().path()) {
        request
            .extensions_mut()
            .insert(Deadline(Instant::now() + timeout));
    }
    next.run(request).await
}

impl From<FcsRefusal> for ApiError {
    fn from(refusal: FcsRefusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            // Reading our own storage failed: our fault, not the file's.
            FcsRefusal::Rejected(error @ tessera_fcs::FcsError::Io { .. }) => {
                ApiError::Internal(anyhow::Error::new(error))
            }
            FcsRefusal::Rejected(_)
            | FcsRefusal::MissingFile
            | FcsRefusal::DecodesTooLarge { .. }
            | FcsRefusal::PageTooLarge { .. }
            | FcsRefusal::StoredFileUnreadable { .. } => ApiError::Validation(message),
            FcsRefusal::UploadTooLarge { .. } | FcsRefusal::OverQuota { .. } => {
                ApiError::PayloadTooLarge(message)
            }
            FcsRefusal::StorageFull { .. } => ApiError::InsufficientStorage(message),
            FcsRefusal::UploadTimedOut { .. }
            | FcsRefusal::StorageUnavailable
            | FcsRefusal::SampleUnavailable => ApiError::Unavailable(message),
            FcsRefusal::NotFound => ApiError::NotFound(message),
            FcsRefusal::MalformedFileId => ApiError::BadRequest(message),
            FcsRefusal::Broken(error) => ApiError::Internal(error),
            FcsRefusal::Store(error) => ApiError::from(error),
        }
    }
}

/// The `/api/v1/fcs` routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(parameters))
        .routes(routes!(events))
        .routes(routes!(statistics))
        // The JSON body limit does not apply here: `upload` enforces FCS_MAX_UPLOAD_MB itself,
        // and its own timeout.
        .routes(routes!(upload).layer(DefaultBodyLimit::disable()))
        .routes(routes!(list_files))
        .routes(routes!(delete_file))
}

/// `?file_id=`: which file to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    file_id: Option<String>,
}

/// Query of `GET /api/v1/fcs/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    file_id: Option<String>,
    /// Events per page, 1–10000 (default 100).
    limit: Option<i64>,
    /// Events to skip (default 0); past the end gives an empty page.
    offset: Option<i64>,
    /// Comma-separated `$PnN`s, e.g. `FSC-A,SSC-A` (default: all).
    channels: Option<String>,
}

/// Query of `GET /api/v1/fcs/statistics`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    file_id: Option<String>,
    /// Comma-separated `$PnN`s (default: all).
    channels: Option<String>,
}

/// The parameters (channels) of a file.
#[utoipa::path(get, path = "/api/v1/fcs/parameters", tag = "fcs", params(FileQuery),
    security(("pat" = ["fcs:read"])),
    responses(
        (status = 200, description = "Parameters in event order", body = inline(Enveloped<ParametersView>)),
        (status = 400, description = "file_id is not a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
    ))]
pub async fn parameters(
    pat: Pat<FcsRead>,
    State(state): State<AppState>,
    Query(query): Query<FileQuery>,
) -> ApiResult<Success<ParametersView>> {
    let fcs = &state.fcs;
    let (file_id, data) = read(&state, fcs, &pat, query.file_id.as_deref()).await?;
    Ok(ok(ParametersView::new(file_id, &data)))
}

/// A page of events (raw values), keyed by `$PnN` in parameter order.
#[utoipa::path(get, path = "/api/v1/fcs/events", tag = "fcs", params(EventsQuery),
    security(("pat" = ["fcs:read"])),
    responses(
        (status = 200, description = "A page of events", body = inline(Enveloped<EventsView>)),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "limit, offset or channels invalid, or the page larger than FCS_MAX_RESPONSE_MB", body = ErrorEnvelope),
    ))]
pub async fn events(
    pat: Pat<FcsRead>,
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> ApiResult<Response> {
    let fcs = &state.fcs;
    let (limit, offset) = page(query.limit, query.offset)?;
    let (file_id, data) = read(&state, fcs, &pat, query.file_id.as_deref()).await?;
    let selected = data
        .select(query.channels.as_deref())
        .map_err(ApiError::Validation)?;
    let page = EventsPage::new(&file_id, data, selected, limit, offset);
    page.within(fcs.max_response_bytes())?;
    // Streamed: the rows are serialised from the columns as the client reads them.
    Ok(page.into_response())
}

/// Per-channel statistics: min, max, mean, median, std (population), then count, cv, p5, p95.
#[utoipa::path(get, path = "/api/v1/fcs/statistics", tag = "fcs", params(StatisticsQuery),
    security(("pat" = ["fcs:analyze"])),
    responses(
        (status = 200, description = "Statistics of every (or each selected) channel", body = inline(Enveloped<StatisticsView>)),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "Unknown channel", body = ErrorEnvelope),
    ))]
pub async fn statistics(
    pat: Pat<FcsAnalyze>,
    State(state): State<AppState>,
    Query(query): Query<StatisticsQuery>,
) -> ApiResult<Success<StatisticsView>> {
    let fcs = &state.fcs;
    let (file_id, data) = read(&state, fcs, &pat, query.file_id.as_deref()).await?;
    let selected = data
        .select(query.channels.as_deref())
        .map_err(ApiError::Validation)?;
    if data.has_statistics() {
        return Ok(ok(StatisticsView::new(file_id, &data, &selected)));
    }
    // The first computation reads every value: keep it off the async workers.
    let view = tokio::task::spawn_blocking(move || StatisticsView::new(file_id, &data, &selected))
        .await
        .context("computing FCS statistics")?;
    Ok(ok(view))
}

/// A stored file, as listed and as answered by an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    /// `sample`, or the upload's id.
    file_id: String,
    filename: String,
    size_bytes: u64,
    total_events: u64,
    total_parameters: u64,
    /// True for the built-in sample (which cannot be deleted).
    sample: bool,
    /// True when the sample was generated by the engine rather than read from FCS_SAMPLE_PATH.
    synthetic: bool,
    /// Upload time; null for the sample.
    #[schema(value_type = Option<String>)]
    created_at: Option<Timestamp>,
}

impl FileView {
    fn sample(sample: &Sample) -> Self {
        FileView {
            file_id: SAMPLE_ID.to_owned(),
            filename: sample.filename.clone(),
            size_bytes: sample.size_bytes,
            total_events: sample.total_events as u64,
            total_parameters: sample.total_parameters as u64,
            sample: true,
            synthetic: sample.synthetic,
            created_at: None,
        }
    }

    fn upload(record: &FcsFileRecord) -> Self {
        // Counts are stored from `usize`s and never negative.
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        FileView {
            file_id: record.id.to_string(),
            filename: record.filename.clone(),
            size_bytes: count(record.size_bytes),
            total_events: count(record.total_events),
            total_parameters: count(record.total_parameters),
            sample: false,
            synthetic: false,
            created_at: Some(record.created_at),
        }
    }
}

/// `GET /api/v1/fcs/files`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileList {
    /// The sample first, then the caller's uploads, newest first.
    files: Vec<FileView>,
    total: usize,
}

/// The caller's uploads, after the built-in sample.
#[utoipa::path(get, path = "/api/v1/fcs/files", tag = "fcs", security(("pat" = ["fcs:read"])),
    responses((status = 200, description = "The sample and the caller's uploads", body = inline(Enveloped<FileList>))))]
pub async fn list_files(
    pat: Pat<FcsRead>,
    State(state): State<AppState>,
) -> ApiResult<Success<FileList>> {
    let fcs = &state.fcs;
    let uploads = state.store.list_fcs_files(pat.user_id).await?;
    // An unavailable sample (logged by the service) must not hide the caller's own files.
    let sample = fcs.sample().await.ok();
    let files: Vec<FileView> = sample
        .iter()
        .map(|s| FileView::sample(s))
        .chain(uploads.iter().map(FileView::upload))
        .collect();
    Ok(ok(FileList {
        total: files.len(),
        files,
    }))
}

/// Answer of a delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    file_id: Uuid,
    deleted: bool,
}

/// Deletes one of the caller's uploads (object and record).
#[utoipa::path(delete, path = "/api/v1/fcs/files/{id}", tag = "fcs", security(("pat" = ["fcs:write"])),
    params(("id" = String, Path, description = "File id of one of the caller's uploads")),
    responses(
        (status = 200, description = "Deleted", body = inline(Enveloped<Deleted>)),
        (status = 400, description = "The id is not a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 409, description = "The built-in sample cannot be deleted", body = ErrorEnvelope),
    ))]
pub async fn delete_file(
    pat: Pat<FcsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Success<Deleted>> {
    let fcs = &state.fcs;
    if id == SAMPLE_ID {
        return Err(ApiError::Conflict(
            "The built-in sample cannot be deleted".to_owned(),
        ));
    }
    let id = parse_file_id(&id)?;
    fcs.delete_upload(&state.store, pat.user_id, id).await?;
    Ok(ok(Deleted {
        file_id: id,
        deleted: true,
    }))
}

/// Uploads an FCS file: multipart field `file`, at most `FCS_MAX_UPLOAD_MB`.
#[utoipa::path(post, path = "/api/v1/fcs/upload", tag = "fcs", security(("pat" = ["fcs:write"])),
    request_body(content_type = "multipart/form-data", description = "Field `file`: the FCS file"),
    responses(
        (status = 201, description = "Stored and readable via `file_id`", body = inline(Enveloped<FileView>)),
        (status = 413, description = "Larger than FCS_MAX_UPLOAD_MB, or over the caller's FCS_QUOTA_MB", body = ErrorEnvelope),
        (status = 415, description = "Not multipart/form-data", body = ErrorEnvelope),
        (status = 422, description = "No `file` field, the engine rejected the file (its message), or it decodes larger than one file may", body = ErrorEnvelope),
        (status = 503, description = "The upload took longer than FCS_UPLOAD_TIMEOUT_SECONDS (receiving, checking, storing and auditing it)", body = ErrorEnvelope),
        (status = 507, description = "Every user's stored files would pass FCS_MAX_TOTAL_GB", body = ErrorEnvelope),
    ))]
pub async fn upload(
    pat: Pat<FcsWrite>,
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Success<FileView>> {
    let fcs = &state.fcs;
    let timeout = fcs.upload_timeout();
    // From the request's arrival, covering receiving, checking, storing and (in the recorder)
    // auditing; a route built without the stack's deadline layer starts counting here.
    let deadline = request
        .extensions()
        .get::<Deadline>()
        .map_or_else(|| Instant::now() + timeout, |deadline| deadline.0);
    let upload = Upload::open(&state, pat.user_id, request, deadline).await?;
    let record = upload.accept(&state).await?;
    Ok(created(FileView::upload(&record)))
}

/// Resolves `file_id` for the caller and returns the file's id and decoded data.
async fn read<R: crate::tokens::scopes::RequiredScope>(
    state: &AppState,
    fcs: &FcsService,
    pat: &Pat<R>,
    file_id: Option<&str>,
) -> ApiResult<(String, Arc<FcsData>)> {
    let source = fcs.resolve(&state.store, pat.user_id, file_id).await?;
    let data = fcs.data(&source).await?;
    Ok((source.file_id(), data))
}

/// Validates `limit` (1–10000, default 100) and `offset` (≥ 0, default 0).
fn page(limit: Option<i64>, offset: Option<i64>) -> ApiResult<(usize, usize)> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset must be 0 or more"));
    }
    Ok((
        limit as usize,
        usize::try_from(offset).unwrap_or(usize::MAX),
    ))
}
