//! Counting values into equal-width bins, exactly as `numpy.histogram` and
//! `numpy.histogram2d` do, so a client comparing counts with numpy finds them equal.
//!
//! numpy's rules, kept here: the edges are `linspace(min, max, bins + 1)` (each
//! `min + i·(max − min)/bins`, the last exactly `max`); a value `v` falls in bin `i` when
//! `edges[i] ≤ v < edges[i + 1]`, except that `v == max` falls in the last bin; values outside
//! `[min, max]` and NaN are not counted (this module counts them apart, as underflow, overflow
//! and NaN). The bin is first computed arithmetically and then corrected against the edges
//! themselves, so rounding in `(v − min)·bins/(max − min)` never moves a value across an edge.

use rayon::prelude::*;

use crate::error::{FcsError, Result};

/// Values per parallel task.
const CHUNK: usize = 64 * 1024;

/// Equal-width bins over `[min, max]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    edges: Vec<f64>,
    min: f64,
    max: f64,
    scale: f64,
}

/// Where a value falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In bin `n` (0-based).
    Bin(usize),
    /// Below `min`.
    Under,
    /// Above `max`.
    Over,
    /// Not a number.
    Nan,
}

impl Bins {
    /// `count` bins from `min` to `max`; errors name the argument at fault (`bins`, `min`,
    /// `max`).
    pub fn new(min: f64, max: f64, count: usize) -> Result<Bins> {
        if count == 0 {
            return Err(FcsError::argument("bins", "must be at least 1"));
        }
        if !min.is_finite() {
            return Err(FcsError::argument("min", "must be a finite number"));
        }
        if !max.is_finite() {
            return Err(FcsError::argument("max", "must be a finite number"));
        }
        if min >= max {
            return Err(FcsError::argument("min", "must be less than max"));
        }
        let step = (max - min) / count as f64;
        if !step.is_finite() || step == 0.0 {
            return Err(FcsError::argument(
                "max",
                "max − min must be a finite, representable width",
            ));
        }
        let mut edges: Vec<f64> = (0..=count).map(|i| i as f64 * step + min).collect();
        edges[count] = max;
        Ok(Bins {
            edges,
            min,
            max,
            scale: count as f64 / (max - min),
        })
    }

    /// The `count + 1` edges.
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// The number of bins.
    pub fn count(&self) -> usize {
        self.edges.len() - 1
    }

    /// Where `v` falls.
    #[inline]
    pub fn place(&self, v: f64) -> Place {
        if v.is_nan() {
            return Place::Nan;
        }
        if v < self.min {
            return Place::Under;
        }
        if v > self.max {
            return Place::Over;
        }
        let last = self.count() - 1;
        // Truncation of a value in [0, count]; `as` saturates, and the corrections below
        // settle any rounding.
        let mut i = (((v - self.min) * self.scale) as usize).min(last);
        while i > 0 && v < self.edges[i] {
            i -= 1;
        }
        while i < last && v >= self.edges[i + 1] {
            i += 1;
        }
        Place::Bin(i)
    }
}

/// Counts of one histogram.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts {
    /// Values per bin.
    pub bins: Vec<u64>,
    /// Values below the first edge.
    pub under: u64,
    /// Values above the last edge.
    pub over: u64,
    /// NaN values.
    pub nan: u64,
}

impl Counts {
    fn empty(bins: usize) -> Counts {
        Counts {
            bins: vec![0; bins],
            ..Counts::default()
        }
    }

    fn add(&mut self, place: Place) {
        match place {
            Place::Bin(i) => self.bins[i] += 1,
            Place::Under => self.under += 1,
            Place::Over => self.over += 1,
            Place::Nan => self.nan += 1,
        }
    }

    fn merge(mut self, other: Counts) -> Counts {
        self.bins
            .iter_mut()
            .zip(&other.bins)
            .for_each(|(a, b)| *a += b);
        self.under += other.under;
        self.over += other.over;
        self.nan += other.nan;
        self
    }
}

/// `numpy.histogram(values, bins=bins.edges())`, with what falls outside counted apart.
pub fn histogram(values: &[f64], bins: &Bins) -> Counts {
    values
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut counts = Counts::empty(bins.count());
            chunk.iter().for_each(|&v| counts.add(bins.place(v)));
            counts
        })
        .reduce(|| Counts::empty(bins.count()), Counts::merge)
}

/// `numpy.histogram2d(x, y, bins=[x_bins.edges(), y_bins.edges()])`: row-major counts,
/// `counts[i * y_bins.count() + j]` for x bin `i` and y bin `j`. An event counts only when both
/// of its values fall in a bin. `x` and `y` have equal lengths.
pub fn histogram2d(x: &[f64], y: &[f64], x_bins: &Bins, y_bins: &Bins) -> Vec<u64> {
    let cells = x_bins.count() * y_bins.count();
    x.par_chunks(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .map(|(xs, ys)| {
            let mut counts = vec![0u64; cells];
            for (&a, &b) in xs.iter().zip(ys) {
                if let (Place::Bin(i), Place::Bin(j)) = (x_bins.place(a), y_bins.place(b)) {
                    counts[i * y_bins.count() + j] += 1;
                }
            }
            counts
        })
        .reduce(
            || vec![0u64; cells],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_numpys_and_the_top_edge_belongs_to_the_last_bin() {
        let bins = Bins::new(0.0, 1.0, 4).unwrap();
        assert_eq!(bins.edges(), &[0.0, 0.25, 0.5, 0.75, 1.0]);
        let counts = histogram(&[0.0, 0.25, 0.2499, 1.0, -0.1, 1.1, f64::NAN, 0.75], &bins);
        assert_eq!(counts.bins, vec![2, 1, 0, 2]);
        assert_eq!((counts.under, counts.over, counts.nan), (1, 1, 1));
    }

    #[test]
    fn a_value_on_a_rounded_edge_goes_where_the_edge_says() {
        // 0.1·3 is not 0.3 in binary; the edge decides, not the arithmetic.
        let bins = Bins::new(0.0, 1.0, 10).unwrap();
        for i in 1..10 {
            let edge = bins.edges()[i];
            let just_below = f64::from_bits(edge.to_bits() - 1);
            assert_eq!(bins.place(edge), Place::Bin(i));
            assert_eq!(bins.place(just_below), Place::Bin(i - 1));
        }
    }

    #[test]
    fn two_dimensions_count_events_inside_both_ranges() {
        let (xb, yb) = (
            Bins::new(0.0, 2.0, 2).unwrap(),
            Bins::new(0.0, 1.0, 2).unwrap(),
        );
        let counts = histogram2d(&[0.5, 1.5, 1.5, 3.0], &[0.9, 0.1, 0.2, 0.5], &xb, &yb);
        assert_eq!(counts, vec![0, 1, 2, 0]);
    }

    #[test]
    fn bad_ranges_name_the_argument() {
        let field = |r: Result<Bins>| match r.unwrap_err() {
            FcsError::InvalidArgument { field, .. } => field,
            other => panic!("{other}"),
        };
        assert_eq!(field(Bins::new(0.0, 1.0, 0)), "bins");
        assert_eq!(field(Bins::new(1.0, 1.0, 4)), "min");
        assert_eq!(field(Bins::new(f64::NAN, 1.0, 4)), "min");
        assert_eq!(field(Bins::new(0.0, f64::INFINITY, 4)), "max");
    }
}
