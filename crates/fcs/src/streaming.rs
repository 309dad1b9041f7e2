//! Statistics straight from the DATA segment, without a column of `f64` per channel.
//!
//! [`crate::stats::channel_stats`] summarises a decoded column. Decoding a million events of
//! 26 float32 channels into columns takes 208 MB for a 104 MB file, and a comparison-based
//! selection over every value for each median. A summary needs neither. [`dataset_stats`]
//! reads the file a block of events at a time ([`Dataset::scan`]), one block per worker, and
//! usually only once:
//!
//! 1. **Guess.** A sample of the events (64 runs of 256 spread over the file) gives each
//!    wanted quantile a *band*: the sample's values a few standard errors of rank below and
//!    above it. The true quantile lies inside its band unless the sample misled.
//! 2. **Tally, one read.** Count, min, max, and mean and sum of squared deviations, which
//!    each block computes in two passes while it is in cache (accurate) and merges into the
//!    running figures with Chan, Golub & LeVeque's update. Per band: how many values lie
//!    below it, how many on each of its ends (ties need no storing), and the values strictly
//!    inside it — a few percent of the data.
//! 3. **Resolve.** The exact counts say which rank each band holds. A rank inside its band
//!    is found by selection among the band's values: exact, whatever the sample was.
//! 4. **Fall back** for a channel whose sample misled (a rank outside every band): a radix
//!    selection on the float bits, two more reads of that channel. The first counts values
//!    in 4,096 buckets by the top bits of their float32 bits ordered as integers (sign,
//!    exponent, three mantissa bits): that order is the values' order, so counting up the
//!    buckets tells which one holds each rank. The second keeps the values of those buckets
//!    only, and selection among them finds each rank.
//!
//! Results are those of `channel_stats`: min, max, median and percentiles the same values,
//! mean and standard deviation equal up to rounding order (~1e-15 relative).

use rayon::prelude::*;

use crate::dataset::{Dataset, SCAN_TASK_EVENTS};
use crate::error::Result;
use crate::stats::{select_ranks, ChannelStats, Ranks};

mod float32_rows;

/// The sample: runs of consecutive events spread evenly over the dataset (runs, not single
/// events, because decoding a run costs little more than decoding one event).
const SAMPLE_RUNS: usize = 64;
const SAMPLE_RUN_EVENTS: usize = 256;
/// A band reaches this many standard errors of the sample quantile's rank either side of it
/// (plus [`BAND_MARGIN`]): a sample misleads beyond that about once in 16,000 quantiles.
const BAND_ERRORS: f64 = 4.0;
/// Ranks added either side of a band, as a fraction of the sample: covers quantiles at the
/// very ends, where the standard error vanishes.
const BAND_MARGIN: f64 = 8.0;

/// Bits of a radix bucket: sign, 8 exponent bits and the top 3 mantissa bits of a float32.
const BUCKET_BITS: u32 = 12;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// Values per round of [`keep_between`]'s fixed buffer.
const SCAN_BLOCK: usize = 1024;

/// Summarises the `selected` parameters (0-based) of `dataset`'s raw values, with the
/// `percentiles` asked for (0..=100), reading the file as described in the module docs.
pub fn dataset_stats(
    dataset: &Dataset,
    selected: &[usize],
    percentiles: &[f64],
) -> Result<Vec<ChannelStats>> {
    let quantiles = wanted_quantiles(percentiles);
    let guesses: Vec<Tally> = sample(dataset, selected)?
        .into_par_iter()
        .map(|values| Tally::guess(values, &quantiles))
        .collect();
    let tasks = match float32_rows::scan(dataset, selected, &guesses) {
        Some(tasks) => tasks?,
        None => decoded_tallies(dataset, selected, &guesses)?,
    };
    let mut outcomes: Vec<std::result::Result<ChannelStats, Moments>> = transpose(tasks)
        .into_par_iter()
        .map(|parts| Tally::merge(parts).resolve(percentiles))
        .collect();
    let misled: Vec<usize> = (0..outcomes.len())
        .filter(|&k| outcomes[k].is_err())
        .collect();
    if !misled.is_empty() {
        let channels: Vec<usize> = misled.iter().map(|&k| selected[k]).collect();
        let moments: Vec<Moments> = misled
            .iter()
            .filter_map(|&k| outcomes[k].as_ref().err().cloned())
            .collect();
        for (k, stats) in misled
            .into_iter()
            .zip(radix(dataset, &channels, moments, percentiles)?)
        {
            outcomes[k] = Ok(stats);
        }
    }
    Ok(outcomes.into_iter().filter_map(|o| o.ok()).collect())
}

/// The read of step 2 through decoded columns, for any layout: per task, `guesses` folded
/// over its events.
fn decoded_tallies(
    dataset: &Dataset,
    selected: &[usize],
    guesses: &[Tally],
) -> Result<Vec<Vec<Tally>>> {
    dataset.scan(
        selected,
        || guesses.to_vec(),
        |tallies, block| {
            for (tally, values) in tallies.iter_mut().zip(block) {
                tally.add(values);
            }
        },
    )
}

/// Every quantile a summary reads, as a fraction: the median's and each percentile's.
fn wanted_quantiles(percentiles: &[f64]) -> Vec<f64> {
    let mut quantiles = vec![0.5];
    quantiles.extend(percentiles.iter().map(|&p| {
        if p.is_nan() {
            0.0
        } else {
            p.clamp(0.0, 100.0) / 100.0
        }
    }));
    quantiles
}

/// The finite values of the sample events, one vector per selected channel.
fn sample(dataset: &Dataset, selected: &[usize]) -> Result<Vec<Vec<f64>>> {
    let events = dataset.event_count();
    // Small datasets, and those whose events cannot be found without reading all before
    // them, are sampled whole: one run from 0.
    let whole = events <= SAMPLE_RUNS * SAMPLE_RUN_EVENTS || !dataset.has_fixed_width_events();
    let (count, stride, length) = if whole {
        (1, 0, events)
    } else {
        (SAMPLE_RUNS, events / SAMPLE_RUNS, SAMPLE_RUN_EVENTS)
    };
    let runs = (0..count).map(|r| r * stride..r * stride + length);
    let mut sample = vec![Vec::new(); selected.len()];
    for run in runs {
        let columns = dataset.columns_raw_range(run)?;
        for (values, &c) in sample.iter_mut().zip(selected) {
            values.extend(columns.data[c].iter().copied().filter(|v| v.is_finite()));
        }
    }
    Ok(sample)
}

/// Per-task lists of per-channel items, regrouped per channel (in task order).
fn transpose<T>(tasks: Vec<Vec<T>>) -> Vec<Vec<T>> {
    let mut channels: Vec<Vec<T>> = Vec::new();
    for task in tasks {
        for (c, item) in task.into_iter().enumerate() {
            if channels.len() <= c {
                channels.push(Vec::new());
            }
            channels[c].push(item);
        }
    }
    channels
}

/// Count, skipped, min, max, mean and squared deviations of one channel.
#[derive(Debug, Clone)]
struct Moments {
    count: usize,
    skipped: usize,
    min: f64,
    max: f64,
    mean: f64,
    /// Sum of squared deviations from `mean`.
    m2: f64,
    /// A guess of the mean (the sample's) that blocks' sums are taken around.
    shift: f64,
}

impl Moments {
    /// No values yet; blocks will be summed around `shift`.
    fn around(shift: f64) -> Moments {
        Moments {
            count: 0,
            skipped: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
            shift: if shift.is_finite() { shift } else { 0.0 },
        }
    }

    /// Folds in one block of values; not-finite ones are skipped and counted.
    fn add(&mut self, values: &[f64]) {
        let (count, sum, squares, min, max) = shifted_sums(values, self.shift);
        self.add_sums(count, values.len() - count, (sum, squares), (min, max));
    }

    /// Folds in one block given as `count` finite values (and `skipped` others), the sums of
    /// their differences from `shift` and of their squares, and their min and max.
    fn add_sums(
        &mut self,
        count: usize,
        skipped: usize,
        (sum, squares): (f64, f64),
        (min, max): (f64, f64),
    ) {
        self.skipped += skipped;
        if count == 0 {
            return;
        }
        let offset = sum / count as f64;
        self.merge(&Moments {
            count,
            min,
            max,
            mean: self.shift + offset,
            m2: (squares - sum * offset).max(0.0),
            ..Moments::around(self.shift)
        });
    }

    /// Folds in the figures of the values after these (Chan, Golub & LeVeque for the mean and
    /// squared deviations of two parts).
    fn merge(&mut self, other: &Moments) {
        self.skipped += other.skipped;
        if other.count == 0 {
            return;
        }
        let total = self.count + other.count;
        let delta = other.mean - self.mean;
        let share = other.count as f64 / total as f64;
        self.mean += delta * share;
        self.m2 += other.m2 + delta * delta * self.count as f64 * share;
        self.count = total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The summary, given the values at `ranks.wanted()`.
    fn summary(&self, ranks: &Ranks, at_ranks: &[f64]) -> ChannelStats {
        let (median, percentiles) = ranks.finish(at_ranks);
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

/// A range of values guessed to hold a quantile, and what one read found of it.
#[derive(Debug, Clone)]
struct Band {
    low: f64,
    high: f64,
    /// Finite values below `low`.
    below: usize,
    /// Values equal to `low`, and to `high` when it is not `low`: ties are counted, not kept.
    at_low: usize,
    at_high: usize,
    /// Values strictly between `low` and `high`.
    inside: Vec<f64>,
    /// The share of values the sample put inside, to size `inside` once per task.
    share: f64,
}

impl Band {
    /// The bands of one channel from its sample values: one around each quantile, merged
    /// where they overlap, in ascending order.
    fn guess(mut sample: Vec<f64>, quantiles: &[f64]) -> Vec<Band> {
        if sample.is_empty() {
            return Vec::new();
        }
        let m = sample.len() as f64;
        let last = sample.len() - 1;
        let mut at = |q: f64| {
            let rank = ((q * (m - 1.0)).round() as usize).min(last);
            *sample.select_nth_unstable_by(rank, f64::total_cmp).1
        };
        let mut ranges = Vec::with_capacity(quantiles.len());
        for &q in quantiles {
            let reach = BAND_ERRORS * (q * (1.0 - q) / m).sqrt() + BAND_MARGIN / m;
            let low = if q - reach <= 0.0 {
                f64::NEG_INFINITY
            } else {
                at(q - reach)
            };
            let high = if q + reach >= 1.0 {
                f64::INFINITY
            } else {
                at(q + reach)
            };
            ranges.push((low, high, 2.0 * reach));
        }
        ranges.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, f64, f64)> = Vec::with_capacity(ranges.len());
        for (low, high, share) in ranges {
            match merged.last_mut() {
                Some(last) if low <= last.1 => {
                    last.1 = last.1.max(high);
                    last.2 += share;
                }
                _ => merged.push((low, high, share)),
            }
        }
        merged
            .into_iter()
            .map(|(low, high, share)| Band {
                share,
                low,
                high,
                below: 0,
                at_low: 0,
                at_high: 0,
                inside: Vec::new(),
            })
            .collect()
    }

    /// Counts and keeps one block's values.
    fn add(&mut self, values: &[f64]) {
        self.reserve_for_task();
        let (below, at_low, at_high) = band_counts(values, self.low, self.high);
        self.below += below;
        self.at_low += at_low;
        self.at_high += at_high;
        keep_between(values, self.low, self.high, &mut self.inside);
    }

    /// Makes room for the values a task is expected to keep, once: a task's worth, with a
    /// quarter to spare (growing by doubling would waste up to half).
    fn reserve_for_task(&mut self) {
        if self.inside.capacity() == 0 {
            let expected = self.share.min(1.0) * SCAN_TASK_EVENTS as f64 * 1.25;
            self.inside.reserve(expected as usize);
        }
    }

    /// Ranks `[first, end)` of the channel's sorted finite values that this band holds.
    fn ranks(&self) -> std::ops::Range<usize> {
        self.below..self.below + self.at_low + self.inside.len() + self.at_high
    }
}

/// One channel's figures from one read: its moments and its bands.
#[derive(Debug, Clone)]
struct Tally {
    moments: Moments,
    bands: Vec<Band>,
}

impl Tally {
    /// Nothing read yet, with bands and a mean guessed from `sample` (finite values).
    fn guess(sample: Vec<f64>, quantiles: &[f64]) -> Tally {
        let shift = sample.iter().sum::<f64>() / sample.len().max(1) as f64;
        Tally {
            moments: Moments::around(shift),
            bands: Band::guess(sample, quantiles),
        }
    }

    fn add(&mut self, values: &[f64]) {
        self.moments.add(values);
        for band in &mut self.bands {
            band.add(values);
        }
    }

    /// The tallies of consecutive parts of the events, as one.
    fn merge(parts: Vec<Tally>) -> Tally {
        let mut parts = parts.into_iter();
        let Some(mut all) = parts.next() else {
            return Tally::guess(Vec::new(), &[]);
        };
        let rest: Vec<Tally> = parts.collect();
        for (b, band) in all.bands.iter_mut().enumerate() {
            band.inside
                .reserve_exact(rest.iter().map(|t| t.bands[b].inside.len()).sum());
        }
        for part in rest {
            all.moments.merge(&part.moments);
            for (band, theirs) in all.bands.iter_mut().zip(part.bands) {
                band.below += theirs.below;
                band.at_low += theirs.at_low;
                band.at_high += theirs.at_high;
                band.inside.extend(theirs.inside);
            }
        }
        all
    }

    /// The summary, when every wanted rank fell inside a band; else the moments, for the
    /// radix fallback.
    fn resolve(mut self, percentiles: &[f64]) -> std::result::Result<ChannelStats, Moments> {
        let n = self.moments.count;
        if n == 0 {
            return Ok(ChannelStats::empty(self.moments.skipped, percentiles));
        }
        let ranks = Ranks::new(n, percentiles);
        let mut at_ranks = Vec::with_capacity(ranks.wanted().len());
        for band in &mut self.bands {
            let held = band.ranks();
            let within: Vec<usize> = ranks
                .wanted()
                .iter()
                .filter(|r| held.contains(r))
                .map(|r| r - held.start)
                .collect();
            // Ranks inside the kept values, which selection finds; the ends are the ties.
            let inner_start = band.at_low;
            let inner_end = band.at_low + band.inside.len();
            let inner: Vec<usize> = within
                .iter()
                .filter(|&&k| (inner_start..inner_end).contains(&k))
                .map(|k| k - inner_start)
                .collect();
            let mut selected = select_ranks(&mut band.inside, &inner).into_iter();
            for k in within {
                at_ranks.push(if k < inner_start {
                    band.low
                } else if k < inner_end {
                    selected.next().unwrap_or(f64::NAN)
                } else {
                    band.high
                });
            }
        }
        if at_ranks.len() == ranks.wanted().len() {
            Ok(self.moments.summary(&ranks, &at_ranks))
        } else {
            Err(self.moments)
        }
    }
}

/// The radix selection for channels whose sample misled; see the module docs.
fn radix(
    dataset: &Dataset,
    channels: &[usize],
    moments: Vec<Moments>,
    percentiles: &[f64],
) -> Result<Vec<ChannelStats>> {
    let counted = dataset.scan(
        channels,
        || vec![vec![0u32; BUCKETS]; channels.len()],
        |buckets, block| {
            for (buckets, values) in buckets.iter_mut().zip(block) {
                for &v in values.iter().filter(|v| v.is_finite()) {
                    buckets[bucket(v)] += 1;
                }
            }
        },
    )?;
    let plans: Vec<Plan> = transpose(counted)
        .into_iter()
        .zip(&moments)
        .map(|(parts, moments)| {
            let mut buckets = vec![0usize; BUCKETS];
            for part in parts {
                for (all, count) in buckets.iter_mut().zip(part) {
                    *all += count as usize;
                }
            }
            Plan::new(&buckets, moments.count, percentiles)
        })
        .collect();
    let kept = dataset.scan(
        channels,
        || vec![Vec::new(); channels.len()],
        |kept: &mut Vec<Vec<f64>>, block| {
            for ((kept, values), plan) in kept.iter_mut().zip(block).zip(&plans) {
                plan.keep(values, kept);
            }
        },
    )?;
    Ok(transpose(kept)
        .into_par_iter()
        .zip(plans)
        .zip(moments)
        .map(|((parts, plan), moments)| {
            let mut kept: Vec<f64> = parts.concat();
            moments.summary(&plan.ranks, &select_ranks(&mut kept, &plan.kept_ranks))
        })
        .collect())
}

/// Which radix buckets the second read keeps, and where each wanted rank falls among the
/// kept values.
struct Plan {
    ranks: Ranks,
    /// One bit per bucket to keep.
    keep: Vec<u64>,
    /// Each wanted rank as a rank among the kept values (ascending, like `ranks.wanted()`).
    kept_ranks: Vec<usize>,
}

impl Plan {
    /// `count` finite values, counted into `buckets` (`count > 0`).
    fn new(buckets: &[usize], count: usize, percentiles: &[f64]) -> Plan {
        let ranks = Ranks::new(count, percentiles);
        let mut keep = vec![0u64; BUCKETS / 64];
        // Walk the buckets once: the values below each bucket, and among them the kept ones.
        let (mut below, mut kept_below, mut wanted) = (0usize, 0usize, ranks.wanted().iter());
        let mut next = wanted.next();
        let mut kept_ranks = Vec::with_capacity(ranks.wanted().len());
        for (b, &count) in buckets.iter().enumerate() {
            let end = below + count;
            let mut kept_here = false;
            while let Some(&rank) = next.filter(|&&r| r < end) {
                kept_here = true;
                kept_ranks.push(kept_below + (rank - below));
                next = wanted.next();
            }
            if kept_here {
                keep[b / 64] |= 1 << (b % 64);
                kept_below += count;
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

/// Appends the values strictly between `low` and `high` to `kept`, without a branch per value
/// (a few percent of values pass, at random: a branch would mispredict on each of them).
fn keep_between(values: &[f64], low: f64, high: f64, kept: &mut Vec<f64>) {
    let mut passed = [0.0; SCAN_BLOCK];
    for chunk in values.chunks(SCAN_BLOCK) {
        let mut n = 0;
        for &v in chunk {
            passed[n] = v;
            n += (low < v && v < high) as usize;
        }
        kept.extend_from_slice(&passed[..n]);
    }
}

/// Finite values below `low`, equal to `low`, and equal to `high` when `high > low`: counted
/// with [`LANES`] accumulators so the loop vectorises.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn band_counts(values: &[f64], low: f64, high: f64) -> (usize, usize, usize) {
    let distinct_high = high > low;
    let (mut below, mut at_low, mut at_high) = ([0u64; LANES], [0u64; LANES], [0u64; LANES]);
    let lanes = values.chunks_exact(LANES);
    let rest = lanes.remainder();
    let mut count = |i: usize, v: f64| {
        let finite = v.is_finite();
        below[i] += (finite & (v < low)) as u64;
        at_low[i] += (finite & (v == low)) as u64;
        at_high[i] += (finite & distinct_high & (v == high)) as u64;
    };
    for chunk in lanes {
        for (i, &v) in chunk.iter().enumerate() {
            count(i, v);
        }
    }
    for &v in rest {
        count(0, v);
    }
    let total = |lanes: [u64; LANES]| lanes.iter().sum::<u64>() as usize;
    (total(below), total(at_low), total(at_high))
}

/// Lanes of the sums below: independent accumulators the compiler keeps in SIMD registers.
const LANES: usize = 8;

/// Of the finite values: their count, the sum of their differences `d` from `shift` and of
/// `d²`, their min and max. [`LANES`] accumulators of each let the loop vectorise. With `shift`
/// near the mean, `Σd² − (Σd)²/n` is the sum of squared deviations without the cancellation
/// that ruins `Σx² − n·mean²`, in one pass instead of two.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn shifted_sums(values: &[f64], shift: f64) -> (usize, f64, f64, f64, f64) {
    let mut count = [0u64; LANES];
    let mut sum = [0.0; LANES];
    let mut squares = [0.0; LANES];
    let mut min = [f64::INFINITY; LANES];
    let mut max = [f64::NEG_INFINITY; LANES];
    let mut add = |i: usize, v: f64| {
        let finite = v.is_finite();
        let d = if finite { v - shift } else { 0.0 };
        count[i] += finite as u64;
        sum[i] += d;
        squares[i] += d * d;
        min[i] = if finite && v < min[i] { v } else { min[i] };
        max[i] = if finite && v > max[i] { v } else { max[i] };
    };
    let lanes = values.chunks_exact(LANES);
    let rest = lanes.remainder();
    for chunk in lanes {
        for (i, &v) in chunk.iter().enumerate() {
            add(i, v);
        }
    }
    for &v in rest {
        add(0, v);
    }
    (
        count.iter().sum::<u64>() as usize,
        sum.iter().sum(),
        squares.iter().sum(),
        min.iter().copied().fold(f64::INFINITY, f64::min),
        max.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
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
        FcsFile::from_vec(bytes_of(columns)).unwrap()
    }

    fn bytes_of(columns: &[Vec<f64>]) -> Vec<u8> {
        let parameters: Vec<WriteParameter> = (0..columns.len())
            .map(|i| WriteParameter::new(format!("P{i}"), 1024.0))
            .collect();
        let mut bytes = Vec::new();
        write_fcs31(&mut bytes, &parameters, columns, &[] as &[(&str, &str)]).unwrap();
        bytes
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
    fn a_misleading_sample_falls_back_to_radix_selection() {
        // The sampled runs hold zeros; every other event a distinct larger value.
        let events = 100 * SAMPLE_RUNS * SAMPLE_RUN_EVENTS / 10;
        let stride = events / SAMPLE_RUNS;
        let values: Vec<f64> = (0..events)
            .map(|e| {
                if e % stride < SAMPLE_RUN_EVENTS {
                    0.0
                } else {
                    1000.0 + (e % 977) as f64
                }
            })
            .collect();
        let file = file_of(std::slice::from_ref(&values));
        let dataset = file.first();
        let percentiles = [5.0, 95.0];

        let sampled = sample(dataset, &[0]).unwrap().remove(0);
        let quantiles = wanted_quantiles(&percentiles);
        let tasks = dataset
            .scan(
                &[0],
                || vec![Tally::guess(sampled.clone(), &quantiles)],
                |t, block| t[0].add(&block[0]),
            )
            .unwrap();
        let tally = Tally::merge(transpose(tasks).remove(0));
        assert!(
            tally.resolve(&percentiles).is_err(),
            "the sample should mislead"
        );

        let streamed = dataset_stats(dataset, &[0], &percentiles).unwrap();
        assert_same(&streamed[0], &channel_stats(&values, &percentiles));
    }

    /// The float32 read against the decoded read, figure for figure: 13 channels (a last
    /// group overlapping the one before), several tasks, both byte orders, from memory and
    /// from the file, with ties at band ends, signed zeros, and blocks holding NaN and
    /// infinities.
    #[test]
    fn the_float32_read_finds_what_the_decoded_read_finds() {
        let mut x = 11u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let events = 3 * SCAN_TASK_EVENTS / 2 + 77;
        let mut columns: Vec<Vec<f64>> = (0..13)
            .map(|c| {
                (0..events)
                    .map(|_| match c % 4 {
                        0 => (next() - 0.3) * 10f64.powf(next() * 8.0),
                        1 => (next() * 5.0).floor() - 2.0,
                        2 => {
                            if next() < 0.5 {
                                -0.0
                            } else {
                                0.0
                            }
                        }
                        _ => next() * 1e5,
                    })
                    .collect()
            })
            .collect();
        for e in (0..events).step_by(7) {
            columns[3][e] = f64::NAN;
        }
        columns[7][5000] = f64::INFINITY;
        columns[12][70_000] = f64::NEG_INFINITY;
        let mut bytes = bytes_of(&columns);
        let file = FcsFile::from_vec(bytes.clone()).unwrap();
        let little = file.first();
        let big = FcsFile::from_vec(big_endian(&mut bytes)).unwrap();
        let on_disk = std::env::temp_dir().join(format!("tessera-fcs-{}.fcs", std::process::id()));
        std::fs::write(&on_disk, &bytes).unwrap();
        let scanned = FcsFile::open_for_scan(&on_disk).unwrap();
        std::fs::remove_file(&on_disk).unwrap();

        let quantiles = wanted_quantiles(&[0.0, 2.5, 50.0, 50.1, 97.5]);
        let selected = [12, 0, 3, 5, 7, 1, 2, 9, 10, 11];
        let sampled = sample(little, &selected).unwrap();
        let guesses: Vec<Tally> = sampled
            .into_iter()
            .map(|values| Tally::guess(values, &quantiles))
            .collect();
        let expected = merged(decoded_tallies(little, &selected, &guesses).unwrap());
        for dataset in [little, big.first(), scanned.first()] {
            let found = float32_rows::scan(dataset, &selected, &guesses)
                .expect("packed float32 on AVX2")
                .unwrap();
            assert_eq!(merged(found), expected);
        }
    }

    /// A file's DATA values byte-swapped and `$BYTEORD` turned to `4,3,2,1` (same length).
    fn big_endian(bytes: &mut [u8]) -> Vec<u8> {
        let data = FcsFile::from_bytes(bytes).unwrap().first().data_range();
        for value in bytes[data].chunks_exact_mut(4) {
            value.reverse();
        }
        let text = String::from_utf8_lossy(bytes).into_owned();
        let at = text.find("1,2,3,4").unwrap();
        bytes[at..at + 7].copy_from_slice(b"4,3,2,1");
        bytes.to_vec()
    }

    /// Per channel: count, skipped, min and max bits, and per band its counts and its sorted
    /// kept values' bits. (Sums differ in the order of additions only.)
    type Figures = Vec<(usize, usize, u64, u64, Vec<(usize, usize, usize, Vec<u64>)>)>;

    fn merged(tasks: Vec<Vec<Tally>>) -> Figures {
        transpose(tasks)
            .into_iter()
            .map(|parts| {
                let all = Tally::merge(parts);
                let m = &all.moments;
                let bands = all
                    .bands
                    .iter()
                    .map(|b| {
                        let mut kept: Vec<u64> = b.inside.iter().map(|v| v.to_bits()).collect();
                        kept.sort_unstable();
                        (b.below, b.at_low, b.at_high, kept)
                    })
                    .collect();
                (m.count, m.skipped, m.min.to_bits(), m.max.to_bits(), bands)
            })
            .collect()
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
