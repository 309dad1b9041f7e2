//! Writing FCS 3.1 files (list mode, float32, little endian).
//!
//! The layout written is the simplest valid one:
//!
//! ```text
//! HEADER (58 bytes) | TEXT | DATA (events × parameters × 4 bytes)
//! ```
//!
//! Two details need care:
//!
//! * **Offsets.** TEXT contains `$BEGINDATA`/`$ENDDATA`, whose values depend on the length
//!   of TEXT itself. The writer sidesteps the circularity by printing those two numbers
//!   zero-padded to a fixed 20 digits, so TEXT's length is known before the offsets are.
//!   HEADER fields only have 8 digits: when an offset exceeds 99,999,999 the HEADER DATA
//!   fields are written as `0` and readers take the values from TEXT, as the standard says.
//! * **Escaping.** The delimiter is `/`; a `/` inside a keyword or value is doubled. A value
//!   that *starts* with the delimiter would be ambiguous after doubling, so in that case the
//!   writer picks another delimiter that appears nowhere in the TEXT. Empty values are not
//!   allowed by FCS 3.1 and are written as a single space.
//!
//! Values are stored as float32: what the engine reads back is each input rounded to `f32`.

use std::io::Write;
use std::path::Path;

use crate::error::{FcsError, Result};
use crate::params::{Display, MAX_NAME_BYTES};

/// Describes one parameter (column) to write.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteParameter {
    /// Short name, written as `$PnN` (must not be empty).
    pub name: String,
    /// Long name / stain, written as `$PnS` when present.
    pub label: Option<String>,
    /// Range, written as `$PnR`.
    pub range: f64,
    /// Display scale, written as `$PnD` (`Linear,0,range` or `Logarithmic,decades,1`).
    pub display: Option<Display>,
}

impl WriteParameter {
    /// A parameter with a name and range, no label, no display hint.
    pub fn new(name: impl Into<String>, range: f64) -> Self {
        WriteParameter {
            name: name.into(),
            label: None,
            range,
            display: None,
        }
    }
}

/// Keywords the writer computes itself; callers may not pass them as extras.
const RESERVED: &[&str] = &[
    "$BEGINANALYSIS",
    "$ENDANALYSIS",
    "$BEGINSTEXT",
    "$ENDSTEXT",
    "$BEGINDATA",
    "$ENDDATA",
    "$BYTEORD",
    "$DATATYPE",
    "$MODE",
    "$NEXTDATA",
    "$PAR",
    "$TOT",
];

fn is_reserved(key: &str) -> bool {
    let u = key.to_ascii_uppercase();
    if RESERVED.contains(&u.as_str()) {
        return true;
    }
    // $PnN, $PnS, $PnB, $PnE, $PnR, $PnD, $PnDATATYPE
    if let Some(rest) = u.strip_prefix("$P") {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            return matches!(
                &rest[digits..],
                "N" | "S" | "B" | "E" | "R" | "D" | "DATATYPE"
            );
        }
    }
    false
}

fn fmt_number(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn display_value(d: Display, range: f64) -> String {
    match d {
        Display::Lin => format!("Linear,0,{}", fmt_number(range)),
        Display::Log => {
            let decades = if range > 1.0 {
                range.log10().ceil().max(1.0)
            } else {
                4.0
            };
            format!("Logarithmic,{},1", fmt_number(decades))
        }
    }
}

/// Writes one FCS 3.1 dataset to `out`: float32 little-endian list-mode data.
///
/// `columns[p][e]` is parameter `p` of event `e`; every column must have the same length
/// and there must be one column per parameter. `extra` keywords are added to TEXT in the
/// given order (they may not override the keywords the writer manages, such as `$TOT`).
///
/// ```
/// use tessera_fcs::{write_fcs31, FcsFile, WriteParameter};
/// let params = [WriteParameter::new("FSC-A", 262144.0), WriteParameter::new("FL1-A", 262144.0)];
/// let cols = vec![vec![1.0, 2.0], vec![3.5, -4.0]];
/// let mut buf = Vec::new();
/// write_fcs31(&mut buf, &params, &cols, &[("$CYT", "example")])?;
/// let back = FcsFile::from_bytes(&buf)?.first().columns_raw()?;
/// assert_eq!(back.data, cols);
/// # Ok::<(), tessera_fcs::FcsError>(())
/// ```
pub fn write_fcs31<W: Write, C: AsRef<[f64]>, K: AsRef<str>, V: AsRef<str>>(
    out: W,
    params: &[WriteParameter],
    columns: &[C],
    extra: &[(K, V)],
) -> Result<()> {
    // Checked before anything is written: a refused call leaves `out` untouched.
    let n = if params.is_empty() {
        0
    } else {
        check_columns(params.len(), columns)?
    };
    let mut writer = Fcs31Writer::begin(out, params, n, extra)?;
    writer.write_events(columns)?;
    writer.finish()?;
    Ok(())
}

/// An FCS 3.1 file being written: HEADER and TEXT for a known number of events first, then the
/// events in blocks as they are computed, so a large file never sits whole in memory.
pub struct Fcs31Writer<W: Write> {
    out: W,
    parameters: usize,
    events_left: usize,
    buf: Vec<u8>,
}

impl<W: Write> Fcs31Writer<W> {
    /// Writes HEADER and TEXT of a file of `events` events of `params` (see [`write_fcs31`]).
    pub fn begin<K: AsRef<str>, V: AsRef<str>>(
        mut out: W,
        params: &[WriteParameter],
        events: usize,
        extra: &[(K, V)],
    ) -> Result<Self> {
        let n = events;
        if params.is_empty() {
            return Err(FcsError::InvalidInput(
                "at least one parameter is required".into(),
            ));
        }
        if let Some(p) = params.iter().find(|p| p.name.trim().is_empty()) {
            return Err(FcsError::InvalidInput(format!(
                "parameter {p:?} has an empty name"
            )));
        }
        check_name_lengths(params)?;
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in extra {
            let (k, v) = (k.as_ref(), v.as_ref());
            if k.trim().is_empty() {
                return Err(FcsError::InvalidInput("an extra keyword is empty".into()));
            }
            if is_reserved(k) {
                return Err(FcsError::InvalidInput(format!(
                    "extra keyword {k} is written by the writer itself"
                )));
            }
            pairs.push((k.to_owned(), v.to_owned()));
        }
        let p = params.len();
        // Columns may be many views of one slice, so n × p × 4 need not fit in memory — or u64.
        let data_len = (n as u64)
            .checked_mul(p as u64)
            .and_then(|v| v.checked_mul(4))
            .ok_or_else(|| {
                FcsError::InvalidInput(format!(
                    "{n} events × {p} parameters × 4 bytes do not fit in 64 bits"
                ))
            })?;

        let mut text_pairs: Vec<(String, String)> = vec![
            ("$BEGINANALYSIS".into(), "0".into()),
            ("$ENDANALYSIS".into(), "0".into()),
            ("$BEGINSTEXT".into(), "0".into()),
            ("$ENDSTEXT".into(), "0".into()),
            ("$BEGINDATA".into(), String::new()), // filled below
            ("$ENDDATA".into(), String::new()),
            ("$BYTEORD".into(), "1,2,3,4".into()),
            ("$DATATYPE".into(), "F".into()),
            ("$MODE".into(), "L".into()),
            ("$NEXTDATA".into(), "0".into()),
            ("$PAR".into(), p.to_string()),
            ("$TOT".into(), n.to_string()),
        ];
        for (i, prm) in params.iter().enumerate() {
            let k = i + 1;
            text_pairs.push((format!("$P{k}N"), prm.name.clone()));
            if let Some(l) = &prm.label {
                text_pairs.push((format!("$P{k}S"), l.clone()));
            }
            text_pairs.push((format!("$P{k}B"), "32".into()));
            text_pairs.push((format!("$P{k}E"), "0,0".into()));
            text_pairs.push((format!("$P{k}R"), fmt_number(prm.range)));
            if let Some(d) = prm.display {
                text_pairs.push((format!("$P{k}D"), display_value(d, prm.range)));
            }
        }
        text_pairs.extend(pairs);
        for (_, v) in text_pairs.iter_mut() {
            if v.is_empty() {
                *v = " ".into();
            }
        }

        let delim = choose_delimiter(&text_pairs);
        let render = |pairs: &[(String, String)]| -> Vec<u8> {
            let mut t = vec![delim];
            let d = delim as char;
            let dd: String = [d, d].iter().collect();
            for (k, v) in pairs {
                t.extend_from_slice(k.replace(d, &dd).as_bytes());
                t.push(delim);
                t.extend_from_slice(v.replace(d, &dd).as_bytes());
                t.push(delim);
            }
            t
        };
        // Fixed-width placeholders so that TEXT's length does not depend on the offsets.
        const W: usize = 20;
        text_pairs[4].1 = "0".repeat(W);
        text_pairs[5].1 = "0".repeat(W);
        let text_len = render(&text_pairs).len() as u64;
        let text_begin = 58u64;
        // TEXT is in memory, so text_begin + text_len cannot overflow; DATA may be near 2^64.
        let text_end = text_begin + text_len - 1;
        let data_begin = text_end + 1;
        let data_end = data_begin
            .checked_add(data_len.saturating_sub(1))
            .ok_or_else(|| {
                FcsError::InvalidInput(format!(
                    "DATA of {data_len} bytes after byte {data_begin} ends beyond byte 2^64"
                ))
            })?;
        text_pairs[4].1 = format!("{data_begin:0W$}");
        text_pairs[5].1 = format!("{:0W$}", if data_len == 0 { 0 } else { data_end });
        let text = render(&text_pairs);
        debug_assert_eq!(text.len() as u64, text_len);

        let fits = |x: u64| x <= 99_999_999;
        let (hb, he) = if data_len > 0 && fits(data_end) {
            (data_begin, data_end)
        } else {
            (0, 0)
        };
        let header = format!(
            "FCS3.1    {:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
            text_begin, text_end, hb, he, 0, 0
        );
        out.write_all(header.as_bytes())?;
        out.write_all(&text)?;

        Ok(Fcs31Writer {
            out,
            parameters: p,
            events_left: n,
            buf: Vec::new(),
        })
    }

    /// Appends the events of `columns` (one per parameter, all of one length), row-major.
    pub fn write_events<C: AsRef<[f64]>>(&mut self, columns: &[C]) -> Result<()> {
        let n = check_columns(self.parameters, columns)?;
        if n > self.events_left {
            return Err(FcsError::InvalidInput(format!(
                "{n} more events than the {} announced in $TOT",
                self.events_left
            )));
        }
        // Row-major, in chunks of events.
        const CHUNK: usize = 4096;
        let cols: Vec<&[f64]> = columns.iter().map(|c| c.as_ref()).collect();
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK).min(n);
            self.buf.clear();
            for e in start..end {
                for c in &cols {
                    self.buf.extend_from_slice(&(c[e] as f32).to_le_bytes());
                }
            }
            self.out.write_all(&self.buf)?;
            start = end;
        }
        self.events_left -= n;
        Ok(())
    }

    /// Checks that every announced event was written and flushes.
    pub fn finish(mut self) -> Result<W> {
        if self.events_left > 0 {
            return Err(FcsError::InvalidInput(format!(
                "{} events announced in $TOT were not written",
                self.events_left
            )));
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The number of events of `columns`: one column per parameter, all of one length.
fn check_columns<C: AsRef<[f64]>>(parameters: usize, columns: &[C]) -> Result<usize> {
    if columns.len() != parameters {
        return Err(FcsError::InvalidInput(format!(
            "{parameters} parameters but {} columns",
            columns.len()
        )));
    }
    let n = columns.first().map_or(0, |c| c.as_ref().len());
    if let Some((i, c)) = columns
        .iter()
        .enumerate()
        .find(|(_, c)| c.as_ref().len() != n)
    {
        return Err(FcsError::InvalidInput(format!(
            "column {} has {} values but column 1 has {n}",
            i + 1,
            c.as_ref().len()
        )));
    }
    Ok(n)
}

/// Refuses a name or label the reader would refuse (longer than [`MAX_NAME_BYTES`]).
fn check_name_lengths(params: &[WriteParameter]) -> Result<()> {
    for (i, prm) in params.iter().enumerate() {
        let k = i + 1;
        let names = [("N", Some(&prm.name)), ("S", prm.label.as_ref())];
        for (suffix, value) in names {
            let len = value.map_or(0, |v| v.trim().len());
            if len > MAX_NAME_BYTES {
                return Err(FcsError::ValueTooLong {
                    keyword: format!("$P{k}{suffix}"),
                    len,
                    max: MAX_NAME_BYTES,
                });
            }
        }
    }
    Ok(())
}

/// Writes an FCS 3.1 file at `path` (see [`write_fcs31`]).
pub fn write_fcs31_file<C: AsRef<[f64]>, K: AsRef<str>, V: AsRef<str>>(
    path: impl AsRef<Path>,
    params: &[WriteParameter],
    columns: &[C],
    extra: &[(K, V)],
) -> Result<()> {
    let path = path.as_ref();
    let f = std::fs::File::create(path).map_err(|source| FcsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    write_fcs31(
        std::io::BufWriter::with_capacity(1 << 20, f),
        params,
        columns,
        extra,
    )
}

/// `/` unless some keyword or value starts with `/`; then the first candidate that occurs
/// nowhere in the TEXT (so nothing needs escaping).
fn choose_delimiter(pairs: &[(String, String)]) -> u8 {
    let starts = |c: char| {
        pairs
            .iter()
            .any(|(k, v)| k.starts_with(c) || v.starts_with(c))
    };
    if !starts('/') {
        return b'/';
    }
    for c in ['|', '\\', '\u{0c}', '\u{1e}', '\u{1f}', '^', '~', '!'] {
        if !pairs.iter().any(|(k, v)| k.contains(c) || v.contains(c)) {
            return c as u8;
        }
    }
    // Every candidate occurs somewhere: keep one that at least starts no token.
    for c in ['|', '\\', '\u{0c}', '\u{1e}', '\u{1f}', '^', '~', '!'] {
        if !starts(c) {
            return c as u8;
        }
    }
    b'\x1e'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FcsFile;

    #[test]
    fn escaping_round_trip() {
        let params = [WriteParameter {
            name: "A/B".into(),
            label: Some("x//y/".into()),
            range: 1024.0,
            display: Some(Display::Log),
        }];
        let extra = [("NOTE", "a/b"), ("EMPTY", ""), ("LATIN", "Grüße ™")];
        let mut buf = Vec::new();
        write_fcs31(&mut buf, &params, &[vec![1.0f64, 2.0]], &extra).unwrap();
        let f = FcsFile::from_bytes(&buf).unwrap();
        let d = f.first();
        assert_eq!(d.parameters()[0].pnn, "A/B");
        assert_eq!(d.parameters()[0].pns.as_deref(), Some("x//y/"));
        assert_eq!(d.parameters()[0].display, Display::Log);
        assert_eq!(d.keyword("NOTE"), Some("a/b"));
        assert_eq!(d.keyword("EMPTY"), Some(" "));
        assert_eq!(d.keyword("LATIN"), Some("Grüße ™"));
        assert!(d.repairs().is_empty(), "{:?}", d.repairs());
    }

    #[test]
    fn leading_delimiter_switches_delimiter() {
        let params = [WriteParameter::new("/root", 10.0)];
        let mut buf = Vec::new();
        write_fcs31(&mut buf, &params, &[vec![1.0f64]], &[("K", "/v/")]).unwrap();
        assert_eq!(buf[58], b'|');
        let f = FcsFile::from_bytes(&buf).unwrap();
        assert_eq!(f.first().parameters()[0].pnn, "/root");
        assert_eq!(f.first().keyword("K"), Some("/v/"));
    }

    #[test]
    fn rejects_bad_input() {
        let p = [WriteParameter::new("A", 1.0)];
        let mut buf = Vec::new();
        let none: [(&str, &str); 0] = [];
        assert!(write_fcs31(&mut buf, &p, &[vec![1.0], vec![2.0]], &none).is_err());
        assert!(write_fcs31(&mut buf, &p, &[vec![1.0]], &[("$TOT", "3")]).is_err());
        assert!(write_fcs31(&mut buf, &p, &[vec![1.0]], &[("$p1n", "x")]).is_err());
        let p2 = [WriteParameter::new("A", 1.0), WriteParameter::new("B", 1.0)];
        assert!(write_fcs31(&mut buf, &p2, &[vec![1.0], vec![]], &none).is_err());
    }

    #[test]
    fn zero_events() {
        let p = [WriteParameter::new("A", 1.0)];
        let mut buf = Vec::new();
        let none: [(&str, &str); 0] = [];
        write_fcs31(&mut buf, &p, &[Vec::<f64>::new()], &none).unwrap();
        let f = FcsFile::from_bytes(&buf).unwrap();
        assert_eq!(f.first().event_count(), 0);
        assert_eq!(
            f.first().columns_raw().unwrap().data,
            vec![Vec::<f64>::new()]
        );
    }
}
