//! Helpers to hand-craft FCS files for tests.
#![allow(dead_code)]

/// Builds one dataset: HEADER + TEXT (delimiter `/`, no escaping needed by callers) + DATA.
/// `header_data` overrides the HEADER DATA fields (raw 8-char strings), otherwise the true
/// offsets are written. `$BEGINDATA`/`$ENDDATA` are added unless `text_offsets` is false.
pub struct Craft {
    pub version: &'static str,
    pub pairs: Vec<(String, String)>,
    pub data: Vec<u8>,
    pub header_data: Option<(String, String)>,
    pub text_offsets: bool,
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
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let render = |bd: usize, ed: usize| {
            let mut t = String::from("/");
            for (k, v) in &self.pairs {
                t.push_str(&format!("{k}/{v}/"));
            }
            if self.text_offsets {
                t.push_str(&format!("$BEGINDATA/{bd:010}/$ENDDATA/{ed:010}/"));
            }
            t
        };
        let tlen = render(0, 0).len();
        let bd = 58 + tlen;
        let ed = if self.data.is_empty() {
            bd
        } else {
            bd + self.data.len() - 1
        };
        let text = render(bd, ed);
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
