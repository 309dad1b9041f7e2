//! `/fcs/{id}`: one file — the sample or one of the user's uploads — with its parameters
//! (`$PnN`, `$PnS`, range, display), the statistics of every channel, and a histogram of each
//! on its display scale (log for `LOG` channels). Statistics and histograms are computed once
//! per decoded file, off the async workers, and kept with it.

use std::sync::Arc;

use anyhow::Context;
use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::analysis::{encode, name, Analysis, PlotChoice, TransformParams};
use super::plot::{plot, Plot};
use super::{not_found, size};
use crate::accounts::sessions::ClientInfo;
use crate::console::page::{render, when, Nav};
use crate::console::session::{failure, require, SignedIn};
use crate::http::extract::Query;
use crate::http::{ApiError, ApiResult};
use crate::resources::fcs::analysis::{
    CompensationChoice, PipelineQuery, ScaleChoice, TransformChoice,
};
use crate::resources::fcs::gates::{shape_of, GateKind, GateShape, Population};
use crate::resources::fcs::plot::compact;
use crate::resources::fcs::routes::gates_with_populations;
use crate::resources::fcs::service::FcsSource;
use crate::resources::fcs::view::FcsData;
use crate::state::AppState;
use crate::store::FcsGateRecord;
use tessera_fcs::{ChannelStats, Parameter};

/// A parameter's row.
struct ParameterRow {
    index: usize,
    pnn: String,
    pns: String,
    range: String,
    display: &'static str,
}

/// A channel's statistics, rounded for reading (the API has the full values).
pub struct StatisticsRow {
    pnn: String,
    count: usize,
    min: String,
    max: String,
    mean: String,
    median: String,
    std: String,
    cv: String,
    p5: String,
    p95: String,
}

/// A saved gate as the page lists it.
pub struct GateRow {
    id: String,
    name: String,
    shape: String,
    count: usize,
    percent: String,
    /// The current view with this gate chosen.
    show: String,
}

/// The gate form's fields as last sent, and why that was refused (empty at first).
#[derive(Default)]
pub struct GateDraft {
    pub name: String,
    pub rectangle: bool,
    pub x_min: String,
    pub x_max: String,
    pub y_min: String,
    pub y_max: String,
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "console/fcs_file.html")]
pub struct FilePage {
    nav: Nav,
    csrf: String,
    id: String,
    name: String,
    facts: Vec<(&'static str, String)>,
    deletable: bool,
    parameters: Vec<ParameterRow>,
    statistics: Vec<StatisticsRow>,
    plots: Vec<Plot>,
    pub analysis: Analysis,
    gates: Vec<GateRow>,
    /// The chosen gate's name and its population's statistics on the view's pipeline.
    gate_statistics: Option<(String, Vec<StatisticsRow>)>,
    pub gate_draft: GateDraft,
}

/// A value with four significant digits, as a table shows it: `0`, `12.35`, `1234`,
/// `1.235e6`; `—` for no value (NaN).
fn figure(value: f64) -> String {
    let magnitude = value.abs();
    if !value.is_finite() {
        return "—".to_owned();
    }
    if magnitude == 0.0 {
        return "0".to_owned();
    }
    if !(1e-3..1e6).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    // 1e-3 ≤ magnitude < 1e6: between -2 and 6 digits before the point.
    let before_point = magnitude.log10().floor() as i32 + 1;
    let decimals = (4 - before_point).clamp(0, 6) as usize;
    format!("{value:.decimals$}")
}

/// The `p`th percentile among those computed (NaN when it was not).
fn percentile(computed: &[(f64, f64)], p: f64) -> f64 {
    computed
        .iter()
        .find(|(at, _)| *at == p)
        .map_or(f64::NAN, |(_, value)| *value)
}

/// A channel's row of a statistics table.
fn statistics_row(parameter: &Parameter, s: &ChannelStats) -> StatisticsRow {
    StatisticsRow {
        pnn: parameter.pnn.clone(),
        count: s.count,
        min: figure(s.min),
        max: figure(s.max),
        mean: figure(s.mean),
        median: figure(s.median),
        std: figure(s.std),
        cv: if s.cv.is_finite() {
            format!("{:.1} %", s.cv * 100.0)
        } else {
            "—".to_owned()
        },
        p5: figure(percentile(&s.percentiles, 5.0)),
        p95: figure(percentile(&s.percentiles, 95.0)),
    }
}

/// `GET /fcs/{id}`.
pub async fn show(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<String>, PathRejection>,
    plot_choice: ApiResult<Query<PlotChoice>>,
    pipeline: ApiResult<Query<PipelineQuery>>,
    params: ApiResult<Query<TransformParams>>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    // A query that does not parse (`kind=pie`) is shown as the form's problem, with defaults.
    let (choice, problem) = match (plot_choice, pipeline, params) {
        (Ok(Query(plot)), Ok(Query(mut pipeline)), Ok(Query(params))) => {
            // The form's "All events" sends an empty gate.
            pipeline.gate = pipeline.gate.filter(|gate| !gate.is_empty());
            let problem = params.apply(&mut pipeline).err();
            ((plot, pipeline), problem)
        }
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
            (Default::default(), Some(error.to_string()))
        }
    };
    let page = match file_page(&state, &user, &id, &choice).await {
        Ok(mut page) => {
            let status = match problem.or(page.analysis.problem.take()) {
                Some(problem) => {
                    // Nothing of a view that cannot be shown: no plot, exports or gate figures.
                    page.analysis.problem = Some(problem);
                    page.analysis.plot = None;
                    page.analysis.exports.clear();
                    page.gate_statistics = None;
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                None => StatusCode::OK,
            };
            render(status, &page)
        }
        Err(ApiError::NotFound(_) | ApiError::BadRequest(_)) => not_found(),
        Err(error) => failure(&error),
    };
    (jar, page).into_response()
}

/// The page of `user`'s file `id`, analysed as `choice` says.
pub async fn file_page(
    state: &AppState,
    user: &SignedIn,
    id: &str,
    choice: &(PlotChoice, PipelineQuery),
) -> Result<FilePage, ApiError> {
    let fcs = &state.fcs;
    let source = fcs.resolve(&state.store, user.user_id, Some(id)).await?;
    let data = fcs.data(&source, 0).await?;
    let mut gated = gates_with_populations(state, user.user_id, &source).await?;
    gated.retain(|(record, _)| record.dataset == 0);
    let names: Vec<(String, String)> = gated
        .iter()
        .map(|(record, _)| (record.id.to_string(), record.name.clone()))
        .collect();
    let analysis = Analysis::new(&source.file_id(), &data, &choice.0, &choice.1, &names);
    let chosen = choice.1.gate.as_ref().filter(|_| analysis.plot.is_some());
    let found = chosen.and_then(|chosen| {
        gated
            .iter()
            .position(|(record, _)| record.id.to_string() == *chosen)
    });
    let gate_statistics = match found {
        Some(at) => {
            let (shown, gate) = gated_statistics(&data, &choice.1, gated.remove(at)).await?;
            gated.insert(at, gate);
            Some(shown)
        }
        None => None,
    };
    let gates = gated
        .iter()
        .map(|(record, population)| gate_row(&source.file_id(), &analysis, record, population))
        .collect();
    let data = analysed(data).await?;
    let (name, facts, deletable) = match &source {
        FcsSource::Sample(sample) => (
            sample.filename.clone(),
            vec![
                (
                    "Kind",
                    if sample.synthetic {
                        "built-in sample (synthetic)"
                    } else {
                        "built-in sample"
                    }
                    .to_owned(),
                ),
                ("Size", size(sample.size_bytes)),
            ],
            false,
        ),
        FcsSource::Upload(record) => (
            record.filename.clone(),
            vec![
                ("Uploaded", when(record.created_at)),
                ("Size", size(u64::try_from(record.size_bytes).unwrap_or(0))),
            ],
            true,
        ),
    };
    let mut facts = facts;
    facts.push(("Events", data.event_count().to_string()));
    facts.push(("Parameters", data.parameters.len().to_string()));
    let parameters = data
        .parameters
        .iter()
        .map(|p| ParameterRow {
            index: p.index,
            pnn: p.pnn.clone(),
            pns: p.pns.clone().unwrap_or_default(),
            range: compact(p.range),
            display: p.display.as_str(),
        })
        .collect();
    let statistics = data
        .parameters
        .iter()
        .zip(data.statistics())
        .map(|(p, s)| statistics_row(p, s))
        .collect();
    let plots = data
        .parameters
        .iter()
        .zip(data.histograms())
        .enumerate()
        .map(|(at, (p, h))| plot(at, p, h))
        .collect();
    Ok(FilePage {
        nav: Nav::of(user),
        csrf: user.csrf.clone(),
        id: source.file_id(),
        name,
        facts,
        deletable,
        parameters,
        statistics,
        plots,
        analysis,
        gates,
        gate_statistics,
        gate_draft: GateDraft::default(),
    })
}

/// A gate's row: its shape in words, its population, and the current view with it chosen.
fn gate_row(
    file_id: &str,
    analysis: &Analysis,
    record: &FcsGateRecord,
    population: &Population,
) -> GateRow {
    let shape = shape_of(record).map_or_else(|_| "—".to_owned(), |shape| describe(&shape));
    let mut view: Vec<(&str, String)> = analysis
        .view
        .iter()
        .filter(|(key, _)| *key != "gate")
        .cloned()
        .collect();
    view.push(("gate", record.id.to_string()));
    GateRow {
        id: record.id.to_string(),
        name: record.name.clone(),
        shape,
        count: population.members.count(),
        percent: population
            .percent()
            .map_or_else(|| "—".to_owned(), |p| format!("{p:.2} %")),
        show: format!("/fcs/{file_id}?{}", encode(&view)),
    }
}

/// `FSC-A in [100, 900) × SSC-A in [50, ∞), scaled, logicle`.
fn describe(shape: &GateShape) -> String {
    let interval = |at: usize| {
        let end = |bounds: &Option<Vec<Option<f64>>>, open: &str| {
            bounds
                .as_ref()
                .and_then(|b| b.get(at).copied().flatten())
                .map_or_else(|| open.to_owned(), figure)
        };
        format!("[{}, {})", end(&shape.min, "−∞"), end(&shape.max, "∞"))
    };
    let mut text = match (&shape.kind, &shape.y) {
        (GateKind::Polygon, Some(y)) => format!("polygon on {} × {y}", shape.x),
        (_, Some(y)) => format!("{} in {} × {y} in {}", shape.x, interval(0), interval(1)),
        (_, None) => format!("{} in {}", shape.x, interval(0)),
    };
    if shape.scale == Some(ScaleChoice::Scaled) {
        text.push_str(", scaled");
    }
    if shape.compensation == Some(CompensationChoice::File) {
        text.push_str(", compensated");
    }
    if let Some(kind) = shape.transform.as_ref().and_then(|t| t.kind) {
        if kind != TransformChoice::None {
            text.push_str(&format!(", {}", name(kind)));
        }
    }
    text
}

/// The statistics of a gate's population on the view's pipeline (off the async workers: it
/// reads every value), with the gate itself handed back for its row.
async fn gated_statistics(
    data: &Arc<FcsData>,
    choice: &PipelineQuery,
    gate: (FcsGateRecord, Arc<Population>),
) -> Result<
    (
        (String, Vec<StatisticsRow>),
        (FcsGateRecord, Arc<Population>),
    ),
    ApiError,
> {
    let pipeline = choice.pipeline(data)?;
    let data = data.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let all: Vec<usize> = (0..data.parameters.len()).collect();
        let values: Vec<Vec<f64>> = pipeline
            .evaluate(&data.source(), &all)
            .iter()
            .map(|column| gate.1.members.keep(column))
            .collect();
        let stats = tessera_fcs::stats::columns_stats(&values, &[5.0, 95.0]);
        let rows = data
            .parameters
            .iter()
            .zip(&stats)
            .map(|(p, s)| statistics_row(p, s))
            .collect();
        ((gate.0.name.clone(), rows), gate)
    })
    .await
    .context("summarising a gate's population")?;
    Ok(answer)
}

/// `data` with its statistics and histograms computed (the first time, off the async workers:
/// it reads every value).
async fn analysed(data: Arc<FcsData>) -> Result<Arc<FcsData>, ApiError> {
    if data.has_statistics() && data.has_histograms() {
        return Ok(data);
    }
    let analysed = tokio::task::spawn_blocking(move || {
        data.statistics();
        data.histograms();
        data
    })
    .await
    .context("analysing an FCS file")?;
    Ok(analysed)
}

#[cfg(test)]
mod tests {
    use super::figure;

    #[test]
    fn figures_have_four_significant_digits_and_never_panic() {
        assert_eq!(figure(0.0), "0");
        assert_eq!(figure(-0.0), "0");
        assert_eq!(figure(12.3456), "12.35");
        assert_eq!(figure(1234.4), "1234");
        assert_eq!(figure(999_999.0), "999999");
        assert_eq!(figure(1_234_567.0), "1.235e6");
        assert_eq!(figure(0.0012345), "0.001234");
        assert_eq!(figure(0.000_012), "1.200e-5");
        assert_eq!(figure(-5.5), "-5.500");
        for odd in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(figure(odd), "—");
        }
        assert_eq!(figure(f64::MAX), "1.798e308");
        assert_eq!(figure(f64::MIN_POSITIVE), "2.225e-308");
    }
}
