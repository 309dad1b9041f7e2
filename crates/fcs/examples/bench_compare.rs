//! Times this engine for `bench/fcs.sh`, which runs fcsparser and FlowIO on the same files in the
//! same run and prints the ratios.
//!
//! ```text
//! cargo run --release -p tessera-fcs --example bench_compare -- generate OUT.fcs 1000000 26
//! cargo run --release -p tessera-fcs --example bench_compare -- time RUNS FILE...
//! ```
//!
//! `time` prints one JSON object per file: the median wall time in milliseconds of `RUNS` runs of
//! (a) open + decode every column and (b) the same plus all-channel statistics (min, max, mean,
//! median, std, CV, 5th/95th percentiles), and the file size.

use std::path::Path;
use std::time::Instant;

use tessera_fcs::{stats, synth, FcsFile};

fn median_ms(runs: usize, mut work: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn parse(path: &Path) -> tessera_fcs::Columns {
    let file = FcsFile::open(path).expect("the engine reads the file");
    file.first()
        .columns_raw()
        .expect("the engine decodes the file")
}

fn time(runs: usize, path: &Path) {
    let parse_ms = median_ms(runs, || {
        std::hint::black_box(parse(path));
    });
    let parse_stats_ms = median_ms(runs, || {
        let columns = parse(path);
        std::hint::black_box(stats::all_channel_stats(&columns, &[5.0, 95.0]));
    });
    let bytes = std::fs::metadata(path).expect("file exists").len();
    println!(
        "{{\"file\":{:?},\"bytes\":{bytes},\"parse_ms\":{parse_ms:.3},\"parse_stats_ms\":{parse_stats_ms:.3}}}",
        path.display().to_string()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") if args.len() == 4 => {
            let events: usize = args[2].parse().expect("events is a number");
            let parameters: usize = args[3].parse().expect("parameters is a number");
            synth::write_float32_file(Path::new(&args[1]), events, parameters, 42)
                .expect("written");
        }
        Some("time") if args.len() >= 3 => {
            let runs: usize = args[1].parse().expect("runs is a number");
            for file in &args[2..] {
                time(runs, Path::new(file));
            }
        }
        _ => {
            eprintln!("usage: bench_compare generate OUT EVENTS PARAMETERS | time RUNS FILE...");
            std::process::exit(2);
        }
    }
}
