//! Synthetic data: the built-in DxFLEX-like sample and N × P float32 files for benchmarks.
//!
//! The service needs a sample even when no real file is configured, so
//! [`dxflex_like_sample`] reproduces the *shape* of `dxflex_clearllab_10c_t_tube.fcs`
//! (Beckman Coulter DxFLEX, 34,297 events × 26 parameters, same `$PnN`, `$PnS`, `$PnR` and
//! display scales) with values drawn from a fixed seed, and labels it as synthetic
//! (`TESSERA_SYNTHETIC=true`, `$CYT=Tessera synthetic sample`). It is written through the
//! engine's own writer, so reading it back exercises the whole engine.
//!
//! The values come from a small model of a blood sample (lymphocytes, monocytes and
//! granulocytes with marker-positive and marker-negative subsets), not from real events.
//! The generator is deterministic: the same seed gives byte-identical files.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::params::Display;
use crate::write::{write_fcs31, write_fcs31_file, WriteParameter};

/// Events in the DxFLEX sample.
pub const DXFLEX_EVENTS: usize = 34_297;
/// Seed used for the built-in sample.
pub const DXFLEX_SEED: u64 = 0x07E5_5E2A;

/// (`$PnN`, `$PnS`, `$PnR`, display) of the 26 DxFLEX parameters.
const DXFLEX_PARAMS: [(&str, &str, f64, Display); 26] = {
    use Display::{Lin, Log};
    const R: f64 = 16_777_215.0;
    [
        ("FSC-H", "FSC-H", R, Lin),
        ("FSC-A", "FSC-A", R, Lin),
        ("SSC-H", "SSC-H", R, Lin),
        ("SSC-A", "SSC-A", R, Lin),
        ("FL1-H", "TCRgd FITC-H", R, Log),
        ("FL1-A", "TCRgd FITC-A", R, Log),
        ("FL2-H", "CD4 PE-H", R, Log),
        ("FL2-A", "CD4 PE-A", R, Log),
        ("FL3-H", "CD2 ECD-H", R, Log),
        ("FL3-A", "CD2 ECD-A", R, Log),
        ("FL4-H", "CD56 PC5.5-H", R, Log),
        ("FL4-A", "CD56 PC5.5-A", R, Log),
        ("FL5-H", "CD5 PC7-H", R, Log),
        ("FL5-A", "CD5 PC7-A", R, Log),
        ("FL6-H", "CD34 APC-H", R, Log),
        ("FL6-A", "CD34 APC-A", R, Log),
        ("FL7-H", "CD7 APC-A700-H", R, Log),
        ("FL7-A", "CD7 APC-A700-A", R, Log),
        ("FL8-H", "CD8 APC-A750-H", R, Log),
        ("FL8-A", "CD8 APC-A750-A", R, Log),
        ("FL9-H", "CD3 PB450-H", R, Log),
        ("FL9-A", "CD3 PB450-A", R, Log),
        ("FL10-H", "CD45 KO525-H", R, Log),
        ("FL10-A", "CD45 KO525-A", R, Log),
        ("FSC-Width", "FSC-Width", 10_000.0, Lin),
        ("Time", "Time", 900_000_000.0, Lin),
    ]
};

/// Parameter descriptions of the DxFLEX sample (names, labels, ranges, display).
pub fn dxflex_parameters() -> Vec<WriteParameter> {
    DXFLEX_PARAMS
        .iter()
        .map(|&(n, s, r, d)| WriteParameter {
            name: n.into(),
            label: Some(s.into()),
            range: r,
            display: Some(d),
        })
        .collect()
}

/// Standard normal variate (Box–Muller; no extra dependency needed).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The DxFLEX-like sample's columns (26 columns of `events` values) for `seed`.
pub fn dxflex_columns(events: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cols: Vec<Vec<f64>> = (0..26).map(|_| Vec::with_capacity(events)).collect();
    // Per-population means: (FSC, SSC, CD45 log10 level).
    const POPS: [(f64, f64, f64, f64); 3] = [
        // weight, FSC-A, SSC-A, CD45 (log10)
        (0.55, 1.6e6, 4.0e5, 5.2),
        (0.10, 2.6e6, 1.0e6, 4.8),
        (0.35, 3.2e6, 3.2e6, 4.3),
    ];
    let mut time = 0.0f64;
    for _ in 0..events {
        let u: f64 = rng.random();
        let pop = if u < POPS[0].0 {
            0
        } else if u < POPS[0].0 + POPS[1].0 {
            1
        } else {
            2
        };
        let (_, fsc, ssc, cd45) = POPS[pop];
        let fsc_a = (fsc * (1.0 + 0.15 * normal(&mut rng))).clamp(0.0, 16_777_215.0);
        let ssc_a = (ssc * (1.0 + 0.25 * normal(&mut rng))).clamp(0.0, 16_777_215.0);
        let h = |a: f64, rng: &mut ChaCha8Rng| {
            (a * (0.82 + 0.03 * normal(rng))).clamp(0.0, 16_777_215.0)
        };
        let fsc_h = h(fsc_a, &mut rng);
        let ssc_h = h(ssc_a, &mut rng);
        cols[0].push(fsc_h);
        cols[1].push(fsc_a);
        cols[2].push(ssc_h);
        cols[3].push(ssc_a);
        // Ten markers (FL1..FL10): lymphocytes split into positive/negative subsets.
        for m in 0..10 {
            let level = if m == 9 {
                cd45
            } else {
                let positive_share = [0.05, 0.45, 0.8, 0.12, 0.7, 0.01, 0.75, 0.3, 0.72][m];
                let positive = pop == 0 && rng.random::<f64>() < positive_share;
                if positive {
                    4.6 + 0.1 * m as f64
                } else {
                    2.7
                }
            };
            let a = 10f64.powf(level + 0.18 * normal(&mut rng)) - 150.0;
            let hv = a * (0.8 + 0.03 * normal(&mut rng));
            cols[4 + 2 * m].push(hv.clamp(-5_000.0, 16_777_215.0));
            cols[5 + 2 * m].push(a.clamp(-5_000.0, 16_777_215.0));
        }
        cols[24].push((900.0 + 80.0 * normal(&mut rng)).clamp(0.0, 10_000.0));
        time += 12.4 * rng.random::<f64>() * 2.0;
        cols[25].push(time.floor().min(900_000_000.0));
    }
    cols
}

fn dxflex_keywords() -> Vec<(String, String)> {
    vec![
        ("$CYT".into(), "Tessera synthetic sample".into()),
        ("TESSERA_SYNTHETIC".into(), "true".into()),
        (
            "$COM".into(),
            "Synthetic data shaped like a Beckman Coulter DxFLEX ClearLLab 10C T tube; not real events"
                .into(),
        ),
        ("$FIL".into(), "tessera_synthetic_dxflex.fcs".into()),
        ("$SRC".into(), "Tessera synthetic generator".into()),
        ("$TIMESTEP".into(), "0.01".into()),
        ("TESSERA_SEED".into(), DXFLEX_SEED.to_string()),
    ]
}

/// The DxFLEX-like synthetic sample as FCS 3.1 bytes (34,297 events × 26 parameters).
pub fn dxflex_like_sample() -> Result<Vec<u8>> {
    let cols = dxflex_columns(DXFLEX_EVENTS, DXFLEX_SEED);
    let mut buf = Vec::with_capacity(DXFLEX_EVENTS * 26 * 4 + 4096);
    write_fcs31(&mut buf, &dxflex_parameters(), &cols, &dxflex_keywords())?;
    Ok(buf)
}

/// Writes the DxFLEX-like synthetic sample to `path`.
pub fn write_dxflex_like_sample(path: impl AsRef<Path>) -> Result<()> {
    let cols = dxflex_columns(DXFLEX_EVENTS, DXFLEX_SEED);
    write_fcs31_file(path, &dxflex_parameters(), &cols, &dxflex_keywords())
}

/// Columns for an `events × params` float32 benchmark file: parameter `j` is named `P{j}`,
/// values are log-normal-ish in 0..262,144, drawn from `seed`.
pub fn float32_columns(
    events: usize,
    params: usize,
    seed: u64,
) -> (Vec<WriteParameter>, Vec<Vec<f64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ps = (1..=params)
        .map(|j| WriteParameter {
            name: format!("P{j}"),
            label: Some(format!("synthetic channel {j}")),
            range: 262_144.0,
            display: Some(if j <= 2 { Display::Lin } else { Display::Log }),
        })
        .collect();
    let cols = (0..params)
        .map(|j| {
            let centre = 2.0 + (j % 5) as f64 * 0.5;
            (0..events)
                .map(|_| (10f64.powf(centre + 0.4 * normal(&mut rng)) - 50.0).min(262_143.0))
                .collect()
        })
        .collect();
    (ps, cols)
}

/// Writes an `events × params` float32 FCS 3.1 file to `path` (see [`float32_columns`]).
/// Files over 99,999,999 bytes get `0` HEADER DATA offsets, as the standard requires.
pub fn write_float32_file(
    path: impl AsRef<Path>,
    events: usize,
    params: usize,
    seed: u64,
) -> Result<()> {
    let (ps, cols) = float32_columns(events, params, seed);
    write_fcs31_file(
        path,
        &ps,
        &cols,
        &[
            ("$CYT", "Tessera synthetic benchmark"),
            ("TESSERA_SYNTHETIC", "true"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FcsFile;

    #[test]
    fn dxflex_sample_shape() {
        let bytes = dxflex_like_sample().unwrap();
        assert_eq!(bytes, dxflex_like_sample().unwrap(), "deterministic");
        let f = FcsFile::from_bytes(&bytes).unwrap();
        let d = f.first();
        assert_eq!(d.event_count(), DXFLEX_EVENTS);
        assert_eq!(d.parameters().len(), 26);
        assert_eq!(d.keyword("TESSERA_SYNTHETIC"), Some("true"));
        assert_eq!(d.keyword("$CYT"), Some("Tessera synthetic sample"));
        for (p, &(n, s, r, disp)) in d.parameters().iter().zip(DXFLEX_PARAMS.iter()) {
            assert_eq!(
                (p.pnn.as_str(), p.pns.as_deref(), p.range, p.display),
                (n, Some(s), r, disp)
            );
        }
        let cols = d.columns_raw().unwrap();
        for (c, &(_, _, r, _)) in cols.data.iter().zip(DXFLEX_PARAMS.iter()) {
            assert!(c.iter().all(|v| v.is_finite() && *v <= r));
        }
    }
}
