//! The TEXT segment: keyword/value pairs and their case-insensitive lookup.
//!
//! A TEXT segment looks like `/$PAR/3/$TOT/1000/$P1N/FSC-A/…/`: its first byte is the
//! *delimiter*, and keywords and values alternate between delimiters. A delimiter that is
//! part of a keyword or value is written twice (`GFP//FITC-A` means `GFP/FITC-A`).
//!
//! Real files bend these rules, and the tokenizer here accepts what instruments write:
//!
//! * padding (spaces, NULs, newlines) after the final delimiter is ignored;
//! * a segment that does not end with a delimiter still yields its last value;
//! * a doubled delimiter right at the end of the segment is an empty value followed by the
//!   closing delimiter (FCS 2.0 writers produce this), not an escaped delimiter;
//! * bytes that are not valid UTF-8 (Latin-1 or Mac-Roman text from old instruments) are
//!   decoded one byte per character instead of failing;
//! * when a keyword appears twice, lookups return the *last* value (the order
//!   `dict(zip(keys, values))` gives in the Python readers), while [`Keywords::iter`] still
//!   lists every pair in file order.

use std::collections::HashMap;

/// The keyword/value pairs of one dataset, in file order, with case-insensitive lookup.
///
/// ```
/// use tessera_fcs::Keywords;
/// let kw = Keywords::from_pairs([("$PAR", "2"), ("$p1n", "FSC-A")]);
/// assert_eq!(kw.get("$P1N"), Some("FSC-A"));
/// assert_eq!(kw.get("$par"), Some("2"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keywords {
    pairs: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Keywords {
    /// Builds a keyword set from pairs (later duplicates win in lookups).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut kw = Keywords::default();
        for (k, v) in pairs {
            kw.push(k.into(), v.into());
        }
        kw
    }

    /// Appends a pair; a later pair with the same (case-insensitive) keyword shadows earlier ones.
    pub fn push(&mut self, key: String, value: String) {
        self.index
            .insert(key.to_ascii_uppercase(), self.pairs.len());
        self.pairs.push((key, value));
    }

    /// Appends a pair only if the keyword is not present yet (used for supplemental TEXT).
    pub(crate) fn push_if_absent(&mut self, key: String, value: String) {
        if !self.contains(&key) {
            self.push(key, value);
        }
    }

    /// The value of `key`, compared case-insensitively; the last occurrence wins.
    pub fn get(&self, key: &str) -> Option<&str> {
        let i = if key.bytes().any(|b| b.is_ascii_lowercase()) {
            *self.index.get(&key.to_ascii_uppercase())?
        } else {
            *self.index.get(key)?
        };
        Some(self.pairs[i].1.as_str())
    }

    /// True when `key` (case-insensitive) is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every pair in file order, duplicates included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs (duplicates counted).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Number of distinct keywords (case-insensitive).
    pub fn distinct_len(&self) -> usize {
        self.index.len()
    }
}

/// Decodes bytes as UTF-8, or, when they are not valid UTF-8, one byte per character
/// (Latin-1), so that old Latin-1/Mac-Roman text never makes a file unreadable.
pub(crate) fn decode_lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// What the tokenizer noticed while splitting a segment (reported as repairs).
#[derive(Debug, Default)]
pub(crate) struct TextNotes {
    /// Bytes of padding after the final delimiter.
    pub trailing_padding: usize,
    /// The segment did not end with its delimiter.
    pub unterminated: bool,
    /// A keyword at the end had no value and was dropped.
    pub dangling_key: Option<String>,
    /// Number of keywords that appeared more than once.
    pub duplicates: usize,
}

/// Splits a TEXT segment (first byte = delimiter) into keyword/value pairs.
///
/// Returns `None` when the segment is empty.
pub(crate) fn parse_text(seg: &[u8]) -> Option<(Keywords, TextNotes)> {
    let (&delim, rest) = seg.split_first()?;
    let mut notes = TextNotes::default();
    // Strip padding after the last delimiter (unless the delimiter itself is whitespace).
    let mut end = rest.len();
    let is_pad = |b: u8| b == b' ' || b == 0 || b == b'\r' || b == b'\n' || b == b'\t';
    if !is_pad(delim) {
        while end > 0 && is_pad(rest[end - 1]) {
            end -= 1;
        }
    }
    notes.trailing_padding = rest.len() - end;
    let content = if end > 0 && rest[end - 1] == delim {
        &rest[..end - 1]
    } else {
        notes.unterminated = !rest.is_empty();
        &rest[..end]
    };

    let mut tokens: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut i = 0;
    let n = content.len();
    while i < n {
        let b = content[i];
        if b == delim {
            if i + 1 < n && content[i + 1] == delim {
                // Escaped delimiter inside a keyword or value.
                cur.push(delim);
                i += 2;
                continue;
            }
            tokens.push(std::mem::take(&mut cur));
            i += 1;
            continue;
        }
        // Copy the run of ordinary bytes at once.
        let run_end = content[i..]
            .iter()
            .position(|&c| c == delim)
            .map_or(n, |p| i + p);
        cur.extend_from_slice(&content[i..run_end]);
        i = run_end;
    }
    if !content.is_empty() || !tokens.is_empty() || !cur.is_empty() {
        tokens.push(cur);
    }

    let mut kw = Keywords::default();
    let mut it = tokens.chunks_exact(2);
    for pair in &mut it {
        let key = decode_lossy(&pair[0]).trim().to_owned();
        if key.is_empty() {
            continue;
        }
        if kw.contains(&key) {
            notes.duplicates += 1;
        }
        kw.push(key, decode_lossy(&pair[1]));
    }
    if let [last] = it.remainder() {
        let key = decode_lossy(last).trim().to_owned();
        if !key.is_empty() {
            notes.dangling_key = Some(key);
        }
    }
    Some((kw, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(s: &[u8]) -> Keywords {
        parse_text(s).unwrap().0
    }

    #[test]
    fn basic_and_case_insensitive() {
        let k = kw(b"/$PAR/2/$p1n/FSC-A/");
        assert_eq!(k.get("$PAR"), Some("2"));
        assert_eq!(k.get("$P1N"), Some("FSC-A"));
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn escaped_delimiters() {
        let k = kw(b"/$P8S/GFP//FITC-A/$P4F/561////10 nm/X/y/");
        assert_eq!(k.get("$P8S"), Some("GFP/FITC-A"));
        assert_eq!(k.get("$P4F"), Some("561//10 nm"));
        assert_eq!(k.get("X"), Some("y"));
    }

    #[test]
    fn padding_and_unterminated() {
        let (k, n) = parse_text(b"/A/1/B/2/     \0\0").unwrap();
        assert_eq!(k.get("B"), Some("2"));
        assert_eq!(n.trailing_padding, 7);
        let (k, n) = parse_text(b"/A/1/B/2").unwrap();
        assert_eq!(k.get("B"), Some("2"));
        assert!(n.unterminated);
    }

    #[test]
    fn empty_value_at_end() {
        let k = kw(b"\\A\\1\\Doc.\\\\");
        assert_eq!(k.get("A"), Some("1"));
        assert_eq!(k.get("Doc."), Some(""));
    }

    #[test]
    fn duplicates_last_wins() {
        let (k, n) = parse_text(b"/$VOL/1/$VOL/2/").unwrap();
        assert_eq!(k.get("$vol"), Some("2"));
        assert_eq!(k.len(), 2);
        assert_eq!(n.duplicates, 1);
    }

    #[test]
    fn latin1_fallback() {
        let k = kw(b"/CREATOR/CellQuest Pro\xaa 5.2/");
        assert_eq!(k.get("CREATOR"), Some("CellQuest Pro\u{aa} 5.2"));
    }

    #[test]
    fn degenerate() {
        assert!(parse_text(b"").is_none());
        assert!(kw(b"/").is_empty());
        assert!(kw(b"//").is_empty());
        assert!(kw(b"/A").is_empty());
    }
}
