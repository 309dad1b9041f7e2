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
use tessera_fcs::gate::Membership;
use tessera_fcs::Pipeline;
use tokio::time::Instant;
use utoipa::IntoParams;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use super::analysis::{invalid, PipelineQuery};
use super::errors::FcsRefusal;
use super::gates::{GateBook, Population};
use super::service::FcsService;
use super::view::FcsData;
use crate::http::deadline::Deadline;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;

mod files;
mod gates;
mod values;

// What the console's FCS pages answer with too: the same images and files as the API.
pub use files::original_file;
pub use gates::{gates_with_populations, remove_gate, save_gate};
pub use values::{export_file, plot_image, ExportQuery, PlotQuery};

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
        .routes(routes!(values::export))
        .routes(routes!(values::stability))
        .routes(routes!(values::plot))
        // The JSON body limit does not apply here: `upload` enforces FCS_MAX_UPLOAD_MB itself,
        // and its own timeout.
        .routes(routes!(files::upload).layer(DefaultBodyLimit::disable()))
        .routes(routes!(files::list_files))
        .routes(routes!(files::file_detail, files::delete_file))
        .routes(routes!(files::keywords))
        .routes(routes!(files::download))
        .routes(routes!(gates::create_gate, gates::list_gates))
        .routes(routes!(gates::delete_gate))
}

/// `?file_id=`: which file to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    file_id: Option<String>,
}

/// What a value route reads: a dataset of the caller's file and, when `gate=` names one, the
/// gate whose population it keeps.
#[derive(Clone)]
pub struct Reading {
    file_id: String,
    filename: String,
    data: Arc<FcsData>,
    gate: Option<(GateBook, Uuid)>,
}

/// Resolves `file_id` and `choice.gate` for user `user_id`. The dataset is `dataset=`, else the
/// gate's; a gate drawn on another dataset than the one asked for is refused.
async fn read(
    state: &AppState,
    user_id: Uuid,
    file_id: Option<&str>,
    choice: &PipelineQuery,
) -> ApiResult<Reading> {
    let fcs: &FcsService = &state.fcs;
    let source = fcs.resolve(&state.store, user_id, file_id).await?;
    let Some(gate) = choice.gate.as_deref() else {
        let data = fcs.data(&source, choice.dataset()).await?;
        return Ok(Reading {
            file_id: source.file_id(),
            filename: source.filename().to_owned(),
            data,
            gate: None,
        });
    };
    let gate = Uuid::parse_str(gate).map_err(|_| invalid("gate", "is not a gate id (a UUID)"))?;
    let records = state
        .store
        .list_fcs_gates(user_id, source.upload_id())
        .await?;
    let book = GateBook::new(records, state.fcs.populations());
    let drawn_on = book
        .find(gate)
        .ok_or_else(|| invalid("gate", "no such gate on this file"))?
        .dataset;
    let drawn_on = usize::try_from(drawn_on).unwrap_or(usize::MAX);
    if choice.dataset.is_some_and(|asked| asked != drawn_on) {
        return Err(invalid("gate", format!("is drawn on dataset {drawn_on}")).into());
    }
    let data = fcs.data(&source, drawn_on).await?;
    Ok(Reading {
        file_id: source.file_id(),
        filename: source.filename().to_owned(),
        data,
        gate: Some((book, gate)),
    })
}

impl Reading {
    /// The gate's population, if a gate was named. Blocking: it reads the gate's channels.
    fn population(&self) -> Result<Option<Arc<Population>>, FcsRefusal> {
        self.gate
            .as_ref()
            .map(|(book, id)| book.population(*id, &self.data))
            .transpose()
    }

    /// The name of the gate named, if any.
    fn gate_name(&self) -> Option<String> {
        let (book, id) = self.gate.as_ref()?;
        book.find(*id).map(|record| record.name.clone())
    }

    /// The gate's members, if a gate was named. Blocking.
    fn members(&self) -> Result<Option<Membership>, FcsRefusal> {
        Ok(self.population()?.map(|p| p.members.clone()))
    }

    /// The `selected` channels' values through `pipeline`, of the gate's members only when a
    /// gate was named. Blocking.
    fn values(&self, pipeline: &Pipeline, selected: &[usize]) -> Result<Vec<Vec<f64>>, FcsRefusal> {
        let values = pipeline.evaluate(&self.data.source(), selected);
        Ok(match self.population()? {
            None => values,
            Some(kept) => values
                .iter()
                .map(|column| kept.members.keep(column))
                .collect(),
        })
    }
}

/// Runs `work` — a computation over every value of a file — on the blocking pool, off the
/// async workers.
async fn compute<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        ApiError::Internal(anyhow::Error::new(error).context("computing over FCS values"))
    })
}
