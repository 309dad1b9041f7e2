//! Helpers to hand-craft FCS files for tests.
#![allow(dead_code)]

/// The values written for `$BEGINDATA`/`$ENDDATA`, given the true offsets.
pub type TextData = Box<dyn Fn(usize, usize) -> (String, String)>;

/// Builds one dataset: HEADER + TEXT (delimiter `/`, no escaping needed by callers) + DATA.
/// `header_data` overrides the HEADER DATA fields (raw 8-char strings), otherwise the true
/// offsets are written. `$BEGINDATA`/`$ENDDATA` are added unless `text_offsets` is false;
/// `text_data` overrides their values.
pub struct Craft {
    pub version: &'static str,
    pub pairs: Vec<(String, String)>,
    pub data: Vec<u8>,
    pub header_data: Option<(String, String)>,
    pub text_offsets: bool,
    pub text_data: Option<TextData>,
}

impl Craft {
    pub fn new(pairs: &[(&str, &str)], data: Vec<u8>) -> Self {
        Craft {
            version: "FCS3.1",
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            data,
            header_data: None,
            text_offsets: true,
            text_data: None,
        }
    }

    /// Sets `key` to `value`, appending the pair when `key` is absent.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value.to_owned(),
            None => self.pairs.push((key.to_owned(), value.to_owned())),
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let render = |bd: usize, ed: usize| {
            let mut t = String::from("/");
            for (k, v) in &self.pairs {
                t.push_str(&format!("{k}/{v}/"));
            }
            if self.text_offsets {
                let (b, e) = match &self.text_data {
                    Some(f) => f(bd, ed),
                    None => (format!("{bd:010}"), format!("{ed:010}")),
                };
                t.push_str(&format!("$BEGINDATA/{b}/$ENDDATA/{e}/"));
            }
            t
        };
        let offsets = |tlen: usize| {
            let bd = 58 + tlen;
            (bd, bd + self.data.len().max(1) - 1)
        };
        // The TEXT length may depend on the offsets written into it: iterate to a fixed point.
        let mut tlen = render(0, 0).len();
        for _ in 0..8 {
            let (bd, ed) = offsets(tlen);
            tlen = render(bd, ed).len();
        }
        let (bd, ed) = offsets(tlen);
        let text = render(bd, ed);
        assert_eq!(text.len(), tlen, "TEXT length did not settle");
        let (hb, he) = self
            .header_data
            .clone()
            .unwrap_or_else(|| (bd.to_string(), ed.to_string()));
        let mut out = format!(
            "{}    {:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
            self.version,
            58,
            58 + tlen - 1,
            hb,
            he,
            0,
            0
        )
        .into_bytes();
        assert_eq!(out.len(), 58);
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }
}

/// Standard keywords for `par` parameters of `bits` bits with `$DATATYPE dt`.
pub fn std_pairs(
    dt: &str,
    byteord: &str,
    tot: &str,
    par: usize,
    bits: &str,
    range: &str,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("$DATATYPE".into(), dt.into()),
        ("$BYTEORD".into(), byteord.into()),
        ("$MODE".into(), "L".into()),
        ("$TOT".into(), tot.into()),
        ("$PAR".into(), par.to_string()),
        ("$NEXTDATA".into(), "0".into()),
    ];
    for i in 1..=par {
        v.push((format!("$P{i}N"), format!("C{i}")));
        v.push((format!("$P{i}B"), bits.into()));
        v.push((format!("$P{i}R"), range.into()));
        v.push((format!("$P{i}E"), "0,0".into()));
    }
    v
}

/// Concatenates datasets, pointing each one's `$NEXTDATA` at the next (10 digits, so that
/// setting it does not change any length).
pub fn chain(parts: &mut [Craft]) -> Vec<u8> {
    let mut out = Vec::new();
    let last = parts.len().saturating_sub(1);
    for (i, c) in parts.iter_mut().enumerate() {
        c.set("$NEXTDATA", "0000000000");
        if i < last {
            let len = c.build().len();
            c.set("$NEXTDATA", &format!("{len:010}"));
        }
        out.extend_from_slice(&c.build());
    }
    out
}
