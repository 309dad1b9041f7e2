//! The one error type of the engine.
//!
//! Every failure the engine can report is a variant of [`FcsError`]. Messages are written
//! for the person who uploaded the file: they say *what* is wrong and *where* (byte offsets,
//! keyword names, event counts), e.g.
//! `DATA segment ends at byte 482,635 but the file has 293,161 bytes: 6,052 of 10,000 events present`.

use std::path::PathBuf;

/// Shorthand for `Result<T, FcsError>`.
pub type Result<T, E = FcsError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, validating or writing an FCS file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FcsError {
    /// The file could not be opened, read or memory-mapped.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that was being opened.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Writing an FCS file failed at the I/O level.
    #[error("cannot write FCS output: {0}")]
    WriteIo(#[from] std::io::Error),

    /// The input is shorter than the fixed 58-byte HEADER.
    #[error("file has {len} bytes, too short for an FCS HEADER (58 bytes) at byte {offset}")]
    TooShort {
        /// Total length of the input in bytes.
        len: usize,
        /// Where the HEADER was expected.
        offset: usize,
    },

    /// The bytes where a HEADER should start do not begin with `FCS`.
    #[error(
        "not an FCS file: the HEADER at byte {offset} starts with {found:?} instead of \"FCS\""
    )]
    NotFcs {
        /// Where the HEADER was expected.
        offset: usize,
        /// The first bytes found there (lossily decoded).
        found: String,
    },

    /// The HEADER names a version this engine does not read.
    #[error("unsupported FCS version {version:?} in the HEADER at byte {offset} (supported: FCS2.0, FCS3.0, FCS3.1, FCS3.2)")]
    UnsupportedVersion {
        /// Where the HEADER is.
        offset: usize,
        /// The version text found.
        version: String,
    },

    /// A HEADER offset field holds something that is not a number.
    #[error("HEADER field {field} (bytes {begin}..{end}) is not a number: {value:?}")]
    BadHeaderField {
        /// Name of the field, e.g. `TEXT begin`.
        field: &'static str,
        /// First byte of the field in the file.
        begin: usize,
        /// One past the last byte of the field in the file.
        end: usize,
        /// The raw field text.
        value: String,
    },

    /// The TEXT segment is missing, empty or lies outside the file.
    #[error("TEXT segment {detail}")]
    BadText {
        /// What is wrong, with byte positions.
        detail: String,
    },

    /// A required keyword is absent.
    #[error("required keyword {keyword} is missing from TEXT")]
    MissingKeyword {
        /// The keyword, e.g. `$PAR`.
        keyword: String,
    },

    /// A keyword holds a value the engine cannot use.
    #[error("keyword {keyword} has an invalid value {value:?}: {reason}")]
    InvalidKeyword {
        /// The keyword, e.g. `$P3B`.
        keyword: String,
        /// The value found.
        value: String,
        /// Why it is rejected.
        reason: String,
    },

    /// A keyword value is longer than the engine accepts (e.g. a `$PnN` of 200,000 bytes).
    #[error("{keyword} is {len} bytes long; at most {max} are allowed")]
    ValueTooLong {
        /// The keyword, e.g. `$P3N`.
        keyword: String,
        /// Length of its value in bytes (UTF-8, surrounding blanks trimmed).
        len: usize,
        /// The limit.
        max: usize,
    },

    /// A dataset of a `$NEXTDATA` chain uses bytes an earlier dataset already uses.
    #[error("{segment} (bytes {begin}..={end}) overlaps the {other_segment} of dataset {other_index} (bytes {other_begin}..={other_end}); datasets chained by $NEXTDATA may not share bytes")]
    SharedSegment {
        /// Which segment of this dataset: `HEADER`, `TEXT` or `DATA`.
        segment: &'static str,
        /// First byte of the segment (absolute).
        begin: Num,
        /// Last byte of the segment (absolute, inclusive).
        end: Num,
        /// Which segment of the earlier dataset it overlaps.
        other_segment: &'static str,
        /// 0-based index of the earlier dataset.
        other_index: usize,
        /// First byte of the earlier segment.
        other_begin: Num,
        /// Last byte of the earlier segment (inclusive).
        other_end: Num,
    },

    /// The TEXT read across all datasets would exceed what the file size justifies.
    #[error("{segment} at bytes {begin}..={end} would bring the TEXT read across all datasets to {total} bytes; at most {limit} (twice the file size) are allowed")]
    TextBudget {
        /// `TEXT` or `supplemental TEXT`.
        segment: &'static str,
        /// First byte of the segment (absolute).
        begin: Num,
        /// Last byte of the segment (absolute, inclusive).
        end: Num,
        /// TEXT bytes read so far plus this segment.
        total: Num,
        /// The budget: twice the file size.
        limit: Num,
    },

    /// A valid FCS feature this engine does not implement (e.g. histogram mode).
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// The DATA segment runs past the end of the file.
    #[error("DATA segment ends at byte {end} but the file has {file_len} bytes: {present} of {declared} events present")]
    TruncatedData {
        /// Last byte (inclusive) the DATA segment needs, formatted with separators.
        end: Num,
        /// Length of the file, formatted with separators.
        file_len: Num,
        /// Complete events actually present in the file.
        present: Num,
        /// Events declared by `$TOT`.
        declared: Num,
    },

    /// No pair of DATA offsets fits the declared event count.
    #[error("DATA offsets do not match the event count: {detail}")]
    DataMismatch {
        /// The candidates that were tried and why each was rejected.
        detail: String,
    },

    /// An ASCII (`$DATATYPE A`) value could not be parsed as a number.
    #[error("ASCII DATA value {value:?} (event {event}, parameter {parameter}) is not a number")]
    BadAscii {
        /// 1-based event number.
        event: usize,
        /// 1-based parameter number.
        parameter: usize,
        /// The text found.
        value: String,
    },

    /// The spillover keyword is malformed.
    #[error("spillover keyword {keyword} is malformed: {reason}")]
    BadSpillover {
        /// Which keyword held the matrix.
        keyword: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Input given to the writer or the statistics functions is inconsistent.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// An analysis argument (a transform parameter, a channel, a bin count, …) outside its
    /// domain. The message starts with the argument's name, so a form can show it beside it.
    #[error("{field}: {reason}")]
    InvalidArgument {
        /// The argument, as a client names it (e.g. `w`, `x`, `bins`).
        field: String,
        /// What is wrong and what would be right.
        reason: String,
    },

    /// An error inside a dataset after the first one (found through `$NEXTDATA`).
    #[error("dataset {index} (starting at byte {offset}): {source}")]
    InDataset {
        /// 0-based index of the dataset in the file.
        index: usize,
        /// Byte where the dataset starts.
        offset: Num,
        /// The underlying error.
        #[source]
        source: Box<FcsError>,
    },
}

impl FcsError {
    /// An [`FcsError::InvalidArgument`].
    pub fn argument(field: impl Into<String>, reason: impl Into<String>) -> FcsError {
        FcsError::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// At most this many characters of a rejected value are quoted in a message, so that a
/// hostile 1 MB value does not become a 1 MB error (the service returns messages to clients).
const EXCERPT_CHARS: usize = 60;

/// `v`, cut to [`EXCERPT_CHARS`] characters (with `…` when cut), for quoting in messages.
pub(crate) fn excerpt(v: &str) -> String {
    match v.char_indices().nth(EXCERPT_CHARS) {
        Some((i, _)) => format!("{}…", &v[..i]),
        None => v.to_owned(),
    }
}

/// An integer that displays with thousands separators (`482,635`), used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Num(pub u64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.0.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::{excerpt, Num};

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("abc"), "abc");
        let long = "é".repeat(1000);
        assert_eq!(excerpt(&long), format!("{}…", "é".repeat(60)));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(Num(0).to_string(), "0");
        assert_eq!(Num(999).to_string(), "999");
        assert_eq!(Num(1000).to_string(), "1,000");
        assert_eq!(Num(482_635).to_string(), "482,635");
        assert_eq!(Num(1_234_567_890).to_string(), "1,234,567,890");
    }
}
