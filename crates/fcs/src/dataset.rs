//! Opening a file, walking its datasets, and validating each one before any data is decoded.
//!
//! An FCS file is one or more *datasets*. Each dataset starts with a 58-byte HEADER
//! (`FCS3.1` + offsets), then a TEXT segment of keywords, then a DATA segment of events.
//! `$NEXTDATA` in TEXT gives the offset of the next dataset, relative to the current one.
//!
//! [`FcsFile::open`] / [`FcsFile::from_bytes`] read every HEADER and TEXT, compute where each
//! DATA segment really is (see *offset repair* below) and check that the declared number of
//! events fits in the file. Only then does it return; decoding the events themselves happens
//! on request ([`Dataset::columns_raw`], [`Dataset::columns_scaled`]), so listing parameters
//! of a 100 MB file costs almost nothing.
//!
//! # Offset repair
//!
//! Instruments get DATA offsets wrong in a few recurring ways: an end offset one byte too
//! far, HEADER offsets that disagree with `$BEGINDATA`/`$ENDDATA`, blank or `99999999`
//! HEADER fields. The engine gathers every candidate (TEXT pair, HEADER pair and their
//! mixes) and picks the first that lies inside the file and whose length equals
//! `$TOT × bytes per event` (exactly, or one byte longer). If none fits it fails with an
//! error naming the offsets, the file size and how many events are present. Every repair
//! that was needed is recorded in [`Dataset::repairs`].

use std::path::Path;
use std::sync::Arc;

use crate::decode::{self, ByteOrder, Field, FieldKind};
use crate::error::{FcsError, Num, Result};
use crate::params::{parse_pne, DataType, Display, Parameter, Spillover};
use crate::text::{parse_text, Keywords};

/// Length of the fixed HEADER segment.
pub const HEADER_LEN: usize = 58;
/// Files at least this large are memory-mapped by [`FcsFile::open`]; smaller ones are read.
const MMAP_MIN_BYTES: u64 = 1 << 20;
/// Upper bound on datasets followed through `$NEXTDATA` (guards against hostile chains).
const MAX_DATASETS: usize = 4096;

/// The bytes of an opened file: memory-mapped or owned.
#[derive(Debug)]
enum Source {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Owned(v) => v,
            Source::Mapped(m) => m,
        }
    }
}

/// An opened FCS file: its datasets, validated and ready to decode.
///
/// ```no_run
/// let file = tessera_fcs::FcsFile::open("sample.fcs")?;
/// for ds in file.datasets() {
///     println!("{} events × {} parameters", ds.event_count(), ds.parameters().len());
/// }
/// # Ok::<(), tessera_fcs::FcsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FcsFile {
    datasets: Vec<Dataset>,
}

impl FcsFile {
    /// Opens a file from disk. Files of 1 MiB or more are memory-mapped (the file must not
    /// be modified while it is open); smaller ones are read into memory.
    pub fn open(path: impl AsRef<Path>) -> Result<FcsFile> {
        let path = path.as_ref();
        let io = |source| FcsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let source = if len >= MMAP_MIN_BYTES {
            Source::Mapped(map_file(&file).map_err(io)?)
        } else {
            let mut v = Vec::with_capacity(len as usize);
            std::io::Read::read_to_end(&mut &file, &mut v).map_err(io)?;
            Source::Owned(v)
        };
        FcsFile::from_source(Arc::new(source))
    }

    /// Parses a file held in memory (the bytes are copied once).
    pub fn from_bytes(bytes: &[u8]) -> Result<FcsFile> {
        FcsFile::from_vec(bytes.to_vec())
    }

    /// Parses a file held in memory, taking ownership of the buffer (no copy).
    pub fn from_vec(bytes: Vec<u8>) -> Result<FcsFile> {
        FcsFile::from_source(Arc::new(Source::Owned(bytes)))
    }

    fn from_source(source: Arc<Source>) -> Result<FcsFile> {
        let mut datasets = Vec::new();
        let mut offset = 0usize;
        loop {
            let index = datasets.len();
            let (ds, next) = parse_dataset(&source, offset, index).map_err(|e| {
                if index == 0 {
                    e
                } else {
                    FcsError::InDataset {
                        index,
                        offset: Num(offset as u64),
                        source: Box::new(e),
                    }
                }
            })?;
            datasets.push(ds);
            match next {
                Some(n) if datasets.len() < MAX_DATASETS => offset = n,
                _ => break,
            }
        }
        Ok(FcsFile { datasets })
    }

    /// All datasets, in file order (there is always at least one).
    pub fn datasets(&self) -> &[Dataset] {
        &self.datasets
    }

    /// The first dataset (what most tools show).
    pub fn first(&self) -> &Dataset {
        &self.datasets[0]
    }

    /// Consumes the file, returning its datasets (each keeps the file's bytes alive).
    pub fn into_datasets(self) -> Vec<Dataset> {
        self.datasets
    }
}

#[allow(unsafe_code)]
fn map_file(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only. As with every mmap, another process truncating or
    // rewriting the file while it is mapped is undefined behaviour; the engine documents
    // that opened files must not be modified (uploads are written once, then read).
    // `populate` pre-faults the whole mapping in one call (MAP_POPULATE) instead of one
    // page fault per 4 KiB page while decoding; the file is about to be read in full anyway.
    unsafe { memmap2::MmapOptions::new().populate().map(file) }
}

/// Where and how the events of a dataset are stored.
#[derive(Debug, Clone)]
enum Layout {
    Binary {
        fields: Vec<Field>,
        bpe: usize,
        order: ByteOrder,
    },
    AsciiFixed {
        fields: Vec<Field>,
        bpe: usize,
    },
    AsciiDelimited,
}

/// One dataset: metadata plus the location of its events.
///
/// Cheap to clone (the file's bytes are shared).
#[derive(Debug, Clone)]
pub struct Dataset {
    source: Arc<Source>,
    index: usize,
    offset: usize,
    version: String,
    keywords: Keywords,
    parameters: Vec<Parameter>,
    event_count: usize,
    data_begin: usize,
    data_len: usize,
    layout: Layout,
    repairs: Vec<String>,
}

/// Decoded events, one `f64` column per parameter (column-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    /// Parameter short names (`$PnN`), one per column.
    pub names: Vec<String>,
    /// The values: `data[p][e]` is parameter `p` (0-based) of event `e`.
    pub data: Vec<Vec<f64>>,
}

impl Columns {
    /// Number of events (rows).
    pub fn event_count(&self) -> usize {
        self.data.first().map_or(0, Vec::len)
    }

    /// Number of parameters (columns).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Column `i` (0-based).
    pub fn column(&self, i: usize) -> Option<&[f64]> {
        self.data.get(i).map(Vec::as_slice)
    }

    /// The column whose `$PnN` is `name` (exact match).
    pub fn by_name(&self, name: &str) -> Option<&[f64]> {
        let i = self.names.iter().position(|n| n == name)?;
        self.column(i)
    }

    /// Event `e` as a row (allocates; for display, not for bulk work).
    pub fn row(&self, e: usize) -> Option<Vec<f64>> {
        self.data.iter().map(|c| c.get(e).copied()).collect()
    }
}

impl Dataset {
    /// The version from the HEADER, e.g. `"FCS3.1"`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// 0-based position of this dataset in the file.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Byte where this dataset's HEADER starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// All keywords (TEXT plus supplemental TEXT), case-insensitive lookup.
    pub fn keywords(&self) -> &Keywords {
        &self.keywords
    }

    /// Shorthand for `keywords().get(key)`.
    pub fn keyword(&self, key: &str) -> Option<&str> {
        self.keywords.get(key)
    }

    /// The parameters (channels), in event order; `parameters()[0].index == 1`.
    pub fn parameters(&self) -> &[Parameter] {
        &self.parameters
    }

    /// Number of events that will be decoded (`$TOT`, validated against the file).
    pub fn event_count(&self) -> usize {
        self.event_count
    }

    /// Byte range of the DATA actually used (absolute in the file, end exclusive).
    pub fn data_range(&self) -> std::ops::Range<usize> {
        self.data_begin..self.data_begin + self.data_len
    }

    /// Repairs and oddities noticed while reading (empty for a well-formed file), e.g.
    /// `"DATA end offset is one byte too far; ignored the extra byte"`.
    pub fn repairs(&self) -> &[String] {
        &self.repairs
    }

    /// The compensation matrix (`$SPILLOVER`, `$SPILL` or `SPILL`), `Ok(None)` when absent.
    pub fn spillover(&self) -> Result<Option<Spillover>> {
        Spillover::from_keywords(&self.keywords)
    }

    /// Decodes every event as stored: integers masked to `$PnR`, floats as written, no
    /// `$PnE`/`$PnG`/`$TIMESTEP` scaling.
    pub fn columns_raw(&self) -> Result<Columns> {
        self.columns_raw_range(0..self.event_count)
    }

    /// Decodes events `range` only (clamped to the event count), raw.
    pub fn columns_raw_range(&self, range: std::ops::Range<usize>) -> Result<Columns> {
        let start = range.start.min(self.event_count);
        let end = range.end.clamp(start, self.event_count);
        let n = end - start;
        let bytes = &self.source.bytes()[self.data_begin..self.data_begin + self.data_len];
        let data = match &self.layout {
            Layout::Binary { fields, bpe, order } => {
                decode::decode_binary(&bytes[start * bpe..], n, *bpe, fields, order)
            }
            Layout::AsciiFixed { fields, bpe } => {
                decode::decode_ascii_fixed(&bytes[start * bpe..], n, *bpe, fields)?
            }
            Layout::AsciiDelimited => {
                let mut all = decode::decode_ascii_delimited(bytes, end, self.parameters.len())?;
                for c in &mut all {
                    c.drain(..start);
                }
                all
            }
        };
        Ok(Columns {
            names: self.parameters.iter().map(|p| p.pnn.clone()).collect(),
            data,
        })
    }

    /// Decodes every event and applies scaling: `$PnE` log amplification for integer data
    /// (`10^(f1·x/PnR)·f2`, with f2 = 1 when f2 = 0), `$TIMESTEP` for the time channel,
    /// and division by `$PnG` for other linear channels.
    pub fn columns_scaled(&self) -> Result<Columns> {
        let mut cols = self.columns_raw()?;
        let timestep = self
            .keywords
            .get("$TIMESTEP")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0);
        for (p, col) in self.parameters.iter().zip(cols.data.iter_mut()) {
            scale_column(p, timestep, col);
        }
        Ok(cols)
    }
}

fn scale_column(p: &Parameter, timestep: Option<f64>, col: &mut [f64]) {
    if let (DataType::Int, Some((f1, f2))) = (p.data_type, p.pne) {
        if f1 > 0.0 && p.range > 0.0 {
            let f2 = if f2 == 0.0 { 1.0 } else { f2 };
            let r = p.range;
            col.iter_mut()
                .for_each(|v| *v = 10f64.powf(f1 * *v / r) * f2);
            return;
        }
    }
    if p.is_time() {
        if let Some(t) = timestep {
            col.iter_mut().for_each(|v| *v *= t);
        }
        return;
    }
    if let Some(g) = p.png.filter(|g| g.is_finite() && *g > 0.0 && *g != 1.0) {
        col.iter_mut().for_each(|v| *v /= g);
    }
}

/// Parsed HEADER offsets (relative to the dataset start).
struct Header {
    version: String,
    text: (u64, u64),
    data: (Option<u64>, Option<u64>),
}

fn parse_header(b: &[u8], base: usize) -> Result<Header> {
    let h = b.get(base..base + HEADER_LEN).ok_or(FcsError::TooShort {
        len: b.len(),
        offset: base,
    })?;
    if &h[..3] != b"FCS" {
        return Err(FcsError::NotFcs {
            offset: base,
            found: String::from_utf8_lossy(&h[..6]).into_owned(),
        });
    }
    let version = String::from_utf8_lossy(&h[..6]).into_owned();
    if !matches!(version.as_str(), "FCS2.0" | "FCS3.0" | "FCS3.1" | "FCS3.2") {
        return Err(FcsError::UnsupportedVersion {
            offset: base,
            version,
        });
    }
    const NAMES: [&str; 4] = ["TEXT begin", "TEXT end", "DATA begin", "DATA end"];
    let mut vals = [None; 4];
    for (i, name) in NAMES.iter().enumerate() {
        let (s, e) = (10 + 8 * i, 18 + 8 * i);
        let raw = String::from_utf8_lossy(&h[s..e]);
        let t = raw.trim_matches(|c: char| c == ' ' || c == '\0');
        if t.is_empty() {
            continue;
        }
        match t.parse::<u64>() {
            Ok(v) => vals[i] = Some(v),
            Err(_) if i >= 2 => {} // DATA offsets also live in TEXT; judged later
            Err(_) => {
                return Err(FcsError::BadHeaderField {
                    field: name,
                    begin: base + s,
                    end: base + e,
                    value: raw.into_owned(),
                })
            }
        }
    }
    let (Some(tb), Some(te)) = (vals[0], vals[1]) else {
        return Err(FcsError::BadText {
            detail: format!("offsets are blank in the HEADER at byte {base}"),
        });
    };
    Ok(Header {
        version,
        text: (tb, te),
        data: (vals[2], vals[3]),
    })
}

fn kw_u64(kw: &Keywords, key: &str) -> Result<Option<u64>> {
    match kw.get(key) {
        None => Ok(None),
        Some(v) => {
            let t = v.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<u64>()
                .map(Some)
                .or_else(|_| {
                    // Some writers use float notation for counts ("1.0E4").
                    match t.parse::<f64>() {
                        Ok(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(Some(f as u64)),
                        _ => Err(()),
                    }
                })
                .map_err(|_| FcsError::InvalidKeyword {
                    keyword: key.to_owned(),
                    value: v.chars().take(60).collect(),
                    reason: "not a non-negative integer".into(),
                })
        }
    }
}

fn required<'a>(kw: &'a Keywords, key: &str) -> Result<&'a str> {
    kw.get(key).ok_or_else(|| FcsError::MissingKeyword {
        keyword: key.to_owned(),
    })
}

/// Reads one dataset starting at `base`; returns it and the offset of the next one.
fn parse_dataset(
    source: &Arc<Source>,
    base: usize,
    index: usize,
) -> Result<(Dataset, Option<usize>)> {
    let b = source.bytes();
    let len = b.len();
    let header = parse_header(b, base)?;
    let mut repairs = Vec::new();

    // TEXT
    let (tb, te) = header.text;
    let abs_tb = (base as u64).saturating_add(tb);
    let abs_te = (base as u64).saturating_add(te);
    if tb < HEADER_LEN as u64 || te < tb {
        return Err(FcsError::BadText {
            detail: format!("offsets {tb}..{te} in the HEADER at byte {base} are invalid"),
        });
    }
    if abs_te >= len as u64 {
        return Err(FcsError::BadText {
            detail: format!(
                "ends at byte {} but the file has {} bytes",
                Num(abs_te),
                Num(len as u64)
            ),
        });
    }
    let seg = &b[abs_tb as usize..=abs_te as usize];
    let (mut kw, notes) = parse_text(seg).ok_or_else(|| FcsError::BadText {
        detail: format!("at byte {abs_tb} is empty"),
    })?;
    if kw.is_empty() {
        return Err(FcsError::BadText {
            detail: format!("at bytes {abs_tb}..={abs_te} holds no keyword/value pairs"),
        });
    }
    if notes.trailing_padding > 0 {
        repairs.push(format!(
            "ignored {} padding bytes after the last TEXT delimiter",
            notes.trailing_padding
        ));
    }
    if notes.unterminated {
        repairs.push("TEXT does not end with its delimiter".into());
    }
    if let Some(k) = notes.dangling_key {
        repairs.push(format!(
            "dropped keyword {k:?} without a value at the end of TEXT"
        ));
    }
    if notes.duplicates > 0 {
        repairs.push(format!(
            "{} duplicate keyword(s) in TEXT; the last value wins",
            notes.duplicates
        ));
    }
    merge_supplemental_text(b, base, &mut kw, &mut repairs);

    // Mode, type, byte order
    if let Some(m) = kw.get("$MODE") {
        if !m.trim().eq_ignore_ascii_case("L") {
            return Err(FcsError::Unsupported(format!(
                "$MODE {:?} (only list mode L is read)",
                m.trim()
            )));
        }
    }
    let dt_raw = required(&kw, "$DATATYPE")?;
    let datatype = DataType::parse(dt_raw).ok_or_else(|| FcsError::InvalidKeyword {
        keyword: "$DATATYPE".into(),
        value: dt_raw.to_owned(),
        reason: "expected I, F, D or A".into(),
    })?;
    let order = match kw.get("$BYTEORD") {
        Some(v) => ByteOrder::parse(v).ok_or_else(|| FcsError::InvalidKeyword {
            keyword: "$BYTEORD".into(),
            value: v.to_owned(),
            reason: "expected a permutation such as 1,2,3,4 or 4,3,2,1".into(),
        })?,
        None if datatype == DataType::Ascii => ByteOrder::Little,
        None => {
            repairs.push("$BYTEORD missing; assumed little endian".into());
            ByteOrder::Little
        }
    };

    // Parameters
    let par_raw = required(&kw, "$PAR")?;
    let par = kw_u64(&kw, "$PAR")?.unwrap_or(0);
    if par == 0 {
        return Err(FcsError::InvalidKeyword {
            keyword: "$PAR".into(),
            value: par_raw.to_owned(),
            reason: "a dataset needs at least one parameter".into(),
        });
    }
    if par > kw.distinct_len() as u64 {
        return Err(FcsError::InvalidKeyword {
            keyword: "$PAR".into(),
            value: par_raw.to_owned(),
            reason: format!(
                "claims {par} parameters but TEXT holds only {} keywords",
                kw.distinct_len()
            ),
        });
    }
    let par = par as usize;
    let mut parameters = Vec::with_capacity(par);
    let mut fields = Vec::with_capacity(par);
    let mut bpe = 0usize;
    let mut delimited = false;
    for n in 1..=par {
        let (p, width) = parse_parameter(&kw, n, datatype, &header.version, &mut repairs)?;
        if datatype == DataType::Ascii && p.bits.is_none() {
            delimited = true;
        }
        let kind = match p.data_type {
            DataType::Int => FieldKind::Int {
                mask: p.int_mask().unwrap_or(u64::MAX),
            },
            DataType::Float => FieldKind::F32,
            DataType::Double => FieldKind::F64,
            DataType::Ascii => FieldKind::Ascii,
        };
        fields.push(Field {
            offset: bpe,
            width,
            kind,
        });
        bpe += width;
        parameters.push(p);
    }
    if delimited && parameters.iter().any(|p| p.bits.is_some()) {
        return Err(FcsError::Unsupported(
            "ASCII DATA mixing delimited ($PnB = *) and fixed-width parameters".into(),
        ));
    }

    // Events and DATA location
    let tot = kw_u64(&kw, "$TOT")?;
    let (data_begin, data_len, event_count) = locate_data(
        b,
        base,
        &header,
        &kw,
        tot,
        if delimited { None } else { Some(bpe) },
        &mut repairs,
    )?;

    let layout = if delimited {
        Layout::AsciiDelimited
    } else if datatype == DataType::Ascii {
        Layout::AsciiFixed { fields, bpe }
    } else {
        Layout::Binary { fields, bpe, order }
    };

    // Next dataset
    let next = match kw_u64(&kw, "$NEXTDATA") {
        Ok(Some(n)) if n > 0 => {
            let abs = (base as u64).saturating_add(n);
            if abs.saturating_add(HEADER_LEN as u64) > len as u64 {
                repairs.push(format!(
                    "$NEXTDATA points to byte {abs}, past the end of the file; ignored"
                ));
                None
            } else if &b[abs as usize..abs as usize + 3] != b"FCS" {
                repairs.push(format!(
                    "$NEXTDATA points to byte {abs}, where no FCS HEADER starts; ignored"
                ));
                None
            } else {
                Some(abs as usize)
            }
        }
        Ok(_) => None,
        Err(_) => {
            repairs.push("$NEXTDATA is not a number; ignored".into());
            None
        }
    };

    Ok((
        Dataset {
            source: Arc::clone(source),
            index,
            offset: base,
            version: header.version,
            keywords: kw,
            parameters,
            event_count,
            data_begin,
            data_len,
            layout,
            repairs,
        },
        next,
    ))
}

/// Merges `$BEGINSTEXT..$ENDSTEXT` when it plausibly holds keywords (some vendors store
/// other things there, e.g. a ZIP archive); primary TEXT keywords win.
fn merge_supplemental_text(b: &[u8], base: usize, kw: &mut Keywords, repairs: &mut Vec<String>) {
    let (Ok(Some(sb)), Ok(Some(se))) = (kw_u64(kw, "$BEGINSTEXT"), kw_u64(kw, "$ENDSTEXT")) else {
        return;
    };
    if sb == 0 || se <= sb {
        return;
    }
    let (abs_b, abs_e) = (
        (base as u64).saturating_add(sb),
        (base as u64).saturating_add(se),
    );
    let Some(seg) = b.get(abs_b as usize..=abs_e.min(usize::MAX as u64 - 1) as usize) else {
        repairs.push("supplemental TEXT lies outside the file; ignored".into());
        return;
    };
    let d = seg[0];
    if !(d.is_ascii_punctuation() || (d.is_ascii_control() && d != 0)) {
        repairs.push("supplemental TEXT does not start with a delimiter; ignored".into());
        return;
    }
    if let Some((extra, _)) = parse_text(seg) {
        let before = kw.len();
        for (k, v) in extra.iter() {
            kw.push_if_absent(k.to_owned(), v.to_owned());
        }
        if kw.len() == before {
            return;
        }
        repairs.push(format!(
            "merged {} keywords from supplemental TEXT",
            kw.len() - before
        ));
    }
}

/// Reads the keywords of parameter `n`; returns it and its width in bytes.
fn parse_parameter(
    kw: &Keywords,
    n: usize,
    datatype: DataType,
    version: &str,
    repairs: &mut Vec<String>,
) -> Result<(Parameter, usize)> {
    let key = |s: &str| format!("$P{n}{s}");
    let pnn = match kw.get(&key("N")) {
        Some(v) => v.trim().to_owned(),
        None if version == "FCS2.0" => format!("P{n}"),
        None => {
            return Err(FcsError::MissingKeyword { keyword: key("N") });
        }
    };
    let pns = kw.get(&key("S")).map(|s| s.trim().to_owned());
    let data_type = match kw.get(&key("DATATYPE")) {
        Some(v) => DataType::parse(v)
            .filter(|t| *t != DataType::Ascii)
            .ok_or_else(|| FcsError::InvalidKeyword {
                keyword: key("DATATYPE"),
                value: v.to_owned(),
                reason: "expected I, F or D".into(),
            })?,
        None => datatype,
    };
    if datatype == DataType::Ascii && data_type != DataType::Ascii {
        return Err(FcsError::Unsupported(format!(
            "{} with $DATATYPE A",
            key("DATATYPE")
        )));
    }
    let b_key = key("B");
    let b_raw = kw.get(&b_key);
    let bits: Option<u32> = match b_raw.map(str::trim) {
        Some("*") if data_type == DataType::Ascii => None,
        Some(v) => Some(v.parse::<u32>().map_err(|_| FcsError::InvalidKeyword {
            keyword: b_key.clone(),
            value: v.to_owned(),
            reason: "bits per value must be a number".into(),
        })?),
        None => match data_type {
            DataType::Float => Some(32),
            DataType::Double => Some(64),
            _ => return Err(FcsError::MissingKeyword { keyword: b_key }),
        },
    };
    let width = match (data_type, bits) {
        (_, Some(0)) => {
            return Err(FcsError::InvalidKeyword {
                keyword: b_key,
                value: "0".into(),
                reason: "a parameter cannot be 0 bits wide".into(),
            })
        }
        (DataType::Int, Some(bits)) => {
            if bits % 8 != 0 || bits > 64 {
                return Err(FcsError::InvalidKeyword {
                    keyword: b_key,
                    value: bits.to_string(),
                    reason: "integer widths must be a multiple of 8 bits, at most 64".into(),
                });
            }
            (bits / 8) as usize
        }
        (DataType::Float, b) => {
            if b != Some(32) {
                repairs.push(format!("{b_key} is {b:?} for float32 data; used 32 bits"));
            }
            4
        }
        (DataType::Double, b) => {
            if b != Some(64) {
                repairs.push(format!("{b_key} is {b:?} for float64 data; used 64 bits"));
            }
            8
        }
        (DataType::Ascii, Some(chars)) => {
            if chars > 64 {
                return Err(FcsError::InvalidKeyword {
                    keyword: b_key,
                    value: chars.to_string(),
                    reason: "ASCII values wider than 64 characters".into(),
                });
            }
            chars as usize
        }
        (_, None) => 0,
    };
    let range = match kw.get(&key("R")) {
        Some(v) => v
            .trim()
            .parse::<f64>()
            .map_err(|_| FcsError::InvalidKeyword {
                keyword: key("R"),
                value: v.to_owned(),
                reason: "range must be a number".into(),
            })?,
        None => {
            let bits = bits.unwrap_or(0).min(64);
            repairs.push(format!("{} missing; assumed 2^{bits}", key("R")));
            2f64.powi(bits as i32)
        }
    };
    let pne = kw.get(&key("E")).and_then(parse_pne);
    let png = kw.get(&key("G")).and_then(|v| v.trim().parse::<f64>().ok());
    let display = Display::infer(kw, n, &pnn);
    Ok((
        Parameter {
            index: n,
            pnn,
            pns,
            range,
            bits,
            pne,
            png,
            display,
            data_type,
        },
        width,
    ))
}

/// One way of reading the DATA offsets.
struct Candidate {
    source: &'static str,
    begin: u64,
    end: Option<u64>,
}

/// Applies the offset-repair policy; returns (absolute begin, length in bytes, events).
fn locate_data(
    b: &[u8],
    base: usize,
    header: &Header,
    kw: &Keywords,
    tot: Option<u64>,
    bpe: Option<usize>,
    repairs: &mut Vec<String>,
) -> Result<(usize, usize, usize)> {
    let len = b.len() as u64;
    let base64 = base as u64;
    let usable = |v: Option<u64>| v.filter(|&x| x != 0 && x != 99_999_999);
    let text_b = kw_u64(kw, "$BEGINDATA").ok().flatten();
    let text_e = kw_u64(kw, "$ENDDATA").ok().flatten();
    let (hb, he) = header.data;
    let hb_u = usable(hb);
    let he_u = usable(he);

    let mut cands: Vec<Candidate> = Vec::new();
    let mut add = |source, begin: Option<u64>, end: Option<u64>| {
        if let Some(begin) = begin.filter(|&x| x != 0) {
            if !cands.iter().any(|c| c.begin == begin && c.end == end) {
                cands.push(Candidate { source, begin, end });
            }
        }
    };
    let text_b = usable(text_b);
    let text_e = usable(text_e);
    if text_e.is_some() {
        add("TEXT $BEGINDATA/$ENDDATA", text_b, text_e);
    }
    if he_u.is_some() {
        add("HEADER", hb_u, he_u);
    }
    if he_u.is_some() {
        add("TEXT $BEGINDATA with HEADER end", text_b, he_u);
    }
    if text_e.is_some() {
        add("HEADER begin with TEXT $ENDDATA", hb_u, text_e);
    }
    // A begin without any usable end (blank or 99999999 HEADER, no $ENDDATA).
    if text_e.is_none() && he_u.is_none() {
        add("TEXT $BEGINDATA alone", text_b, None);
        add("HEADER begin alone", hb_u, None);
    }

    let Some(bpe) = bpe.filter(|&x| x > 0) else {
        // Delimited ASCII: take the first segment inside the file.
        let tot = tot.ok_or_else(|| FcsError::MissingKeyword {
            keyword: "$TOT".into(),
        })?;
        for c in &cands {
            if let Some(e) = c.end.filter(|&e| e >= c.begin) {
                let (ab, ae) = (base64 + c.begin, base64 + e);
                if ae < len {
                    let seg = ae - ab + 1;
                    // Each value needs at least one digit and one separator.
                    let max_values = seg.div_ceil(2);
                    let par = kw_u64(kw, "$PAR").ok().flatten().unwrap_or(1).max(1);
                    if tot.saturating_mul(par) > max_values {
                        return Err(FcsError::DataMismatch {
                            detail: format!(
                                "$TOT {} events × {par} ASCII values cannot fit in {} DATA bytes",
                                Num(tot),
                                Num(seg)
                            ),
                        });
                    }
                    return Ok((ab as usize, seg as usize, tot as usize));
                }
            }
        }
        return Err(FcsError::DataMismatch {
            detail: "no DATA offsets in HEADER or TEXT lie inside the file".into(),
        });
    };
    let bpe64 = bpe as u64;

    if tot == Some(0) {
        return Ok((base.min(b.len()), 0, 0));
    }
    if cands.is_empty() {
        return Err(FcsError::DataMismatch {
            detail: format!(
                "the HEADER DATA offsets are {} and TEXT has no $BEGINDATA/$ENDDATA",
                fmt_pair(hb, he)
            ),
        });
    }

    let Some(tot) = tot else {
        // No $TOT (allowed in FCS 2.0): the first segment inside the file decides.
        for c in &cands {
            if let Some(e) = c.end.filter(|&e| e >= c.begin) {
                let (ab, ae) = (base64 + c.begin, base64 + e);
                if ae < len {
                    let seg = ae - ab + 1;
                    repairs.push(format!(
                        "$TOT missing; counted {} events from the DATA length",
                        seg / bpe64
                    ));
                    return Ok((ab as usize, seg as usize, (seg / bpe64) as usize));
                }
            }
        }
        return Err(FcsError::MissingKeyword {
            keyword: "$TOT".into(),
        });
    };

    let need = tot
        .checked_mul(bpe64)
        .ok_or_else(|| FcsError::InvalidKeyword {
            keyword: "$TOT".into(),
            value: tot.to_string(),
            reason: format!("{tot} events × {bpe} bytes overflows"),
        })?;

    // Pass 1: exact length, inside the file. Pass 2: one byte too long. Pass 3: begin only.
    for pass in 0..3 {
        for c in &cands {
            let ab = base64.saturating_add(c.begin);
            let fits = ab.checked_add(need).is_some_and(|e| e <= len);
            if !fits {
                continue;
            }
            let ok = match (pass, c.end) {
                (0, Some(e)) => e >= c.begin && e - c.begin + 1 == need,
                (1, Some(e)) => e >= c.begin && e - c.begin == need,
                (2, None) => true,
                _ => false,
            };
            if ok {
                let header_pair = (hb_u, he_u);
                if c.source == "TEXT $BEGINDATA/$ENDDATA"
                    && header_pair.0.is_some()
                    && header_pair != (Some(c.begin), c.end)
                {
                    repairs.push(format!(
                        "DATA offsets: HEADER {} disagrees with TEXT {}; used TEXT",
                        fmt_pair(hb, he),
                        fmt_pair(text_b, text_e)
                    ));
                } else if c.source != "TEXT $BEGINDATA/$ENDDATA" && text_b.is_some() {
                    repairs.push(format!(
                        "DATA offsets: HEADER {} and TEXT {} disagree; used {} ({}..={})",
                        fmt_pair(hb, he),
                        fmt_pair(text_b, text_e),
                        c.source,
                        c.begin,
                        c.begin + need - 1
                    ));
                } else if c.source != "TEXT $BEGINDATA/$ENDDATA" && c.source != "HEADER" {
                    repairs.push(format!(
                        "DATA offsets: used {} ({}..={})",
                        c.source,
                        c.begin,
                        c.begin + need - 1
                    ));
                }
                if pass == 1 {
                    repairs
                        .push("DATA end offset is one byte too far; ignored the extra byte".into());
                }
                if hb.is_none() || he.is_none() {
                    repairs.push("HEADER DATA offsets are blank; used TEXT".into());
                }
                return Ok((ab as usize, need as usize, tot as usize));
            }
        }
    }

    // Nothing fits. Is the file truncated (a candidate with the right length runs past EOF)?
    for c in &cands {
        let right_len = match c.end {
            Some(e) => e >= c.begin && (e - c.begin + 1 == need || e - c.begin == need),
            None => true,
        };
        let ab = base64.saturating_add(c.begin);
        if right_len && ab.saturating_add(need) > len {
            let present = len.saturating_sub(ab) / bpe64;
            let end = c
                .end
                .map_or(ab.saturating_add(need) - 1, |e| base64.saturating_add(e));
            return Err(FcsError::TruncatedData {
                end: Num(end),
                file_len: Num(len),
                present: Num(present.min(tot)),
                declared: Num(tot),
            });
        }
    }
    // $TOT needs more bytes than the file has after the DATA start: report it as truncation.
    if let Some(c) = cands.iter().find(|c| base64.saturating_add(c.begin) < len) {
        let ab = base64 + c.begin;
        if ab.saturating_add(need) > len {
            let mut avail = len - ab;
            if let Some(e) = c.end.filter(|&e| e >= c.begin) {
                avail = avail.min(e - c.begin + 1);
            }
            return Err(FcsError::TruncatedData {
                end: Num(ab.saturating_add(need) - 1),
                file_len: Num(len),
                present: Num((avail / bpe64).min(tot)),
                declared: Num(tot),
            });
        }
    }
    let tried: Vec<String> = cands
        .iter()
        .filter(|c| c.end.is_some())
        .map(|c| {
            let e = c.end.unwrap_or(0);
            format!(
                "{} {}..={} ({} bytes)",
                c.source,
                c.begin,
                e,
                Num((e + 1).saturating_sub(c.begin))
            )
        })
        .collect();
    Err(FcsError::DataMismatch {
        detail: format!(
            "$TOT {} × {} bytes per event = {} bytes, but the file ({} bytes) offers {}",
            Num(tot),
            bpe,
            Num(need),
            Num(len),
            if tried.is_empty() {
                "no complete offset pair".to_owned()
            } else {
                tried.join("; ")
            }
        ),
    })
}

fn fmt_pair(b: Option<u64>, e: Option<u64>) -> String {
    let f = |v: Option<u64>| v.map_or_else(|| "blank".to_owned(), |x| x.to_string());
    format!("{}..={}", f(b), f(e))
}
