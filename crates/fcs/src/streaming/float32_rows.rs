//! The one read of [`super::dataset_stats`] for packed float32 events, what cytometers write
//! today, with the channels as SIMD lanes.
//!
//! The general read decodes each block into one `f64` column per channel and passes over
//! each column several times. Packed float32 events need no decoding: an event of P values
//! is read as groups of eight lanes straight from the file's bytes (the last group ends at
//! the event's end and overlaps the one before it), and every figure is kept per lane. A
//! block's events are folded one group at a time, the group's running figures in registers:
//! sums around the guessed mean in `f64`, min and max, then each band's counts and the
//! values inside it (found by a lane mask, a few percent of them). Nothing is written per
//! value but those kept values.
//!
//! Not-finite values are rare, and skipping them costs a lane more than it is worth. A lane
//! only notes that its block held one; that channel's block is then read again by the
//! general path ([`Tally::add`]), which skips them, its kept values of the block dropped
//! first.
//!
//! The lanes are AVX2 registers, used when the processor has AVX2 and FMA; elsewhere
//! [`scan`] answers `None` and the general read runs.

use super::Tally;
use crate::dataset::Dataset;
use crate::error::Result;

/// Channels per group: eight float32 values fill an AVX2 register.
const LANES: usize = 8;
/// Events whose figures are folded together before joining the task's: few enough that a
/// lane's `u32` counts cannot overflow and that the block stays in cache for each group's
/// pass over it.
const BLOCK_EVENTS: usize = 1024;

/// Where each group of lanes reads, and what it compares against.
struct Plan {
    /// Values per event.
    channels: usize,
    big_endian: bool,
    /// Per group: the channel of its first lane. Groups of 8 from 0, and when P is not a
    /// multiple of 8 a last group at P − 8 (its lanes already read by the group before
    /// are not selected and never read from).
    starts: Vec<usize>,
    /// Per group and lane: the channel's place among the selected channels, if the lane is
    /// where the channel's figures are read.
    slots: Vec<[Option<usize>; LANES]>,
    /// Per group and lane: the guessed mean the lane sums around.
    shift: Vec<[f64; LANES]>,
    /// `[band][group]`: each lane's channel's `band`-th band's ends. NaN where there is no
    /// such band, so no comparison holds; `high` is NaN too when it equals `low` (the
    /// general path counts ties at `high` only when it lies above `low`).
    low: Vec<Vec<[f32; LANES]>>,
    high: Vec<Vec<[f32; LANES]>>,
}

impl Plan {
    /// `None` when the events are not packed float32, have fewer than 8 channels, a band's
    /// end is not a float32 value (only values of the file are, and infinities) or a
    /// channel is selected twice: the general read then runs.
    fn new(dataset: &Dataset, selected: &[usize], guesses: &[Tally]) -> Option<Plan> {
        let big_endian = dataset.packed_float32()?;
        let channels = dataset.parameters().len();
        if channels < LANES {
            return None;
        }
        let mut starts: Vec<usize> = (0..channels / LANES).map(|g| g * LANES).collect();
        if channels % LANES != 0 {
            starts.push(channels - LANES);
        }
        let groups = starts.len();
        let bands = guesses.iter().map(|t| t.bands.len()).max().unwrap_or(0);
        let mut plan = Plan {
            channels,
            big_endian,
            starts,
            slots: vec![[None; LANES]; groups],
            shift: vec![[0.0; LANES]; groups],
            low: vec![vec![[f32::NAN; LANES]; groups]; bands],
            high: vec![vec![[f32::NAN; LANES]; groups]; bands],
        };
        for (k, (&c, tally)) in selected.iter().zip(guesses).enumerate() {
            let (g, i) = plan.lane(c)?;
            if plan.slots[g][i].replace(k).is_some() {
                return None;
            }
            plan.shift[g][i] = tally.moments.shift;
            let exact = |v: f64| (v as f32 as f64 == v).then_some(v as f32);
            for (b, band) in tally.bands.iter().enumerate() {
                plan.low[b][g][i] = exact(band.low)?;
                plan.high[b][g][i] = if band.high > band.low {
                    exact(band.high)?
                } else {
                    f32::NAN
                };
            }
        }
        Some(plan)
    }

    /// The group and lane where channel `c`'s figures are read.
    fn lane(&self, c: usize) -> Option<(usize, usize)> {
        if c >= self.channels {
            return None;
        }
        let full = self.channels / LANES;
        Some(if c < full * LANES {
            (c / LANES, c % LANES)
        } else {
            (full, c - (self.channels - LANES))
        })
    }

    fn bands(&self) -> usize {
        self.low.len()
    }

    fn event_bytes(&self) -> usize {
        4 * self.channels
    }
}

/// One group's figures over one block, per lane.
#[derive(Default, Clone, Copy)]
struct Figures {
    sum: [f64; LANES],
    squares: [f64; LANES],
    min: [f32; LANES],
    max: [f32; LANES],
    /// Non-zero where the lane met an infinity or a NaN.
    not_finite: [u32; LANES],
}

/// One group's counts for one band over one block, per lane, as [`super::Band`]'s fields.
#[derive(Default, Clone, Copy)]
struct Counts {
    below: [u32; LANES],
    at_low: [u32; LANES],
    at_high: [u32; LANES],
}

/// The tallies of each task of `dataset`'s events, as [`Dataset::scan`] would leave them
/// (`guesses`, one per selected channel, folded over the task's events); `None` when the
/// events or the processor do not suit this read.
pub(super) fn scan(
    dataset: &Dataset,
    selected: &[usize],
    guesses: &[Tally],
) -> Option<Result<Vec<Vec<Tally>>>> {
    let fold = simd::folder()?;
    let plan = Plan::new(dataset, selected, guesses)?;
    let task = || Task {
        tallies: guesses.to_vec(),
        figures: vec![Figures::default(); plan.starts.len()],
        counts: vec![vec![Counts::default(); plan.starts.len()]; plan.bands()],
        kept: Kept::new(),
        kept_before: vec![Vec::new(); guesses.len()],
    };
    let tasks = dataset.scan_rows(task, |task, run| {
        let Task {
            tallies,
            figures,
            counts,
            kept,
            kept_before,
        } = task;
        for band in tallies.iter_mut().flat_map(|t| &mut t.bands) {
            band.reserve_for_task();
        }
        for rows in run.chunks(BLOCK_EVENTS * plan.event_bytes()) {
            for (before, tally) in kept_before.iter_mut().zip(tallies.iter()) {
                before.clear();
                before.extend(tally.bands.iter().map(|b| b.inside.len()));
            }
            fold(rows, &plan, figures, counts, tallies, kept);
            settle(
                dataset,
                rows,
                selected,
                &plan,
                (figures, counts),
                tallies,
                kept_before,
            );
        }
    })?;
    Some(tasks.map(|tasks| tasks.into_iter().map(|task| task.tallies).collect()))
}

/// One task's tallies, and the room its blocks are folded in.
struct Task {
    tallies: Vec<Tally>,
    figures: Vec<Figures>,
    counts: Vec<Vec<Counts>>,
    kept: Kept,
    /// Per channel, how many values each band held before the block: what a block read again
    /// through the general path truncates back to. Refilled for every block, allocated once.
    kept_before: Vec<Vec<usize>>,
}

/// Folds a block's figures into the task's tallies; a channel that met a not-finite value
/// reads the block again through the general path instead.
fn settle(
    dataset: &Dataset,
    rows: &[u8],
    selected: &[usize],
    plan: &Plan,
    (figures, counts): (&[Figures], &[Vec<Counts>]),
    tallies: &mut [Tally],
    kept_before: &[Vec<usize>],
) {
    let events = rows.len() / plan.event_bytes();
    for (k, (&c, tally)) in selected.iter().zip(tallies.iter_mut()).enumerate() {
        let Some((g, i)) = plan.lane(c) else { continue };
        let lane = &figures[g];
        if lane.not_finite[i] != 0 {
            for (band, &kept) in tally.bands.iter_mut().zip(&kept_before[k]) {
                band.inside.truncate(kept);
            }
            let mut column = [Vec::new()];
            dataset.decode_rows_into(rows, &[c], &mut column);
            tally.add(&column[0]);
            continue;
        }
        tally.moments.add_sums(
            events,
            0,
            (lane.sum[i], lane.squares[i]),
            (f64::from(lane.min[i]), f64::from(lane.max[i])),
        );
        for (band, counts) in tally.bands.iter_mut().zip(counts) {
            band.below += counts[g].below[i] as usize;
            band.at_low += counts[g].at_low[i] as usize;
            band.at_high += counts[g].at_high[i] as usize;
        }
    }
}

/// Room for one group's values inside one band over a block, and their lanes.
struct Kept {
    values: Vec<f32>,
    lanes: Vec<u32>,
}

impl Kept {
    fn new() -> Kept {
        // Every value of the block, and one group's worth more: each step writes a whole
        // group and keeps only its first lanes.
        let room = (BLOCK_EVENTS + 1) * LANES;
        Kept {
            values: vec![0.0; room],
            lanes: vec![0; room],
        }
    }
}

/// Folds a block into each group's figures and each band's counts, and the values inside
/// bands into the tallies (through `Kept`).
type Fold = fn(&[u8], &Plan, &mut [Figures], &mut [Vec<Counts>], &mut [Tally], &mut Kept);

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd {
    //! The AVX2 passes. Every `unsafe` here is a load or store of 32 bytes from or into a
    //! slice checked to hold them, or the call of the AVX2 code once the processor was
    //! found to have AVX2 and FMA.

    use std::arch::x86_64::*;

    use super::{Counts, Figures, Fold, Kept, Plan, Tally, LANES};

    /// The AVX2 fold, when the processor has AVX2 and FMA.
    pub(super) fn folder() -> Option<Fold> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(fold)
    }

    fn fold(
        rows: &[u8],
        plan: &Plan,
        figures: &mut [Figures],
        counts: &mut [Vec<Counts>],
        tallies: &mut [Tally],
        kept: &mut Kept,
    ) {
        // SAFETY: `folder` hands out this function only where AVX2 and FMA were detected.
        unsafe { fold_avx2(rows, plan, figures, counts, tallies, kept) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn fold_avx2(
        rows: &[u8],
        plan: &Plan,
        figures: &mut [Figures],
        counts: &mut [Vec<Counts>],
        tallies: &mut [Tally],
        kept: &mut Kept,
    ) {
        let stride = plan.event_bytes();
        for (g, &start) in plan.starts.iter().enumerate() {
            let groups = rows
                .chunks_exact(stride)
                .map(|event| load(&event[4 * start..4 * start + 32], plan.big_endian));
            figures[g] = moments(groups.clone(), &plan.shift[g]);
            for (b, band_counts) in counts.iter_mut().enumerate() {
                let ends = (&plan.low[b][g], &plan.high[b][g]);
                let (found, inside) = band(groups.clone(), ends, kept);
                band_counts[g] = found;
                for (&i, &value) in kept.lanes[..inside].iter().zip(&kept.values) {
                    if let Some(k) = plan.slots[g][i as usize] {
                        tallies[k].bands[b].inside.push(f64::from(value));
                    }
                }
            }
        }
    }

    /// Eight float32 values from 32 bytes, in native order.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn load(bytes: &[u8], big_endian: bool) -> __m256 {
        assert!(bytes.len() >= 32);
        // SAFETY: 32 bytes, checked above; an unaligned load.
        let values = unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) };
        let values = if big_endian {
            let swap = _mm256_setr_epi8(
                3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11,
                10, 9, 8, 15, 14, 13, 12,
            );
            _mm256_shuffle_epi8(values, swap)
        } else {
            values
        };
        _mm256_castsi256_ps(values)
    }

    /// Sums around the shift of one group's lanes: low and high four as `f64`.
    #[derive(Clone, Copy)]
    struct Sums {
        low: __m256d,
        high: __m256d,
        squares_low: __m256d,
        squares_high: __m256d,
    }

    impl Sums {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn zero() -> Sums {
            let zero = _mm256_setzero_pd();
            Sums {
                low: zero,
                high: zero,
                squares_low: zero,
                squares_high: zero,
            }
        }

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn add(&mut self, x: __m256, (shift_low, shift_high): (__m256d, __m256d)) {
            let low = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), shift_low);
            let high = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)), shift_high);
            self.low = _mm256_add_pd(self.low, low);
            self.high = _mm256_add_pd(self.high, high);
            self.squares_low = _mm256_fmadd_pd(low, low, self.squares_low);
            self.squares_high = _mm256_fmadd_pd(high, high, self.squares_high);
        }

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn plus(self, other: Sums) -> Sums {
            Sums {
                low: _mm256_add_pd(self.low, other.low),
                high: _mm256_add_pd(self.high, other.high),
                squares_low: _mm256_add_pd(self.squares_low, other.squares_low),
                squares_high: _mm256_add_pd(self.squares_high, other.squares_high),
            }
        }
    }

    /// One group's figures over the block. Events alternate between two sets of sums: each
    /// addition waits for the one before it into the same register, so one set would leave
    /// the processor idle between them.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn moments(mut groups: impl Iterator<Item = __m256>, shift: &[f64; LANES]) -> Figures {
        let shift = (f64s(&shift[..4]), f64s(&shift[4..]));
        let exponent = _mm256_set1_epi32(0x7f80_0000);
        let (mut even, mut odd) = (Sums::zero(), Sums::zero());
        let mut min = _mm256_set1_ps(f32::INFINITY);
        let mut max = _mm256_set1_ps(f32::NEG_INFINITY);
        let mut not_finite = _mm256_setzero_si256();
        let mut fold = |x: __m256, sums: &mut Sums| {
            sums.add(x, shift);
            min = _mm256_min_ps(x, min);
            max = _mm256_max_ps(x, max);
            let bits = _mm256_and_si256(_mm256_castps_si256(x), exponent);
            not_finite = _mm256_or_si256(not_finite, _mm256_cmpeq_epi32(bits, exponent));
        };
        while let Some(x) = groups.next() {
            fold(x, &mut even);
            let Some(x) = groups.next() else { break };
            fold(x, &mut odd);
        }
        let sums = even.plus(odd);
        let mut figures = Figures::default();
        store_f64s(&mut figures.sum, sums.low, sums.high);
        store_f64s(&mut figures.squares, sums.squares_low, sums.squares_high);
        store_f32s(&mut figures.min, min);
        store_f32s(&mut figures.max, max);
        store_u32s(&mut figures.not_finite, not_finite);
        figures
    }

    /// One band's counts for a group over the block, and how many of `kept`'s first
    /// entries it filled with the values inside the band and their lanes. The values are
    /// kept without a branch: they pass at random, and a branch would mispredict on a good
    /// share of events. Each step packs the group's passing lanes to the front
    /// ([`PACK`]), writes all eight, and advances past the passing ones.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn band(
        groups: impl Iterator<Item = __m256>,
        (low, high): (&[f32; LANES], &[f32; LANES]),
        kept: &mut Kept,
    ) -> (Counts, usize) {
        let mut filled = 0;
        let (low, high) = (f32s(low), f32s(high));
        let mut below = _mm256_setzero_si256();
        let mut at_low = _mm256_setzero_si256();
        let mut at_high = _mm256_setzero_si256();
        for x in groups {
            // A comparison that holds is all ones, −1: subtracting it counts one.
            let count = |counted, mask| _mm256_sub_epi32(counted, _mm256_castps_si256(mask));
            below = count(below, _mm256_cmp_ps::<_CMP_LT_OQ>(x, low));
            at_low = count(at_low, _mm256_cmp_ps::<_CMP_EQ_OQ>(x, low));
            at_high = count(at_high, _mm256_cmp_ps::<_CMP_EQ_OQ>(x, high));
            let inside = _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(low, x),
                _mm256_cmp_ps::<_CMP_LT_OQ>(x, high),
            );
            let passing = _mm256_movemask_ps(inside) as usize;
            let lanes = &PACK[passing];
            let order = load_u32s(lanes);
            store_f32s(
                &mut kept.values[filled..filled + LANES],
                _mm256_permutevar8x32_ps(x, order),
            );
            kept.lanes[filled..filled + LANES].copy_from_slice(lanes);
            filled += passing.count_ones() as usize;
        }
        let mut counts = Counts::default();
        store_u32s(&mut counts.below, below);
        store_u32s(&mut counts.at_low, at_low);
        store_u32s(&mut counts.at_high, at_high);
        (counts, filled)
    }

    /// Per mask of lanes: those lanes in order, then zeros. The lane order that packs the
    /// mask's lanes to the front of a register.
    const PACK: [[u32; LANES]; 1 << LANES] = {
        let mut table = [[0; LANES]; 1 << LANES];
        let mut mask = 0;
        while mask < 1 << LANES {
            let (mut lane, mut packed) = (0, 0);
            while lane < LANES {
                if mask & (1 << lane) != 0 {
                    table[mask][packed] = lane as u32;
                    packed += 1;
                }
                lane += 1;
            }
            mask += 1;
        }
        table
    };

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn load_u32s(values: &[u32; LANES]) -> __m256i {
        // SAFETY: `values` holds 8 u32s (32 bytes); an unaligned load.
        unsafe { _mm256_loadu_si256(values.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn f64s(values: &[f64]) -> __m256d {
        _mm256_setr_pd(values[0], values[1], values[2], values[3])
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn f32s(values: &[f32; LANES]) -> __m256 {
        let [a, b, c, d, e, f, g, h] = *values;
        _mm256_setr_ps(a, b, c, d, e, f, g, h)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn store_f64s(out: &mut [f64; LANES], low: __m256d, high: __m256d) {
        // SAFETY: `out` holds 8 f64s: 4 from its start, 4 from its middle; unaligned stores.
        unsafe {
            _mm256_storeu_pd(out.as_mut_ptr(), low);
            _mm256_storeu_pd(out.as_mut_ptr().add(4), high);
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn store_f32s(out: &mut [f32], values: __m256) {
        assert!(out.len() >= LANES);
        // SAFETY: `out` holds 8 f32s, checked above; an unaligned store.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), values) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn store_u32s(out: &mut [u32; LANES], values: __m256i) {
        // SAFETY: `out` holds 8 u32s (32 bytes); an unaligned store.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), values) }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod simd {
    use super::Fold;

    /// No SIMD read here: the general read runs.
    pub(super) fn folder() -> Option<Fold> {
        None
    }
}
