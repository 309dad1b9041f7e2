//! `/api/v1/fcs/files/{id}/gates`: gates saved on a file, with the populations they keep.
//! Saving and deleting need `fcs:write`; listing, `fcs:read`.

use std::sync::Arc;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::compute;
use crate::http::extract::{Json, Path};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, Success};
use crate::resources::fcs::analysis::invalid;
use crate::resources::fcs::errors::FcsRefusal;
use crate::resources::fcs::gates::{shape_of, GateBook, GateShape, NewGate, Population};
use crate::resources::fcs::service::FcsSource;
use crate::state::AppState;
use crate::store::{FcsGateRecord, GateInsert};
use crate::tokens::scopes::{FcsRead, FcsWrite};
use crate::tokens::Pat;
use crate::types::Timestamp;

/// A saved gate and its population.
#[derive(Debug, Serialize, ToSchema)]
pub struct GateView {
    id: Uuid,
    file_id: String,
    dataset: i64,
    name: String,
    /// The gate it sits inside.
    parent: Option<Uuid>,
    #[serde(flatten)]
    shape: GateShape,
    /// Events inside the gate (and every gate above it).
    count: usize,
    /// `count` as a percentage of the parent population (all events without a parent); null
    /// when the parent is empty.
    percent: Option<f64>,
    #[schema(value_type = String)]
    created_at: Timestamp,
}

impl GateView {
    fn of(file_id: &str, record: &FcsGateRecord, population: &Population) -> ApiResult<Self> {
        Ok(GateView {
            id: record.id,
            file_id: file_id.to_owned(),
            dataset: record.dataset,
            name: record.name.clone(),
            parent: record.parent_id,
            shape: shape_of(record)?,
            count: population.members.count(),
            percent: population.percent(),
            created_at: record.created_at,
        })
    }
}

/// `GET …/gates`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatesView {
    file_id: String,
    /// Oldest first: a parent before the gates inside it.
    gates: Vec<GateView>,
}

/// `DELETE …/gates/{gate_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GateDeleted {
    id: Uuid,
    deleted: bool,
}

/// The file `id` names for the caller, and its gates.
async fn file_and_gates(
    state: &AppState,
    user_id: Uuid,
    id: &str,
) -> ApiResult<(FcsSource, GateBook)> {
    let source = state.fcs.resolve(&state.store, user_id, Some(id)).await?;
    let records = state
        .store
        .list_fcs_gates(user_id, source.upload_id())
        .await?;
    Ok((source, GateBook::new(records, state.fcs.populations())))
}

/// Saves a gate; answers it with its population.
#[utoipa::path(post, path = "/api/v1/fcs/files/{id}/gates", tag = "fcs", security(("pat" = ["fcs:write"])),
    params(("id" = String, Path, description = "`sample` or the id of one of the caller's uploads")),
    request_body = NewGate,
    responses(
        (status = 201, description = "Saved, with its count and percent", body = inline(Enveloped<GateView>)),
        (status = 400, description = "The id is neither `sample` nor a UUID, or the body is not JSON", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 409, description = "The dataset has a gate of that name", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid (the message names it), the parent is unknown, or the file has FCS_MAX_GATES_PER_FILE gates", body = ErrorEnvelope),
    ))]
pub async fn create_gate(
    pat: Pat<FcsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<NewGate>,
) -> ApiResult<Success<GateView>> {
    let (file_id, record, population) = save_gate(&state, pat.user_id, &id, body).await?;
    Ok(created(GateView::of(&file_id, &record, &population)?))
}

/// Saves `body` on user `user_id`'s file `id`: the file's id, the saved record and its
/// population. What `POST …/gates` and the console's gate form do.
pub async fn save_gate(
    state: &AppState,
    user_id: Uuid,
    id: &str,
    body: NewGate,
) -> ApiResult<(String, FcsGateRecord, Arc<Population>)> {
    let name = body.checked_name()?;
    let parent = body.parent_id()?;
    let (source, book) = file_and_gates(state, user_id, id).await?;
    if let Some(parent) = parent {
        let found = book
            .find(parent)
            .ok_or_else(|| invalid("parent", "no such gate on this file"))?;
        if found.dataset != body.dataset as i64 {
            return Err(invalid(
                "parent",
                format!("is on dataset {}, not {}", found.dataset, body.dataset),
            )
            .into());
        }
    }
    let data = state.fcs.data(&source, body.dataset).await?;
    let shape = body.shape.clone();
    let gate = shape.gate(&data)?;
    let record = FcsGateRecord {
        id: Uuid::now_v7(),
        user_id,
        file_id: source.upload_id(),
        dataset: body.dataset as i64,
        parent_id: parent,
        name: name.clone(),
        definition: serde_json::to_string(&shape)
            .map_err(|error| ApiError::Internal(error.into()))?,
        created_at: Timestamp::now(),
    };
    let population = compute(move || {
        let parent = parent
            .map(|parent| book.population(parent, &data))
            .transpose()?;
        Ok::<_, FcsRefusal>(Population::inside(&gate, parent.as_deref(), &data))
    })
    .await??;
    let population = Arc::new(population);
    let limit = state.fcs.max_gates_per_file();
    match state.store.insert_fcs_gate(&record, limit).await? {
        GateInsert::Saved => {
            state
                .fcs
                .populations()
                .insert(record.id, population.clone());
            Ok((source.file_id(), record, population))
        }
        GateInsert::NameTaken => Err(ApiError::Conflict(format!(
            "name: dataset {} already has a gate named `{name}`",
            body.dataset
        ))),
        GateInsert::TooMany => Err(ApiError::invalid(format!(
            "This file has {limit} gates, the most one user may save on a file \
             (FCS_MAX_GATES_PER_FILE): delete one first"
        ))),
    }
}

/// The file's gates, each with its population.
#[utoipa::path(get, path = "/api/v1/fcs/files/{id}/gates", tag = "fcs", security(("pat" = ["fcs:read"])),
    params(("id" = String, Path, description = "`sample` or the id of one of the caller's uploads")),
    responses(
        (status = 200, description = "The gates, oldest first, with counts", body = inline(Enveloped<GatesView>)),
        (status = 400, description = "The id is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
    ))]
pub async fn list_gates(
    pat: Pat<FcsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Success<GatesView>> {
    let source = state
        .fcs
        .resolve(&state.store, pat.user_id, Some(&id))
        .await?;
    let file_id = source.file_id();
    let gates = gates_with_populations(&state, pat.user_id, &source).await?;
    let gates = gates
        .iter()
        .map(|(record, population)| GateView::of(&file_id, record, population))
        .collect::<ApiResult<_>>()?;
    Ok(ok(GatesView { file_id, gates }))
}

/// User `user_id`'s gates on `source`, oldest first, each with its population. What
/// `GET …/gates` and the console's file page list.
pub async fn gates_with_populations(
    state: &AppState,
    user_id: Uuid,
    source: &FcsSource,
) -> ApiResult<Vec<(FcsGateRecord, Arc<Population>)>> {
    let records = state
        .store
        .list_fcs_gates(user_id, source.upload_id())
        .await?;
    let book = GateBook::new(records, state.fcs.populations());
    let mut datasets: Vec<i64> = book.records().iter().map(|r| r.dataset).collect();
    datasets.sort_unstable();
    datasets.dedup();
    let mut populations = std::collections::HashMap::new();
    for dataset in datasets {
        let data = state
            .fcs
            .data(source, usize::try_from(dataset).unwrap_or(usize::MAX))
            .await?;
        let book = book.clone();
        populations.extend(compute(move || book.populations(&data)).await??);
    }
    Ok(book
        .records()
        .iter()
        .filter_map(|record| Some((record.clone(), populations.remove(&record.id)?)))
        .collect())
}

/// Deletes a gate and every gate inside it.
#[utoipa::path(delete, path = "/api/v1/fcs/files/{id}/gates/{gate_id}", tag = "fcs", security(("pat" = ["fcs:write"])),
    params(
        ("id" = String, Path, description = "`sample` or the id of one of the caller's uploads"),
        ("gate_id" = String, Path, description = "The gate's id"),
    ),
    responses(
        (status = 200, description = "Deleted, with the gates inside it", body = inline(Enveloped<GateDeleted>)),
        (status = 400, description = "An id is not of the right shape", body = ErrorEnvelope),
        (status = 404, description = "No such file or gate", body = ErrorEnvelope),
    ))]
pub async fn delete_gate(
    pat: Pat<FcsWrite>,
    State(state): State<AppState>,
    Path((id, gate_id)): Path<(String, String)>,
) -> ApiResult<Success<GateDeleted>> {
    let gate_id = Uuid::parse_str(&gate_id)
        .map_err(|_| ApiError::BadRequest("The gate id is not a valid UUID".to_owned()))?;
    remove_gate(&state, pat.user_id, &id, gate_id).await?;
    Ok(ok(GateDeleted {
        id: gate_id,
        deleted: true,
    }))
}

/// Deletes user `user_id`'s gate `gate_id` on file `id`, and the gates inside it; not found
/// when there is no such gate. What `DELETE …/gates/{gate_id}` and the console do.
pub async fn remove_gate(
    state: &AppState,
    user_id: Uuid,
    id: &str,
    gate_id: Uuid,
) -> ApiResult<()> {
    let (source, book) = file_and_gates(state, user_id, id).await?;
    let deleted = state
        .store
        .delete_fcs_gate(user_id, source.upload_id(), gate_id)
        .await?;
    if deleted {
        let gone = book.with_descendants(gate_id);
        state.fcs.populations().remove_where(|id| gone.contains(id));
        Ok(())
    } else {
        Err(ApiError::NotFound("Gate not found".to_owned()))
    }
}
