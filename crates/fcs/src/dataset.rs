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
//!
//! # Several datasets
//!
//! Datasets chained by `$NEXTDATA` may not share bytes: a dataset whose HEADER, TEXT or
//! DATA overlaps an earlier dataset's is an error, and all TEXT read (primary and
//! supplemental) may not exceed twice the file size. So a small file cannot make the
//! reader parse one TEXT thousands of times (the `chain` module explains the rules).
//! Every offset sum and product is checked: a value that overflows `u64` lies outside
//! the file, never wraps, and never panics.

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use crate::chain::{Chain, Segment};
use crate::decode::{self, ByteOrder, Field, FieldKind};
use crate::error::{excerpt, FcsError, Num, Result};
use crate::params::{parse_pne, DataType, Display, Parameter, Spillover, MAX_NAME_BYTES};
use crate::text::{parse_text, Keywords, TextNotes};

/// Length of the fixed HEADER segment.
pub const HEADER_LEN: usize = 58;
/// Files at least this large are memory-mapped by [`FcsFile::open`]; smaller ones are read.
const MMAP_MIN_BYTES: u64 = 1 << 20;
/// Events per parallel task of [`Dataset::scan`]: 16 tasks for a million events.
pub const SCAN_TASK_EVENTS: usize = 64 * 1024;
/// Events per block [`Dataset::scan`] visits: 26 channels of 4,096 events are 850 KB of
/// `f64`, the size of a core's L2 cache.
const SCAN_BLOCK_EVENTS: usize = 4096;
/// Upper bound on datasets followed through `$NEXTDATA`. Chains cannot share bytes (see
/// `chain`), so this only bounds the work of checking each dataset against the earlier ones.
const MAX_DATASETS: usize = 4096;

/// The bytes of an opened file: memory-mapped or owned.
#[derive(Debug)]
enum Source {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
    /// Opened for one read front to back ([`FcsFile::open_for_scan`]): mapped without
    /// pre-faulting for the few bytes other reads touch, and the events read by
    /// [`Dataset::scan`] from the file itself, a block at a time, into a buffer that stays in
    /// cache. Reading through the map would fault in every page of the file (a third of the
    /// scan's time) and keep it all resident.
    Scanned {
        map: memmap2::Mmap,
        file: std::fs::File,
        path: std::path::PathBuf,
    },
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Owned(v) => v,
            Source::Mapped(m) | Source::Scanned { map: m, .. } => m,
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
        FcsFile::open_mapped(path.as_ref(), false)
    }

    /// Opens a file to be read once, front to back, by [`Dataset::scan`] (as
    /// [`crate::dataset_stats`] does): its events are read from the file a block at a time,
    /// so the process holds a few blocks of a large file rather than all of it. Other reads
    /// work as usual.
    pub fn open_for_scan(path: impl AsRef<Path>) -> Result<FcsFile> {
        FcsFile::open_mapped(path.as_ref(), true)
    }

    fn open_mapped(path: &Path, for_scan: bool) -> Result<FcsFile> {
        let io = |source| FcsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let source = if len >= MMAP_MIN_BYTES && for_scan {
            Source::Scanned {
                map: map_file(&file, false).map_err(io)?,
                file,
                path: path.to_path_buf(),
            }
        } else if len >= MMAP_MIN_BYTES {
            Source::Mapped(map_file(&file, true).map_err(io)?)
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
        let mut chain = Chain::new(source.bytes().len());
        let mut offset = 0usize;
        loop {
            let index = datasets.len();
            let (ds, next) = parse_dataset(&source, offset, index, &mut chain).map_err(|e| {
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
                Some(_) => {
                    if let Some(last) = datasets.last_mut() {
                        last.repairs.push(format!(
                            "stopped after {MAX_DATASETS} datasets; $NEXTDATA ignored"
                        ));
                    }
                    break;
                }
                None => break,
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

/// Fills `buffer` from `file` at `offset`, without moving a shared cursor (tasks read in
/// parallel).
fn read_at(file: &std::fs::File, buffer: &mut [u8], offset: usize) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset as u64)
    }
    #[cfg(windows)]
    {
        let mut filled = 0;
        while filled < buffer.len() {
            let offset = (offset + filled) as u64;
            match std::os::windows::fs::FileExt::seek_read(file, &mut buffer[filled..], offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                read => filled += read,
            }
        }
        Ok(())
    }
}

#[allow(unsafe_code)]
fn map_file(file: &std::fs::File, populate: bool) -> std::io::Result<memmap2::Mmap> {
    let mut options = memmap2::MmapOptions::new();
    if populate {
        // Pre-faults the whole mapping in one call (MAP_POPULATE) instead of one page fault
        // per 4 KiB page while decoding; the file is about to be read in full anyway.
        options.populate();
    }
    // SAFETY: the map is read-only. As with every mmap, another process truncating or
    // rewriting the file while it is mapped is undefined behaviour; the engine documents
    // that opened files must not be modified (uploads are written once, then read).
    unsafe { options.map(file) }
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

    /// Whether every event takes the same bytes (binary or fixed-width ASCII), so a range of
    /// events decodes without reading those before it.
    pub fn has_fixed_width_events(&self) -> bool {
        !matches!(self.layout, Layout::AsciiDelimited)
    }

    /// Decodes the `selected` parameters (0-based, in that order) a block of events at a time,
    /// handing each block (one column per selected parameter, all of one length) to `visit`:
    /// for summaries that need never hold every value as `f64` ([`crate::streaming`]).
    ///
    /// Binary data is split into tasks of [`SCAN_TASK_EVENTS`] events decoded in parallel;
    /// each task folds its blocks into a state of its own (`state()`), and the states come
    /// back in event order. ASCII data is decoded whole first and visited as one task.
    pub fn scan<S: Send>(
        &self,
        selected: &[usize],
        state: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, &[Vec<f64>]) + Sync,
    ) -> Result<Vec<S>> {
        let Layout::Binary { fields, bpe, order } = &self.layout else {
            let columns = self.columns_raw()?;
            let mut one = state();
            let mut block: Vec<Vec<f64>> = vec![Vec::new(); selected.len()];
            for start in (0..columns.event_count()).step_by(SCAN_BLOCK_EVENTS) {
                let end = (start + SCAN_BLOCK_EVENTS).min(columns.event_count());
                for (out, &i) in block.iter_mut().zip(selected) {
                    out.clear();
                    out.extend_from_slice(&columns.data[i][start..end]);
                }
                visit(&mut one, &block);
            }
            return Ok(vec![one]);
        };
        let fields: Vec<Field> = selected.iter().map(|&i| fields[i]).collect();
        // Each task's state carries the columns it decodes into, reused block after block.
        let with_columns = || (state(), vec![Vec::new(); fields.len()]);
        let tasks = self.scan_tasks(*bpe, with_columns, |(folded, block), run| {
            for rows in run.chunks(SCAN_BLOCK_EVENTS * bpe) {
                let events = rows.len() / bpe;
                for column in block.iter_mut() {
                    column.resize(events, 0.0);
                }
                let mut outs: Vec<&mut [f64]> = block.iter_mut().map(Vec::as_mut_slice).collect();
                decode::decode_rows(rows, *bpe, &fields, order, &mut outs);
                visit(folded, block);
            }
        })?;
        Ok(tasks.into_iter().map(|(folded, _)| folded).collect())
    }

    /// For a dataset whose every parameter is a float32, packed in order: whether its bytes
    /// are big-endian. `None` for any other layout.
    pub(crate) fn packed_float32(&self) -> Option<bool> {
        match &self.layout {
            Layout::Binary { fields, bpe, order } => decode::packed_float32(fields, *bpe, order),
            _ => None,
        }
    }

    /// Decodes `selected` parameters of the events in `rows` (whole events of this dataset,
    /// binary) into `columns`, one per parameter: for a scan that reads some blocks itself.
    pub(crate) fn decode_rows_into(
        &self,
        rows: &[u8],
        selected: &[usize],
        columns: &mut [Vec<f64>],
    ) {
        let Layout::Binary { fields, bpe, order } = &self.layout else {
            return;
        };
        let fields: Vec<Field> = selected.iter().map(|&i| fields[i]).collect();
        for column in columns.iter_mut() {
            column.resize(rows.len() / bpe, 0.0);
        }
        let mut outs: Vec<&mut [f64]> = columns.iter_mut().map(Vec::as_mut_slice).collect();
        decode::decode_rows(rows, *bpe, &fields, order, &mut outs);
    }

    /// [`Dataset::scan`] for a visitor that reads the rows of binary events itself: each task
    /// of [`SCAN_TASK_EVENTS`] events gets a state of its own and its bytes in order, in runs
    /// of whole events; the states come back in event order. `None` for ASCII data.
    pub(crate) fn scan_rows<S: Send>(
        &self,
        state: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, &[u8]) + Sync,
    ) -> Option<Result<Vec<S>>> {
        match &self.layout {
            Layout::Binary { bpe, .. } => Some(self.scan_tasks(*bpe, state, visit)),
            _ => None,
        }
    }

    /// The events' bytes in tasks of [`SCAN_TASK_EVENTS`] events, visited in parallel: each
    /// task's events in order, in runs of whole events (one run, or blocks of
    /// [`SCAN_BLOCK_EVENTS`] read from the file when it was opened for a scan).
    fn scan_tasks<S: Send>(
        &self,
        bpe: usize,
        state: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, &[u8]) + Sync,
    ) -> Result<Vec<S>> {
        let bytes = &self.source.bytes()[self.data_begin..self.data_begin + self.data_len];
        let events = bytes
            .len()
            .checked_div(bpe)
            .map_or(0, |whole| self.event_count.min(whole));
        let rows = &bytes[..events * bpe];
        let task_bytes = (SCAN_TASK_EVENTS * bpe).max(1);
        rows.par_chunks(task_bytes)
            .enumerate()
            // A read buffer per split of the work (a few per worker), not per task: a fresh one
            // is fresh pages for the kernel to zero.
            .map_init(Vec::new, |buffer, (index, task)| {
                let mut folded = state();
                match self.source.as_ref() {
                    Source::Scanned { file, path, .. } => {
                        let start = self.data_begin + index * task_bytes;
                        let block = (SCAN_BLOCK_EVENTS * bpe).max(1);
                        buffer.resize(block.min(task.len()), 0);
                        for at in (0..task.len()).step_by(block) {
                            let run = &mut buffer[..block.min(task.len() - at)];
                            read_at(file, run, start + at).map_err(|source| FcsError::Io {
                                path: path.clone(),
                                source,
                            })?;
                            visit(&mut folded, run);
                        }
                    }
                    _ => visit(&mut folded, task),
                }
                Ok(folded)
            })
            .collect()
    }

    /// `$TIMESTEP`, the seconds per tick of the time channel, when it is a positive number.
    pub fn timestep(&self) -> Option<f64> {
        crate::scale::parse_timestep(self.keywords.get("$TIMESTEP"))
    }

    /// Decodes every event and applies [`Scaling`](crate::Scaling): `$PnE` log amplification
    /// for integer data, `$TIMESTEP` for the time channel, `$PnG` for other linear channels.
    pub fn columns_scaled(&self) -> Result<Columns> {
        let mut cols = self.columns_raw()?;
        let timestep = self.timestep();
        for (p, col) in self.parameters.iter().zip(cols.data.iter_mut()) {
            crate::Scaling::of(p, timestep).apply_all(col);
        }
        Ok(cols)
    }
}

/// Parsed HEADER offsets (relative to the dataset start).
struct Header {
    version: String,
    text: (u64, u64),
    data: (Option<u64>, Option<u64>),
}

fn parse_header(b: &[u8], base: usize) -> Result<Header> {
    let h = base
        .checked_add(HEADER_LEN)
        .and_then(|end| b.get(base..end))
        .ok_or(FcsError::TooShort {
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
                    value: excerpt(v),
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
///
/// Its segments are claimed in `chain` (and its TEXT charged to the chain's budget) before
/// they are parsed, so a dataset re-using an earlier dataset's bytes costs nothing.
fn parse_dataset(
    source: &Arc<Source>,
    base: usize,
    index: usize,
    chain: &mut Chain,
) -> Result<(Dataset, Option<usize>)> {
    let b = source.bytes();
    let header = parse_header(b, base)?;
    let base64 = base as u64;
    // parse_header proved that the 58 HEADER bytes lie inside the file.
    let header_end = base64.saturating_add(HEADER_LEN as u64 - 1);
    chain.claim(Segment {
        dataset: index,
        what: "HEADER",
        begin: base64,
        end: header_end,
    })?;
    let mut repairs = Vec::new();
    let mut kw = read_text(b, base, index, &header, chain, &mut repairs)?;
    merge_supplemental_text(b, base, &mut kw, chain, &mut repairs)?;

    let (datatype, order) = storage_keywords(&kw, &mut repairs)?;
    let (parameters, fields, bpe, delimited) =
        parse_parameters(&kw, datatype, &header.version, &mut repairs)?;

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
    if data_len > 0 {
        // locate_data keeps DATA inside the file, so neither sum can overflow.
        let begin = data_begin as u64;
        chain.claim(Segment {
            dataset: index,
            what: "DATA",
            begin,
            end: begin.saturating_add(data_len as u64 - 1),
        })?;
    }

    let layout = if delimited {
        Layout::AsciiDelimited
    } else if datatype == DataType::Ascii {
        Layout::AsciiFixed { fields, bpe }
    } else {
        Layout::Binary { fields, bpe, order }
    };
    let next = next_dataset(b, base, &kw, &mut repairs);

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

/// Finds, claims and parses the primary TEXT segment of the dataset at `base`.
fn read_text(
    b: &[u8],
    base: usize,
    index: usize,
    header: &Header,
    chain: &mut Chain,
    repairs: &mut Vec<String>,
) -> Result<Keywords> {
    let (tb, te) = header.text;
    if tb < HEADER_LEN as u64 || te < tb {
        return Err(FcsError::BadText {
            detail: format!("offsets {tb}..{te} in the HEADER at byte {base} are invalid"),
        });
    }
    let len = b.len() as u64;
    let abs_tb = (base as u64).checked_add(tb);
    let abs_te = (base as u64).checked_add(te);
    let (Some(abs_tb), Some(abs_te)) = (abs_tb, abs_te.filter(|&e| e < len)) else {
        return Err(FcsError::BadText {
            detail: format!(
                "ends at byte {} but the file has {} bytes",
                Num((base as u64).saturating_add(te)),
                Num(len)
            ),
        });
    };
    chain.claim(Segment {
        dataset: index,
        what: "TEXT",
        begin: abs_tb,
        end: abs_te,
    })?;
    chain.spend_text("TEXT", abs_tb, abs_te)?;
    // Both ends are below the file length, so they fit in usize.
    let seg = &b[abs_tb as usize..=abs_te as usize];
    let (kw, notes) = parse_text(seg).ok_or_else(|| FcsError::BadText {
        detail: format!("at byte {abs_tb} is empty"),
    })?;
    if kw.is_empty() {
        return Err(FcsError::BadText {
            detail: format!("at bytes {abs_tb}..={abs_te} holds no keyword/value pairs"),
        });
    }
    note_text_repairs(notes, repairs);
    Ok(kw)
}

fn note_text_repairs(notes: TextNotes, repairs: &mut Vec<String>) {
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
}

/// `$MODE`, `$DATATYPE` and `$BYTEORD`.
fn storage_keywords(kw: &Keywords, repairs: &mut Vec<String>) -> Result<(DataType, ByteOrder)> {
    if let Some(m) = kw.get("$MODE") {
        if !m.trim().eq_ignore_ascii_case("L") {
            return Err(FcsError::Unsupported(format!(
                "$MODE {:?} (only list mode L is read)",
                excerpt(m.trim())
            )));
        }
    }
    let dt_raw = required(kw, "$DATATYPE")?;
    let datatype = DataType::parse(dt_raw).ok_or_else(|| FcsError::InvalidKeyword {
        keyword: "$DATATYPE".into(),
        value: excerpt(dt_raw),
        reason: "expected I, F, D or A".into(),
    })?;
    let order = match kw.get("$BYTEORD") {
        Some(v) => ByteOrder::parse(v).ok_or_else(|| FcsError::InvalidKeyword {
            keyword: "$BYTEORD".into(),
            value: excerpt(v),
            reason: "expected a permutation such as 1,2,3,4 or 4,3,2,1".into(),
        })?,
        None if datatype == DataType::Ascii => ByteOrder::Little,
        None => {
            repairs.push("$BYTEORD missing; assumed little endian".into());
            ByteOrder::Little
        }
    };
    Ok((datatype, order))
}

/// The parameters, their fields in an event, the bytes per event, and whether DATA is
/// delimited ASCII.
type ParsedParameters = (Vec<Parameter>, Vec<Field>, usize, bool);

/// Reads `$PAR` and every parameter's keywords.
fn parse_parameters(
    kw: &Keywords,
    datatype: DataType,
    version: &str,
    repairs: &mut Vec<String>,
) -> Result<ParsedParameters> {
    let par = parameter_count(kw)?;
    let mut parameters = Vec::with_capacity(par);
    let mut fields = Vec::with_capacity(par);
    let mut bpe = 0usize;
    let mut delimited = false;
    for n in 1..=par {
        let (p, width) = parse_parameter(kw, n, datatype, version, repairs)?;
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
        // At most 64 bytes per parameter and fewer parameters than TEXT bytes: cannot
        // overflow, but the width of an event is an offset like any other.
        bpe = bpe
            .checked_add(width)
            .ok_or_else(|| FcsError::InvalidKeyword {
                keyword: "$PAR".into(),
                value: par.to_string(),
                reason: "the bytes per event overflow".into(),
            })?;
        parameters.push(p);
    }
    if delimited && parameters.iter().any(|p| p.bits.is_some()) {
        return Err(FcsError::Unsupported(
            "ASCII DATA mixing delimited ($PnB = *) and fixed-width parameters".into(),
        ));
    }
    Ok((parameters, fields, bpe, delimited))
}

/// `$PAR`, at least 1 and no more than TEXT has keywords (each parameter needs `$PnB`).
fn parameter_count(kw: &Keywords) -> Result<usize> {
    let par_raw = required(kw, "$PAR")?;
    let par = kw_u64(kw, "$PAR")?.unwrap_or(0);
    if par == 0 {
        return Err(FcsError::InvalidKeyword {
            keyword: "$PAR".into(),
            value: excerpt(par_raw),
            reason: "a dataset needs at least one parameter".into(),
        });
    }
    if par > kw.distinct_len() as u64 {
        return Err(FcsError::InvalidKeyword {
            keyword: "$PAR".into(),
            value: excerpt(par_raw),
            reason: format!(
                "claims {par} parameters but TEXT holds only {} keywords",
                kw.distinct_len()
            ),
        });
    }
    Ok(par as usize)
}

/// Where `$NEXTDATA` says the next dataset starts, when a HEADER is there. A pointer past
/// the end (or beyond 2^64) or to bytes that are no HEADER is ignored with a note: the
/// datasets read so far stay usable.
fn next_dataset(b: &[u8], base: usize, kw: &Keywords, repairs: &mut Vec<String>) -> Option<usize> {
    let n = match kw_u64(kw, "$NEXTDATA") {
        Ok(Some(n)) if n > 0 => n,
        Ok(_) => return None,
        Err(_) => {
            repairs.push("$NEXTDATA is not a number; ignored".into());
            return None;
        }
    };
    let abs = (base as u64).checked_add(n);
    let header = abs
        .and_then(|a| usize::try_from(a).ok())
        .and_then(|a| Some(a..a.checked_add(HEADER_LEN)?))
        .and_then(|r| Some((r.start, b.get(r)?)));
    match header {
        None => {
            let at = match abs {
                Some(a) => format!("to byte {a}"),
                None => format!("{n} bytes after byte {base}"),
            };
            repairs.push(format!(
                "$NEXTDATA points {at}, past the end of the file; ignored"
            ));
            None
        }
        Some((at, h)) if &h[..3] != b"FCS" => {
            repairs.push(format!(
                "$NEXTDATA points to byte {at}, where no FCS HEADER starts; ignored"
            ));
            None
        }
        Some((at, _)) => Some(at),
    }
}

/// Merges `$BEGINSTEXT..$ENDSTEXT` when it plausibly holds keywords (some vendors store
/// other things there, e.g. a ZIP archive); primary TEXT keywords win. The segment is
/// charged to the chain's TEXT budget before it is parsed.
fn merge_supplemental_text(
    b: &[u8],
    base: usize,
    kw: &mut Keywords,
    chain: &mut Chain,
    repairs: &mut Vec<String>,
) -> Result<()> {
    let (Ok(Some(sb)), Ok(Some(se))) = (kw_u64(kw, "$BEGINSTEXT"), kw_u64(kw, "$ENDSTEXT")) else {
        return Ok(());
    };
    if sb == 0 || se <= sb {
        return Ok(());
    }
    let range = (base as u64)
        .checked_add(sb)
        .zip((base as u64).checked_add(se))
        .filter(|&(_, e)| e < b.len() as u64);
    let Some((abs_b, abs_e)) = range else {
        repairs.push("supplemental TEXT lies outside the file; ignored".into());
        return Ok(());
    };
    // Both ends are below the file length, so they fit in usize.
    let seg = &b[abs_b as usize..=abs_e as usize];
    let d = seg[0];
    if !(d.is_ascii_punctuation() || (d.is_ascii_control() && d != 0)) {
        repairs.push("supplemental TEXT does not start with a delimiter; ignored".into());
        return Ok(());
    }
    chain.spend_text("supplemental TEXT", abs_b, abs_e)?;
    if let Some((extra, _)) = parse_text(seg) {
        let before = kw.len();
        for (k, v) in extra.iter() {
            kw.push_if_absent(k.to_owned(), v.to_owned());
        }
        if kw.len() > before {
            repairs.push(format!(
                "merged {} keywords from supplemental TEXT",
                kw.len() - before
            ));
        }
    }
    Ok(())
}

/// Trims a `$PnN`/`$PnS` value and refuses one longer than [`MAX_NAME_BYTES`].
fn capped_name(keyword: String, value: &str) -> Result<String> {
    let name = value.trim();
    if name.len() > MAX_NAME_BYTES {
        return Err(FcsError::ValueTooLong {
            keyword,
            len: name.len(),
            max: MAX_NAME_BYTES,
        });
    }
    Ok(name.to_owned())
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
        Some(v) => capped_name(key("N"), v)?,
        None if version == "FCS2.0" => format!("P{n}"),
        None => {
            return Err(FcsError::MissingKeyword { keyword: key("N") });
        }
    };
    let pns = kw
        .get(&key("S"))
        .map(|s| capped_name(key("S"), s))
        .transpose()?;
    let data_type = match kw.get(&key("DATATYPE")) {
        Some(v) => DataType::parse(v)
            .filter(|t| *t != DataType::Ascii)
            .ok_or_else(|| FcsError::InvalidKeyword {
                keyword: key("DATATYPE"),
                value: excerpt(v),
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
            value: excerpt(v),
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
                value: excerpt(v),
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

/// One way of reading the DATA offsets (relative to the dataset start, end inclusive).
struct Candidate {
    source: &'static str,
    begin: u64,
    end: Option<u64>,
}

impl Candidate {
    /// Bytes from begin to end inclusive; `None` without an end or when it precedes begin.
    fn len(&self) -> Option<u64> {
        self.end?.checked_sub(self.begin)?.checked_add(1)
    }

    /// First byte in the file. `None` when `base + begin` overflows: such a candidate
    /// cannot lie inside any file.
    fn abs_begin(&self, base: u64) -> Option<u64> {
        base.checked_add(self.begin)
    }

    /// The whole segment `(absolute begin, length)` when it lies inside a file of `len` bytes.
    fn inside(&self, base: u64, len: u64) -> Option<(u64, u64)> {
        let (ab, seg) = (self.abs_begin(base)?, self.len()?);
        ab.checked_add(seg).filter(|&e| e <= len).map(|_| (ab, seg))
    }
}

/// Every way the HEADER and TEXT DATA offsets can be read, most trusted first.
fn data_candidates(header: &Header, kw: &Keywords) -> Vec<Candidate> {
    let usable = |v: Option<u64>| v.filter(|&x| x != 0 && x != 99_999_999);
    let text_b = usable(kw_u64(kw, "$BEGINDATA").ok().flatten());
    let text_e = usable(kw_u64(kw, "$ENDDATA").ok().flatten());
    let hb_u = usable(header.data.0);
    let he_u = usable(header.data.1);

    let mut cands: Vec<Candidate> = Vec::new();
    let mut add = |source, begin: Option<u64>, end: Option<u64>| {
        if let Some(begin) = begin.filter(|&x| x != 0) {
            if !cands.iter().any(|c| c.begin == begin && c.end == end) {
                cands.push(Candidate { source, begin, end });
            }
        }
    };
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
    cands
}

/// Applies the offset-repair policy; returns (absolute begin, length in bytes, events).
///
/// All offset arithmetic is checked: a sum that overflows `u64` is a position no file
/// has, so such a candidate is simply outside the file.
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
    let cands = data_candidates(header, kw);

    let Some(bpe) = bpe.filter(|&x| x > 0) else {
        return locate_delimited(&cands, base64, len, kw, tot);
    };
    let bpe64 = bpe as u64;

    if tot == Some(0) {
        return Ok((base.min(b.len()), 0, 0));
    }
    if cands.is_empty() {
        return Err(FcsError::DataMismatch {
            detail: format!(
                "the HEADER DATA offsets are {} and TEXT has no $BEGINDATA/$ENDDATA",
                fmt_pair(header.data.0, header.data.1)
            ),
        });
    }

    let Some(tot) = tot else {
        // No $TOT (allowed in FCS 2.0): the first segment inside the file decides.
        let (ab, seg) = cands
            .iter()
            .find_map(|c| c.inside(base64, len))
            .ok_or_else(|| FcsError::MissingKeyword {
                keyword: "$TOT".into(),
            })?;
        repairs.push(format!(
            "$TOT missing; counted {} events from the DATA length",
            seg / bpe64
        ));
        return Ok((ab as usize, seg as usize, (seg / bpe64) as usize));
    };

    let need = tot
        .checked_mul(bpe64)
        .ok_or_else(|| FcsError::InvalidKeyword {
            keyword: "$TOT".into(),
            value: tot.to_string(),
            reason: format!("{tot} events × {bpe} bytes overflows"),
        })?;
    if let Some((c, pass, ab)) = fitting_candidate(&cands, base64, len, need) {
        note_data_repairs(header, kw, c, pass, need, repairs);
        // ab + need <= len: both fit in usize.
        return Ok((ab as usize, need as usize, tot as usize));
    }
    Err(no_fit_error(&cands, base64, len, tot, bpe, need))
}

/// Delimited ASCII (`$PnB` = `*`): the first segment inside the file, if `$TOT` fits in it.
fn locate_delimited(
    cands: &[Candidate],
    base64: u64,
    len: u64,
    kw: &Keywords,
    tot: Option<u64>,
) -> Result<(usize, usize, usize)> {
    let tot = tot.ok_or_else(|| FcsError::MissingKeyword {
        keyword: "$TOT".into(),
    })?;
    let (ab, seg) = cands
        .iter()
        .find_map(|c| c.inside(base64, len))
        .ok_or_else(|| FcsError::DataMismatch {
            detail: "no DATA offsets in HEADER or TEXT lie inside the file".into(),
        })?;
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
    // Inside the file, and tot <= max_values <= seg: all fit in usize.
    Ok((ab as usize, seg as usize, tot as usize))
}

/// The first candidate inside the file whose length is `need` (pass 0), `need + 1`
/// (pass 1: end offset one byte too far) or that has no end (pass 2); with its pass and
/// absolute begin.
fn fitting_candidate(
    cands: &[Candidate],
    base64: u64,
    len: u64,
    need: u64,
) -> Option<(&Candidate, usize, u64)> {
    (0..3).find_map(|pass| {
        cands.iter().find_map(|c| {
            let ab = c.abs_begin(base64)?;
            ab.checked_add(need).filter(|&e| e <= len)?;
            let ok = match pass {
                0 => c.len() == Some(need),
                1 => c.len().is_some_and(|l| Some(l) == need.checked_add(1)),
                _ => c.end.is_none(),
            };
            ok.then_some((c, pass, ab))
        })
    })
}

/// Records which offsets were used when they are not the plain TEXT or HEADER pair.
fn note_data_repairs(
    header: &Header,
    kw: &Keywords,
    c: &Candidate,
    pass: usize,
    need: u64,
    repairs: &mut Vec<String>,
) {
    let usable = |v: Option<u64>| v.filter(|&x| x != 0 && x != 99_999_999);
    let text_b = usable(kw_u64(kw, "$BEGINDATA").ok().flatten());
    let text_e = usable(kw_u64(kw, "$ENDDATA").ok().flatten());
    let (hb, he) = header.data;
    let header_pair = (usable(hb), usable(he));
    // The candidate lies inside the file, so begin + need cannot overflow; need >= 1.
    let last = c.begin.saturating_add(need - 1);
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
            "DATA offsets: HEADER {} and TEXT {} disagree; used {} ({}..={last})",
            fmt_pair(hb, he),
            fmt_pair(text_b, text_e),
            c.source,
            c.begin,
        ));
    } else if c.source != "TEXT $BEGINDATA/$ENDDATA" && c.source != "HEADER" {
        repairs.push(format!(
            "DATA offsets: used {} ({}..={last})",
            c.source, c.begin,
        ));
    }
    if pass == 1 {
        repairs.push("DATA end offset is one byte too far; ignored the extra byte".into());
    }
    if hb.is_none() || he.is_none() {
        repairs.push("HEADER DATA offsets are blank; used TEXT".into());
    }
}

/// Why no candidate fits: truncation (how many events are present) or a length mismatch.
fn no_fit_error(
    cands: &[Candidate],
    base64: u64,
    len: u64,
    tot: u64,
    bpe: usize,
    need: u64,
) -> FcsError {
    let bpe64 = bpe as u64;
    let truncated = |end: u64, avail: u64| FcsError::TruncatedData {
        end: Num(end),
        file_len: Num(len),
        present: Num((avail / bpe64).min(tot)),
        declared: Num(tot),
    };
    // Is the file truncated (a candidate with the right length runs past EOF)?
    for c in cands {
        let right_len = match (c.end, c.len()) {
            (None, _) => true,
            (Some(_), Some(l)) => l == need || Some(l) == need.checked_add(1),
            (Some(_), None) => false,
        };
        let ab = base64.saturating_add(c.begin);
        if right_len && ab.saturating_add(need) > len {
            let end = c
                .end
                .map_or(ab.saturating_add(need) - 1, |e| base64.saturating_add(e));
            return truncated(end, len.saturating_sub(ab));
        }
    }
    // $TOT needs more bytes than the file has after the DATA start: report it as truncation.
    let starts_inside = |c: &&Candidate| c.abs_begin(base64).is_some_and(|ab| ab < len);
    if let Some(c) = cands.iter().find(starts_inside) {
        let ab = base64.saturating_add(c.begin);
        if ab.saturating_add(need) > len {
            let avail = (len - ab).min(c.len().unwrap_or(u64::MAX));
            return truncated(ab.saturating_add(need) - 1, avail);
        }
    }
    let tried: Vec<String> = cands
        .iter()
        .filter_map(|c| {
            let e = c.end?;
            Some(format!(
                "{} {}..={} ({} bytes)",
                c.source,
                c.begin,
                e,
                Num(c.len().unwrap_or(0))
            ))
        })
        .collect();
    FcsError::DataMismatch {
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
    }
}

fn fmt_pair(b: Option<u64>, e: Option<u64>) -> String {
    let f = |v: Option<u64>| v.map_or_else(|| "blank".to_owned(), |x| x.to_string());
    format!("{}..={}", f(b), f(e))
}
