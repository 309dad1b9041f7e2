//! The routes that read a dataset's values: parameters, events, statistics, histogram and
//! density. Each takes [`PipelineQuery`] beside its own query, so `dataset=`, `scale=`,
//! `compensation=` and `transform=` mean the same on every one of them.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_fcs::binning::Bins;
use tessera_fcs::FcsError;
use utoipa::{IntoParams, ToSchema};

use super::files::attachment;
use super::{compute, read, FileQuery, Reading};
use crate::http::extract::Query;
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{ok, ApiResult, Success};
use crate::input::Paging;
use crate::resources::fcs::analysis::{
    bin_count, histogram_of, invalid, range, DensityView, HistogramView, PipelineQuery,
};
use crate::resources::fcs::errors::FcsRefusal;
use crate::resources::fcs::events::EventsPage;
use crate::resources::fcs::export::{Export, ExportFormat};
use crate::resources::fcs::plot::{channel_label, render, to_png, Axis, PlotKind, MIN_SIDE_PIXELS};
use crate::resources::fcs::statistics::{ChosenStatsView, Share, Statistic};
use crate::resources::fcs::view::{ParametersView, StatisticsView};
use crate::state::AppState;
use crate::tokens::scopes::{FcsAnalyze, FcsRead};
use crate::tokens::Pat;
use tessera_fcs::gate::Membership;
use tessera_fcs::Pipeline;
use uuid::Uuid;

/// Events per page when `limit` is not given.
const DEFAULT_LIMIT: i64 = 100;
/// Largest `limit` accepted.
const MAX_LIMIT: i64 = 10_000;
/// Bins of a histogram when `bins` is not given.
const DEFAULT_HISTOGRAM_BINS: usize = 256;
/// Bins per axis of a density when `bins` is not given.
const DEFAULT_DENSITY_BINS: usize = 128;
/// Default `slices` of a stability check.
const DEFAULT_SLICES: usize = 20;

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
    /// Comma-separated statistics to answer instead of the default fields: `count`, `percent`,
    /// `min`, `max`, `mean`, `median`, `stddev`, `cv` (100·stddev/|mean|), `mad`, `geomean`,
    /// `robust_cv` (100·0.7413·IQR/median), `quantile:q` (0 ≤ q ≤ 1); at most 32.
    stats: Option<String>,
}

/// Query of `GET /api/v1/fcs/export`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    pub(crate) file_id: Option<String>,
    /// `fcs` (FCS 3.1, float32; the default) or `csv`.
    #[param(inline, value_type = ExportFormat)]
    format: Option<ExportFormat>,
    /// Comma-separated `$PnN`s (default: all).
    channels: Option<String>,
}

/// `format=` of `GET /api/v1/fcs/plot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlotFormat {
    /// `image/svg+xml` (the default).
    Svg,
    /// `image/png`: the same image, rasterised.
    Png,
}

/// Query of `GET /api/v1/fcs/plot`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlotQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    pub(crate) file_id: Option<String>,
    /// `histogram` (the default, of `x`), `scatter` or `density` (of `x` and `y`).
    #[param(inline, value_type = PlotKind)]
    kind: Option<PlotKind>,
    /// The x channel (`$PnN`).
    x: Option<String>,
    /// The y channel (`$PnN`), for scatter and density.
    y: Option<String>,
    /// `svg` (the default) or `png`.
    #[param(inline, value_type = PlotFormat)]
    format: Option<PlotFormat>,
    /// Pixels, 160 to FCS_MAX_PLOT_PIXELS (2048 by default; default 480).
    width: Option<u32>,
    /// Pixels, 160 to FCS_MAX_PLOT_PIXELS (2048 by default; default 360).
    height: Option<u32>,
}

/// Query of `GET /api/v1/fcs/stability`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StabilityQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    file_id: Option<String>,
    /// The channel to follow (`$PnN`).
    channel: Option<String>,
    /// Slices of the run, 1 to FCS_MAX_BINS (default 20).
    slices: Option<usize>,
}

/// `GET /api/v1/fcs/stability`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StabilityView {
    file_id: String,
    dataset: usize,
    channel: String,
    /// `time` (equal spans of the time channel, in its values on the chosen scale) or
    /// `event_order` (equal runs of events, when the dataset has no time channel).
    sliced_by: &'static str,
    slices: Vec<SliceView>,
    /// `100 · std / |mean|` of the slices' medians; null when no slice has a median.
    cv: f64,
}

/// One slice of `GET /api/v1/fcs/stability`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SliceView {
    start: f64,
    end: f64,
    events: usize,
    /// Null when the slice holds no finite value.
    median: f64,
}

/// `GET /api/v1/fcs/statistics`: the default fields, or those `stats=` chose.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum StatisticsAnswer {
    Default(StatisticsView),
    Chosen(ChosenStatsView),
}

/// Query of `GET /api/v1/fcs/histogram`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistogramQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    file_id: Option<String>,
    /// The channel (`$PnN`).
    channel: Option<String>,
    /// Number of equal-width bins, 1 to FCS_MAX_BINS (default 256).
    bins: Option<usize>,
    /// Left edge (default: the channel's range on the chosen scale).
    min: Option<f64>,
    /// Right edge (default: the channel's range on the chosen scale).
    max: Option<f64>,
}

/// Query of `GET /api/v1/fcs/density`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DensityQuery {
    /// `sample` (the default) or the id of one of the caller's uploads.
    file_id: Option<String>,
    /// The x channel (`$PnN`).
    x: Option<String>,
    /// The y channel (`$PnN`).
    y: Option<String>,
    /// Bins per axis, 1 to FCS_MAX_DENSITY_BINS (default 128).
    bins: Option<usize>,
    /// Left edge of the x axis (default: the channel's range on the chosen scale).
    x_min: Option<f64>,
    /// Right edge of the x axis (default: likewise).
    x_max: Option<f64>,
    /// Bottom edge of the y axis (default: likewise).
    y_min: Option<f64>,
    /// Top edge of the y axis (default: likewise).
    y_max: Option<f64>,
}

/// The parameters (channels) of a dataset.
#[utoipa::path(get, path = "/api/v1/fcs/parameters", tag = "fcs", params(FileQuery, PipelineQuery),
    security(("pat" = ["fcs:read"])),
    responses(
        (status = 200, description = "Parameters in event order", body = inline(Enveloped<ParametersView>)),
        (status = 400, description = "file_id is not a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "No such dataset, or a pipeline parameter outside its domain", body = ErrorEnvelope),
    ))]
pub async fn parameters(
    pat: Pat<FcsRead>,
    State(state): State<AppState>,
    Query(query): Query<FileQuery>,
    Query(pipeline): Query<PipelineQuery>,
) -> ApiResult<Success<ParametersView>> {
    let reading = read(&state, pat.user_id, query.file_id.as_deref(), &pipeline).await?;
    // Checked, though listing parameters computes no value: a wrong choice should not pass here
    // and fail on the next route.
    pipeline.pipeline(&reading.data)?;
    Ok(ok(ParametersView::new(reading.file_id, &reading.data)))
}

/// A page of events keyed by `$PnN` in parameter order: raw values (as stored), or through the
/// value pipeline.
#[utoipa::path(get, path = "/api/v1/fcs/events", tag = "fcs", params(EventsQuery, PipelineQuery),
    security(("pat" = ["fcs:read"])),
    responses(
        (status = 200, description = "A page of events", body = inline(Enveloped<crate::resources::fcs::view::EventsView>)),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "limit, offset, channels or a pipeline parameter invalid, or the page larger than FCS_MAX_RESPONSE_MB", body = ErrorEnvelope),
    ))]
pub async fn events(
    pat: Pat<FcsRead>,
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
    Query(choice): Query<PipelineQuery>,
) -> ApiResult<Response> {
    let (limit, offset) = page(query.limit, query.offset)?;
    let reading = read(&state, pat.user_id, query.file_id.as_deref(), &choice).await?;
    let data = reading.data.clone();
    let selected = data.select(query.channels.as_deref())?;
    let pipeline = choice.pipeline(&data)?;
    if reading.gate.is_some() {
        return gated_events(reading, selected, pipeline, (limit, offset), &state).await;
    }
    let page = EventsPage::new(
        &reading.file_id,
        data.clone(),
        selected.clone(),
        limit,
        offset,
    );
    page.within(state.fcs.max_response_bytes())?;
    if pipeline.is_raw() {
        // Streamed: the rows are serialised from the columns as the client reads them.
        return Ok(page.into_response());
    }
    let events = page.range();
    let values =
        compute(move || pipeline.evaluate(&data.source().range(events), &selected)).await?;
    Ok(page.with_values(values).into_response())
}

/// A page of the events inside a gate: the gate's population is computed, then the page's
/// members' values through the pipeline.
async fn gated_events(
    reading: Reading,
    selected: Vec<usize>,
    pipeline: Pipeline,
    (limit, offset): (usize, usize),
    state: &AppState,
) -> ApiResult<Response> {
    let members = {
        let reading = reading.clone();
        compute(move || reading.members()).await??
    };
    let members = members.unwrap_or_else(|| Membership::all(reading.data.event_count()));
    let page = EventsPage::of_population(
        &reading.file_id,
        reading.data.clone(),
        selected.clone(),
        members.count(),
        limit,
        offset,
    );
    page.within(state.fcs.max_response_bytes())?;
    let events = page.range();
    let data = reading.data;
    let values = compute(move || {
        let positions: Vec<usize> = members
            .positions()
            .skip(events.start)
            .take(events.len())
            .collect();
        pipeline
            .evaluate(&data.source(), &selected)
            .into_iter()
            .map(|column| positions.iter().map(|&i| column[i]).collect())
            .collect()
    })
    .await?;
    Ok(page.with_values(values).into_response())
}

/// Per-channel statistics: min, max, mean, median, std (population), then count, cv, p5, p95.
#[utoipa::path(get, path = "/api/v1/fcs/statistics", tag = "fcs", params(StatisticsQuery, PipelineQuery),
    security(("pat" = ["fcs:analyze"])),
    responses(
        (status = 200, description = "Statistics of every (or each selected) channel", body = inline(Enveloped<StatisticsAnswer>)),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "Unknown channel, or a pipeline parameter invalid", body = ErrorEnvelope),
    ))]
pub async fn statistics(
    pat: Pat<FcsAnalyze>,
    State(state): State<AppState>,
    Query(query): Query<StatisticsQuery>,
    Query(choice): Query<PipelineQuery>,
) -> ApiResult<Success<StatisticsAnswer>> {
    let chosen = query
        .stats
        .as_deref()
        .map(|text| Statistic::parse_list(text, state.fcs.max_statistics()))
        .transpose()?;
    let reading = read(&state, pat.user_id, query.file_id.as_deref(), &choice).await?;
    let (file_id, data) = (reading.file_id.clone(), reading.data.clone());
    let selected = data.select(query.channels.as_deref())?;
    let pipeline = choice.pipeline(&data)?;
    let whole_file = pipeline.is_raw() && reading.gate.is_none() && chosen.is_none();
    if whole_file && data.has_statistics() {
        return Ok(ok(StatisticsAnswer::Default(StatisticsView::new(
            file_id, &data, &selected,
        ))));
    }
    let view = compute(move || {
        if whole_file {
            // Computed once and kept with the file.
            return Ok(StatisticsAnswer::Default(StatisticsView::new(
                file_id, &data, &selected,
            )));
        }
        let values = pipeline.evaluate(&data.source(), &selected);
        let population = reading.population()?;
        let share = population.as_ref().map_or(
            Share {
                events: data.event_count(),
                of: data.event_count(),
            },
            |p| Share {
                events: p.members.count(),
                of: p.parent_count,
            },
        );
        let values: Vec<Vec<f64>> = match &population {
            None => values,
            Some(p) => values.iter().map(|column| p.members.keep(column)).collect(),
        };
        Ok::<_, FcsRefusal>(match chosen {
            None => StatisticsAnswer::Default(StatisticsView::computed(
                file_id, &data, &selected, &values,
            )),
            Some(chosen) => StatisticsAnswer::Chosen(ChosenStatsView::new(
                file_id, &data, &selected, &values, &chosen, share,
            )),
        })
    })
    .await??;
    Ok(ok(view))
}

/// A histogram of one channel, counted as `numpy.histogram` counts with the same edges.
#[utoipa::path(get, path = "/api/v1/fcs/histogram", tag = "fcs", params(HistogramQuery, PipelineQuery),
    security(("pat" = ["fcs:analyze"])),
    responses(
        (status = 200, description = "Edges and counts", body = inline(Enveloped<HistogramView>)),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "Unknown channel, bins outside 1..FCS_MAX_BINS, min ≥ max, or a pipeline parameter invalid", body = ErrorEnvelope),
    ))]
pub async fn histogram(
    pat: Pat<FcsAnalyze>,
    State(state): State<AppState>,
    Query(query): Query<HistogramQuery>,
    Query(choice): Query<PipelineQuery>,
) -> ApiResult<Success<HistogramView>> {
    let bins = bin_count(query.bins, DEFAULT_HISTOGRAM_BINS, state.fcs.max_bins())?;
    let reading = read(&state, pat.user_id, query.file_id.as_deref(), &choice).await?;
    let (file_id, data) = (reading.file_id.clone(), reading.data.clone());
    let channel = data.channel("channel", required("channel", query.channel.as_deref())?)?;
    let pipeline = choice.pipeline(&data)?;
    let view = compute(move || {
        let values = reading.values(&pipeline, &[channel])?.remove(0);
        let bounds = (query.min, query.max);
        histogram_of(&data, file_id, &pipeline, (channel, &values), bins, bounds)
    })
    .await??;
    Ok(ok(view))
}

/// A two-channel density: counts on a grid, as `numpy.histogram2d` counts with the same edges.
#[utoipa::path(get, path = "/api/v1/fcs/density", tag = "fcs", params(DensityQuery, PipelineQuery),
    security(("pat" = ["fcs:analyze"])),
    responses(
        (status = 200, description = "Edges of both axes and the counts, x-major", body = inline(Enveloped<DensityView>)),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "Unknown channel, bins outside 1..FCS_MAX_DENSITY_BINS, or a pipeline parameter invalid", body = ErrorEnvelope),
    ))]
pub async fn density(
    pat: Pat<FcsAnalyze>,
    State(state): State<AppState>,
    Query(query): Query<DensityQuery>,
    Query(choice): Query<PipelineQuery>,
) -> ApiResult<Success<DensityView>> {
    let bins = bin_count(
        query.bins,
        DEFAULT_DENSITY_BINS,
        state.fcs.max_density_bins(),
    )?;
    let reading = read(&state, pat.user_id, query.file_id.as_deref(), &choice).await?;
    let (file_id, data) = (reading.file_id.clone(), reading.data.clone());
    let x = data.channel("x", required("x", query.x.as_deref())?)?;
    let y = data.channel("y", required("y", query.y.as_deref())?)?;
    let pipeline = choice.pipeline(&data)?;
    let view = compute(move || {
        let mut values = reading.values(&pipeline, &[x, y])?;
        let y_values = values.pop().unwrap_or_default();
        let x_values = values.pop().unwrap_or_default();
        let axis = |axis: &str, channel, values: &[f64], (min, max)| {
            let (min, max) = range(&data, &pipeline, channel, values, min, max);
            // The engine names `min`, `max` or `bins`; on a density they belong to an axis.
            Bins::new(min, max, bins).map_err(|error| match error {
                FcsError::InvalidArgument { field, reason } if field != "bins" => {
                    invalid(&format!("{axis}_{field}"), reason)
                }
                other => FcsRefusal::Invalid(other),
            })
        };
        let x_bins = axis("x", x, &x_values, (query.x_min, query.x_max))?;
        let y_bins = axis("y", y, &y_values, (query.y_min, query.y_max))?;
        Ok::<_, FcsRefusal>(DensityView::new(
            file_id,
            &data,
            (x, &x_values, &x_bins),
            (y, &y_values, &y_bins),
        ))
    })
    .await??;
    Ok(ok(view))
}

/// A query parameter that must be given.
fn required<'q>(field: &str, value: Option<&'q str>) -> Result<&'q str, FcsRefusal> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| invalid(field, "is required: name a channel ($PnN), e.g. FSC-A"))
}

/// Validates `limit` (1–10000, default 100) and `offset` (≥ 0, default 0).
fn page(limit: Option<i64>, offset: Option<i64>) -> ApiResult<(usize, usize)> {
    let page = Paging::read(limit, offset, DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok((
        page.limit as usize,
        usize::try_from(page.offset).unwrap_or(usize::MAX),
    ))
}

/// The chosen events (a gate's, else all) and channels through the pipeline, as a new FCS 3.1
/// (float32) or CSV file, streamed. Keywords that stay true are carried over (see
/// `resources/fcs/export.rs`); `TESSERA_PIPELINE` says how the values were made.
#[utoipa::path(get, path = "/api/v1/fcs/export", tag = "fcs", params(ExportQuery, PipelineQuery),
    security(("pat" = ["fcs:read"])),
    responses(
        (status = 200, description = "The file, as an attachment: FCS 3.1 or CSV as `format` asks", content(
            (Vec<u8> = "application/vnd.isac.fcs"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "Unknown channel or gate, or a pipeline parameter invalid", body = ErrorEnvelope),
    ))]
pub async fn export(
    pat: Pat<FcsRead>,
    State(state): State<AppState>,
    Query(query): Query<ExportQuery>,
    Query(choice): Query<PipelineQuery>,
) -> ApiResult<Response> {
    export_file(&state, pat.user_id, query, choice).await
}

/// The export `query` asks for, of user `user_id`'s file: what `GET /api/v1/fcs/export` and
/// the console's `/fcs/{id}/export` answer.
pub async fn export_file(
    state: &AppState,
    user_id: Uuid,
    query: ExportQuery,
    choice: PipelineQuery,
) -> ApiResult<Response> {
    let format = query.format.unwrap_or(ExportFormat::Fcs);
    let reading = read(state, user_id, query.file_id.as_deref(), &choice).await?;
    let data = reading.data.clone();
    let selected = data.select(query.channels.as_deref())?;
    let pipeline = choice.pipeline(&data)?;
    let filename = export_name(&reading.filename, format);
    let gate = reading.gate_name();
    let members = {
        let reading = reading.clone();
        compute(move || reading.members()).await??
    };
    let gated = members.zip(gate);
    let export = Export::new(reading.data, selected, pipeline, gated);
    let mut response = export.into_body(format).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(header::CONTENT_DISPOSITION, attachment(&filename));
    Ok(response)
}

/// `run.fcs` exported as CSV is `run-export.csv`.
fn export_name(source: &str, format: ExportFormat) -> String {
    let stem = source.rsplit_once('.').map_or(source, |(stem, _)| stem);
    format!("{stem}-export.{}", format.extension())
}

/// Flow stability: the channel's median in each slice of the run and the CV of those medians.
#[utoipa::path(get, path = "/api/v1/fcs/stability", tag = "fcs", params(StabilityQuery, PipelineQuery),
    security(("pat" = ["fcs:analyze"])),
    responses(
        (status = 200, description = "Medians per slice and their CV", body = inline(Enveloped<StabilityView>)),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "Unknown channel or gate, slices outside 1..FCS_MAX_BINS, or a pipeline parameter invalid", body = ErrorEnvelope),
    ))]
pub async fn stability(
    pat: Pat<FcsAnalyze>,
    State(state): State<AppState>,
    Query(query): Query<StabilityQuery>,
    Query(choice): Query<PipelineQuery>,
) -> ApiResult<Success<StabilityView>> {
    let slices = query.slices.unwrap_or(DEFAULT_SLICES);
    if slices == 0 || slices > state.fcs.max_bins() {
        let max = state.fcs.max_bins();
        return Err(invalid("slices", format!("must be between 1 and {max}")).into());
    }
    let reading = read(&state, pat.user_id, query.file_id.as_deref(), &choice).await?;
    let (file_id, data) = (reading.file_id.clone(), reading.data.clone());
    let channel = data.channel("channel", required("channel", query.channel.as_deref())?)?;
    let pipeline = choice.pipeline(&data)?;
    let time = data.parameters.iter().position(|p| p.is_time());
    let view = compute(move || {
        let wanted: Vec<usize> = std::iter::once(channel).chain(time).collect();
        let mut values = reading.values(&pipeline, &wanted)?;
        let times = (values.len() > 1).then(|| values.remove(1));
        let result = tessera_fcs::stability::stability(times.as_deref(), &values[0], slices);
        let sliced_by = if result.by_time {
            "time"
        } else {
            "event_order"
        };
        Ok::<_, FcsRefusal>(StabilityView {
            file_id,
            dataset: data.dataset,
            channel: data.parameters[channel].pnn.clone(),
            sliced_by,
            slices: result
                .slices
                .into_iter()
                .map(|s| SliceView {
                    start: s.start,
                    end: s.end,
                    events: s.events,
                    median: s.median,
                })
                .collect(),
            cv: result.cv,
        })
    })
    .await??;
    Ok(ok(view))
}

/// A histogram, dot plot or density plot as an SVG (or PNG) image: axes labelled `$PnN ($PnS)`, a
/// transformed axis ticked at 0 and powers of ten in data units.
#[utoipa::path(get, path = "/api/v1/fcs/plot", tag = "fcs", params(PlotQuery, PipelineQuery),
    security(("pat" = ["fcs:analyze"])),
    responses(
        (status = 200, description = "The image: SVG, or PNG for `format=png`", content(
            (String = "image/svg+xml"),
            (Vec<u8> = "image/png"),
        )),
        (status = 400, description = "`file_id` is neither `sample` nor a UUID", body = ErrorEnvelope),
        (status = 404, description = "FCS file not found", body = ErrorEnvelope),
        (status = 422, description = "Unknown channel or gate, no y for a two-channel plot, a side outside 160 to FCS_MAX_PLOT_PIXELS pixels, or a pipeline parameter invalid", body = ErrorEnvelope),
    ))]
pub async fn plot(
    pat: Pat<FcsAnalyze>,
    State(state): State<AppState>,
    Query(query): Query<PlotQuery>,
    Query(choice): Query<PipelineQuery>,
) -> ApiResult<Response> {
    plot_image(&state, pat.user_id, query, choice).await
}

/// The plot `query` asks for, of user `user_id`'s file: what `GET /api/v1/fcs/plot` and the
/// console's `/fcs/{id}/plot` answer.
pub async fn plot_image(
    state: &AppState,
    user_id: Uuid,
    query: PlotQuery,
    choice: PipelineQuery,
) -> ApiResult<Response> {
    let side = |field: &str, given: Option<u32>, default: u32| {
        let pixels = given.unwrap_or(default);
        let (low, high) = (MIN_SIDE_PIXELS, state.fcs.max_plot_pixels());
        if (low..=high).contains(&pixels) {
            Ok(pixels)
        } else {
            Err(invalid(
                field,
                format!("must be between {low} and {high} pixels"),
            ))
        }
    };
    let size = (
        // The defaults shrink to fit a smaller FCS_MAX_PLOT_PIXELS.
        side("width", query.width, 480.min(state.fcs.max_plot_pixels()))?,
        side("height", query.height, 360.min(state.fcs.max_plot_pixels()))?,
    );
    let kind = query.kind.unwrap_or(PlotKind::Histogram);
    let format = query.format.unwrap_or(PlotFormat::Svg);
    let reading = read(state, user_id, query.file_id.as_deref(), &choice).await?;
    let data = reading.data.clone();
    let x = data.channel("x", required("x", query.x.as_deref())?)?;
    let y = match (kind, query.y.as_deref()) {
        (PlotKind::Histogram, _) => None,
        (_, y) => Some(data.channel("y", required("y", y)?)?),
    };
    let pipeline = choice.pipeline(&data)?;
    let image = compute(move || {
        let wanted: Vec<usize> = std::iter::once(x).chain(y).collect();
        let values = reading.values(&pipeline, &wanted)?;
        let axis = |channel: usize, values: &[f64]| {
            let (min, max) = range(&data, &pipeline, channel, values, None, None);
            let transform = pipeline
                .transform
                .as_ref()
                .filter(|_| pipeline.transforms(channel))
                .map(|(transform, _)| transform);
            Axis {
                min,
                max,
                label: channel_label(&data.parameters[channel]),
                transform,
            }
        };
        let x_axis = axis(x, &values[0]);
        let y_axis = y.map(|y| axis(y, &values[1]));
        let shown = match &y_axis {
            Some(y_axis) => format!("{} × {}", x_axis.label, y_axis.label),
            None => x_axis.label.clone(),
        };
        let title = format!("{shown} — {}", reading.filename);
        let y_part = y_axis.as_ref().map(|axis| (axis, values[1].as_slice()));
        let svg = render(kind, title, (&x_axis, &values[0]), y_part, size)?;
        match format {
            PlotFormat::Svg => Ok((svg.into_bytes(), "image/svg+xml; charset=utf-8")),
            PlotFormat::Png => Ok((to_png(&svg)?, "image/png")),
        }
        .map_err(FcsRefusal::Invalid)
    })
    .await??;
    let (image, content_type) = image;
    let mut response = image.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}
