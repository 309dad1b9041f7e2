//! The value pipeline every analysis reads through: `raw → scaled → compensated → transformed`.
//!
//! ```text
//!  raw ──Scaling──▶ scaled ──S⁻¹ (matrix channels)──▶ compensated ──Transform (chosen channels)──▶ out
//! ```
//!
//! A [`Pipeline`] says which steps apply; [`Pipeline::evaluate`] runs them for the channels a
//! caller needs and no others — a histogram of one compensated channel scales the matrix's
//! channels and forms one output, not the whole table. Compensation implies scaling (spill is
//! a property of light, not of how a value was stored).

use rayon::prelude::*;

use crate::compensation::Compensation;
use crate::params::Parameter;
use crate::scale::Scaling;
use crate::transform::Transform;

/// Values per parallel task when transforming.
const CHUNK: usize = 16 * 1024;

/// Which values to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// As stored: integers masked to `$PnR`, floats as written.
    #[default]
    Raw,
    /// With `$PnE`, `$PnG` and `$TIMESTEP` applied ([`Scaling`]).
    Scaled,
}

impl Scale {
    /// `raw` or `scaled`.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Raw => "raw",
            Scale::Scaled => "scaled",
        }
    }
}

/// The steps to apply; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// Raw or scaled (forced to scaled by compensation).
    pub scale: Scale,
    /// The dataset's spillover matrix, matched and inverted.
    pub compensation: Option<Compensation>,
    /// The transform and the channels (0-based parameter indices) it applies to.
    pub transform: Option<(Transform, Vec<usize>)>,
}

/// What a pipeline reads: one dataset's raw columns (or a range of their events).
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The dataset's parameters, in event order.
    pub parameters: &'a [Parameter],
    /// Raw values, one column per parameter, all of one length.
    pub columns: Vec<&'a [f64]>,
    /// `$TIMESTEP` (see [`crate::Dataset::timestep`]).
    pub timestep: Option<f64>,
}

impl Source<'_> {
    /// Number of events.
    pub fn event_count(&self) -> usize {
        self.columns.first().map_or(0, |c| c.len())
    }

    /// The same source limited to events `range` (clamped).
    pub fn range(&self, range: std::ops::Range<usize>) -> Self {
        let end = range.end.min(self.event_count());
        let start = range.start.min(end);
        Source {
            parameters: self.parameters,
            columns: self.columns.iter().map(|c| &c[start..end]).collect(),
            timestep: self.timestep,
        }
    }
}

/// The channels a transform applies to when none are named: the fluorescence channels, i.e.
/// every channel that is not scatter, time or width.
pub fn fluorescence_channels(parameters: &[Parameter]) -> Vec<usize> {
    (0..parameters.len())
        .filter(|&i| parameters[i].is_fluorescence())
        .collect()
}

impl Pipeline {
    /// True when values come out as stored.
    pub fn is_raw(&self) -> bool {
        self.scale == Scale::Raw && self.compensation.is_none() && self.transform.is_none()
    }

    /// Whether values are scaled (asked for, or implied by compensation).
    pub fn scales(&self) -> bool {
        self.scale == Scale::Scaled || self.compensation.is_some()
    }

    /// Whether channel `index` is transformed.
    pub fn transforms(&self, index: usize) -> bool {
        self.transform
            .as_ref()
            .is_some_and(|(_, channels)| channels.contains(&index))
    }

    /// The values of the `selected` channels (0-based parameter indices), in that order.
    pub fn evaluate(&self, source: &Source<'_>, selected: &[usize]) -> Vec<Vec<f64>> {
        let mut out: Vec<Option<Vec<f64>>> = vec![None; selected.len()];
        if let Some(compensation) = &self.compensation {
            let wanted: Vec<(usize, usize)> = selected
                .iter()
                .enumerate()
                .filter_map(|(slot, &i)| compensation.position(i).map(|at| (slot, at)))
                .collect();
            if !wanted.is_empty() {
                let inputs: Vec<Vec<f64>> = compensation
                    .channels()
                    .par_iter()
                    .map(|&c| self.scaled(source, c))
                    .collect();
                let positions: Vec<usize> = wanted.iter().map(|&(_, at)| at).collect();
                let columns = compensation.apply(&inputs, &positions);
                for ((slot, _), column) in wanted.into_iter().zip(columns) {
                    out[slot] = Some(column);
                }
            }
        }
        out.par_iter_mut()
            .zip(selected.par_iter())
            .filter(|(column, _)| column.is_none())
            .for_each(|(column, &i)| *column = Some(self.scaled(source, i)));
        let mut out: Vec<Vec<f64>> = out.into_iter().map(Option::unwrap_or_default).collect();
        if let Some((transform, _)) = &self.transform {
            for (column, &i) in out.iter_mut().zip(selected) {
                if self.transforms(i) {
                    column
                        .par_chunks_mut(CHUNK)
                        .for_each(|chunk| transform.apply_all(chunk));
                }
            }
        }
        out
    }

    /// The range channel `index` spans on this pipeline's scale, from its `$PnR`: `[0, $PnR]`
    /// scaled (`[f2, f2·10^f1]` for a log-amplified one); on a transformed channel, from 0 (the
    /// bottom of every transform's display) to the transformed top. `None` when that is no
    /// range at all (a `$PnR` of 0, a transform that maps the top below 0).
    pub fn channel_range(&self, source: &Source<'_>, index: usize) -> Option<(f64, f64)> {
        let parameter = &source.parameters[index];
        let scaling = if self.scales() {
            Scaling::of(parameter, source.timestep)
        } else {
            Scaling::Identity
        };
        let (mut low, mut high) = (scaling.apply(0.0), scaling.apply(parameter.range));
        if let Some((transform, _)) = self.transform.as_ref().filter(|_| self.transforms(index)) {
            (low, high) = (0.0, transform.apply(high));
        }
        (low.is_finite() && high.is_finite() && low < high).then_some((low, high))
    }

    fn scaled(&self, source: &Source<'_>, index: usize) -> Vec<f64> {
        let mut values = source.columns[index].to_vec();
        if self.scales() {
            Scaling::of(&source.parameters[index], source.timestep).apply_all(&mut values);
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{DataType, Display, Spillover};
    use crate::transform::TransformSpec;

    fn parameter(index: usize, name: &str, png: Option<f64>) -> Parameter {
        Parameter {
            index,
            pnn: name.into(),
            pns: None,
            range: 1024.0,
            bits: Some(32),
            pne: None,
            png,
            display: Display::Lin,
            data_type: DataType::Float,
        }
    }

    #[test]
    fn steps_apply_in_order_to_the_channels_they_name() {
        let parameters = [
            parameter(1, "FSC-A", Some(2.0)),
            parameter(2, "FL1-A", Some(2.0)),
            parameter(3, "FL2-A", None),
        ];
        let raw = [vec![10.0, 20.0], vec![100.0, 200.0], vec![50.0, 60.0]];
        let source = Source {
            parameters: &parameters,
            columns: raw.iter().map(Vec::as_slice).collect(),
            timestep: None,
        };
        assert_eq!(
            Pipeline::default().evaluate(&source, &[2, 0]),
            vec![raw[2].clone(), raw[0].clone()]
        );

        let scaled = Pipeline {
            scale: Scale::Scaled,
            ..Pipeline::default()
        };
        assert_eq!(scaled.evaluate(&source, &[0]), vec![vec![5.0, 10.0]]);

        // FL1 spills 10% into FL2.
        let spill = Spillover {
            keyword: "$SPILLOVER".into(),
            names: vec!["FL1-A".into(), "FL2-A".into()],
            matrix: vec![1.0, 0.1, 0.0, 1.0],
        };
        let compensated = Pipeline {
            compensation: Some(Compensation::new(&spill, &parameters).unwrap()),
            ..Pipeline::default()
        };
        // Scaled FL1 is 50, 100; FL2 loses 10% of it.
        let out = compensated.evaluate(&source, &[2, 1, 0]);
        assert_eq!(out[0], vec![45.0, 50.0]);
        assert_eq!(out[1], vec![50.0, 100.0]);
        assert_eq!(out[2], vec![5.0, 10.0]);

        let arcsinh = Transform::new(TransformSpec::Arcsinh { cofactor: 5.0 }).unwrap();
        let transformed = Pipeline {
            transform: Some((arcsinh, fluorescence_channels(&parameters))),
            ..compensated
        };
        let out = transformed.evaluate(&source, &[2, 0]);
        assert_eq!(out[0], vec![9f64.asinh(), 10f64.asinh()]);
        assert_eq!(out[1], vec![5.0, 10.0], "scatter is not transformed");
        assert_eq!(source.range(1..5).event_count(), 1);
    }
}
