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

/// Terms of the Taylor series of `B` around `x1`.
const TAYLOR_TERMS: usize = 16;

/// Halley's method converges cubically; from the first guess a handful of steps reach full
/// precision. More than this means the value cannot be represented (e.g. infinite).
const MAX_STEPS: usize = 20;

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

        let scale = Logicle {
            a,
            b,
            c,
            d,
            f,
            x1,
            x_taylor: x1 + w / 4.0,
            taylor,
        };
        let finite = [a, b, c, d, f, x1].iter().all(|v| v.is_finite())
            && scale.taylor.iter().all(|v| v.is_finite());
        (finite && a > 0.0).then_some(scale)
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

    /// `logicle(x)`: the scale value of data value `x`; NaN for NaN or infinite `x`.
    pub fn scale(&self, x: f64) -> f64 {
        if x == 0.0 {
            return self.x1;
        }
        if !x.is_finite() {
            return f64::NAN;
        }
        let negative = x < 0.0;
        let value = x.abs();
        let mut y = if value < self.f {
            self.x1 + value / self.taylor[0]
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
        assert!((l.scale(10_000.0) - 1.0).abs() < 1e-12);
        assert!((l.scale(1000.0) - 0.75).abs() < 1e-6);
    }

    #[test]
    fn not_finite_input_is_nan() {
        assert!(standard().scale(f64::INFINITY).is_nan());
        assert!(standard().scale(f64::NAN).is_nan());
    }
}
