//! Per-parameter metadata (`$PnN`, `$PnS`, `$PnR`, `$PnB`, `$PnE`, `$PnG`, display scale)
//! and the compensation (spillover) matrix.
//!
//! A *parameter* is one measured channel (a column of the event table), for example
//! `FSC-A` or `FL1-H`. FCS numbers parameters from 1, and so does [`Parameter::index`].

use crate::error::{FcsError, Result};
use crate::text::Keywords;

/// Longest `$PnN` or `$PnS` accepted, in bytes (UTF-8, surrounding blanks trimmed).
///
/// The FCS standard sets no limit, but these names are served with every parameter list
/// and key every event row the service prints, so a 200,000-byte name would be copied into
/// every response. Instruments write at most a few dozen bytes (the longest in the test
/// corpus is 33); 256 leaves room for long stain descriptions. Old Latin-1 text counts its
/// bytes ≥ 0x80 twice (as UTF-8), which still leaves real names far below the limit.
pub const MAX_NAME_BYTES: usize = 256;

/// How a parameter's values are stored in DATA (`$DATATYPE`, or 3.2's `$PnDATATYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// `I`: unsigned integers of `$PnB` bits (any multiple of 8 up to 64), masked to `$PnR`.
    Int,
    /// `F`: IEEE-754 float32.
    Float,
    /// `D`: IEEE-754 float64.
    Double,
    /// `A`: ASCII digits, `$PnB` characters wide, or delimited when `$PnB` is `*`.
    Ascii,
}

impl DataType {
    pub(crate) fn parse(v: &str) -> Option<Self> {
        match v.trim().to_ascii_uppercase().as_str() {
            "I" => Some(DataType::Int),
            "F" => Some(DataType::Float),
            "D" => Some(DataType::Double),
            "A" => Some(DataType::Ascii),
            _ => None,
        }
    }
}

/// The scale a parameter is meant to be displayed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Linear axis (`LIN`).
    Lin,
    /// Logarithmic axis (`LOG`).
    Log,
}

impl Display {
    /// `"LIN"` or `"LOG"`, as the HTTP API prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Display::Lin => "LIN",
            Display::Log => "LOG",
        }
    }

    /// Applies the rules of `fcs.md`: `$PnD` first, then a vendor `PnDISPLAY`, else `LIN`
    /// for scatter, time and width channels and `LOG` for fluorescence.
    pub(crate) fn infer(kw: &Keywords, n: usize, pnn: &str) -> Display {
        if let Some(d) = kw.get(&format!("$P{n}D")) {
            let d = d.trim().to_ascii_lowercase();
            if d.starts_with("log") {
                return Display::Log;
            }
            if d.starts_with("lin") {
                return Display::Lin;
            }
        }
        for key in [format!("P{n}DISPLAY"), format!("$P{n}DISPLAY")] {
            if let Some(d) = kw.get(&key) {
                let d = d.trim().to_ascii_uppercase();
                if d.starts_with("LOG") {
                    return Display::Log;
                }
                if d.starts_with("LIN") {
                    return Display::Lin;
                }
            }
        }
        if is_linear_by_name(pnn) {
            Display::Lin
        } else {
            Display::Log
        }
    }
}

/// Scatter, time and width channels are linear by convention.
fn is_linear_by_name(pnn: &str) -> bool {
    let u = pnn.trim().to_ascii_uppercase();
    let scatter = ["FSC", "SSC", "FS", "SS"].iter().any(|p| {
        u == *p
            || u.strip_prefix(p)
                .is_some_and(|r| r.starts_with(['-', ' ', '_', '.']))
    });
    scatter
        || u.contains("TIME")
        || u.contains("WIDTH")
        || u.ends_with("-W")
        || u.starts_with("HDR")
}

/// Metadata of one parameter (channel).
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Position in the event, counting from 1 (`n` in `$PnN`).
    pub index: usize,
    /// Short name (`$PnN`), e.g. `FSC-A`.
    pub pnn: String,
    /// Long name / stain (`$PnS`, surrounding blanks trimmed), `None` when the file has no
    /// `$PnS` for this parameter.
    pub pns: Option<String>,
    /// Range (`$PnR`): the largest value the instrument can produce plus one, as written.
    pub range: f64,
    /// Bits per value (`$PnB`); `None` for delimited ASCII (`$PnB` = `*`).
    pub bits: Option<u32>,
    /// Log amplification (`$PnE` decades, offset) when present.
    pub pne: Option<(f64, f64)>,
    /// Gain (`$PnG`) when present.
    pub png: Option<f64>,
    /// How the parameter is meant to be displayed.
    pub display: Display,
    /// Storage type of this parameter's values.
    pub data_type: DataType,
}

impl Parameter {
    /// The bit mask applied to integer values: the next power of two ≥ `$PnR`, minus 1,
    /// limited to the stored width. `None` for non-integer parameters.
    pub fn int_mask(&self) -> Option<u64> {
        if self.data_type != DataType::Int {
            return None;
        }
        let bits = self.bits.unwrap_or(64).min(64);
        let width_mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let r = self.range;
        if !(r.is_finite() && r >= 1.0) {
            return Some(width_mask);
        }
        let r = r.ceil();
        let range_mask = if r > (1u64 << 63) as f64 {
            u64::MAX
        } else {
            let r = r as u64;
            // next power of two >= r, minus 1 (r = 1 gives 0).
            if r.is_power_of_two() {
                r - 1
            } else {
                r.checked_next_power_of_two().map_or(u64::MAX, |p| p - 1)
            }
        };
        Some(range_mask & width_mask)
    }

    /// True for a fluorescence channel: one that is not scatter, time or width (by `$PnN`).
    pub fn is_fluorescence(&self) -> bool {
        !is_linear_by_name(&self.pnn)
    }

    /// True when this looks like the time channel (`$PnN` is `Time`, any case).
    pub fn is_time(&self) -> bool {
        self.pnn.trim().eq_ignore_ascii_case("time")
    }
}

/// Parses `$PnE` (`"f1,f2"`, numbers possibly padded or written as floats).
pub(crate) fn parse_pne(v: &str) -> Option<(f64, f64)> {
    let mut it = v.split(',');
    let a = it.next()?.trim().parse::<f64>().ok()?;
    let b = it.next()?.trim().parse::<f64>().ok()?;
    Some((a, b))
}

/// A compensation matrix from `$SPILLOVER`, `$SPILL` or `SPILL`:
/// `n, name1..namen, n² values` (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Spillover {
    /// The keyword the matrix came from.
    pub keyword: String,
    /// Parameter names (`$PnN`) the matrix applies to, in matrix order.
    pub names: Vec<String>,
    /// `n × n` coefficients, row-major: `matrix[i * n + j]`.
    pub matrix: Vec<f64>,
}

impl Spillover {
    /// Number of parameters the matrix covers.
    pub fn n(&self) -> usize {
        self.names.len()
    }

    /// Coefficient at row `i`, column `j` (0-based).
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        let n = self.n();
        (i < n && j < n).then(|| self.matrix[i * n + j])
    }

    /// Finds and parses the spillover keyword of a dataset, if any.
    pub fn from_keywords(kw: &Keywords) -> Result<Option<Spillover>> {
        for key in ["$SPILLOVER", "$SPILL", "SPILL", "SPILLOVER"] {
            if let Some(v) = kw.get(key) {
                return Spillover::parse(key, v).map(Some);
            }
        }
        Ok(None)
    }

    fn parse(key: &str, v: &str) -> Result<Spillover> {
        let bad = |reason: String| FcsError::BadSpillover {
            keyword: key.to_owned(),
            reason,
        };
        let fields: Vec<&str> = v.split(',').map(str::trim).collect();
        let n: usize = fields[0]
            .parse::<f64>()
            .ok()
            .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 1e6)
            .map(|x| x as usize)
            .ok_or_else(|| bad(format!("first field {:?} is not a count", fields[0])))?;
        let need = n
            .checked_mul(n)
            .and_then(|nn| nn.checked_add(n + 1))
            .ok_or_else(|| bad(format!("count {n} is too large")))?;
        if fields.len() != need {
            return Err(bad(format!(
                "{n} parameters need {need} comma-separated fields (n, {n} names, {} values) but there are {}",
                n * n,
                fields.len()
            )));
        }
        let names = fields[1..=n].iter().map(|s| s.to_string()).collect();
        let matrix = fields[n + 1..]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.parse::<f64>()
                    .map_err(|_| bad(format!("value {} ({s:?}) is not a number", i + 1)))
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(Spillover {
            keyword: key.to_owned(),
            names,
            matrix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(range: f64, bits: u32) -> Parameter {
        Parameter {
            index: 1,
            pnn: "X".into(),
            pns: None,
            range,
            bits: Some(bits),
            pne: None,
            png: None,
            display: Display::Lin,
            data_type: DataType::Int,
        }
    }

    #[test]
    fn masks() {
        assert_eq!(p(1024.0, 16).int_mask(), Some(1023));
        assert_eq!(p(1000.0, 16).int_mask(), Some(1023));
        assert_eq!(p(1048576.0, 32).int_mask(), Some(1048575));
        assert_eq!(p(2147483647.0, 32).int_mask(), Some(0x7fff_ffff));
        assert_eq!(p(255.0, 8).int_mask(), Some(255));
        assert_eq!(p(11209599.0, 32).int_mask(), Some(0xff_ffff));
        assert_eq!(p(1e30, 64).int_mask(), Some(u64::MAX));
        assert_eq!(p(0.0, 16).int_mask(), Some(0xffff));
        assert_eq!(p(f64::NAN, 16).int_mask(), Some(0xffff));
        assert_eq!(p(70000.0, 16).int_mask(), Some(0xffff));
    }

    #[test]
    fn display_rules() {
        let kw = Keywords::from_pairs([("$P1D", "Logarithmic,4,0.1"), ("P2DISPLAY", "LIN")]);
        assert_eq!(Display::infer(&kw, 1, "FSC-A"), Display::Log);
        assert_eq!(Display::infer(&kw, 2, "FL1-A"), Display::Lin);
        assert_eq!(Display::infer(&kw, 3, "SSC-H"), Display::Lin);
        assert_eq!(Display::infer(&kw, 3, "Time"), Display::Lin);
        assert_eq!(Display::infer(&kw, 3, "FSC-Width"), Display::Lin);
        assert_eq!(Display::infer(&kw, 3, "FL3-W"), Display::Lin);
        assert_eq!(Display::infer(&kw, 3, "FL1-H"), Display::Log);
        assert_eq!(Display::infer(&kw, 3, "FSCAN"), Display::Log);
    }

    #[test]
    fn spillover_parse() {
        let kw = Keywords::from_pairs([("SPILL", "2,A,B,1,0.1,0.2,1")]);
        let s = Spillover::from_keywords(&kw).unwrap().unwrap();
        assert_eq!(s.names, vec!["A", "B"]);
        assert_eq!(s.get(0, 1), Some(0.1));
        assert_eq!(s.get(2, 0), None);
        let kw = Keywords::from_pairs([("$SPILLOVER", "6,A,B,C,D,E,F")]);
        let e = Spillover::from_keywords(&kw).unwrap_err().to_string();
        assert!(e.contains("need 43"), "{e}");
        let kw = Keywords::from_pairs([("$SPILLOVER", "99999999999")]);
        assert!(Spillover::from_keywords(&kw).is_err());
    }
}
