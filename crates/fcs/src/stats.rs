//! Per-channel summary statistics, accumulated in `f64`.
//!
//! [`channel_stats`] summarises one column: count, min, max, mean, median, population
//! standard deviation (ddof = 0, numpy's default), coefficient of variation and any
//! percentiles asked for. [`all_channel_stats`] does every column of a [`Columns`] in
//! parallel (rayon), since columns are independent.
//!
//! How it is computed:
//!
//! * mean and variance use two passes (mean first, then the sum of squared deviations),
//!   which is far more accurate than the one-pass `Σx² − n·mean²` formula; the sums use
//!   several independent accumulators, which both vectorises and reduces rounding error;
//! * the median and percentiles come from *selection* (`select_nth_unstable`, O(n) on
//!   average) on one scratch copy of the column — never from a full sort. Several
//!   percentiles share the copy: each selection narrows the slice the next one searches;
//! * values that are not finite — NaN, or ±∞ such as the log of 0 — are skipped and counted
//!   separately (`skipped`): a summary of what can be summed, as numpy over `x[isfinite(x)]`.
//!
//! Percentiles use linear interpolation between closest ranks (numpy's default method),
//! and the median of an even count is the mean of the two middle values.

use crate::dataset::Columns;
use rayon::prelude::*;

/// Summary of one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelStats {
    /// Number of values used (the finite ones).
    pub count: usize,
    /// Number of values skipped as not finite.
    pub skipped: usize,
    /// Smallest value (NaN when `count` is 0).
    pub min: f64,
    /// Largest value (NaN when `count` is 0).
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Population standard deviation (ddof = 0).
    pub std: f64,
    /// Coefficient of variation `std / |mean|` (NaN when the mean is 0).
    pub cv: f64,
    /// The requested percentiles as `(p, value)`, in the order asked (p in 0..=100).
    pub percentiles: Vec<(f64, f64)>,
}

impl ChannelStats {
    /// The summary of no finite values: every figure NaN.
    pub(crate) fn empty(skipped: usize, percentiles: &[f64]) -> ChannelStats {
        ChannelStats {
            count: 0,
            skipped,
            min: f64::NAN,
            max: f64::NAN,
            mean: f64::NAN,
            median: f64::NAN,
            std: f64::NAN,
            cv: f64::NAN,
            percentiles: percentiles.iter().map(|&p| (p, f64::NAN)).collect(),
        }
    }
}

/// Sums with 8 independent accumulators (vectorisable, less rounding than one running sum).
fn sum_lanes(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for &v in rest {
        s += f(v);
    }
    s
}

/// The order statistics a summary reads: the one or two middle ranks of the median and the
/// two ranks around each percentile (linear interpolation between closest ranks, numpy's
/// default method).
pub(crate) struct Ranks {
    /// `(p, position)`: each percentile as asked and its fractional 0-based rank.
    positions: Vec<(f64, f64)>,
    /// Every 0-based rank needed, ascending, once each.
    wanted: Vec<usize>,
    n: usize,
}

impl Ranks {
    /// The ranks for `n > 0` values; `percentiles` in 0..=100 (outside are clamped, NaN is 0).
    pub(crate) fn new(n: usize, percentiles: &[f64]) -> Ranks {
        let positions: Vec<(f64, f64)> = percentiles
            .iter()
            .map(|&p| {
                let clamped = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
                (p, clamped / 100.0 * (n - 1) as f64)
            })
            .collect();
        let mut wanted = vec![(n - 1) / 2, n / 2];
        for &(_, x) in &positions {
            wanted.push(x.floor() as usize);
            wanted.push((x.ceil() as usize).min(n - 1));
        }
        wanted.sort_unstable();
        wanted.dedup();
        Ranks {
            positions,
            wanted,
            n,
        }
    }

    /// The ranks to look up, ascending.
    pub(crate) fn wanted(&self) -> &[usize] {
        &self.wanted
    }

    /// The median and the percentiles `(p, value)` from the values at [`Ranks::wanted`].
    pub(crate) fn finish(&self, values: &[f64]) -> (f64, Vec<(f64, f64)>) {
        let at = |r: usize| values[self.wanted.binary_search(&r).unwrap_or(0)];
        let median = (at((self.n - 1) / 2) + at(self.n / 2)) / 2.0;
        let percentiles = self
            .positions
            .iter()
            .map(|&(p, x)| {
                let (lo, hi) = (x.floor() as usize, (x.ceil() as usize).min(self.n - 1));
                let (a, b) = (at(lo), at(hi));
                (
                    p,
                    if lo == hi {
                        a
                    } else {
                        a + (b - a) * (x - lo as f64)
                    },
                )
            })
            .collect();
        (median, percentiles)
    }
}

/// Values at the given 0-based ranks (ascending) of `buf`, found by repeated selection.
pub(crate) fn select_ranks(buf: &mut [f64], ranks: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(ranks.len());
    let mut lo = 0usize; // everything before `lo` is <= everything from `lo` on
    for &r in ranks {
        if r < lo {
            // Same or earlier rank already placed (ranks are sorted, so r == lo - 1).
            out.push(buf[r]);
            continue;
        }
        let (_, v, _) = buf[lo..].select_nth_unstable_by(r - lo, f64::total_cmp);
        out.push(*v);
        lo = r + 1;
    }
    out
}

/// Summarises one channel. `percentiles` are in 0..=100 (values outside are clamped).
///
/// ```
/// let s = tessera_fcs::stats::channel_stats(&[1.0, 2.0, 3.0, 4.0], &[25.0]);
/// assert_eq!(s.median, 2.5);
/// assert_eq!(s.mean, 2.5);
/// assert!((s.std - 1.118033988749895).abs() < 1e-15);
/// assert_eq!(s.percentiles, vec![(25.0, 1.75)]);
/// ```
pub fn channel_stats(values: &[f64], percentiles: &[f64]) -> ChannelStats {
    let skipped = values.iter().filter(|v| !v.is_finite()).count();
    let mut buf: Vec<f64> = if skipped == 0 {
        values.to_vec()
    } else {
        values.iter().copied().filter(|v| v.is_finite()).collect()
    };
    let n = buf.len();
    if n == 0 {
        return ChannelStats::empty(skipped, percentiles);
    }
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in &buf {
        min = min.min(v);
        max = max.max(v);
    }
    let mean = sum_lanes(&buf, |v| v) / n as f64;
    let var = sum_lanes(&buf, |v| (v - mean) * (v - mean)) / n as f64;
    let std = var.sqrt();
    let cv = if mean == 0.0 {
        f64::NAN
    } else {
        std / mean.abs()
    };

    let ranks = Ranks::new(n, percentiles);
    let (median, percentiles) = ranks.finish(&select_ranks(&mut buf, ranks.wanted()));
    ChannelStats {
        count: n,
        skipped,
        min,
        max,
        mean,
        median,
        std,
        cv,
        percentiles,
    }
}

/// The median absolute deviation from `median` (unscaled: no 1.4826 factor), over the finite
/// values; NaN when there are none. Selection on a scratch copy, as the median itself.
pub fn median_absolute_deviation(values: &[f64], median: f64) -> f64 {
    let mut deviations: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| (v - median).abs())
        .collect();
    let n = deviations.len();
    if n == 0 {
        return f64::NAN;
    }
    let ranks = [(n - 1) / 2, n / 2];
    let middle = select_ranks(&mut deviations, &ranks);
    (middle[0] + middle[ranks.len() - 1]) / 2.0
}

/// The geometric mean of the positive finite values (`exp` of the mean of their logarithms,
/// which cannot overflow as a product would); NaN when there are none. Values ≤ 0 have no
/// logarithm and are left out, as cytometry software does for fluorescence.
pub fn geometric_mean(values: &[f64]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for &v in values {
        if v > 0.0 && v.is_finite() {
            sum += v.ln();
            n += 1;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        (sum / n as f64).exp()
    }
}

/// Summarises every column, in parallel; the result is in column order.
pub fn all_channel_stats(columns: &Columns, percentiles: &[f64]) -> Vec<ChannelStats> {
    columns_stats(&columns.data, percentiles)
}

/// Like [`all_channel_stats`] for any set of columns.
pub fn columns_stats<C: AsRef<[f64]> + Sync>(
    columns: &[C],
    percentiles: &[f64],
) -> Vec<ChannelStats> {
    columns
        .par_iter()
        .map(|c| channel_stats(c.as_ref(), percentiles))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_even_and_empty() {
        let s = channel_stats(&[5.0, 1.0, 3.0], &[]);
        assert_eq!((s.min, s.max, s.median, s.mean), (1.0, 5.0, 3.0, 3.0));
        let s = channel_stats(&[4.0, 1.0, 3.0, 2.0], &[0.0, 100.0, 50.0]);
        assert_eq!(s.median, 2.5);
        assert_eq!(s.percentiles, vec![(0.0, 1.0), (100.0, 4.0), (50.0, 2.5)]);
        let s = channel_stats(&[], &[50.0]);
        assert_eq!(s.count, 0);
        assert!(s.median.is_nan());
        let s = channel_stats(&[7.0], &[10.0]);
        assert_eq!((s.median, s.std, s.percentiles[0].1), (7.0, 0.0, 7.0));
    }

    #[test]
    fn nan_skipped() {
        let s = channel_stats(&[f64::NAN, 2.0, 4.0], &[]);
        assert_eq!((s.count, s.skipped, s.mean, s.median), (2, 1, 3.0, 3.0));
    }

    #[test]
    fn matches_sorting_reference() {
        let mut x = 12345u64;
        let v: Vec<f64> = (0..10_001)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 11) as f64 / (1u64 << 53) as f64 * 1000.0 - 300.0
            })
            .collect();
        let ps = [1.0, 5.0, 33.3, 50.0, 95.0, 99.0];
        let s = channel_stats(&v, &ps);
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        assert_eq!(s.median, sorted[n / 2]);
        for (p, got) in &s.percentiles {
            let x = p / 100.0 * (n - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            let want = sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo as f64);
            assert!((got - want).abs() < 1e-9, "{p}: {got} vs {want}");
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!((s.mean - mean).abs() < 1e-9 && (s.std - std).abs() < 1e-9);
        let all = columns_stats(&[v.clone(), v], &ps);
        assert_eq!(all[0], all[1]);
        assert_eq!(all[0], s);
    }
}
