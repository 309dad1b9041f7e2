//! Display transforms: the last step of the value pipeline, which turns linear intensities
//! spanning five decades (and, after compensation, dipping below zero) into values a plot or
//! a gate can use.
//!
//! The three parametrised ones are GatingML 2.0's, with its names, parameters and domains, and
//! give what FlowKit's `LogicleTransform`, `AsinhTransform` and `LogTransform` give:
//!
//! | spec | value | domain |
//! |---|---|---|
//! | `Logicle { t, w, m, a }` | root of the biexponential ([`crate::logicle`]), 0–1 | `T > 0`, `M > 0`, `0 ≤ W ≤ M/2`, `−W ≤ A ≤ M − 2W` |
//! | `Asinh { t, m, a }` (fasinh) | `(asinh(x·sinh(M·ln10)/T) + A·ln10) / ((M + A)·ln10)` | `T > 0`, `M > 0`, `0 ≤ A ≤ M` |
//! | `Log { t, m }` (flog) | `log10(x/T)/M + 1`; NaN for `x ≤ 0` | `T > 0`, `M > 0` |
//! | `Arcsinh { cofactor }` | `asinh(x / cofactor)`, the cytometrists' everyday transform | `cofactor > 0` |
//!
//! A [`Transform`] is validated and prepared once ([`Transform::new`]) and then applied to any
//! number of values; its errors name the parameter at fault.

use std::f64::consts::LN_10;

use crate::cmath::asinh;
use crate::error::{FcsError, Result};
use crate::logicle::Logicle;

/// Which transform, with its parameters as a client gives them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TransformSpec {
    /// GatingML 2.0 logicle, on FlowKit's 0–1 scale.
    Logicle {
        /// Top of the data scale.
        t: f64,
        /// Decades of the linear region.
        w: f64,
        /// Decades at the top.
        m: f64,
        /// Additional negative decades.
        a: f64,
    },
    /// GatingML 2.0 `fasinh`.
    Asinh {
        /// Top of the data scale.
        t: f64,
        /// Decades at the top.
        m: f64,
        /// Additional negative decades.
        a: f64,
    },
    /// `asinh(x / cofactor)`.
    Arcsinh {
        /// The divisor (150 is common for fluorescence, 5 for mass cytometry).
        cofactor: f64,
    },
    /// GatingML 2.0 `flog`.
    Log {
        /// Top of the data scale.
        t: f64,
        /// Decades shown.
        m: f64,
    },
}

impl TransformSpec {
    /// The name clients use: `logicle`, `asinh`, `arcsinh` or `log`.
    pub fn name(&self) -> &'static str {
        match self {
            TransformSpec::Logicle { .. } => "logicle",
            TransformSpec::Asinh { .. } => "asinh",
            TransformSpec::Arcsinh { .. } => "arcsinh",
            TransformSpec::Log { .. } => "log",
        }
    }

    /// The parameters by name, in the order the name lists them.
    pub fn parameters(&self) -> Vec<(&'static str, f64)> {
        match *self {
            TransformSpec::Logicle { t, w, m, a } => vec![("t", t), ("w", w), ("m", m), ("a", a)],
            TransformSpec::Asinh { t, m, a } => vec![("t", t), ("m", m), ("a", a)],
            TransformSpec::Arcsinh { cofactor } => vec![("cofactor", cofactor)],
            TransformSpec::Log { t, m } => vec![("t", t), ("m", m)],
        }
    }
}

/// A validated transform, ready to apply.
#[derive(Debug, Clone)]
pub struct Transform {
    spec: TransformSpec,
    prepared: Prepared,
}

#[derive(Debug, Clone)]
enum Prepared {
    Logicle(Box<Logicle>),
    Asinh {
        pre_scale: f64,
        shift: f64,
        divisor: f64,
    },
    Arcsinh {
        cofactor: f64,
    },
    Log {
        t: f64,
        m: f64,
    },
}

impl Transform {
    /// Checks `spec` against its domain and prepares it. The error names the first parameter
    /// at fault and says what it must be.
    pub fn new(spec: TransformSpec) -> Result<Transform> {
        for (name, value) in spec.parameters() {
            if !value.is_finite() {
                return Err(FcsError::argument(name, "must be a finite number"));
            }
        }
        let prepared = match spec {
            TransformSpec::Logicle { t, w, m, a } => {
                positive("t", t)?;
                positive("m", m)?;
                within("w", w, 0.0, m / 2.0, "between 0 and M/2")?;
                within("a", a, -w, m - 2.0 * w, "between −W and M − 2W")?;
                let scale = Logicle::new(t, w, m, a).ok_or_else(|| {
                    FcsError::argument("m", "M + A is too large for the scale to be computed")
                })?;
                Prepared::Logicle(Box::new(scale))
            }
            TransformSpec::Asinh { t, m, a } => {
                positive("t", t)?;
                positive("m", m)?;
                within("a", a, 0.0, m, "between 0 and M")?;
                let pre_scale = (m * LN_10).sinh() / t;
                if !pre_scale.is_finite() || pre_scale == 0.0 {
                    return Err(FcsError::argument(
                        "m",
                        "is too large for the scale to be computed",
                    ));
                }
                Prepared::Asinh {
                    pre_scale,
                    shift: a * LN_10,
                    divisor: (m + a) * LN_10,
                }
            }
            TransformSpec::Arcsinh { cofactor } => {
                positive("cofactor", cofactor)?;
                Prepared::Arcsinh { cofactor }
            }
            TransformSpec::Log { t, m } => {
                positive("t", t)?;
                positive("m", m)?;
                Prepared::Log { t, m }
            }
        };
        Ok(Transform { spec, prepared })
    }

    /// What this transform is.
    pub fn spec(&self) -> TransformSpec {
        self.spec
    }

    /// One value, transformed.
    #[inline]
    pub fn apply(&self, x: f64) -> f64 {
        match &self.prepared {
            Prepared::Logicle(scale) => scale.scale(x),
            Prepared::Asinh {
                pre_scale,
                shift,
                divisor,
            } => (asinh(x * pre_scale) + shift) / divisor,
            Prepared::Arcsinh { cofactor } => asinh(x / cofactor),
            // `(1/M)·…` rather than `…/M`: the same rounding as FlowKit, so bins agree exactly.
            Prepared::Log { t, m } => (1.0 / m) * (x / t).log10() + 1.0,
        }
    }

    /// Transforms `values` in place.
    pub fn apply_all(&self, values: &mut [f64]) {
        values.iter_mut().for_each(|v| *v = self.apply(*v));
    }

    /// The data value whose transformed value is `y`: where a plot puts its ticks.
    pub fn inverse(&self, y: f64) -> f64 {
        match &self.prepared {
            Prepared::Logicle(scale) => scale.inverse(y),
            Prepared::Asinh {
                pre_scale,
                shift,
                divisor,
            } => (y * divisor - shift).sinh() / pre_scale,
            Prepared::Arcsinh { cofactor } => y.sinh() * cofactor,
            Prepared::Log { t, m } => t * 10f64.powf((y - 1.0) * m),
        }
    }
}

fn positive(name: &str, value: f64) -> Result<()> {
    if value > 0.0 {
        Ok(())
    } else {
        Err(FcsError::argument(name, "must be greater than 0"))
    }
}

fn within(name: &str, value: f64, low: f64, high: f64, rule: &str) -> Result<()> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(FcsError::argument(name, format!("must be {rule}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(spec: TransformSpec) -> String {
        match Transform::new(spec).unwrap_err() {
            FcsError::InvalidArgument { field, .. } => field,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn gatingml_domains_are_enforced_naming_the_parameter() {
        let logicle = |t, w, m, a| TransformSpec::Logicle { t, w, m, a };
        assert_eq!(field(logicle(0.0, 0.5, 4.5, 0.0)), "t");
        assert_eq!(field(logicle(262144.0, 0.5, -1.0, 0.0)), "m");
        assert_eq!(field(logicle(262144.0, 3.0, 4.5, 0.0)), "w");
        assert_eq!(field(logicle(262144.0, -0.1, 4.5, 0.0)), "w");
        assert_eq!(field(logicle(262144.0, 0.5, 4.5, -0.6)), "a");
        assert_eq!(field(logicle(262144.0, 0.5, 4.5, 3.6)), "a");
        assert_eq!(field(logicle(f64::NAN, 0.5, 4.5, 0.0)), "t");
        assert_eq!(field(logicle(262144.0, 0.5, 400.0, 0.0)), "m");
        let asinh = |t, m, a| TransformSpec::Asinh { t, m, a };
        assert_eq!(field(asinh(262144.0, 4.5, 5.0)), "a");
        assert_eq!(field(asinh(262144.0, 400.0, 0.0)), "m");
        assert_eq!(field(TransformSpec::Arcsinh { cofactor: 0.0 }), "cofactor");
        assert_eq!(field(TransformSpec::Log { t: 1.0, m: 0.0 }), "m");
    }

    #[test]
    fn values_follow_the_gatingml_formulas() {
        let log = Transform::new(TransformSpec::Log {
            t: 10_000.0,
            m: 4.0,
        })
        .unwrap();
        assert_eq!(log.apply(10_000.0), 1.0);
        assert_eq!(log.apply(100.0), 0.5);
        assert!(log.apply(0.0).is_infinite() && log.apply(-1.0).is_nan());
        let asinh = Transform::new(TransformSpec::Asinh {
            t: 10_000.0,
            m: 4.0,
            a: 1.0,
        })
        .unwrap();
        assert!((asinh.apply(10_000.0) - 1.0).abs() < 1e-12);
        assert!((asinh.apply(0.0) - 0.2).abs() < 1e-12);
        let arcsinh = Transform::new(TransformSpec::Arcsinh { cofactor: 150.0 }).unwrap();
        assert_eq!(arcsinh.apply(150.0), 1f64.asinh());
    }

    #[test]
    fn inverses_invert() {
        let specs = [
            TransformSpec::Logicle {
                t: 262144.0,
                w: 0.5,
                m: 4.5,
                a: 0.0,
            },
            TransformSpec::Asinh {
                t: 262144.0,
                m: 4.5,
                a: 0.0,
            },
            TransformSpec::Arcsinh { cofactor: 150.0 },
            TransformSpec::Log {
                t: 262144.0,
                m: 4.5,
            },
        ];
        for spec in specs {
            let transform = Transform::new(spec).unwrap();
            for x in [3.0, 500.0, 100_000.0] {
                let back = transform.inverse(transform.apply(x));
                assert!((back - x).abs() < 1e-6 * x, "{spec:?}: {x} -> {back}");
            }
        }
    }
}
