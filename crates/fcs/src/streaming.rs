//! Statistics straight from the DATA segment, without a column of `f64` per channel.
//!
//! [`crate::stats::channel_stats`] summarises a decoded column. Decoding a million events of
//! 26 float32 channels into columns takes 208 MB for a 104 MB file, and a comparison-based
//! selection for each median. A summary needs neither. [`dataset_stats`] reads the file twice,
//! a block of events at a time ([`Dataset::scan`]), holding one block per worker:
//!
//! 1. **Tally.** Count, min, max, and mean and sum of squared deviations, which each block
//!    computes in two passes while it is in cache (accurate) and merges into the running
//!    figures with Chan, Golub & LeVeque's update (exact in exact arithmetic). Meanwhile each
//!    value is counted in one of 4,096 *buckets* by the top bits of its float32 bits ordered
//!    as integers (sign, exponent, three mantissa bits: eight buckets per octave). That order
//!    is the values' order, so counting up the buckets tells which one holds each rank.
//! 2. **Select.** A second read keeps only the values in the buckets of the wanted ranks,
//!    a small share of the data, and selection among them finds each rank exactly: a radix
//!    selection on the float bits rather than a comparison selection over every value.
//!
//! Results are those of `channel_stats`: min, max, median and percentiles the same values,
//! mean and standard deviation equal up to rounding order (~1e-15 relative).

use rayon::prelude::*;

use crate::dataset::Dataset;
use crate::error::Result;
use crate::stats::{select_ranks, ChannelStats, Ranks};

/// Bits of a bucket: sign, 8 exponent bits and the top 3 mantissa bits of a float32.
const BUCKET_BITS: u32 = 12;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// Summarises the `selected` parameters (0-based) of `dataset`'s raw values, with the
/// `percentiles` asked for (0..=100), reading the file as described in the module docs.
pub fn dataset_stats(
    dataset: &Dataset,
    selected: &[usize],
    percentiles: &[f64],
) -> Result<Vec<ChannelStats>> {
    let tallies = dataset.scan(
        selected,
        || vec![Tally::default(); selected.len()],
        |tallies, block| {
            for (tally, values) in tallies.iter_mut().zip(block) {
                tally.add(values);
            }
        },
    )?;
    let tallies: Vec<Tally> = (0..selected.len())
        .into_par_iter()
        .map(|c| {
            tallies
                .iter()
                .map(|task| &task[c])
                .fold(Tally::default(), |all, task| all.merged(task))
        })
        .collect();
    let plans: Vec<Option<Plan>> = tallies
        .iter()
        .map(|t| (t.count > 0).then(|| Plan::new(t, percentiles)))
        .collect();
    let kept = dataset.scan(
        selected,
        || vec![Vec::new(); selected.len()],
        |kept: &mut Vec<Vec<f64>>, block| {
            for ((kept, values), plan) in kept.iter_mut().zip(block).zip(&plans) {
                if let Some(plan) = plan {
                    plan.keep(values, kept);
                }
            }
        },
    )?;
    Ok(tallies
        .iter()
        .zip(&plans)
        .enumerate()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(c, (tally, plan))| {
            let mut kept: Vec<f64> = kept.iter().flat_map(|task| &task[c]).copied().collect();
            tally.summary(plan.as_ref(), &mut kept, percentiles)
        })
        .collect())
}

/// The running figures of one channel (pass 1).
#[derive(Debug, Clone)]
struct Tally {
    count: usize,
    skipped: usize,
    min: f64,
    max: f64,
    mean: f64,
    /// Sum of squared deviations from `mean`.
    m2: f64,
    buckets: Vec<u32>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            count: 0,
            skipped: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
            buckets: vec![0; BUCKETS],
        }
    }
}

impl Tally {
    /// Folds in one block of values; not-finite ones are skipped and counted.
    fn add(&mut self, values: &[f64]) {
        let (count, sum, min, max) = moments(values);
        self.skipped += values.len() - count;
        if count == 0 {
            return;
        }
        let mean = sum / count as f64;
        let m2 = if count == values.len() {
            squared_deviations(values, mean)
        } else {
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            squared_deviations(&finite, mean)
        };
        for &v in values.iter().filter(|v| v.is_finite()) {
            self.buckets[bucket(v)] += 1;
        }
        self.min = self.min.min(min);
        self.max = self.max.max(max);
        self.combine(count, mean, m2);
    }

    /// Chan, Golub & LeVeque: the mean and squared deviations of two parts, combined.
    fn combine(&mut self, count: usize, mean: f64, m2: f64) {
        let total = self.count + count;
        let delta = mean - self.mean;
        let share = count as f64 / total as f64;
        self.mean += delta * share;
        self.m2 += m2 + delta * delta * self.count as f64 * share;
        self.count = total;
    }

    /// `self` followed by `other`.
    fn merged(mut self, other: &Tally) -> Tally {
        if other.count > 0 {
            self.combine(other.count, other.mean, other.m2);
        }
        self.skipped += other.skipped;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self
    }

    /// The summary, once `kept` holds the values of the plan's buckets.
    fn summary(&self, plan: Option<&Plan>, kept: &mut [f64], percentiles: &[f64]) -> ChannelStats {
        let Some(plan) = plan else {
            return ChannelStats::empty(self.skipped, percentiles);
        };
        let (median, percentiles) = plan.ranks.finish(&select_ranks(kept, &plan.kept_ranks));
        let std = (self.m2 / self.count as f64).sqrt();
        ChannelStats {
            count: self.count,
            skipped: self.skipped,
            min: self.min,
            max: self.max,
            mean: self.mean,
            median,
            std,
            cv: if self.mean == 0.0 {
                f64::NAN
            } else {
                std / self.mean.abs()
            },
            percentiles,
        }
    }
}

/// Which buckets pass 2 keeps, and where each wanted rank falls among the kept values.
struct Plan {
    ranks: Ranks,
    /// One bit per bucket to keep.
    keep: Vec<u64>,
    /// Each wanted rank as a rank among the kept values (ascending, like `ranks.wanted()`).
    kept_ranks: Vec<usize>,
}

impl Plan {
    fn new(tally: &Tally, percentiles: &[f64]) -> Plan {
        let ranks = Ranks::new(tally.count, percentiles);
        let mut keep = vec![0u64; BUCKETS / 64];
        // Walk the buckets once: the values below each bucket, and among them the kept ones.
        let (mut below, mut kept_below, mut wanted) = (0usize, 0usize, ranks.wanted().iter());
        let mut next = wanted.next();
        let mut kept_ranks = Vec::with_capacity(ranks.wanted().len());
        for (b, &count) in tally.buckets.iter().enumerate() {
            let end = below + count as usize;
            let mut kept_here = false;
            while let Some(&rank) = next.filter(|&&r| r < end) {
                kept_here = true;
                kept_ranks.push(kept_below + (rank - below));
                next = wanted.next();
            }
            if kept_here {
                keep[b / 64] |= 1 << (b % 64);
                kept_below += count as usize;
            }
            below = end;
        }
        Plan {
            ranks,
            keep,
            kept_ranks,
        }
    }

    /// Appends the values of `values` that fall in a kept bucket to `kept`.
    fn keep(&self, values: &[f64], kept: &mut Vec<f64>) {
        for &v in values {
            let b = bucket(v);
            if self.keep[b / 64] & (1 << (b % 64)) != 0 && v.is_finite() {
                kept.push(v);
            }
        }
    }
}

/// Lanes of the sums below: independent accumulators the compiler keeps in SIMD registers.
const LANES: usize = 8;

/// The count, sum, min and max of the finite values, with [`LANES`] accumulators of each so
/// the loop vectorises (and sums with less rounding than one running total).
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn moments(values: &[f64]) -> (usize, f64, f64, f64) {
    let mut count = [0u64; LANES];
    let mut sum = [0.0; LANES];
    let mut min = [f64::INFINITY; LANES];
    let mut max = [f64::NEG_INFINITY; LANES];
    let lanes = values.chunks_exact(LANES);
    let rest = lanes.remainder();
    for chunk in lanes {
        for i in 0..LANES {
            let (v, finite) = (chunk[i], chunk[i].is_finite());
            count[i] += finite as u64;
            sum[i] += if finite { v } else { 0.0 };
            min[i] = if finite && v < min[i] { v } else { min[i] };
            max[i] = if finite && v > max[i] { v } else { max[i] };
        }
    }
    for &v in rest.iter().filter(|v| v.is_finite()) {
        count[0] += 1;
        sum[0] += v;
        min[0] = min[0].min(v);
        max[0] = max[0].max(v);
    }
    (
        count.iter().sum::<u64>() as usize,
        sum.iter().sum(),
        min.iter().copied().fold(f64::INFINITY, f64::min),
        max.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

/// `Σ (v − mean)²` over `values` (all finite), with [`LANES`] accumulators.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn squared_deviations(values: &[f64], mean: f64) -> f64 {
    let mut sum = [0.0; LANES];
    let lanes = values.chunks_exact(LANES);
    let rest = lanes.remainder();
    for chunk in lanes {
        for i in 0..LANES {
            let d = chunk[i] - mean;
            sum[i] += d * d;
        }
    }
    sum.iter().sum::<f64>() + rest.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
}

/// The bucket of a finite value: the top bits of its float32 bits, flipped so that their
/// order as unsigned integers is the values' order (negatives reversed below positives).
/// Rounding to float32 never reverses two values' order, so neither does the bucket.
#[inline]
fn bucket(value: f64) -> usize {
    let bits = (value as f32).to_bits();
    let ordered = if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    };
    (ordered >> (32 - BUCKET_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::channel_stats;
    use crate::write::{write_fcs31, WriteParameter};
    use crate::FcsFile;

    fn file_of(columns: &[Vec<f64>]) -> FcsFile {
        let parameters: Vec<WriteParameter> = (0..columns.len())
            .map(|i| WriteParameter::new(format!("P{i}"), 1024.0))
            .collect();
        let mut bytes = Vec::new();
        write_fcs31(&mut bytes, &parameters, columns, &[] as &[(&str, &str)]).unwrap();
        FcsFile::from_vec(bytes).unwrap()
    }

    fn assert_same(streamed: &ChannelStats, decoded: &ChannelStats) {
        let close = |a: f64, b: f64| {
            (a - b).abs() <= 1e-12 * a.abs().max(1.0) || (a.is_nan() && b.is_nan())
        };
        assert_eq!(
            (
                streamed.count,
                streamed.skipped,
                streamed.min.to_bits(),
                streamed.max.to_bits()
            ),
            (
                decoded.count,
                decoded.skipped,
                decoded.min.to_bits(),
                decoded.max.to_bits()
            )
        );
        assert_eq!(
            streamed.median.to_bits(),
            decoded.median.to_bits(),
            "median"
        );
        let bits = |s: &ChannelStats| -> Vec<(u64, u64)> {
            s.percentiles
                .iter()
                .map(|(p, v)| (p.to_bits(), v.to_bits()))
                .collect()
        };
        assert_eq!(bits(streamed), bits(decoded), "percentiles");
        assert!(
            close(streamed.mean, decoded.mean),
            "{} {}",
            streamed.mean,
            decoded.mean
        );
        assert!(
            close(streamed.std, decoded.std),
            "{} {}",
            streamed.std,
            decoded.std
        );
    }

    #[test]
    fn agrees_with_the_decoded_summary() {
        let mut x = 7u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let events = 200_000;
        let columns = vec![
            // Spread over many octaves, both signs.
            (0..events)
                .map(|_| (next() - 0.3) * 10f64.powf(next() * 8.0))
                .collect::<Vec<_>>(),
            // Few distinct values: whole buckets of ties.
            (0..events).map(|_| (next() * 4.0).floor()).collect(),
            // One value.
            vec![3.5; events],
            // Not-finite values among them.
            (0..events)
                .map(|i| if i % 7 == 0 { f64::NAN } else { next() * 1e5 })
                .collect(),
            (0..events).map(|_| f64::INFINITY).collect(),
        ];
        let file = file_of(&columns);
        let dataset = file.first();
        let percentiles = [0.0, 5.0, 33.3, 95.0, 100.0];
        let streamed = dataset_stats(dataset, &[0, 1, 2, 3, 4], &percentiles).unwrap();
        let decoded = dataset.columns_raw().unwrap();
        for (c, s) in streamed.iter().enumerate() {
            assert_same(s, &channel_stats(&decoded.data[c], &percentiles));
        }
        // A selection, in the order asked.
        let picked = dataset_stats(dataset, &[3, 0], &[50.0]).unwrap();
        assert_same(&picked[0], &channel_stats(&decoded.data[3], &[50.0]));
        assert_same(&picked[1], &channel_stats(&decoded.data[0], &[50.0]));
    }

    #[test]
    fn buckets_keep_the_order_of_values() {
        let values = [
            f64::MIN,
            -1e30,
            -2.5,
            -1.0,
            -1e-30,
            -0.0,
            0.0,
            1e-40,
            1e-30,
            1.0,
            1.0001,
            2.5,
            1e30,
            f64::MAX,
        ];
        for pair in values.windows(2) {
            assert!(bucket(pair[0]) <= bucket(pair[1]), "{pair:?}");
        }
    }
}
