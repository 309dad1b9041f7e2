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

use std::ops::Range;

use rayon::prelude::*;

use crate::compensation::Compensation;
use crate::params::Parameter;
use crate::scale::Scaling;
use crate::transform::Transform;

/// Events per block: the scaled inputs of a 30-channel matrix over 1,024 events (240 KB) stay
/// in a core's cache while every output of the block is formed.
const BLOCK: usize = 1024;

/// How [`Pipeline::evaluate`] forms one selected channel.
struct Step {
    /// The parameter (0-based).
    index: usize,
    scaling: Scaling,
    /// Its position in the spillover matrix, when compensated.
    compensated: Option<usize>,
    transformed: bool,
}

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
    ///
    /// One pass over the events, a block at a time and blocks in parallel: each block's raw
    /// values are scaled, combined through the matrix and transformed while they are in cache,
    /// so every output value is written to memory once.
    pub fn evaluate(&self, source: &Source<'_>, selected: &[usize]) -> Vec<Vec<f64>> {
        let events = source.event_count();
        let steps: Vec<Step> = selected.iter().map(|&i| self.step(source, i)).collect();
        let uses_matrix = steps.iter().any(|s| s.compensated.is_some());
        let mut out: Vec<Vec<f64>> = selected.iter().map(|_| vec![0.0; events]).collect();
        let mut blocks: Vec<Vec<&mut [f64]>> = Vec::new();
        for column in &mut out {
            for (b, chunk) in column.chunks_mut(BLOCK).enumerate() {
                if blocks.len() <= b {
                    blocks.push(Vec::with_capacity(selected.len()));
                }
                blocks[b].push(chunk);
            }
        }
        blocks
            .into_par_iter()
            .enumerate()
            .for_each_init(Vec::new, |inputs, (b, columns)| {
                let start = b * BLOCK;
                let events = start..start + columns[0].len();
                if uses_matrix {
                    self.matrix_inputs(source, events.clone(), inputs);
                }
                for (column, step) in columns.into_iter().zip(&steps) {
                    match (&self.compensation, step.compensated) {
                        (Some(compensation), Some(position)) => {
                            compensation.combine(inputs, position, column)
                        }
                        _ => {
                            column.copy_from_slice(&source.columns[step.index][events.clone()]);
                            step.scaling.apply_all(column);
                        }
                    }
                    if let Some((transform, _)) =
                        self.transform.as_ref().filter(|_| step.transformed)
                    {
                        transform.apply_all(column);
                    }
                }
            });
        out
    }

    /// How one selected channel's values are formed.
    fn step(&self, source: &Source<'_>, index: usize) -> Step {
        Step {
            index,
            scaling: self.scaling(source, index),
            compensated: self.compensation.as_ref().and_then(|c| c.position(index)),
            transformed: self.transforms(index),
        }
    }

    /// The scaled values of every matrix channel over `events`, one channel after another.
    fn matrix_inputs(&self, source: &Source<'_>, events: Range<usize>, inputs: &mut Vec<f64>) {
        inputs.clear();
        for &c in self.compensation.iter().flat_map(|c| c.channels()) {
            let at = inputs.len();
            inputs.extend_from_slice(&source.columns[c][events.clone()]);
            self.scaling(source, c).apply_all(&mut inputs[at..]);
        }
    }

    fn scaling(&self, source: &Source<'_>, index: usize) -> Scaling {
        if self.scales() {
            Scaling::of(&source.parameters[index], source.timestep)
        } else {
            Scaling::Identity
        }
    }

    /// The range channel `index` spans on this pipeline's scale, from its `$PnR`: `[0, $PnR]`
    /// scaled (`[f2, f2·10^f1]` for a log-amplified one); on a transformed channel, from 0 (the
    /// bottom of every transform's display) to the transformed top. `None` when that is no
    /// range at all (a `$PnR` of 0, a transform that maps the top below 0).
    pub fn channel_range(&self, source: &Source<'_>, index: usize) -> Option<(f64, f64)> {
        let scaling = self.scaling(source, index);
        let (mut low, mut high) = (
            scaling.apply(0.0),
            scaling.apply(source.parameters[index].range),
        );
        if let Some((transform, _)) = self.transform.as_ref().filter(|_| self.transforms(index)) {
            (low, high) = (0.0, transform.apply(high));
        }
        (low.is_finite() && high.is_finite() && low < high).then_some((low, high))
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
