//! `stats=`: the statistics a client chooses, by the names CellEngine's and Cytobank's APIs
//! agree on, computed over a channel's finite values (after the pipeline, inside the gate).
//!
//! | Name | Value |
//! |---|---|
//! | `count` | finite values |
//! | `percent` | the population's events as a percentage of its parent (the gate's parent, else all events) |
//! | `min`, `max`, `mean`, `median` | as their names say (median: mean of the middle two) |
//! | `stddev` | population standard deviation (ddof 0, numpy's default) |
//! | `cv` | `100 · stddev / |mean|` |
//! | `mad` | median absolute deviation from the median, unscaled |
//! | `geomean` | geometric mean of the positive values |
//! | `robust_cv` | `100 · 0.7413 · IQR / median` (IQR by numpy's linear percentiles) |
//! | `quantile:q` | numpy's linear quantile, `0 ≤ q ≤ 1` |
//!
//! A statistic with no value (the mean of no values, a CV of mean 0) is `null`.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use tessera_fcs::stats::{self, ChannelStats};
use utoipa::ToSchema;

use super::analysis::invalid;
use super::errors::FcsRefusal;
use super::view::FcsData;

/// The normal distribution's IQR is 1.349 σ: 0.7413 = 1/1.349 turns an IQR into a σ estimate.
const IQR_TO_SIGMA: f64 = 0.7413;

/// One statistic of `stats=`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    Count,
    Percent,
    Min,
    Max,
    Mean,
    Median,
    Stddev,
    Cv,
    Mad,
    Geomean,
    RobustCv,
    Quantile(f64),
}

const NAMES: &str =
    "count, percent, min, max, mean, median, stddev, cv, mad, geomean, robust_cv, quantile:q";

impl Statistic {
    /// `stats=`'s comma-separated names, in the order given (repeats kept once), at most `max`
    /// of them (`FCS_MAX_STATISTICS`).
    pub fn parse_list(text: &str, max: usize) -> Result<Vec<Statistic>, FcsRefusal> {
        let mut chosen: Vec<Statistic> = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let statistic = Statistic::parse(name)?;
            if !chosen.contains(&statistic) {
                chosen.push(statistic);
            }
        }
        if chosen.is_empty() {
            return Err(invalid("stats", format!("name at least one of {NAMES}")));
        }
        if chosen.len() > max {
            return Err(invalid(
                "stats",
                format!("at most {max} statistics a request (FCS_MAX_STATISTICS)"),
            ));
        }
        Ok(chosen)
    }

    fn parse(name: &str) -> Result<Statistic, FcsRefusal> {
        Ok(match name {
            "count" => Statistic::Count,
            "percent" => Statistic::Percent,
            "min" => Statistic::Min,
            "max" => Statistic::Max,
            "mean" => Statistic::Mean,
            "median" => Statistic::Median,
            "stddev" => Statistic::Stddev,
            "cv" => Statistic::Cv,
            "mad" => Statistic::Mad,
            "geomean" => Statistic::Geomean,
            "robust_cv" => Statistic::RobustCv,
            _ => {
                let q = name
                    .strip_prefix("quantile:")
                    .ok_or_else(|| {
                        let shown: String = name.chars().take(40).collect();
                        invalid(
                            "stats",
                            format!("unknown statistic `{shown}`; choose from {NAMES}"),
                        )
                    })?
                    .parse::<f64>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .ok_or_else(|| {
                        invalid(
                            "stats",
                            "a quantile is quantile:q with 0 ≤ q ≤ 1, e.g. quantile:0.05",
                        )
                    })?;
                Statistic::Quantile(q)
            }
        })
    }

    /// The key it is answered under: its name as asked (`quantile:0.05`).
    fn key(self) -> String {
        match self {
            Statistic::Count => "count".to_owned(),
            Statistic::Percent => "percent".to_owned(),
            Statistic::Min => "min".to_owned(),
            Statistic::Max => "max".to_owned(),
            Statistic::Mean => "mean".to_owned(),
            Statistic::Median => "median".to_owned(),
            Statistic::Stddev => "stddev".to_owned(),
            Statistic::Cv => "cv".to_owned(),
            Statistic::Mad => "mad".to_owned(),
            Statistic::Geomean => "geomean".to_owned(),
            Statistic::RobustCv => "robust_cv".to_owned(),
            Statistic::Quantile(q) => format!("quantile:{q}"),
        }
    }
}

/// How big the population is and the one it is a part of.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    pub events: usize,
    pub of: usize,
}

/// One channel's chosen statistics, in the order asked.
#[derive(Debug)]
pub struct ChosenChannelStats {
    parameter: String,
    pns: Option<String>,
    display: &'static str,
    values: Vec<(String, f64)>,
}

impl Serialize for ChosenChannelStats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.values.len() + 3))?;
        map.serialize_entry("parameter", &self.parameter)?;
        map.serialize_entry("pns", &self.pns)?;
        map.serialize_entry("display", self.display)?;
        for (key, value) in &self.values {
            if key == "count" {
                // A count is an integer, and reads as one.
                map.serialize_entry(key, &(*value as u64))?;
            } else {
                // NaN (no value) is written as null by serde_json.
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// `GET /api/v1/fcs/statistics?stats=…`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChosenStatsView {
    file_id: String,
    total_events: usize,
    /// Events in the population the statistics describe (the gate's members, else all).
    population: usize,
    /// Per channel: `parameter`, `pns`, `display`, then each chosen statistic by its name.
    #[schema(value_type = Vec<Object>)]
    statistics: Vec<ChosenChannelStats>,
}

impl ChosenStatsView {
    /// `chosen` of each `selected` channel, from `values[k]` of channel `selected[k]`.
    /// Blocking: it reads every value.
    pub fn new(
        file_id: String,
        data: &FcsData,
        selected: &[usize],
        values: &[Vec<f64>],
        chosen: &[Statistic],
        share: Share,
    ) -> Self {
        let statistics = selected
            .iter()
            .zip(values)
            .map(|(&i, column)| {
                let parameter = &data.parameters[i];
                ChosenChannelStats {
                    parameter: parameter.pnn.clone(),
                    pns: parameter.pns.clone(),
                    display: parameter.display.as_str(),
                    values: chosen_values(column, chosen, share),
                }
            })
            .collect();
        ChosenStatsView {
            file_id,
            total_events: data.event_count(),
            population: share.events,
            statistics,
        }
    }
}

/// Percentiles (0–100) one pass of selection must find: the IQR's and each quantile's.
fn percentiles(chosen: &[Statistic]) -> Vec<f64> {
    let mut wanted = vec![25.0, 75.0];
    wanted.extend(chosen.iter().filter_map(|s| match s {
        Statistic::Quantile(q) => Some(q * 100.0),
        _ => None,
    }));
    wanted
}

fn chosen_values(column: &[f64], chosen: &[Statistic], share: Share) -> Vec<(String, f64)> {
    let wanted = percentiles(chosen);
    let summary: ChannelStats = stats::channel_stats(column, &wanted);
    let at = |p: f64| {
        summary
            .percentiles
            .iter()
            .find(|(asked, _)| *asked == p)
            .map_or(f64::NAN, |&(_, v)| v)
    };
    chosen
        .iter()
        .map(|&statistic| {
            let value = match statistic {
                Statistic::Count => summary.count as f64,
                Statistic::Percent => percent(share),
                Statistic::Min => summary.min,
                Statistic::Max => summary.max,
                Statistic::Mean => summary.mean,
                Statistic::Median => summary.median,
                Statistic::Stddev => summary.std,
                Statistic::Cv => 100.0 * summary.cv,
                Statistic::Mad => stats::median_absolute_deviation(column, summary.median),
                Statistic::Geomean => stats::geometric_mean(column),
                Statistic::RobustCv => {
                    100.0 * IQR_TO_SIGMA * (at(75.0) - at(25.0)) / summary.median
                }
                Statistic::Quantile(q) => at(q * 100.0),
            };
            (
                statistic.key(),
                if value.is_finite() { value } else { f64::NAN },
            )
        })
        .collect()
}

fn percent(share: Share) -> f64 {
    if share.of == 0 {
        f64::NAN
    } else {
        100.0 * share.events as f64 / share.of as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_order_and_bad_ones_name_the_field() {
        let chosen = Statistic::parse_list("median, quantile:0.05,cv,median", 32).unwrap();
        assert_eq!(
            chosen,
            [Statistic::Median, Statistic::Quantile(0.05), Statistic::Cv]
        );
        for bad in ["", "mode", "quantile:1.5", "quantile:x", "quantile:"] {
            let error = Statistic::parse_list(bad, 32).unwrap_err().to_string();
            assert!(error.starts_with("stats: "), "{bad}: {error}");
        }
    }

    #[test]
    fn robust_cv_mad_and_quantiles_follow_their_definitions() {
        let column: Vec<f64> = (1..=101).map(f64::from).collect();
        let chosen = Statistic::parse_list("robust_cv,mad,quantile:0.1,cv,percent", 32).unwrap();
        let values = chosen_values(
            &column,
            &chosen,
            Share {
                events: 101,
                of: 202,
            },
        );
        let get = |k: &str| values.iter().find(|(key, _)| key == k).unwrap().1;
        // numpy: percentile 25 = 26, 75 = 76, median 51.
        assert!((get("robust_cv") - 100.0 * 0.7413 * 50.0 / 51.0).abs() < 1e-12);
        assert_eq!(get("mad"), 25.0);
        assert_eq!(get("quantile:0.1"), 11.0);
        assert_eq!(get("percent"), 50.0);
        let std = (column.iter().map(|v| (v - 51.0).powi(2)).sum::<f64>() / 101.0).sqrt();
        assert!((get("cv") - 100.0 * std / 51.0).abs() < 1e-12);
    }
}
