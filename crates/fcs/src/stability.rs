//! Flow stability, the check of a QC run: does a channel's level hold over the acquisition?
//!
//! The run is cut into slices — equal spans of the time channel, or equal runs of events in
//! acquisition order when the dataset has no time channel — and each slice's median is taken.
//! A steady instrument gives flat medians; a clog, a bubble or a drifting laser moves them.
//! The coefficient of variation of the medians sums it up in one number.

use crate::stats::channel_stats;

/// One slice of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Where it starts: a time, or an event position.
    pub start: f64,
    /// Where the next begins (the last slice ends at the last event's time, inclusive).
    pub end: f64,
    /// Events in it.
    pub events: usize,
    /// Median of the channel's finite values in it; NaN when it has none.
    pub median: f64,
}

/// The slices and the spread of their medians.
#[derive(Debug, Clone, PartialEq)]
pub struct Stability {
    /// Whether the slices are spans of time (else runs of events).
    pub by_time: bool,
    /// The slices, in order.
    pub slices: Vec<Slice>,
    /// `100 · std / |mean|` of the slices' medians (population std); NaN with no median or a
    /// mean of 0.
    pub cv: f64,
}

/// The stability of `values` over `slices` slices of `time` (one value per event), or of the
/// event order when `time` is `None` or holds no finite span. `slices` must be at least 1.
pub fn stability(time: Option<&[f64]>, values: &[f64], slices: usize) -> Stability {
    let slices = slices.max(1);
    let span = time.and_then(finite_span);
    let mut members: Vec<Vec<f64>> = vec![Vec::new(); slices];
    let bounds: Vec<(f64, f64)> = match (time, span) {
        (Some(time), Some((low, high))) => {
            let width = (high - low) / slices as f64;
            for (&t, &v) in time.iter().zip(values) {
                if t.is_finite() {
                    // The last slice is closed: the last event's time belongs to it.
                    let at = (((t - low) / width) as usize).min(slices - 1);
                    members[at].push(v);
                }
            }
            (0..slices)
                .map(|k| {
                    (
                        low + width * k as f64,
                        if k + 1 == slices {
                            high
                        } else {
                            low + width * (k + 1) as f64
                        },
                    )
                })
                .collect()
        }
        _ => {
            let n = values.len();
            (0..slices)
                .map(|k| {
                    let (start, end) = (k * n / slices, (k + 1) * n / slices);
                    members[k].extend_from_slice(&values[start..end]);
                    (start as f64, end as f64)
                })
                .collect()
        }
    };
    let slices: Vec<Slice> = bounds
        .into_iter()
        .zip(members)
        .map(|((start, end), values)| Slice {
            start,
            end,
            events: values.len(),
            median: channel_stats(&values, &[]).median,
        })
        .collect();
    let medians: Vec<f64> = slices
        .iter()
        .map(|s| s.median)
        .filter(|m| m.is_finite())
        .collect();
    let summary = channel_stats(&medians, &[]);
    let cv = if summary.count == 0 || summary.mean == 0.0 {
        f64::NAN
    } else {
        100.0 * summary.std / summary.mean.abs()
    };
    Stability {
        by_time: span.is_some() && time.is_some(),
        slices,
        cv,
    }
}

/// The smallest and largest finite values, if they differ.
fn finite_span(values: &[f64]) -> Option<(f64, f64)> {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values.iter().filter(|v| v.is_finite()) {
        low = low.min(v);
        high = high.max(v);
    }
    (low < high).then_some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_run_has_flat_medians_and_a_drift_shows() {
        let time: Vec<f64> = (0..1000).map(f64::from).collect();
        let steady: Vec<f64> = (0..1000).map(|i| 100.0 + f64::from(i % 7)).collect();
        let result = stability(Some(&time), &steady, 4);
        assert_eq!(result.slices.len(), 4);
        assert!(result.by_time);
        assert_eq!(result.slices.iter().map(|s| s.events).sum::<usize>(), 1000);
        assert_eq!(result.slices[0].start, 0.0);
        assert_eq!(result.slices[3].end, 999.0);
        assert!(result.cv < 1.0, "{}", result.cv);

        let drifting: Vec<f64> = (0..1000).map(f64::from).collect();
        let result = stability(Some(&time), &drifting, 4);
        assert!(result.cv > 30.0, "{}", result.cv);
        assert_eq!(result.slices[0].median, 124.5);
    }

    #[test]
    fn without_time_the_event_order_is_sliced() {
        let values: Vec<f64> = (0..10).map(f64::from).collect();
        let result = stability(None, &values, 3);
        assert!(!result.by_time);
        let events: Vec<usize> = result.slices.iter().map(|s| s.events).collect();
        assert_eq!(events, [3, 3, 4]);
        assert_eq!((result.slices[2].start, result.slices[2].end), (6.0, 10.0));
        // A time channel of one value is no span either.
        let flat = vec![5.0; 10];
        assert_eq!(stability(Some(&flat), &values, 3).slices[0].events, 3);
    }

    #[test]
    fn an_empty_slice_has_no_median() {
        let time = [0.0, 1.0, 9.0, 10.0];
        let result = stability(Some(&time), &[1.0, 1.0, 3.0, 3.0], 5);
        assert!(result.slices[2].median.is_nan());
        assert_eq!(result.slices[2].events, 0);
        assert!((result.cv - 50.0).abs() < 1e-12);
    }
}
