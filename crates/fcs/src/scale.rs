//! From raw values to *scaled* ones: what an instrument's amplifiers and clock did to a value
//! before it was stored, undone.
//!
//! Three keywords say how ([`Scaling::of`]): `$PnE f1,f2` with `f1 > 0` means the integer
//! channel was stored on a log scale of `f1` decades (`10^(f1·x/$PnR)·f2`, `f2 = 0` read as 1);
//! `$TIMESTEP` is the seconds per tick of the time channel; `$PnG` is the gain of a linear
//! channel, divided out. These are the values FlowIO's `as_array(preprocess=True)` and
//! FlowKit's raw events give, except that `$PnE` is never applied to float data (FCS 3.1
//! requires `0,0` there; a float value is already linear).

use crate::params::{DataType, Parameter};

/// How one parameter's raw values become scaled values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    /// Stored as measured.
    Identity,
    /// `$PnE` log amplification: `10^(decades · x / range) · offset`.
    Log {
        /// `f1`, the decades.
        decades: f64,
        /// `$PnR`.
        range: f64,
        /// `f2`, 1 when written as 0.
        offset: f64,
    },
    /// The time channel: ticks times `$TIMESTEP`.
    Timestep(f64),
    /// A linear channel amplified by `$PnG`.
    Gain(f64),
}

impl Scaling {
    /// The scaling of `parameter` in a dataset whose `$TIMESTEP` is `timestep` (when valid).
    pub fn of(parameter: &Parameter, timestep: Option<f64>) -> Scaling {
        if let (DataType::Int, Some((decades, offset))) = (parameter.data_type, parameter.pne) {
            if decades > 0.0 && parameter.range > 0.0 {
                let offset = if offset == 0.0 { 1.0 } else { offset };
                return Scaling::Log {
                    decades,
                    range: parameter.range,
                    offset,
                };
            }
        }
        // An amplifier gain on a clock makes no sense; instruments that write one for the time
        // channel copy the fluorescence gain or the timestep there (FlowIO ignores it too).
        if parameter.is_time() {
            return timestep.map_or(Scaling::Identity, Scaling::Timestep);
        }
        match parameter.png {
            Some(gain) if gain.is_finite() && gain > 0.0 && gain != 1.0 => Scaling::Gain(gain),
            _ => Scaling::Identity,
        }
    }

    /// One value, scaled.
    #[inline]
    pub fn apply(self, value: f64) -> f64 {
        match self {
            Scaling::Identity => value,
            Scaling::Log {
                decades,
                range,
                offset,
            } => 10f64.powf(decades * value / range) * offset,
            Scaling::Timestep(step) => value * step,
            Scaling::Gain(gain) => value / gain,
        }
    }

    /// Scales `values` in place.
    pub fn apply_all(self, values: &mut [f64]) {
        if self != Scaling::Identity {
            values.iter_mut().for_each(|v| *v = self.apply(*v));
        }
    }
}

/// `$TIMESTEP` when it is a positive number; instruments also write blanks and placeholders.
pub fn parse_timestep(value: Option<&str>) -> Option<f64> {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Display;

    fn parameter(
        name: &str,
        data_type: DataType,
        pne: Option<(f64, f64)>,
        png: Option<f64>,
    ) -> Parameter {
        Parameter {
            index: 1,
            pnn: name.into(),
            pns: None,
            range: 1024.0,
            bits: Some(16),
            pne,
            png,
            display: Display::Lin,
            data_type,
        }
    }

    #[test]
    fn log_amplification_applies_to_integers_only_and_reads_offset_zero_as_one() {
        let log = Scaling::of(
            &parameter("FL1-H", DataType::Int, Some((4.0, 0.0)), None),
            None,
        );
        assert_eq!(log.apply(1024.0), 10_000.0);
        assert_eq!(log.apply(0.0), 1.0);
        let float = Scaling::of(
            &parameter("FL1-H", DataType::Float, Some((4.0, 1.0)), None),
            None,
        );
        assert_eq!(float, Scaling::Identity);
    }

    #[test]
    fn time_takes_the_timestep_and_never_a_gain() {
        let time = parameter("Time", DataType::Int, None, Some(0.01));
        assert_eq!(Scaling::of(&time, Some(0.5)).apply(10.0), 5.0);
        assert_eq!(Scaling::of(&time, None), Scaling::Identity);
        let linear = parameter("FSC-A", DataType::Float, Some((0.0, 0.0)), Some(4.0));
        assert_eq!(Scaling::of(&linear, Some(0.5)).apply(10.0), 2.5);
    }

    #[test]
    fn placeholders_are_not_timesteps() {
        assert_eq!(parse_timestep(Some(" 0.01 ")), Some(0.01));
        assert_eq!(parse_timestep(Some("xxxxxxxxx")), None);
        assert_eq!(parse_timestep(Some("0")), None);
        assert_eq!(parse_timestep(None), None);
    }
}
