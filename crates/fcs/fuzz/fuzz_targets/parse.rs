//! Fuzz target: any bytes given to the reader must produce a file or an error, never a
//! panic, and decoding/statistics on whatever parses must not panic either.
//!
//! Run from `crates/fcs/fuzz`: `cargo fuzz run parse seeds/parse`
//! (needs nightly, or `RUSTC_BOOTSTRAP=1` on stable). The fuzz crate's release profile
//! keeps debug assertions and overflow checks on (see its `Cargo.toml`), so arithmetic
//! overflow panics as it does in the debug-built tests; for an unoptimised debug build use
//! `cargo fuzz run --dev parse seeds/parse`. Without cargo-fuzz, the property tests in
//! `tests/proptests.rs` (`cargo test -p tessera-fcs --test proptests`) cover the same ground.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_fcs::{stats, FcsFile};

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = FcsFile::from_bytes(data) {
        for ds in file.datasets() {
            let _ = ds.spillover();
            assert!(ds.data_range().end <= data.len());
            if let Ok(cols) = ds.columns_raw() {
                let _ = stats::all_channel_stats(&cols, &[50.0, 99.0]);
            }
            let _ = ds.columns_scaled();
        }
    }
});
