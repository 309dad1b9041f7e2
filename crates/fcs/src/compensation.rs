//! Compensation: undoing the spill of each fluorochrome's light into its neighbours' detectors.
//!
//! The instrument measured `observed = true · S`, where row `i` of the spillover matrix `S`
//! (`$SPILLOVER`, [`Spillover`]) is how much of fluorochrome `i` each detector sees. So the
//! true signal is `observed · S⁻¹`, per event, over the matrix's channels — the same product
//! FlowKit computes (`numpy.linalg.solve(Sᵀ, eventsᵀ)ᵀ`). It applies to *scaled* values:
//! spill is a property of light, not of how a value was stored.
//!
//! The inverse is computed once per matrix (LU decomposition, `nalgebra`); a singular matrix
//! is refused. Applying it is one small matrix product per event, done by the pipeline in
//! blocks of events whose inputs stay in cache while every output channel is formed
//! ([`Compensation::combine`]).

use crate::error::{FcsError, Result};
use crate::params::{Parameter, Spillover};

/// A spillover matrix, matched to a dataset's channels and inverted.
#[derive(Debug, Clone)]
pub struct Compensation {
    /// 0-based parameter index of each matrix row/column, in matrix order.
    channels: Vec<usize>,
    /// `S⁻¹`, row-major.
    inverse: Vec<f64>,
}

impl Compensation {
    /// Matches `spillover`'s names to `parameters` (by `$PnN`; failing that, ignoring case and
    /// surrounding blanks) and inverts it.
    pub fn new(spillover: &Spillover, parameters: &[Parameter]) -> Result<Compensation> {
        let refuse = |reason: String| FcsError::argument("compensation", reason);
        let mut channels = Vec::with_capacity(spillover.n());
        for name in &spillover.names {
            let at = find_channel(parameters, name).ok_or_else(|| {
                refuse(format!(
                    "the file's {} names the channel `{name}`, which this dataset does not have",
                    spillover.keyword
                ))
            })?;
            if channels.contains(&at) {
                return Err(refuse(format!(
                    "the file's {} names the channel `{name}` twice",
                    spillover.keyword
                )));
            }
            channels.push(at);
        }
        let n = channels.len();
        let matrix = nalgebra::DMatrix::from_row_slice(n, n, &spillover.matrix);
        let inverse = matrix
            .try_inverse()
            .filter(|inverse| inverse.iter().all(|v| v.is_finite()))
            .ok_or_else(|| {
                refuse(format!(
                    "the file's {} is singular: it cannot be inverted",
                    spillover.keyword
                ))
            })?;
        // nalgebra stores column-major; keep row-major like the keyword.
        let inverse = inverse.transpose().as_slice().to_vec();
        Ok(Compensation { channels, inverse })
    }

    /// The channels the matrix covers (0-based parameter indices), in matrix order.
    pub fn channels(&self) -> &[usize] {
        &self.channels
    }

    /// Position of parameter `index` in the matrix, if it is one of its channels.
    pub fn position(&self, index: usize) -> Option<usize> {
        self.channels.iter().position(|&c| c == index)
    }

    /// The compensated values of matrix channel `position` for one block of events, into
    /// `out`: `inputs` holds the block's scaled values of every matrix channel, one after the
    /// other in matrix order, each `out.len()` long.
    pub fn combine(&self, inputs: &[f64], position: usize, out: &mut [f64]) {
        let n = self.channels.len();
        let column = (0..n).map(|k| self.inverse[k * n + position]);
        combine_block(column, inputs, out);
    }
}

/// `out = Σₖ coefficientₖ · inputₖ` over one block, four inputs per pass so `out` is read and
/// written a quarter as often. Compiled for AVX2 too, chosen at run time: the default x86-64
/// target has two-lane SIMD only.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn combine_block(column: impl Iterator<Item = f64>, inputs: &[f64], out: &mut [f64]) {
    let len = out.len();
    out.fill(0.0);
    let terms: Vec<(f64, &[f64])> = column
        .zip(inputs.chunks_exact(len))
        .filter(|(coefficient, _)| *coefficient != 0.0)
        .collect();
    let mut groups = terms.chunks_exact(4);
    for group in &mut groups {
        let [(c0, x0), (c1, x1), (c2, x2), (c3, x3)] = [group[0], group[1], group[2], group[3]];
        for i in 0..len {
            out[i] += c0 * x0[i] + c1 * x1[i] + c2 * x2[i] + c3 * x3[i];
        }
    }
    for &(coefficient, input) in groups.remainder() {
        out.iter_mut()
            .zip(input)
            .for_each(|(o, x)| *o += coefficient * x);
    }
}

fn find_channel(parameters: &[Parameter], name: &str) -> Option<usize> {
    parameters.iter().position(|p| p.pnn == name).or_else(|| {
        let name = name.trim();
        parameters
            .iter()
            .position(|p| p.pnn.trim().eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{DataType, Display};

    fn parameters(names: &[&str]) -> Vec<Parameter> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Parameter {
                index: i + 1,
                pnn: (*name).into(),
                pns: None,
                range: 1024.0,
                bits: Some(32),
                pne: None,
                png: None,
                display: Display::Log,
                data_type: DataType::Float,
            })
            .collect()
    }

    fn spill(names: &[&str], matrix: &[f64]) -> Spillover {
        Spillover {
            keyword: "$SPILLOVER".into(),
            names: names.iter().map(|n| n.to_string()).collect(),
            matrix: matrix.to_vec(),
        }
    }

    #[test]
    fn undoes_the_spill_it_describes() {
        // True signals (100, 0) and (0, 50); A spills 10% into B, B 20% into A.
        let s = spill(&["B", "A"], &[1.0, 0.2, 0.1, 1.0]);
        let params = parameters(&["FSC-A", "A", "B"]);
        let comp = Compensation::new(&s, &params).unwrap();
        assert_eq!(comp.channels(), &[2, 1]);
        // Observed = true · S in matrix order (B, A).
        let true_b = [100.0, 0.0];
        let true_a = [0.0, 50.0];
        let observed_b: Vec<f64> = (0..2).map(|e| true_b[e] + 0.1 * true_a[e]).collect();
        let observed_a: Vec<f64> = (0..2).map(|e| 0.2 * true_b[e] + true_a[e]).collect();
        let inputs = [observed_b, observed_a].concat();
        let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
        comp.combine(&inputs, 1, &mut a);
        comp.combine(&inputs, 0, &mut b);
        for (got, want) in a.iter().zip(true_a).chain(b.iter().zip(true_b)) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    #[test]
    fn refuses_unknown_channels_and_singular_matrices() {
        let params = parameters(&["A", "B"]);
        let unknown = Compensation::new(&spill(&["A", "C"], &[1.0, 0.0, 0.0, 1.0]), &params);
        assert!(unknown.unwrap_err().to_string().contains("`C`"));
        let singular = Compensation::new(&spill(&["A", "B"], &[1.0, 1.0, 1.0, 1.0]), &params);
        assert!(singular.unwrap_err().to_string().contains("singular"));
        let loose = Compensation::new(&spill(&[" a ", "B"], &[1.0, 0.0, 0.0, 1.0]), &params);
        assert_eq!(loose.unwrap().channels(), &[0, 1]);
    }
}
