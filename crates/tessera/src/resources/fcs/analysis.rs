//! What a request asks of a file's values: which dataset, through which steps of the value
//! pipeline (`raw → scaled → compensated → transformed`, see [`tessera_fcs::pipeline`]), and
//! the histograms and densities computed from them.
//!
//! Every route that reads values takes the same [`PipelineQuery`], so `scale=`, `compensation=`,
//! `transform=` and its parameters mean one thing everywhere. Choosing is checked in full before
//! any value is computed, and every refusal names the parameter at fault: `w: must be between
//! 0 and M/2`, `compensation: this dataset has no spillover matrix …`, `x: unknown channel`.

use serde::{Deserialize, Serialize};
use tessera_fcs::binning::{self, Bins};
use tessera_fcs::pipeline::fluorescence_channels;
use tessera_fcs::{Compensation, FcsError, Pipeline, Scale, Spillover, Transform, TransformSpec};
use utoipa::{IntoParams, ToSchema};

use super::errors::FcsRefusal;
use super::view::FcsData;

/// Default `t` of logicle, asinh and log: the top of an 18-bit scale, as on most instruments.
pub const DEFAULT_TOP: f64 = 262_144.0;
/// Default `m`: decades shown at the top.
pub const DEFAULT_DECADES: f64 = 4.5;
/// Default logicle `w`: decades of the linear region.
pub const DEFAULT_WIDTH: f64 = 0.5;
/// Default arcsinh cofactor, the usual one for fluorescence.
pub const DEFAULT_COFACTOR: f64 = 150.0;

/// `scale=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScaleChoice {
    /// As stored (the default).
    Raw,
    /// `$PnE`, `$PnG` and `$TIMESTEP` applied.
    Scaled,
}

/// `compensation=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CompensationChoice {
    /// None (the default).
    None,
    /// The dataset's own `$SPILLOVER` / `$SPILL` / `SPILL` matrix.
    File,
}

/// `transform=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TransformChoice {
    /// None (the default).
    None,
    /// GatingML 2.0 logicle (`t`, `w`, `m`, `a`), on a 0–1 scale.
    Logicle,
    /// GatingML 2.0 fasinh (`t`, `m`, `a`).
    Asinh,
    /// `asinh(x / cofactor)`.
    Arcsinh,
    /// GatingML 2.0 flog (`t`, `m`).
    Log,
}

/// The value pipeline's query parameters, shared by every route that reads values — and, as
/// `--scale`, `--transform`, … the options of the `tessera fcs` commands.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, clap::Args)]
#[into_params(parameter_in = Query)]
pub struct PipelineQuery {
    /// Dataset of a file holding several (`$NEXTDATA`), from 0 (default 0).
    #[arg(long)]
    pub dataset: Option<usize>,
    /// `raw` (default) or `scaled` (`$PnE`, `$PnG`, `$TIMESTEP` applied).
    #[param(inline, value_type = ScaleChoice)]
    #[arg(long)]
    pub scale: Option<ScaleChoice>,
    /// `none` (default) or `file`: the dataset's spillover matrix, applied to scaled values
    /// (implies `scale=scaled`); 422 when the dataset has none.
    #[param(inline, value_type = CompensationChoice)]
    #[arg(long)]
    pub compensation: Option<CompensationChoice>,
    /// `none` (default), `logicle`, `asinh`, `arcsinh` or `log`.
    #[param(inline, value_type = TransformChoice)]
    #[arg(long)]
    pub transform: Option<TransformChoice>,
    /// Comma-separated `$PnN`s to transform (default: the fluorescence channels — every channel
    /// that is not scatter, time or width).
    #[arg(long)]
    pub transform_channels: Option<String>,
    /// Top of scale of logicle, asinh and log (default 262144).
    #[arg(long)]
    pub t: Option<f64>,
    /// Linear decades of logicle, 0 ≤ w ≤ m/2 (default 0.5).
    #[arg(long)]
    pub w: Option<f64>,
    /// Decades of logicle, asinh and log (default 4.5).
    #[arg(long)]
    pub m: Option<f64>,
    /// Additional negative decades of logicle (−w ≤ a ≤ m − 2w) and asinh (0 ≤ a ≤ m); default 0.
    #[arg(long)]
    pub a: Option<f64>,
    /// Divisor of arcsinh, > 0 (default 150).
    #[arg(long)]
    pub cofactor: Option<f64>,
    /// The id of a gate saved on this file: only the events inside it (and its parents) count.
    /// The gate keeps its own pipeline; this request's applies to what is shown.
    #[arg(skip)]
    pub gate: Option<String>,
}

impl TransformChoice {
    /// The parameters this transform takes, by query name.
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            TransformChoice::None => &[],
            TransformChoice::Logicle => &["t", "w", "m", "a"],
            TransformChoice::Asinh => &["t", "m", "a"],
            TransformChoice::Arcsinh => &["cofactor"],
            TransformChoice::Log => &["t", "m"],
        }
    }
}

impl PipelineQuery {
    /// The dataset asked for (0 by default).
    pub fn dataset(&self) -> usize {
        self.dataset.unwrap_or(0)
    }

    /// The pipeline asked for, checked against `data`.
    pub fn pipeline(&self, data: &FcsData) -> Result<Pipeline, FcsRefusal> {
        let compensation = match self.compensation {
            Some(CompensationChoice::File) => Some(compensation(data)?),
            Some(CompensationChoice::None) | None => None,
        };
        let transform = match self.transform_spec()? {
            None => {
                if self.transform_channels.is_some() {
                    return Err(invalid(
                        "transform_channels",
                        "applies only with a transform, e.g. transform=logicle",
                    ));
                }
                None
            }
            Some(spec) => {
                let transform = Transform::new(spec).map_err(FcsRefusal::Invalid)?;
                let channels = match &self.transform_channels {
                    None => fluorescence_channels(&data.parameters),
                    Some(list) => data.channels("transform_channels", list)?,
                };
                Some((transform, channels))
            }
        };
        let scale = match self.scale {
            Some(ScaleChoice::Scaled) => Scale::Scaled,
            Some(ScaleChoice::Raw) | None => Scale::Raw,
        };
        Ok(Pipeline {
            scale,
            compensation,
            transform,
        })
    }

    /// The transform with its parameters (defaults filled in); parameters the chosen transform
    /// does not take are refused rather than silently ignored.
    fn transform_spec(&self) -> Result<Option<TransformSpec>, FcsRefusal> {
        let choice = self.transform.unwrap_or(TransformChoice::None);
        let takes = choice.parameters();
        let given = [
            ("t", self.t),
            ("w", self.w),
            ("m", self.m),
            ("a", self.a),
            ("cofactor", self.cofactor),
        ];
        if let Some((name, _)) = given
            .iter()
            .find(|(name, value)| value.is_some() && !takes.contains(name))
        {
            let which = match *name {
                "t" | "m" => "transform=logicle, asinh or log",
                "w" => "transform=logicle",
                "a" => "transform=logicle or asinh",
                _ => "transform=arcsinh",
            };
            return Err(invalid(name, format!("applies only with {which}")));
        }
        let t = self.t.unwrap_or(DEFAULT_TOP);
        let m = self.m.unwrap_or(DEFAULT_DECADES);
        let a = self.a.unwrap_or(0.0);
        Ok(match choice {
            TransformChoice::None => None,
            TransformChoice::Logicle => Some(TransformSpec::Logicle {
                t,
                w: self.w.unwrap_or(DEFAULT_WIDTH),
                m,
                a,
            }),
            TransformChoice::Asinh => Some(TransformSpec::Asinh { t, m, a }),
            TransformChoice::Arcsinh => Some(TransformSpec::Arcsinh {
                cofactor: self.cofactor.unwrap_or(DEFAULT_COFACTOR),
            }),
            TransformChoice::Log => Some(TransformSpec::Log { t, m }),
        })
    }
}

/// `pipeline` in words, for a file made from the values of channels `shown`:
/// `scale=scaled;compensation=file;transform=logicle(t=262144,w=0.5,m=4.5,a=0) on FL1-A,FL2-A`
/// (the transformed ones among `shown`).
pub fn describe(pipeline: &Pipeline, data: &FcsData, shown: &[usize]) -> String {
    let mut text = format!(
        "scale={};compensation={}",
        if pipeline.scales() { "scaled" } else { "raw" },
        if pipeline.compensation.is_some() {
            "file"
        } else {
            "none"
        }
    );
    if let Some((transform, channels)) = &pipeline.transform {
        let spec = transform.spec();
        let parameters: Vec<String> = spec
            .parameters()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let names: Vec<&str> = channels
            .iter()
            .filter(|i| shown.contains(i))
            .map(|&i| data.parameters[i].pnn.as_str())
            .collect();
        text.push_str(&format!(
            ";transform={}({}) on {}",
            spec.name(),
            parameters.join(","),
            names.join(",")
        ));
    }
    text
}

/// The dataset's own spillover matrix, matched to its channels and inverted.
fn compensation(data: &FcsData) -> Result<Compensation, FcsRefusal> {
    let spillover = Spillover::from_keywords(&data.keywords)
        .map_err(|error| {
            invalid(
                "compensation",
                format!("the file's matrix is unusable: {error}"),
            )
        })?
        .ok_or_else(|| {
            invalid(
                "compensation",
                "this dataset has no spillover matrix ($SPILLOVER, $SPILL or SPILL)",
            )
        })?;
    Compensation::new(&spillover, &data.parameters).map_err(FcsRefusal::Invalid)
}

/// A refusal of argument `field`.
pub fn invalid(field: &str, reason: impl Into<String>) -> FcsRefusal {
    FcsRefusal::Invalid(FcsError::argument(field, reason))
}

/// The range of channel `index` through `pipeline`: `min`/`max` when given, else the channel's
/// range on the chosen scale, else (a `$PnR` that is no range) the values' own extent.
pub fn range(
    data: &FcsData,
    pipeline: &Pipeline,
    index: usize,
    values: &[f64],
    min: Option<f64>,
    max: Option<f64>,
) -> (f64, f64) {
    let (low, high) = pipeline
        .channel_range(&data.source(), index)
        .unwrap_or_else(|| extent(values));
    (min.unwrap_or(low), max.unwrap_or(high))
}

/// The finite extent of `values`; numpy's `(v − 0.5, v + 0.5)` when they are all one value `v`,
/// `(0, 1)` when there are none.
fn extent(values: &[f64]) -> (f64, f64) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (low, high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if low > high {
        (0.0, 1.0)
    } else if low == high {
        (low - 0.5, high + 0.5)
    } else {
        (low, high)
    }
}

/// Checks `bins` against 1..=`max`.
pub fn bin_count(bins: Option<usize>, default: usize, max: usize) -> Result<usize, FcsRefusal> {
    let bins = bins.unwrap_or(default);
    if bins == 0 || bins > max {
        return Err(invalid("bins", format!("must be between 1 and {max}")));
    }
    Ok(bins)
}

/// The histogram of `values` (channel `channel` of `data` through `pipeline`) in `bins` bins
/// over `[min, max]`, each defaulting to the channel's range on the pipeline. Blocking.
pub fn histogram_of(
    data: &FcsData,
    file_id: String,
    pipeline: &Pipeline,
    (channel, values): (usize, &[f64]),
    bins: usize,
    (min, max): (Option<f64>, Option<f64>),
) -> Result<HistogramView, FcsRefusal> {
    let (min, max) = range(data, pipeline, channel, values, min, max);
    let bins = Bins::new(min, max, bins).map_err(FcsRefusal::Invalid)?;
    Ok(HistogramView::new(file_id, data, channel, values, &bins))
}

/// `GET /api/v1/fcs/histogram`: `numpy.histogram` of one channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistogramView {
    file_id: String,
    dataset: usize,
    /// `$PnN`.
    channel: String,
    /// `bins + 1` edges, the last exactly `max`.
    edges: Vec<f64>,
    /// Events per bin; a value equal to the last edge counts in the last bin.
    counts: Vec<u64>,
    /// Events read (underflow, overflow and NaN included).
    total: u64,
    /// Events below the first edge.
    underflow: u64,
    /// Events above the last edge.
    overflow: u64,
    /// Events whose value is not a number (e.g. `transform=log` of a value ≤ 0).
    nan: u64,
}

impl HistogramView {
    /// The histogram of `values` (channel `channel` of `data`) in `bins`.
    pub fn new(
        file_id: String,
        data: &FcsData,
        channel: usize,
        values: &[f64],
        bins: &Bins,
    ) -> Self {
        let counts = binning::histogram(values, bins);
        HistogramView {
            file_id,
            dataset: data.dataset,
            channel: data.parameters[channel].pnn.clone(),
            edges: bins.edges().to_vec(),
            counts: counts.bins,
            total: values.len() as u64,
            underflow: counts.under,
            overflow: counts.over,
            nan: counts.nan,
        }
    }
}

/// `GET /api/v1/fcs/density`: `numpy.histogram2d` of two channels.
#[derive(Debug, Serialize, ToSchema)]
pub struct DensityView {
    file_id: String,
    dataset: usize,
    /// `$PnN` of the x channel.
    x: String,
    /// `$PnN` of the y channel.
    y: String,
    x_edges: Vec<f64>,
    y_edges: Vec<f64>,
    /// `counts[i][j]`: events in x bin `i` and y bin `j`, as numpy's `H[i, j]`.
    counts: Vec<Vec<u64>>,
    /// Events read, inside the ranges or not.
    total: u64,
}

impl DensityView {
    /// The density of `(x_values, y_values)` (channels `x`, `y` of `data`).
    pub fn new(
        file_id: String,
        data: &FcsData,
        (x, x_values, x_bins): (usize, &[f64], &Bins),
        (y, y_values, y_bins): (usize, &[f64], &Bins),
    ) -> Self {
        let flat = binning::histogram2d(x_values, y_values, x_bins, y_bins);
        DensityView {
            file_id,
            dataset: data.dataset,
            x: data.parameters[x].pnn.clone(),
            y: data.parameters[y].pnn.clone(),
            x_edges: x_bins.edges().to_vec(),
            y_edges: y_bins.edges().to_vec(),
            counts: flat.chunks(y_bins.count()).map(<[u64]>::to_vec).collect(),
            total: x_values.len() as u64,
        }
    }
}
