//! A decoded FCS file ([`FcsData`]) and the JSON shapes the endpoints and `tessera fcs` print.
//!
//! Numbers are printed as the file stores them, so a client sees the values an instrument wrote
//! and nothing invented by a conversion: float32 data goes out as `f32`, for which serde_json
//! prints the shortest text that reads back to the same float32 (`370.1`, not
//! `370.1000061035156`); integer data and integral ranges go out as integers.
//!
//! Event rows are serialised straight from the decoded columns, keyed by `$PnN` in parameter
//! order. Building a `serde_json::Map` per event would both allocate per value and sort the keys
//! alphabetically, losing the parameter order the contract asks for.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use tessera_fcs::{
    stats, ChannelStats, Columns, DataType, Dataset, FcsError, FcsFile, Histogram, Keywords,
    Parameter, Source, Spillover,
};
use utoipa::ToSchema;

use super::analysis::invalid;
use super::errors::FcsRefusal;
use crate::http::truncate;

/// Percentiles reported beside the contract's statistics.
const PERCENTILES: [f64; 2] = [5.0, 95.0];

/// Bins of the histograms the console draws: one per 3 pixels of a plot, small enough that a
/// file's page with every channel's plot stays light.
pub const HISTOGRAM_BINS: usize = 100;

/// One dataset of an FCS file, decoded: what the endpoints serve, kept in the cache.
#[derive(Debug)]
pub struct FcsData {
    /// Which dataset of its file (0-based).
    pub dataset: usize,
    /// Its keywords: the spillover matrix, `$TIMESTEP` and what the keywords route lists.
    pub keywords: Keywords,
    /// The parameters, in event order.
    pub parameters: Vec<Parameter>,
    /// Raw values, one `f64` column per parameter.
    pub columns: Columns,
    /// Per-channel statistics, computed on first use and then reused.
    stats: OnceLock<Vec<ChannelStats>>,
    /// Per-channel histograms on each channel's display scale, likewise.
    histograms: OnceLock<Vec<Histogram>>,
}

impl FcsData {
    /// Decodes dataset `index` (0-based; most files hold one). Blocking: call it off the async
    /// workers.
    pub fn decode(file: &FcsFile, index: usize) -> Result<FcsData, FcsError> {
        let dataset = file
            .datasets()
            .get(index)
            .ok_or_else(|| FcsError::argument("dataset", no_such_dataset(file.datasets().len())))?;
        Ok(FcsData {
            dataset: index,
            keywords: dataset.keywords().clone(),
            parameters: dataset.parameters().to_vec(),
            columns: dataset.columns_raw()?,
            stats: OnceLock::new(),
            histograms: OnceLock::new(),
        })
    }

    /// What the value pipeline reads: every raw column.
    pub fn source(&self) -> Source<'_> {
        Source {
            parameters: &self.parameters,
            columns: self.columns.data.iter().map(Vec::as_slice).collect(),
            timestep: tessera_fcs::scale::parse_timestep(self.keywords.get("$TIMESTEP")),
        }
    }

    /// Events decoded.
    pub fn event_count(&self) -> usize {
        self.columns.event_count()
    }

    /// Memory the decoded columns take: what the cache budget counts.
    pub fn size_in_bytes(&self) -> usize {
        self.event_count() * self.parameters.len() * std::mem::size_of::<f64>()
    }

    /// Statistics of every channel, computed once. Blocking (it reads every value).
    pub fn statistics(&self) -> &[ChannelStats] {
        self.stats
            .get_or_init(|| stats::all_channel_stats(&self.columns, &PERCENTILES))
    }

    /// Whether the statistics are already computed (then reading them does not block).
    pub fn has_statistics(&self) -> bool {
        self.stats.get().is_some()
    }

    /// A histogram of every channel ([`HISTOGRAM_BINS`] bins, on the channel's `LIN`/`LOG`
    /// scale), computed once. Blocking (it reads every value).
    pub fn histograms(&self) -> &[Histogram] {
        self.histograms.get_or_init(|| {
            self.parameters
                .iter()
                .enumerate()
                .map(|(at, p)| {
                    let values = self.columns.column(at).unwrap_or(&[]);
                    tessera_fcs::histogram(values, p.range, p.display, HISTOGRAM_BINS)
                })
                .collect()
        })
    }

    /// Whether the histograms are already computed (then reading them does not block).
    pub fn has_histograms(&self) -> bool {
        self.histograms.get().is_some()
    }

    /// Indices of the channels named in `channels`; see [`select_channels`].
    pub fn select(&self, channels: Option<&str>) -> Result<Vec<usize>, FcsRefusal> {
        select_channels(&self.parameters, channels)
    }

    /// Indices of the channels `list` names; see [`named_channels`].
    pub fn channels(&self, field: &str, list: &str) -> Result<Vec<usize>, FcsRefusal> {
        named_channels(&self.parameters, field, list)
    }

    /// The index of the channel whose `$PnN` is `name`; see [`named_channel`].
    pub fn channel(&self, field: &str, name: &str) -> Result<usize, FcsRefusal> {
        named_channel(&self.parameters, field, name)
    }
}

/// Indices of the channels named in `channels` (comma-separated `$PnN`s), in parameter order;
/// every channel when `None`. The error names the first unknown channel.
pub fn select_channels(
    parameters: &[Parameter],
    channels: Option<&str>,
) -> Result<Vec<usize>, FcsRefusal> {
    match channels {
        None => Ok((0..parameters.len()).collect()),
        Some(list) => named_channels(parameters, "channels", list),
    }
}

/// Indices of the channels `list` names (comma-separated `$PnN`s), in parameter order;
/// refusals name `field`.
pub fn named_channels(
    parameters: &[Parameter],
    field: &str,
    list: &str,
) -> Result<Vec<usize>, FcsRefusal> {
    let mut wanted = vec![false; parameters.len()];
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        wanted[named_channel(parameters, field, name)?] = true;
    }
    if !wanted.contains(&true) {
        return Err(invalid(
            field,
            format!("name at least one channel, e.g. `{field}=FSC-A,SSC-A`"),
        ));
    }
    Ok((0..wanted.len()).filter(|&i| wanted[i]).collect())
}

/// The index of the channel whose `$PnN` is `name`; refusals name `field`.
pub fn named_channel(
    parameters: &[Parameter],
    field: &str,
    name: &str,
) -> Result<usize, FcsRefusal> {
    parameters
        .iter()
        .position(|p| p.pnn == name)
        .ok_or_else(|| invalid(field, format!("unknown channel `{}`", truncate(name, 60))))
}

/// Why `dataset=` names no dataset of a file with `count` of them.
pub fn no_such_dataset(count: usize) -> String {
    match count {
        1 => "the file has one dataset: use 0".to_owned(),
        n => format!("the file has {n} datasets: use 0 to {}", n - 1),
    }
}

/// A number printed as an integer when it is integral (and exactly representable), else as a
/// float: `16777215`, not `16777215.0`.
#[derive(Debug, Clone, Copy)]
pub struct Integral(pub f64);

/// Integers beyond 2^53 are not exact in an `f64`; print those as floats.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

impl Serialize for Integral {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < EXACT_INTEGER_LIMIT {
            if v < 0.0 {
                serializer.serialize_i64(v as i64)
            } else {
                serializer.serialize_u64(v as u64)
            }
        } else {
            serializer.serialize_f64(v)
        }
    }
}

/// How a parameter's values are printed, from how the file stores them.
#[derive(Debug, Clone, Copy)]
enum Print {
    Float32,
    Float64,
    Integer,
}

impl Print {
    fn of(parameter: &Parameter) -> Print {
        match parameter.data_type {
            DataType::Float => Print::Float32,
            DataType::Double => Print::Float64,
            DataType::Int | DataType::Ascii => Print::Integer,
        }
    }

    /// The longest text a value may print as: ryu's shortest float32 (at most 16 bytes, e.g.
    /// `-1.17549435e-38`) or float64 (24); integers of up to 2^53 take 17 and larger ones print
    /// as float64; non-finite values print as `null`.
    fn max_text_len(self) -> usize {
        match self {
            Print::Float32 => 16,
            Print::Float64 | Print::Integer => 24,
        }
    }
}

/// One value with its printing rule.
struct Value(Print, f64);

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            // Exact: the column holds a float32 widened to f64.
            Print::Float32 => serializer.serialize_f32(self.1 as f32),
            Print::Float64 => serializer.serialize_f64(self.1),
            Print::Integer => Integral(self.1).serialize(serializer),
        }
    }
}

/// One parameter of `GET /api/v1/fcs/parameters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParameterView {
    /// Position, counting from 1.
    index: usize,
    /// Short name (`$PnN`).
    pnn: String,
    /// Label (`$PnS`); null when the file has none.
    pns: Option<String>,
    /// `$PnR`, an integer when integral.
    #[schema(value_type = f64)]
    range: Integral,
    /// `LIN` or `LOG`.
    display: &'static str,
}

/// `GET /api/v1/fcs/parameters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParametersView {
    /// `sample`, or the id of the caller's upload.
    file_id: String,
    /// The dataset (0-based).
    dataset: usize,
    total_events: usize,
    total_parameters: usize,
    parameters: Vec<ParameterView>,
}

impl ParameterView {
    /// How `parameter` is listed.
    pub fn of(parameter: &Parameter) -> Self {
        ParameterView {
            index: parameter.index,
            pnn: parameter.pnn.clone(),
            pns: parameter.pns.clone(),
            range: Integral(parameter.range),
            display: parameter.display.as_str(),
        }
    }
}

impl ParametersView {
    /// The parameters of `data`.
    pub fn new(file_id: String, data: &FcsData) -> Self {
        ParametersView {
            file_id,
            dataset: data.dataset,
            total_events: data.event_count(),
            total_parameters: data.parameters.len(),
            parameters: data.parameters.iter().map(ParameterView::of).collect(),
        }
    }
}

/// Event rows `[start, end)` of the selected channels, serialised without copying.
pub struct EventRows<'a> {
    columns: Vec<(&'a str, Print, &'a [f64])>,
    rows: usize,
}

impl<'a> EventRows<'a> {
    /// Events `[start, end)` (clamped to the file) of the `selected` channels.
    pub(super) fn of(data: &'a FcsData, selected: &[usize], start: usize, end: usize) -> Self {
        let end = end.min(data.event_count());
        let start = start.min(end);
        let columns = selected
            .iter()
            .map(|&i| {
                let p = &data.parameters[i];
                (
                    p.pnn.as_str(),
                    Print::of(p),
                    &data.columns.data[i][start..end],
                )
            })
            .collect();
        EventRows {
            columns,
            rows: end - start,
        }
    }

    /// Rows of values computed through a value pipeline (`values[k]` of channel `selected[k]`),
    /// printed as the `f64`s they are.
    pub(super) fn computed(data: &'a FcsData, selected: &[usize], values: &'a [Vec<f64>]) -> Self {
        let columns: Vec<(&str, Print, &[f64])> = selected
            .iter()
            .zip(values)
            .map(|(&i, column)| {
                (
                    data.parameters[i].pnn.as_str(),
                    Print::Float64,
                    column.as_slice(),
                )
            })
            .collect();
        EventRows {
            rows: values.first().map_or(0, Vec::len),
            columns,
        }
    }

    /// Appends rows `range` (positions in these rows) as JSON objects, with the commas that
    /// separate them from each other and from earlier rows: what the `events` array holds.
    pub(super) fn write_json(&self, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
        for event in range {
            if event > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, &Row(self, event))
                .expect("serialising into memory cannot fail");
        }
    }

    /// An upper bound of one row's JSON bytes, comma included: braces, then per channel its
    /// escaped name, a colon, the longest value its type prints and a comma.
    pub(super) fn max_row_bytes(&self) -> usize {
        let entries: usize = self
            .columns
            .iter()
            .map(|(name, print, _)| json_string_len(name) + 2 + print.max_text_len())
            .sum();
        entries + 3
    }
}

/// Bytes of `text` as a JSON string, quotes and escapes included.
fn json_string_len(text: &str) -> usize {
    serde_json::to_string(text).map_or(6 * text.len() + 2, |s| s.len())
}

impl Serialize for EventRows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.rows))?;
        for event in 0..self.rows {
            seq.serialize_element(&Row(self, event))?;
        }
        seq.end()
    }
}

struct Row<'r, 'a>(&'r EventRows<'a>, usize);

impl Serialize for Row<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.columns.len()))?;
        for (name, print, column) in &self.0.columns {
            map.serialize_entry(name, &Value(*print, column[self.1]))?;
        }
        map.end()
    }
}

/// `GET /api/v1/fcs/events`.
#[derive(Serialize, ToSchema)]
pub struct EventsView<'a> {
    file_id: String,
    total_events: usize,
    limit: usize,
    offset: usize,
    /// One object per event, keyed by `$PnN` in parameter order.
    #[schema(value_type = Vec<Object>)]
    events: EventRows<'a>,
}

impl<'a> EventsView<'a> {
    /// Events `[offset, offset + limit)` (fewer at the end; none past it) of `selected`.
    pub fn new(
        file_id: String,
        data: &'a FcsData,
        selected: &[usize],
        limit: usize,
        offset: usize,
    ) -> Self {
        EventsView {
            file_id,
            total_events: data.event_count(),
            limit,
            offset,
            events: EventRows::of(data, selected, offset, offset.saturating_add(limit)),
        }
    }
}

/// One channel of `GET /api/v1/fcs/statistics`: the contract's fields first, then extras.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelStatsView {
    /// `$PnN`.
    parameter: String,
    /// `$PnS`, null when absent.
    pns: Option<String>,
    /// `LIN` or `LOG`.
    display: &'static str,
    min: f64,
    max: f64,
    mean: f64,
    /// Mean of the two middle values for an even count.
    median: f64,
    /// Population standard deviation (ddof 0).
    std: f64,
    /// Values used (NaN excluded).
    count: usize,
    /// `std / |mean|`; null when the mean is 0.
    cv: f64,
    /// 5th percentile.
    p5: f64,
    /// 95th percentile.
    p95: f64,
}

/// `GET /api/v1/fcs/statistics`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatisticsView {
    file_id: String,
    total_events: usize,
    statistics: Vec<ChannelStatsView>,
}

impl StatisticsView {
    /// Statistics of the `selected` channels' raw values. Blocking the first time (see
    /// [`FcsData::statistics`]).
    pub fn new(file_id: String, data: &FcsData, selected: &[usize]) -> Self {
        let all = data.statistics();
        let stats = selected.iter().map(|&i| &all[i]);
        Self::of(
            file_id,
            &data.parameters,
            data.event_count(),
            selected,
            stats,
        )
    }

    /// Statistics of the `selected` channels' raw values read straight from the file, never
    /// decoded into columns ([`tessera_fcs::dataset_stats`]): what `tessera fcs stats` prints.
    pub fn streamed(
        file_id: String,
        dataset: &Dataset,
        selected: &[usize],
    ) -> Result<Self, FcsError> {
        let stats = tessera_fcs::dataset_stats(dataset, selected, &PERCENTILES)?;
        let parameters = dataset.parameters();
        Ok(Self::of(
            file_id,
            parameters,
            dataset.event_count(),
            selected,
            stats.iter(),
        ))
    }

    /// Statistics of values computed through a value pipeline (`values[k]` of channel
    /// `selected[k]`). Blocking: it reads every value.
    pub fn computed(
        file_id: String,
        data: &FcsData,
        selected: &[usize],
        values: &[Vec<f64>],
    ) -> Self {
        let stats = stats::columns_stats(values, &PERCENTILES);
        Self::of(
            file_id,
            &data.parameters,
            data.event_count(),
            selected,
            stats.iter(),
        )
    }

    fn of<'s>(
        file_id: String,
        parameters: &[Parameter],
        total_events: usize,
        selected: &[usize],
        stats: impl Iterator<Item = &'s ChannelStats>,
    ) -> Self {
        let statistics = selected
            .iter()
            .zip(stats)
            .map(|(&i, s)| {
                let p = &parameters[i];
                let percentile = |k: usize| s.percentiles.get(k).map_or(f64::NAN, |&(_, v)| v);
                ChannelStatsView {
                    parameter: p.pnn.clone(),
                    pns: p.pns.clone(),
                    display: p.display.as_str(),
                    min: s.min,
                    max: s.max,
                    mean: s.mean,
                    median: s.median,
                    std: s.std,
                    count: s.count,
                    cv: s.cv,
                    p5: percentile(0),
                    p95: percentile(1),
                }
            })
            .collect();
        StatisticsView {
            file_id,
            total_events,
            statistics,
        }
    }
}

/// A spillover matrix as the keywords route shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpilloverView {
    /// The keyword it came from: `$SPILLOVER`, `$SPILL` or `SPILL`.
    keyword: String,
    /// The `$PnN`s it covers, in matrix order.
    channels: Vec<String>,
    /// Row `i`: how much of channel `i`'s fluorochrome each channel sees.
    matrix: Vec<Vec<f64>>,
}

impl SpilloverView {
    fn of(spillover: Spillover) -> Self {
        let n = spillover.n().max(1);
        SpilloverView {
            matrix: spillover.matrix.chunks(n).map(<[f64]>::to_vec).collect(),
            keyword: spillover.keyword,
            channels: spillover.names,
        }
    }
}

/// `GET /api/v1/fcs/files/{id}/keywords` and `tessera fcs keywords`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeywordsView {
    file_id: String,
    dataset: usize,
    /// Every TEXT keyword, names upper-cased, values as decoded text (a name written twice
    /// keeps its last value).
    keywords: BTreeMap<String, String>,
    /// The compensation matrix; null when the dataset has none (or it is malformed).
    spillover: Option<SpilloverView>,
}

impl KeywordsView {
    /// The keywords of dataset `index` of `file`.
    pub fn of(file_id: String, file: &FcsFile, index: usize) -> Result<Self, FcsRefusal> {
        let dataset = file
            .datasets()
            .get(index)
            .ok_or_else(|| invalid("dataset", no_such_dataset(file.datasets().len())))?;
        let keywords = dataset
            .keywords()
            .iter()
            .map(|(name, value)| (name.to_uppercase(), value.to_owned()))
            .collect();
        Ok(KeywordsView {
            file_id,
            dataset: index,
            keywords,
            spillover: dataset.spillover().ok().flatten().map(SpilloverView::of),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_numbers_print_as_integers() {
        let text = |v| serde_json::to_string(&Integral(v)).unwrap();
        assert_eq!(text(16_777_215.0), "16777215");
        assert_eq!(text(-3.0), "-3");
        assert_eq!(text(1.5), "1.5");
        assert_eq!(text(1e300), "1e+300");
    }

    #[test]
    fn float32_values_print_shortest() {
        let text = |v: f32| serde_json::to_string(&Value(Print::Float32, v as f64)).unwrap();
        assert_eq!(text(370.1), "370.1");
        assert_eq!(text(-43.6), "-43.6");
        assert_eq!(text(0.0), "0.0");
    }
}
