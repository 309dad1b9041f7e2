//! The server-side analysis figures of issue 13, on 1,000,000 events:
//!
//! * `histogram/1M_256_bins`: one channel into 256 bins (numpy.histogram's counts); target ≤ 5 ms;
//! * `density/1M_128x128`: two channels into a 128 × 128 grid (numpy.histogram2d); ≤ 10 ms;
//! * `compensation_logicle/1M_x_26`: every channel of a 1,000,000 × 26 dataset through a
//!   26 × 26 spillover matrix and logicle (the value pipeline, `evaluate`); ≤ 150 ms.
//!
//! The data is the generated float32 file of `parse.rs`, decoded once before timing. The
//! allocator is the service's (mimalloc, see `tessera`'s `main.rs`): with glibc's, every 8 MB
//! output column is a fresh mapping whose page faults alone cost ~55 ms for 26 of them.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tessera_fcs::binning::{self, Bins};
use tessera_fcs::{
    synth, Compensation, FcsFile, Pipeline, Scale, Spillover, Transform, TransformSpec,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 1_000_000;
const CHANNELS: usize = 26;

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tessera-fcs-analysis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("float32_1M_x_26.fcs");
    synth::write_float32_file(&path, EVENTS, CHANNELS, 42).expect("generate bench file");
    let file = FcsFile::open(&path).unwrap();
    let dataset = file.first();
    let columns = dataset.columns_raw().unwrap();
    let parameters = dataset.parameters().to_vec();

    let x = &columns.data[3];
    let y = &columns.data[4];
    let extent = |v: &[f64]| {
        v.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            })
    };
    let ((x_lo, x_hi), (y_lo, y_hi)) = (extent(x), extent(y));

    let mut g = c.benchmark_group("histogram");
    g.sample_size(50);
    let bins = Bins::new(x_lo, x_hi, 256).unwrap();
    g.bench_function("1M_256_bins", |b| {
        b.iter(|| black_box(binning::histogram(x, &bins)))
    });
    g.finish();

    let mut g = c.benchmark_group("density");
    g.sample_size(50);
    let (xb, yb) = (
        Bins::new(x_lo, x_hi, 128).unwrap(),
        Bins::new(y_lo, y_hi, 128).unwrap(),
    );
    g.bench_function("1M_128x128", |b| {
        b.iter(|| black_box(binning::histogram2d(x, y, &xb, &yb)))
    });
    g.finish();

    // A full matrix: every detector sees 1–5 % of every other fluorochrome.
    let names: Vec<String> = parameters.iter().map(|p| p.pnn.clone()).collect();
    let matrix: Vec<f64> = (0..CHANNELS * CHANNELS)
        .map(|k| {
            if k / CHANNELS == k % CHANNELS {
                1.0
            } else {
                0.01 + 0.04 * ((k * 7919) % 97) as f64 / 97.0
            }
        })
        .collect();
    let spillover = Spillover {
        keyword: "$SPILLOVER".into(),
        names,
        matrix,
    };
    let logicle = Transform::new(TransformSpec::Logicle {
        t: 262_144.0,
        w: 0.5,
        m: 4.5,
        a: 0.0,
    })
    .unwrap();
    let pipeline = Pipeline {
        scale: Scale::Scaled,
        compensation: Some(Compensation::new(&spillover, &parameters).unwrap()),
        transform: Some((logicle, (0..CHANNELS).collect())),
    };
    let source = tessera_fcs::Source {
        parameters: &parameters,
        columns: columns.data.iter().map(Vec::as_slice).collect(),
        timestep: None,
    };
    let all: Vec<usize> = (0..CHANNELS).collect();
    let mut g = c.benchmark_group("compensation_logicle");
    g.sample_size(10);
    g.bench_function("1M_x_26", |b| {
        b.iter(|| black_box(pipeline.evaluate(&source, &all)))
    });
    // The two steps apart, to see where the time goes.
    let compensation_only = Pipeline {
        transform: None,
        ..pipeline.clone()
    };
    g.bench_function("1M_x_26_compensation_only", |b| {
        b.iter(|| black_box(compensation_only.evaluate(&source, &all)))
    });
    let logicle_only = Pipeline {
        compensation: None,
        ..pipeline.clone()
    };
    g.bench_function("1M_x_26_logicle_only", |b| {
        b.iter(|| black_box(logicle_only.evaluate(&source, &all)))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
