//! Parse and statistics benchmarks.
//!
//! * `parse/dxflex_sample`: open + decode all columns of the DxFLEX sample from
//!   `../shared/data/fcs` (skipped with a notice when the corpus is absent);
//! * `parse/float32_1M_x_26` and `parse_stats/float32_1M_x_26`: a generated
//!   1,000,000 × 26 float32 file (~104 MB, HEADER DATA offsets 0) written to a temp dir.
//!
//! Throughput is reported in bytes of input file per second.

use std::path::{Path, PathBuf};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tessera_fcs::{stats, synth, FcsFile};

fn parse_all(path: &Path) -> usize {
    let f = FcsFile::open(path).expect("open");
    let cols = f.first().columns_raw().expect("decode");
    cols.event_count()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.sample_size(20);
    let sample = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/fcs"
    ))
    .join("dxflex_clearllab_10c_t_tube.fcs");
    if sample.is_file() {
        let len = std::fs::metadata(&sample).unwrap().len();
        g.throughput(Throughput::Bytes(len));
        g.bench_function("dxflex_sample", |b| {
            b.iter(|| black_box(parse_all(&sample)))
        });
    } else {
        eprintln!(
            "NOTICE: {} not found; DxFLEX parse bench skipped",
            sample.display()
        );
    }

    let dir = std::env::temp_dir().join(format!("tessera-fcs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big: PathBuf = dir.join("float32_1M_x_26.fcs");
    synth::write_float32_file(&big, 1_000_000, 26, 42).expect("generate bench file");
    let len = std::fs::metadata(&big).unwrap().len();
    g.throughput(Throughput::Bytes(len));
    g.bench_function("float32_1M_x_26", |b| b.iter(|| black_box(parse_all(&big))));
    g.finish();

    let mut g = c.benchmark_group("parse_stats");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(len));
    g.bench_function("float32_1M_x_26", |b| {
        b.iter(|| {
            let f = FcsFile::open(&big).unwrap();
            let cols = f.first().columns_raw().unwrap();
            black_box(stats::all_channel_stats(&cols, &[5.0, 95.0]))
        })
    });
    let cols = FcsFile::open(&big).unwrap().first().columns_raw().unwrap();
    g.bench_function("stats_only_1M_x_26", |b| {
        b.iter(|| black_box(stats::all_channel_stats(&cols, &[5.0, 95.0])))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
