//! Fuzz target: any bytes given to the reader must produce a file or an error, never a
//! panic, and decoding/statistics on whatever parses must not panic either.
//!
//! Run from `crates/fcs/fuzz`: `cargo fuzz run parse seeds/parse`
//! (needs nightly, or `RUSTC_BOOTSTRAP=1` on stable).
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
