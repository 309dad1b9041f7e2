//! Turning the row-major DATA segment into column-major `f64` columns.
//!
//! DATA in list mode stores events one after another, each event holding every parameter
//! in order (`e1p1 e1p2 … e1pP e2p1 …`). Analysis wants columns, so decoding is a
//! transpose. To make it fast:
//!
//! * events are processed in blocks small enough to stay in cache; within a block each
//!   column is filled with one tight, monomorphised loop (`fill::<W>`) per parameter, so the
//!   width/type/byte-order decision is made once per block, not once per value;
//! * the common cases (float32/float64/16/32-bit integers, little or big endian) compile
//!   to straight `from_le_bytes`/`from_be_bytes` loops; odd widths (24, 40, … bits) and
//!   legacy byte permutations (`3,4,1,2`) take a general byte-by-byte path;
//! * large segments are split into event ranges decoded in parallel with rayon, each
//!   thread writing its own disjoint part of every column.

use crate::error::{FcsError, Result};
use rayon::prelude::*;

/// Byte order of the DATA segment (`$BYTEORD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    /// `1,2,3,4` (or `1,2`): least significant byte first.
    Little,
    /// `4,3,2,1` (or `2,1`): most significant byte first.
    Big,
    /// Any other permutation: `perm[k]` is the significance (0 = least) of the k-th stored byte.
    Perm(Vec<u8>),
}

impl ByteOrder {
    /// Parses `$BYTEORD`; `None` when it is not a permutation of `1..=n`.
    pub(crate) fn parse(v: &str) -> Option<ByteOrder> {
        let nums: Vec<u8> = v
            .split(',')
            .map(|s| s.trim().parse::<u8>().ok())
            .collect::<Option<Vec<u8>>>()?;
        let n = nums.len();
        if n == 0 || n > 8 {
            return None;
        }
        let mut seen = [false; 8];
        for &x in &nums {
            if x == 0 || x as usize > n || seen[x as usize - 1] {
                return None;
            }
            seen[x as usize - 1] = true;
        }
        if n == 1 || nums.iter().enumerate().all(|(i, &x)| x as usize == i + 1) {
            Some(ByteOrder::Little)
        } else if nums.iter().enumerate().all(|(i, &x)| x as usize == n - i) {
            Some(ByteOrder::Big)
        } else {
            Some(ByteOrder::Perm(nums.iter().map(|x| x - 1).collect()))
        }
    }

    /// The order to use for a value `width` bytes wide. A permutation only applies to values
    /// of its own length; other widths follow its overall direction.
    fn for_width(&self, width: usize) -> Resolved<'_> {
        match self {
            ByteOrder::Little => Resolved::Little,
            ByteOrder::Big => Resolved::Big,
            ByteOrder::Perm(p) if p.len() == width => Resolved::Perm(p),
            ByteOrder::Perm(p) => {
                if p.first() < p.last() {
                    Resolved::Little
                } else {
                    Resolved::Big
                }
            }
        }
    }
}

enum Resolved<'a> {
    Little,
    Big,
    Perm(&'a [u8]),
}

/// How one parameter is stored inside an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// Unsigned integer, masked.
    Int { mask: u64 },
    /// float32.
    F32,
    /// float64.
    F64,
    /// Fixed-width ASCII digits.
    Ascii,
}

/// Position and kind of one parameter inside an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub offset: usize,
    pub width: usize,
    pub kind: FieldKind,
}

/// Whether every field is a float32 stored in order right after the one before, filling the
/// event, in little- or big-endian bytes: `Some(big_endian)` for such events, which
/// [`crate::streaming`] reads as rows of floats without decoding them into columns.
pub(crate) fn packed_float32(fields: &[Field], bpe: usize, order: &ByteOrder) -> Option<bool> {
    let packed = fields
        .iter()
        .enumerate()
        .all(|(i, f)| f.kind == FieldKind::F32 && f.width == 4 && f.offset == 4 * i);
    if !packed || bpe != 4 * fields.len() {
        return None;
    }
    match order.for_width(4) {
        Resolved::Little => Some(false),
        Resolved::Big => Some(true),
        Resolved::Perm(_) => None,
    }
}

/// Events decoded per block (per column loop); keeps the block's rows in L1/L2.
const BLOCK_EVENTS: usize = 1024;
/// Below this many DATA bytes decoding stays on the calling thread.
const PARALLEL_MIN_BYTES: usize = 4 << 20;

#[inline(always)]
fn fill<const W: usize>(
    out: &mut [f64],
    rows: &[u8],
    bpe: usize,
    off: usize,
    conv: impl Fn([u8; W]) -> f64,
) {
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(bpe)) {
        let mut b = [0u8; W];
        if let Some(src) = row.get(off..off + W) {
            b.copy_from_slice(src);
        }
        *o = conv(b);
    }
}

fn perm_value(bytes: &[u8], perm: &[u8]) -> u64 {
    let mut v = 0u64;
    for (&b, &sig) in bytes.iter().zip(perm) {
        v |= (b as u64) << (8 * sig as u32);
    }
    v
}

fn fill_generic_int(
    out: &mut [f64],
    rows: &[u8],
    bpe: usize,
    f: &Field,
    order: Resolved<'_>,
    mask: u64,
) {
    let (off, w) = (f.offset, f.width);
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(bpe)) {
        let bytes = row.get(off..off + w).unwrap_or(&[]);
        let v = match order {
            Resolved::Little => bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | b as u64),
            Resolved::Big => bytes.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64),
            Resolved::Perm(p) => perm_value(bytes, p),
        };
        *o = (v & mask) as f64;
    }
}

/// Decodes one field of a run of whole events (`rows.len()` = events × `bpe`) into `out`.
fn fill_field(out: &mut [f64], rows: &[u8], bpe: usize, f: &Field, order: &ByteOrder) {
    let off = f.offset;
    let ord = order.for_width(f.width);
    match f.kind {
        FieldKind::F32 => match ord {
            Resolved::Little => fill::<4>(out, rows, bpe, off, |b| f32::from_le_bytes(b) as f64),
            Resolved::Big => fill::<4>(out, rows, bpe, off, |b| f32::from_be_bytes(b) as f64),
            Resolved::Perm(p) => fill::<4>(out, rows, bpe, off, |b| {
                f32::from_bits(perm_value(&b, p) as u32) as f64
            }),
        },
        FieldKind::F64 => match ord {
            Resolved::Little => fill::<8>(out, rows, bpe, off, f64::from_le_bytes),
            Resolved::Big => fill::<8>(out, rows, bpe, off, f64::from_be_bytes),
            Resolved::Perm(p) => {
                fill::<8>(out, rows, bpe, off, |b| f64::from_bits(perm_value(&b, p)))
            }
        },
        FieldKind::Int { mask } => match (f.width, ord) {
            (1, _) => fill::<1>(out, rows, bpe, off, |b| (b[0] as u64 & mask) as f64),
            (2, Resolved::Little) => fill::<2>(out, rows, bpe, off, |b| {
                (u16::from_le_bytes(b) as u64 & mask) as f64
            }),
            (2, Resolved::Big) => fill::<2>(out, rows, bpe, off, |b| {
                (u16::from_be_bytes(b) as u64 & mask) as f64
            }),
            (4, Resolved::Little) => fill::<4>(out, rows, bpe, off, |b| {
                (u32::from_le_bytes(b) as u64 & mask) as f64
            }),
            (4, Resolved::Big) => fill::<4>(out, rows, bpe, off, |b| {
                (u32::from_be_bytes(b) as u64 & mask) as f64
            }),
            (8, Resolved::Little) => fill::<8>(out, rows, bpe, off, |b| {
                (u64::from_le_bytes(b) & mask) as f64
            }),
            (8, Resolved::Big) => fill::<8>(out, rows, bpe, off, |b| {
                (u64::from_be_bytes(b) & mask) as f64
            }),
            (_, ord) => fill_generic_int(out, rows, bpe, f, ord, mask),
        },
        // ASCII never reaches the binary decoder.
        FieldKind::Ascii => out.fill(f64::NAN),
    }
}

/// Decodes whole events in `rows` into `outs` (one slice per field, each `events` long).
pub(crate) fn decode_rows(
    rows: &[u8],
    bpe: usize,
    fields: &[Field],
    order: &ByteOrder,
    outs: &mut [&mut [f64]],
) {
    for (b, block) in rows.chunks(BLOCK_EVENTS * bpe).enumerate() {
        let start = b * BLOCK_EVENTS;
        let n = block.len() / bpe;
        for (f, out) in fields.iter().zip(outs.iter_mut()) {
            if let Some(dst) = out.get_mut(start..start + n) {
                fill_field(dst, block, bpe, f, order);
            }
        }
    }
}

/// Decodes `n_events` binary events from `data` into one column per field.
///
/// `data` must hold at least `n_events × bpe` bytes (the caller checked the offsets).
pub(crate) fn decode_binary(
    data: &[u8],
    n_events: usize,
    bpe: usize,
    fields: &[Field],
    order: &ByteOrder,
) -> Vec<Vec<f64>> {
    let p = fields.len();
    let n_events = data
        .len()
        .checked_div(bpe)
        .map_or(0, |max| n_events.min(max));
    let data = &data[..n_events * bpe];
    let mut cols: Vec<Vec<f64>> = (0..p).map(|_| vec![0.0f64; n_events]).collect();
    let threads = rayon::current_num_threads();
    if data.len() < PARALLEL_MIN_BYTES || threads < 2 || n_events == 0 {
        let mut outs: Vec<&mut [f64]> = cols.iter_mut().map(|c| c.as_mut_slice()).collect();
        decode_rows(data, bpe, fields, order, &mut outs);
        return cols;
    }
    // Split events into chunks, a few per thread, each a multiple of the block size.
    let target = n_events.div_ceil(threads * 4);
    let chunk = target.div_ceil(BLOCK_EVENTS).max(1) * BLOCK_EVENTS;
    let n_chunks = n_events.div_ceil(chunk);
    let mut per_chunk: Vec<Vec<&mut [f64]>> =
        (0..n_chunks).map(|_| Vec::with_capacity(p)).collect();
    for col in cols.iter_mut() {
        for (ci, s) in col.chunks_mut(chunk).enumerate() {
            per_chunk[ci].push(s);
        }
    }
    per_chunk
        .into_par_iter()
        .zip(data.par_chunks(chunk * bpe))
        .for_each(|(mut outs, rows)| decode_rows(rows, bpe, fields, order, &mut outs));
    cols
}

/// Decodes fixed-width ASCII events.
pub(crate) fn decode_ascii_fixed(
    data: &[u8],
    n_events: usize,
    bpe: usize,
    fields: &[Field],
) -> Result<Vec<Vec<f64>>> {
    let n_events = data
        .len()
        .checked_div(bpe)
        .map_or(0, |max| n_events.min(max));
    let mut cols: Vec<Vec<f64>> = (0..fields.len())
        .map(|_| Vec::with_capacity(n_events))
        .collect();
    for (e, row) in data.chunks_exact(bpe.max(1)).take(n_events).enumerate() {
        for (j, f) in fields.iter().enumerate() {
            let raw = row.get(f.offset..f.offset + f.width).unwrap_or(&[]);
            cols[j].push(parse_ascii(raw, e, j)?);
        }
    }
    Ok(cols)
}

/// Decodes delimited ASCII (`$PnB` = `*`): values separated by spaces, tabs, commas or line breaks.
pub(crate) fn decode_ascii_delimited(
    data: &[u8],
    n_events: usize,
    p: usize,
) -> Result<Vec<Vec<f64>>> {
    let is_sep = |b: &u8| matches!(b, b' ' | b'\t' | b',' | b'\r' | b'\n' | 0);
    let mut tokens = data.split(is_sep).filter(|t| !t.is_empty());
    // Never reserve more than the bytes can hold (each value needs at least 2 bytes).
    let cap = n_events.min(data.len() / (2 * p.max(1)) + 1);
    let mut cols: Vec<Vec<f64>> = (0..p).map(|_| Vec::with_capacity(cap)).collect();
    for e in 0..n_events {
        for (j, col) in cols.iter_mut().enumerate() {
            let Some(t) = tokens.next() else {
                return Err(FcsError::DataMismatch {
                    detail: format!(
                        "delimited ASCII DATA holds only {e} complete events but $TOT declares {n_events}"
                    ),
                });
            };
            col.push(parse_ascii(t, e, j)?);
        }
    }
    Ok(cols)
}

fn parse_ascii(raw: &[u8], event: usize, param: usize) -> Result<f64> {
    let s = String::from_utf8_lossy(raw);
    let t = s.trim();
    if t.is_empty() {
        return Ok(0.0);
    }
    t.parse::<f64>().map_err(|_| FcsError::BadAscii {
        event: event + 1,
        parameter: param + 1,
        value: t.chars().take(40).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byteorders() {
        assert_eq!(ByteOrder::parse("1,2,3,4"), Some(ByteOrder::Little));
        assert_eq!(ByteOrder::parse("1,2"), Some(ByteOrder::Little));
        assert_eq!(ByteOrder::parse("4,3,2,1"), Some(ByteOrder::Big));
        assert_eq!(ByteOrder::parse(" 2, 1"), Some(ByteOrder::Big));
        assert_eq!(
            ByteOrder::parse("3,4,1,2"),
            Some(ByteOrder::Perm(vec![2, 3, 0, 1]))
        );
        assert_eq!(ByteOrder::parse("1,1"), None);
        assert_eq!(ByteOrder::parse("0"), None);
        assert_eq!(ByteOrder::parse(""), None);
        assert_eq!(ByteOrder::parse("1,2,3,4,5,6,7,8,9"), None);
    }

    #[test]
    fn mixed_widths_and_orders() {
        // event: u16 LE (0x0102), 24-bit BE, f32 BE
        let mut row = vec![0x02, 0x01, 0x01, 0x02, 0x03];
        row.extend_from_slice(&1.5f32.to_be_bytes());
        let fields = [
            Field {
                offset: 0,
                width: 2,
                kind: FieldKind::Int { mask: 0xffff },
            },
            Field {
                offset: 2,
                width: 3,
                kind: FieldKind::Int { mask: 0xff_ffff },
            },
            Field {
                offset: 5,
                width: 4,
                kind: FieldKind::F32,
            },
        ];
        let le = decode_binary(&row, 1, 9, &fields[..1], &ByteOrder::Little);
        assert_eq!(le[0], vec![258.0]);
        let be = decode_binary(&row, 1, 9, &fields, &ByteOrder::Big);
        assert_eq!(be[0], vec![0x0201 as f64]);
        assert_eq!(be[1], vec![0x010203 as f64]);
        assert_eq!(be[2], vec![1.5]);
        // legacy permutation 3,4,1,2 on a 32-bit value
        let v: u32 = 0x1122_3344;
        let b = v.to_le_bytes(); // [44,33,22,11] significance 0..3
        let stored = [b[2], b[3], b[0], b[1]];
        let f = [Field {
            offset: 0,
            width: 4,
            kind: FieldKind::Int { mask: u64::MAX },
        }];
        let c = decode_binary(&stored, 1, 4, &f, &ByteOrder::parse("3,4,1,2").unwrap());
        assert_eq!(c[0], vec![v as f64]);
    }

    #[test]
    fn parallel_matches_serial() {
        let n = 300_000;
        let p = 5;
        let mut data = Vec::with_capacity(n * p * 4);
        for i in 0..n * p {
            data.extend_from_slice(&(i as f32).to_le_bytes());
        }
        let fields: Vec<Field> = (0..p)
            .map(|j| Field {
                offset: 4 * j,
                width: 4,
                kind: FieldKind::F32,
            })
            .collect();
        let cols = decode_binary(&data, n, 4 * p, &fields, &ByteOrder::Little);
        for (j, col) in cols.iter().enumerate() {
            assert_eq!(col.len(), n);
            for (i, &v) in col.iter().enumerate().step_by(997) {
                assert_eq!(v, (i * p + j) as f32 as f64);
            }
        }
    }

    #[test]
    fn ascii() {
        let f = [
            Field {
                offset: 0,
                width: 3,
                kind: FieldKind::Ascii,
            },
            Field {
                offset: 3,
                width: 2,
                kind: FieldKind::Ascii,
            },
        ];
        let c = decode_ascii_fixed(b"12 34  7 8", 2, 5, &f).unwrap();
        assert_eq!(c, vec![vec![12.0, 7.0], vec![34.0, 8.0]]);
        let c = decode_ascii_delimited(b"1,2 3\n4", 2, 2).unwrap();
        assert_eq!(c, vec![vec![1.0, 3.0], vec![2.0, 4.0]]);
        assert!(decode_ascii_delimited(b"1,2 3", 2, 2).is_err());
        assert!(decode_ascii_fixed(b"1x 34", 1, 5, &f).is_err());
    }
}
