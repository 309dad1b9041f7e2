//! The FCS endpoints over HTTP: each handler names its scope, parses the request, calls the
//! [`FcsService`] and renders; an [`FcsRefusal`] becomes a status here, in one place.
//!
//! [`files`] holds the routes about stored files (list, detail, keywords, download, upload,
//! delete); [`values`] those that read a dataset's values through the value pipeline
//! (parameters, events, statistics, histogram, density).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use tokio::time::Instant;
use utoipa::IntoParams;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::errors::FcsRefusal;
use super::service::FcsService;
use super::view::FcsData;
use crate::http::deadline::Deadline;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tokens::scopes::RequiredScope;
use crate::tokens::Pat;

mod files;
mod values;

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
            | FcsRefusal::Invalid(_)
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
        .routes(routes!(values::parameters))
        .routes(routes!(values::events))
        .routes(routes!(values::statistics))
        .routes(routes!(values::histogram))
        .routes(routes!(values::density))
        // The JSON body limit does not apply here: `upload` enforces FCS_MAX_UPLOAD_MB itself,
        // and its own timeout.
        .routes(routes!(files::upload).layer(DefaultBodyLimit::disable()))
        .routes(routes!(files::list_files))
        .routes(routes!(files::file_detail, files::delete_file))
        .routes(routes!(files::keywords))
        .routes(routes!(files::download))
}

/// `?file_id=`: which file to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    file_id: Option<String>,
}

/// Resolves `file_id` for the caller and returns the file's id and its dataset `dataset`,
/// decoded.
async fn read<R: RequiredScope>(
    state: &AppState,
    pat: &Pat<R>,
    file_id: Option<&str>,
    dataset: usize,
) -> ApiResult<(String, Arc<FcsData>)> {
    let fcs: &FcsService = &state.fcs;
    let source = fcs.resolve(&state.store, pat.user_id, file_id).await?;
    let data = fcs.data(&source, dataset).await?;
    Ok((source.file_id(), data))
}

/// Runs `work` — a computation over every value of a file — on the blocking pool, off the
/// async workers.
async fn compute<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        ApiError::Internal(anyhow::Error::new(error).context("computing over FCS values"))
    })
}
