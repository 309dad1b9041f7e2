//! # tessera-fcs: the Flow Cytometry Standard engine of Tessera
//!
//! Flow cytometers measure thousands of cells per second and store, for every cell (an
//! *event*), one number per *parameter* (a channel such as forward scatter `FSC-A` or a
//! fluorescence detector `FL1-H`). They save these tables as FCS files. This crate reads
//! FCS 2.0, 3.0, 3.1 and 3.2 files — including the mistakes real instruments make — writes
//! FCS 3.1, and computes per-channel statistics.
//!
//! ## A file in one picture
//!
//! ```text
//!  byte 0        58                          TEXT end+1
//!  ┌──────────┬──────────────────────────────┬──────────────────────────────┐
//!  │ HEADER   │ TEXT  /$PAR/26/$TOT/34297/…/ │ DATA  e1p1 e1p2 … e2p1 …     │ (next dataset…)
//!  └──────────┴──────────────────────────────┴──────────────────────────────┘
//!   "FCS3.0" + six 8-byte offsets
//! ```
//!
//! * the **HEADER** ([`dataset`]) gives the byte ranges of TEXT and DATA;
//! * **TEXT** ([`text`]) holds keyword/value pairs: how many parameters (`$PAR`) and
//!   events (`$TOT`), how values are stored (`$DATATYPE`, `$BYTEORD`, `$PnB`), and each
//!   parameter's names and range (`$PnN`, `$PnS`, `$PnR`, see [`params`]);
//! * **DATA** ([`decode`](crate::Dataset::columns_raw)) stores the events row by row; the
//!   engine transposes them into one `Vec<f64>` per parameter.
//!
//! ## Reading
//!
//! ```no_run
//! use tessera_fcs::{FcsFile, stats};
//!
//! let file = FcsFile::open("sample.fcs")?;          // memory-mapped when large
//! let ds = file.first();                           // most files hold one dataset
//! println!("{} {} events", ds.version(), ds.event_count());
//! for p in ds.parameters() {
//!     println!("{} {:?} range {} {}", p.pnn, p.pns, p.range, p.display.as_str());
//! }
//! let cols = ds.columns_raw()?;                    // raw values, column-major
//! let summary = stats::all_channel_stats(&cols, &[5.0, 95.0]);
//! println!("median of {}: {}", cols.names[0], summary[0].median);
//! # Ok::<(), tessera_fcs::FcsError>(())
//! ```
//!
//! Opening validates everything that can be validated without decoding (offsets, event
//! count against file size, parameter widths), so a bad file fails at `open` with a
//! message that says what and where ([`FcsError`]). The engine never panics on input and
//! never allocates more than the input can justify: a TEXT claiming 2^40 events in a 1 KB
//! file is an error, not an allocation; datasets chained by `$NEXTDATA` may not share
//! bytes, and all TEXT read stays within twice the file size. `$PnN` and `$PnS` are at
//! most [`MAX_NAME_BYTES`] (256) bytes long.
//!
//! ## Writing
//!
//! [`write_fcs31`] writes float32 FCS 3.1 that this engine (and other readers) read back
//! to the same values; [`synth`] builds the synthetic DxFLEX-like sample with it.
//!
//! ## Scaled values
//!
//! By default values are *raw*: integers masked to `$PnR`, floats as stored.
//! [`Dataset::columns_scaled`] applies `$PnE` log amplification, `$PnG` gain and
//! `$TIMESTEP`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod binning;
mod chain;
mod cmath;
pub mod compensation;
pub mod dataset;
mod decode;
pub mod error;
pub mod gate;
pub mod histogram;
pub mod logicle;
pub mod params;
pub mod pipeline;
pub mod scale;
pub mod stability;
pub mod stats;
pub mod streaming;
pub mod synth;
pub mod text;
pub mod transform;
pub mod write;

pub use compensation::Compensation;
pub use dataset::{Columns, Dataset, FcsFile};
pub use error::{FcsError, Result};
pub use histogram::{histogram, Histogram};
pub use params::{DataType, Display, Parameter, Spillover, MAX_NAME_BYTES};
pub use pipeline::{Pipeline, Scale, Source};
pub use scale::Scaling;
pub use stats::{all_channel_stats, channel_stats, ChannelStats};
pub use streaming::dataset_stats;
pub use text::Keywords;
pub use transform::{Transform, TransformSpec};
pub use write::{write_fcs31, write_fcs31_file, Fcs31Writer, WriteParameter};
