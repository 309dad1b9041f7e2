//! Histograms of one channel: how many events fall in each of `bins` equal slices of an axis.
//!
//! Cytometrists look at a channel on the scale its `$PnD` (or convention) names, so the axis is
//! linear or logarithmic ([`Display`]). A linear axis runs from 0 to the parameter's range
//! (`$PnR`), or from the lowest value when values are negative (compensated data). A log axis
//! runs from 1 to the range in equal steps of log10; values at or below 0 have no place on it.
//! Values off either end are counted apart (`below`, `above`) rather than piled into the edge
//! bins, so an edge bin never looks like a population it is not. NaN is skipped.

use crate::params::Display;

/// Bins a histogram may have at most: enough for any screen, bounded for any request.
pub const MAX_BINS: usize = 4096;

/// The counts of one channel over one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Linear or logarithmic.
    pub scale: Display,
    /// The axis' ends, in the channel's units (`low < high`; `low > 0` on a log axis).
    pub low: f64,
    /// See `low`.
    pub high: f64,
    /// Events per bin, lowest first; all bins are equally wide on the axis' scale.
    pub counts: Vec<u64>,
    /// Events below `low` (on a log axis: also every value ≤ 0).
    pub below: u64,
    /// Events above `high`.
    pub above: u64,
}

impl Histogram {
    /// The largest count of a bin (0 when every bin is empty).
    pub fn peak(&self) -> u64 {
        self.counts.iter().copied().max().unwrap_or(0)
    }

    /// Where `value` sits along the axis, from 0 (`low`) to 1 (`high`), on the axis' scale.
    pub fn position(&self, value: f64) -> f64 {
        match self.scale {
            Display::Lin => (value - self.low) / (self.high - self.low),
            Display::Log => {
                (value.log10() - self.low.log10()) / (self.high.log10() - self.low.log10())
            }
        }
    }
}

/// The histogram of `values` in `bins` bins (1–[`MAX_BINS`], clamped) on `scale`, for a
/// parameter whose range (`$PnR`) is `range`.
pub fn histogram(values: &[f64], range: f64, scale: Display, bins: usize) -> Histogram {
    let bins = bins.clamp(1, MAX_BINS);
    let (low, high) = axis(values, range, scale);
    let mut histogram = Histogram {
        scale,
        low,
        high,
        counts: vec![0; bins],
        below: 0,
        above: 0,
    };
    for &value in values.iter().filter(|v| !v.is_nan()) {
        let at = if scale == Display::Log && value <= 0.0 {
            -1.0
        } else {
            histogram.position(value)
        };
        if at < 0.0 {
            histogram.below += 1;
        } else if at > 1.0 {
            histogram.above += 1;
        } else {
            // `at == 1.0` (the range's own value) belongs to the last bin.
            let bin = ((at * bins as f64) as usize).min(bins - 1);
            histogram.counts[bin] += 1;
        }
    }
    histogram
}

/// The axis' ends for a channel: see the module's documentation.
fn axis(values: &[f64], range: f64, scale: Display) -> (f64, f64) {
    let high = if range.is_finite() && range > 1.0 {
        range
    } else {
        // No usable `$PnR`: the data's own maximum, or a unit axis for no data.
        values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(1.0, f64::max)
            .max(2.0)
    };
    match scale {
        Display::Log => (1.0, high),
        Display::Lin => {
            let lowest = values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::min);
            (lowest, high)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_bins_split_zero_to_the_range_evenly() {
        let h = histogram(
            &[0.0, 9.9, 10.0, 55.0, 99.0, 100.0],
            100.0,
            Display::Lin,
            10,
        );
        assert_eq!((h.low, h.high), (0.0, 100.0));
        assert_eq!(h.counts, vec![2, 1, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!((h.below, h.above), (0, 0));
        assert_eq!(h.peak(), 2);
    }

    #[test]
    fn values_off_the_axis_are_counted_apart() {
        let h = histogram(&[5.0, 150.0, 101.0, f64::NAN], 100.0, Display::Lin, 4);
        assert_eq!(h.counts, vec![1, 0, 0, 0]);
        assert_eq!(h.above, 2);
        assert_eq!(
            h.counts.iter().sum::<u64>() + h.below + h.above,
            3,
            "NaN is skipped"
        );
    }

    #[test]
    fn negative_values_extend_a_linear_axis_downwards() {
        let h = histogram(&[-50.0, 0.0, 50.0], 100.0, Display::Lin, 3);
        assert_eq!((h.low, h.high), (-50.0, 100.0));
        assert_eq!(h.counts, vec![1, 1, 1]);
    }

    #[test]
    fn log_bins_are_decades_and_non_positive_values_fall_below() {
        let h = histogram(
            &[0.0, -3.0, 0.5, 1.0, 5.0, 10.0, 500.0, 1000.0],
            1000.0,
            Display::Log,
            3,
        );
        assert_eq!((h.low, h.high), (1.0, 1000.0));
        assert_eq!(h.counts, vec![2, 1, 2]);
        assert_eq!(h.below, 3);
        assert!((h.position(10.0) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn bins_are_bounded_and_empty_input_is_fine() {
        let h = histogram(&[], 0.0, Display::Log, 0);
        assert_eq!(h.counts, vec![0]);
        assert!(h.low < h.high);
        assert_eq!(
            histogram(&[1.0], 10.0, Display::Lin, usize::MAX)
                .counts
                .len(),
            MAX_BINS
        );
    }
}
