//! The logicle scale (Parks, Roederer & Moore 2006; computed as in Moore & Parks, "Update for
//! the logicle data scale including operational code implementations", Cytometry A 2012).
//!
//! Logicle is linear around zero and logarithmic far from it, so compensated data — which
//! spreads below zero — shows as one population instead of a pile-up on an axis. It is
//! defined by its inverse, a *biexponential*:
//!
//! ```text
//! B(y) = a·e^(b·y) − c·e^(−d·y) + f        x = B(y),   y = logicle(x) on a 0–1 scale
//! ```
//!
//! whose five constants follow from the four GatingML 2.0 parameters: `T` the top of the data
//! (`B(1) = T`), `M` the decades at the top, `W` the decades of the linear region, `A` extra
//! negative decades. `logicle(x)` has no closed form: it is the root of `B(y) − x`, found by
//! Halley's method from a good first guess, with a Taylor series near the zero point where the
//! two exponentials nearly cancel and direct evaluation loses digits. Negative values use the
//! scale's symmetry about its zero point `x1`: `logicle(−x) = 2·x1 − logicle(x)`.
//!
//! Solving takes ~70 ns a value, too slow for a million events × 26 channels. So
//! [`Logicle::scale`] reads a table instead: the exact root at the edges of buckets of `|x|`,
//! 64 per octave (the bucket is the float's exponent and top 6 mantissa bits, so finding it is
//! a shift), with a cubic through each bucket matching value and slope at both ends. Cubic
//! Hermite interpolation errs by `h⁴/384·max|y''''|`; on buckets 1/64 of an octave wide that is
//! about 1e-10 on the 0–1 scale (the tests hold it to that against the solver). The table spans
//! 50 octaves below `T` and 20 above; below it the scale is linear to double precision, above
//! it (values a million times `T`) the solver answers.

/// Terms of the Taylor series of `B` around `x1`.
const TAYLOR_TERMS: usize = 16;

/// Halley's method converges cubically; from the first guess a handful of steps reach full
/// precision. More than this means the value cannot be represented (e.g. infinite).
const MAX_STEPS: usize = 20;

/// Mantissa bits that pick a bucket within an octave: 2⁶ = 64 buckets per octave.
const BUCKET_BITS: u32 = 6;
/// Shift that leaves a float's exponent and its top [`BUCKET_BITS`] mantissa bits.
const BUCKET_SHIFT: u32 = 52 - BUCKET_BITS;
/// The table's reach, in octaves of `|x|` below and above the top `T`.
const OCTAVES_BELOW_TOP: i64 = 50;
const OCTAVES_ABOVE_TOP: i64 = 20;

/// The constants of one logicle scale, derived once and reused for every value.
#[derive(Debug, Clone)]
pub struct Logicle {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    f: f64,
    /// The zero point: `logicle(0) = x1`.
    x1: f64,
    /// Below this scale value the Taylor series is used.
    x_taylor: f64,
    taylor: [f64; TAYLOR_TERMS],
    table: Table,
}

/// Cubics over buckets of `|x|`; see the module docs.
#[derive(Debug, Clone, Default)]
struct Table {
    /// `bits >> BUCKET_SHIFT` of the smallest value in the table.
    first_key: u64,
    /// Below this, `logicle(x) = x1 + x / B'(x1)` to double precision.
    low: f64,
    /// Per bucket, `y = c0 + t·(c1 + t·(c2 + t·c3))` with `t` the position in the bucket, 0–1.
    cubics: Vec<[f64; 4]>,
}

impl Logicle {
    /// The scale for GatingML's `T`, `W`, `M`, `A`, or `None` when its constants are not finite
    /// numbers (the caller checks GatingML's domain first: `T > 0`, `M > 0`, `0 ≤ W ≤ M/2`,
    /// `−W ≤ A ≤ M − 2W`).
    pub fn new(t: f64, w: f64, m: f64, a: f64) -> Option<Logicle> {
        let decades = m + a;
        let w = w / decades;
        let x2 = a / decades;
        let x1 = x2 + w;
        let x0 = x2 + 2.0 * w;
        let b = decades * std::f64::consts::LN_10;
        let d = solve_d(b, w)?;
        let c_a = (x0 * (b + d)).exp();
        let mf_a = (b * x1).exp() - c_a / (d * x1).exp();
        let a = t / (b.exp() - mf_a - c_a / d.exp());
        let c = c_a * a;
        let f = -mf_a * a;

        let mut taylor = [0.0; TAYLOR_TERMS];
        let mut positive = a * (b * x1).exp();
        let mut negative = -c / (d * x1).exp();
        for (i, term) in taylor.iter_mut().enumerate() {
            positive *= b / (i + 1) as f64;
            negative *= -d / (i + 1) as f64;
            *term = positive + negative;
        }
        // The logicle condition makes the second derivative vanish at x1: exactly 0, not the
        // rounding residue of two large terms.
        taylor[1] = 0.0;

        let mut scale = Logicle {
            a,
            b,
            c,
            d,
            f,
            x1,
            x_taylor: x1 + w / 4.0,
            taylor,
            table: Table::default(),
        };
        let finite = [a, b, c, d, f, x1].iter().all(|v| v.is_finite())
            && scale.taylor.iter().all(|v| v.is_finite());
        if !(finite && a > 0.0) {
            return None;
        }
        scale.table = scale.tabulate(t)?;
        Some(scale)
    }

    /// The table for a scale whose top is `t`: the exact root and slope at every bucket edge.
    fn tabulate(&self, t: f64) -> Option<Table> {
        let top_exponent = ((t.to_bits() >> 52) & 0x7ff) as i64;
        let low_exponent = (top_exponent - OCTAVES_BELOW_TOP).max(1);
        let high_exponent = (top_exponent + OCTAVES_ABOVE_TOP).min(0x7fe);
        let first_key = (low_exponent as u64) << BUCKET_BITS;
        let end_key = (high_exponent as u64) << BUCKET_BITS;
        let knot = |key: u64| {
            let x = f64::from_bits(key << BUCKET_SHIFT);
            let y = self.solve(x);
            let slope = 1.0 / self.derivative(y);
            (x, y, slope)
        };
        let mut cubics = Vec::with_capacity((end_key - first_key) as usize);
        let mut left = knot(first_key);
        for key in first_key..end_key {
            let right = knot(key + 1);
            let width = right.0 - left.0;
            let (y0, y1) = (left.1, right.1);
            let (m0, m1) = (left.2 * width, right.2 * width);
            cubics.push([
                y0,
                m0,
                3.0 * (y1 - y0) - 2.0 * m0 - m1,
                2.0 * (y0 - y1) + m0 + m1,
            ]);
            left = right;
        }
        let table = Table {
            first_key,
            low: f64::from_bits(first_key << BUCKET_SHIFT),
            cubics,
        };
        table
            .cubics
            .iter()
            .flatten()
            .all(|c| c.is_finite())
            .then_some(table)
    }

    /// `B'(y)`, the slope of the biexponential.
    fn derivative(&self, y: f64) -> f64 {
        self.a * self.b * (self.b * y).exp() + self.c * self.d / (self.d * y).exp()
    }

    /// `B(y)`: the data value at scale value `y`.
    pub fn inverse(&self, y: f64) -> f64 {
        let negative = y < self.x1;
        let y = if negative { 2.0 * self.x1 - y } else { y };
        let x = if y < self.x_taylor {
            self.series(y)
        } else {
            (self.a * (self.b * y).exp() + self.f) - self.c / (self.d * y).exp()
        };
        if negative {
            -x
        } else {
            x
        }
    }

    /// `logicle(x)`: the scale value of data value `x`, from the table (within 2e-10 of
    /// the root); NaN for NaN or infinite `x`.
    #[inline]
    pub fn scale(&self, x: f64) -> f64 {
        let bits = x.abs().to_bits();
        let bucket = ((bits >> BUCKET_SHIFT).wrapping_sub(self.table.first_key)) as usize;
        let magnitude = if let Some(c) = self.table.cubics.get(bucket) {
            let t =
                (bits & ((1 << BUCKET_SHIFT) - 1)) as f64 * (1.0 / (1u64 << BUCKET_SHIFT) as f64);
            c[0] + t * (c[1] + t * (c[2] + t * c[3]))
        } else if x.abs() < self.table.low {
            self.x1 + x.abs() / self.taylor[0]
        } else {
            return self.solve(x);
        };
        if x < 0.0 {
            2.0 * self.x1 - magnitude
        } else {
            magnitude
        }
    }

    /// `logicle(x)` by Halley's method: the root itself, to a few ulps.
    fn solve(&self, x: f64) -> f64 {
        if x == 0.0 {
            return self.x1;
        }
        if !x.is_finite() {
            return f64::NAN;
        }
        let negative = x < 0.0;
        let value = x.abs();
        // Near the zero point (within an e-fold of the exponentials) B is nearly linear; further
        // out, nearly `a·e^(b·y)`. Starting on the wrong side costs Halley many steps.
        let linear_step = value / self.taylor[0];
        let mut y = if value < self.f || linear_step < 1.0 / self.b {
            self.x1 + linear_step
        } else {
            (value / self.a).ln() / self.b
        };
        let tolerance = if y > 1.0 {
            3.0 * y * f64::EPSILON
        } else {
            3.0 * f64::EPSILON
        };
        for _ in 0..MAX_STEPS {
            let ae2by = self.a * (self.b * y).exp();
            let ce2mdy = self.c / (self.d * y).exp();
            let residual = if y < self.x_taylor {
                self.series(y) - value
            } else {
                (ae2by + self.f) - (ce2mdy + value)
            };
            let abe2by = self.b * ae2by;
            let cde2mdy = self.d * ce2mdy;
            let slope = abe2by + cde2mdy;
            let curvature = self.b * abe2by - self.d * cde2mdy;
            let step = residual / (slope * (1.0 - residual * curvature / (2.0 * slope * slope)));
            y -= step;
            if step.abs() < tolerance {
                return if negative { 2.0 * self.x1 - y } else { y };
            }
        }
        f64::NAN
    }

    /// `B(y)` near `x1` by its Taylor series, where the exponentials nearly cancel.
    fn series(&self, y: f64) -> f64 {
        let h = y - self.x1;
        // taylor[1] is 0 and taylor[0] multiplies h: Horner's rule over the rest.
        let mut sum = self.taylor[TAYLOR_TERMS - 1] * h;
        for i in (2..TAYLOR_TERMS - 1).rev() {
            sum = (sum + self.taylor[i]) * h;
        }
        (sum * h + self.taylor[0]) * h
    }
}

/// Solves `2·(ln d − ln b) + w·(b + d) = 0` for `d` in `(0, b]`: the relation between the
/// width of the linear region and the two exponents. Newton's method, falling back to
/// bisection when a step would leave the bracket or converge too slowly.
fn solve_d(b: f64, w: f64) -> Option<f64> {
    if w == 0.0 {
        return Some(b);
    }
    let tolerance = 2.0 * b * f64::EPSILON;
    let (mut low, mut high) = (0.0, b);
    let f_b = -2.0 * b.ln() + w * b;
    let mut d = (low + high) / 2.0;
    let mut last_step = high - low;
    let mut f = 2.0 * d.ln() + w * d + f_b;
    for _ in 0..200 {
        let df = 2.0 / d + w;
        let newton_leaves_bracket = ((d - high) * df - f) * ((d - low) * df - f) >= 0.0;
        let step = if newton_leaves_bracket || (1.9 * f).abs() > (last_step * df).abs() {
            let half = (high - low) / 2.0;
            d = low + half;
            half
        } else {
            let step = f / df;
            d -= step;
            step
        };
        if step.abs() < tolerance {
            return Some(d);
        }
        last_step = step;
        f = 2.0 * d.ln() + w * d + f_b;
        if f == 0.0 {
            return Some(d);
        }
        if f < 0.0 {
            low = d;
        } else {
            high = d;
        }
    }
    d.is_finite().then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> Logicle {
        Logicle::new(262_144.0, 0.5, 4.5, 0.0).unwrap()
    }

    #[test]
    fn top_maps_to_one_and_zero_to_the_zero_point() {
        let l = standard();
        assert!((l.scale(262_144.0) - 1.0).abs() < 1e-12);
        assert_eq!(l.scale(0.0), 0.5 / 4.5);
        assert!((l.inverse(1.0) - 262_144.0).abs() < 1e-6);
        assert!(l.inverse(0.5 / 4.5).abs() < 1e-9);
    }

    #[test]
    fn scale_inverts_the_biexponential_everywhere() {
        let l = standard();
        for &x in &[
            -5000.0, -100.0, -1.0, 1e-6, 0.5, 3.0, 50.0, 1234.5, 1e5, 262_144.0, 1e7,
        ] {
            let y = l.scale(x);
            let back = l.inverse(y);
            assert!(
                (back - x).abs() <= 1e-9 * x.abs().max(1.0),
                "{x} -> {y} -> {back}"
            );
        }
    }

    #[test]
    fn symmetric_about_the_zero_point() {
        let l = Logicle::new(10_000.0, 1.0, 4.0, 0.5).unwrap();
        for &x in &[0.1, 7.0, 900.0] {
            assert!((l.scale(-x) - (2.0 * l.scale(0.0) - l.scale(x))).abs() < 1e-12);
        }
    }

    #[test]
    fn no_width_is_a_pure_two_sided_log() {
        let l = Logicle::new(10_000.0, 0.0, 4.0, 0.0).unwrap();
        assert!((l.scale(10_000.0) - 1.0).abs() < 1e-9);
        assert!((l.scale(1000.0) - 0.75).abs() < 1e-6);
    }

    #[test]
    fn the_table_agrees_with_the_solver_within_2e_10() {
        let scales = [
            standard(),
            Logicle::new(10_000.0, 1.0, 4.0, 0.5).unwrap(),
            Logicle::new(10_000.0, 0.0, 4.0, 0.0).unwrap(),
            Logicle::new(1.0, 2.0, 4.5, 0.5).unwrap(),
            Logicle::new(1e9, 0.1, 7.0, -0.1).unwrap(),
        ];
        for (n, l) in scales.iter().enumerate() {
            let t = l.inverse(1.0);
            // Log-spaced over the table and beyond both ends, both signs, plus bucket edges.
            let mut worst = 0.0f64;
            for i in 0..200_000 {
                let x = t * 10f64.powf(-18.0 + 26.0 * i as f64 / 200_000.0);
                for x in [
                    x,
                    -x,
                    f64::from_bits(x.to_bits() & !((1 << BUCKET_SHIFT) - 1)),
                ] {
                    let (fast, exact) = (l.scale(x), l.solve(x));
                    worst = worst.max((fast - exact).abs() / exact.abs().max(1.0));
                }
            }
            assert!(worst < 2e-10, "scale {n}: {worst:e}");
        }
    }

    #[test]
    fn not_finite_input_is_nan() {
        assert!(standard().scale(f64::INFINITY).is_nan());
        assert!(standard().scale(f64::NAN).is_nan());
    }
}
