//! `GET /api/v1/fcs/export`: chosen events and channels of a dataset as a new file — FCS 3.1
//! (float32) or CSV — written on the blocking pool while the client reads it.
//!
//! What the new file says about itself must stay true of its values:
//!
//! * the values are those of the request's pipeline, so `$PnE` is `0,0` (float data is
//!   linear), `$PnR` is the channel's range on that pipeline, and `$TIMESTEP` is kept only for
//!   raw values (scaled time is already in seconds);
//! * the spillover matrix is kept only when the values are not compensated and every channel it
//!   names is exported — compensating twice is the mistake it would invite;
//! * keywords that refer to parameters or gates by number (`$PnX`, vendors' `PnX`, `$GnX`,
//!   `$RnX`, `$PKn`, `$CSVnFLAG`, …) are dropped, the numbers having changed; every other
//!   keyword (`$CYT`, `$DATE`, `$BTIM`, vendors' own) is carried over;
//! * `$ORIGINALITY` is `DataModified` and `TESSERA_PIPELINE` / `TESSERA_GATE` say how the
//!   values were made.

use std::io::Write;

use axum::body::{Body, Bytes};
use std::sync::Arc;

use tessera_fcs::gate::Membership;
use tessera_fcs::{Display, Fcs31Writer, Pipeline, Spillover, WriteParameter};
use tokio::sync::mpsc;

use super::analysis::describe;
use super::view::FcsData;

/// Bytes handed to the client at a time.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks written ahead of a slow client: the memory one export may hold.
const CHUNKS_AHEAD: usize = 4;

/// The two formats.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// FCS 3.1, float32, little-endian.
    Fcs,
    /// Comma-separated, a header of `$PnN`s, values as the shortest decimal that reads back.
    Csv,
}

impl ExportFormat {
    /// The media type answered.
    pub fn content_type(self) -> &'static str {
        match self {
            // Registered with IANA by ISAC for FCS files.
            ExportFormat::Fcs => "application/vnd.isac.fcs",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Fcs => "fcs",
            ExportFormat::Csv => "csv",
        }
    }
}

/// Events computed and written at a time: the memory an export holds is this many rows of the
/// chosen channels, however large the file.
const BLOCK_EVENTS: usize = 64 * 1024;

/// Everything an export writes: where the values come from (the dataset, the pipeline, the gate's
/// members) and what the new file says about them. The values are computed a block of events
/// at a time as the file is written.
pub struct Export {
    data: Arc<FcsData>,
    selected: Vec<usize>,
    pipeline: Pipeline,
    members: Option<Membership>,
    parameters: Vec<WriteParameter>,
    keywords: Vec<(String, String)>,
}

/// How the values were made, for the keywords.
struct Provenance {
    /// `scale=…;compensation=…;transform=…`.
    pub pipeline: String,
    pub scaled: bool,
    pub compensated: bool,
    /// The gate's name, when one kept the events.
    pub gate: Option<String>,
}

impl Export {
    /// The export of `selected` channels of `data` through `pipeline`, of every event or of
    /// the `members` of the gate named `gate`.
    pub fn new(
        data: Arc<FcsData>,
        selected: Vec<usize>,
        pipeline: Pipeline,
        gated: Option<(Membership, String)>,
    ) -> Export {
        let (members, gate) = gated.map_or((None, None), |(m, name)| (Some(m), Some(name)));
        let source = data.source();
        let ranges: Vec<Option<f64>> = selected
            .iter()
            .map(|&i| pipeline.channel_range(&source, i).map(|(_, top)| top))
            .collect();
        let provenance = &Provenance {
            pipeline: describe(&pipeline, &data, &selected),
            scaled: pipeline.scales(),
            compensated: pipeline.compensation.is_some(),
            gate,
        };
        let parameters = selected
            .iter()
            .zip(&ranges)
            .map(|(&i, range)| {
                let source = &data.parameters[i];
                WriteParameter {
                    name: source.pnn.clone(),
                    label: source.pns.clone(),
                    range: range.unwrap_or(source.range),
                    display: Some(match source.display {
                        Display::Log if !provenance.scaled => Display::Log,
                        _ => Display::Lin,
                    }),
                }
            })
            .collect::<Vec<_>>();
        let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
        let keywords = carried_keywords(&data, &names, provenance);
        Export {
            data,
            selected,
            pipeline,
            members,
            parameters,
            keywords,
        }
    }

    /// Events the file holds.
    pub fn events(&self) -> usize {
        self.members
            .as_ref()
            .map_or(self.data.event_count(), Membership::count)
    }

    /// The chosen channels' values of the kept events among `range`, through the pipeline.
    fn block(&self, range: std::ops::Range<usize>) -> Vec<Vec<f64>> {
        let start = range.start;
        let values = self
            .pipeline
            .evaluate(&self.data.source().range(range), &self.selected);
        match &self.members {
            None => values,
            Some(members) => values
                .iter()
                .map(|column| {
                    let kept = column.iter().enumerate();
                    kept.filter(|(k, _)| members.contains(start + k))
                        .map(|(_, &v)| v)
                        .collect()
                })
                .collect(),
        }
    }

    /// The blocks of events, in order.
    fn blocks(&self) -> impl Iterator<Item = Vec<Vec<f64>>> + '_ {
        let n = self.data.event_count();
        (0..n)
            .step_by(BLOCK_EVENTS)
            .map(move |start| self.block(start..(start + BLOCK_EVENTS).min(n)))
    }

    /// Writes the export to `out` in `format`.
    pub fn write(&self, format: ExportFormat, out: impl Write) -> std::io::Result<()> {
        match format {
            ExportFormat::Fcs => self.write_fcs(out).map_err(std::io::Error::other),
            ExportFormat::Csv => self.write_csv(out),
        }
    }

    fn write_fcs(&self, out: impl Write) -> tessera_fcs::Result<()> {
        let mut writer = Fcs31Writer::begin(out, &self.parameters, self.events(), &self.keywords)?;
        for block in self.blocks() {
            writer.write_events(&block)?;
        }
        writer.finish()?;
        Ok(())
    }

    fn write_csv(&self, out: impl Write) -> std::io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(self.parameters.iter().map(|p| p.name.as_str()))?;
        let mut row = Vec::with_capacity(self.selected.len());
        for block in self.blocks() {
            for event in 0..block.first().map_or(0, Vec::len) {
                row.clear();
                // Rust prints the shortest decimal that parses back to the same f64; NaN and
                // infinities as `NaN`, `inf`, `-inf`, which Python's float() reads.
                row.extend(block.iter().map(|c| c[event].to_string()));
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }

    /// A body the export is written into on the blocking pool as the client reads it.
    pub fn into_body(self, format: ExportFormat) -> Body {
        let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_AHEAD);
        tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(CHUNK_BYTES, Chunks(sender.clone()));
            let written = self.write(format, &mut out).and_then(|()| out.flush());
            if let Err(error) = written {
                // The client's connection ends with an error, not a short file that looks whole.
                if error.kind() != std::io::ErrorKind::BrokenPipe {
                    tracing::warn!(%error, "FCS export failed while writing");
                    let _ = sender.blocking_send(Err(error));
                }
            }
        });
        // Fused: the compression layer polls once more after the end, which an unfused
        // `unfold` answers with a panic.
        let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| (chunk, receiver))
        });
        Body::from_stream(futures_util::StreamExt::fuse(chunks))
    }
}

/// A writer handing its bytes to the response; a client gone is a broken pipe.
struct Chunks(mpsc::Sender<std::io::Result<Bytes>>);

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(bytes)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The source's keywords that stay true of the export, then the export's own.
fn carried_keywords(
    data: &FcsData,
    names: &[&str],
    provenance: &Provenance,
) -> Vec<(String, String)> {
    let spillover_holds = !provenance.compensated
        && Spillover::from_keywords(&data.keywords)
            .ok()
            .flatten()
            .is_some_and(|matrix| matrix.names.iter().all(|c| names.contains(&c.as_str())));
    let mut keywords: Vec<(String, String)> = data
        .keywords
        .iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .filter(|(name, _)| {
            let upper = name.to_ascii_uppercase();
            if upper == "$TIMESTEP" {
                return !provenance.scaled;
            }
            if matches!(upper.as_str(), "$SPILLOVER" | "$SPILL" | "SPILL") {
                return spillover_holds;
            }
            !written_anew(&upper) && !numbers_a_parameter(&upper)
        })
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    keywords.push(("$ORIGINALITY".to_owned(), "DataModified".to_owned()));
    keywords.push(("TESSERA_PIPELINE".to_owned(), provenance.pipeline.clone()));
    if let Some(gate) = &provenance.gate {
        keywords.push(("TESSERA_GATE".to_owned(), gate.clone()));
    }
    keywords
}

/// Keywords the writer or the export sets itself.
fn written_anew(upper: &str) -> bool {
    matches!(
        upper,
        "$BEGINANALYSIS"
            | "$ENDANALYSIS"
            | "$BEGINSTEXT"
            | "$ENDSTEXT"
            | "$BEGINDATA"
            | "$ENDDATA"
            | "$BYTEORD"
            | "$DATATYPE"
            | "$MODE"
            | "$NEXTDATA"
            | "$PAR"
            | "$TOT"
            | "$ORIGINALITY"
            | "TESSERA_PIPELINE"
            | "TESSERA_GATE"
            | "$COMP"
            | "$UNICODE"
    ) || upper.starts_with("$CS")
}

/// Whether a keyword refers to a parameter, gate or region by its number: `$P3N`, `P3DISPLAY`,
/// `$G1E`, `$R2I`, `$PK4`, `$PKN4`, `$CSV1FLAG`.
fn numbers_a_parameter(upper: &str) -> bool {
    let bare = upper.strip_prefix('$').unwrap_or(upper);
    ["PKN", "PK", "P", "G", "R"].iter().any(|prefix| {
        bare.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More events than a block, a gate keeping every third: the blocks join into exactly the
    /// kept events, in order, in both formats.
    #[test]
    fn blocks_join_into_the_gated_events() {
        let events = 2 * BLOCK_EVENTS + 123;
        let (params, columns) = tessera_fcs::synth::float32_columns(events, 3, 7);
        let mut bytes = Vec::new();
        let none: [(&str, &str); 0] = [];
        tessera_fcs::write_fcs31(&mut bytes, &params, &columns, &none).unwrap();
        let file = tessera_fcs::FcsFile::from_bytes(&bytes).unwrap();
        let data = Arc::new(FcsData::decode(&file, 0).unwrap());
        let members = Membership::from_flags((0..events).map(|i| i % 3 == 0).collect());
        let kept: Vec<Vec<f64>> = data.columns.data[1..]
            .iter()
            .map(|column| members.keep(column))
            .collect();
        let gated = Some((members, "every third".to_owned()));
        let export = Export::new(data, vec![1, 2], Pipeline::default(), gated);
        assert_eq!(export.events(), kept[0].len());

        let mut csv = Vec::new();
        export.write(ExportFormat::Csv, &mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(rows.len(), kept[0].len());
        let last = rows.last().unwrap();
        assert_eq!(
            *last,
            format!("{},{}", kept[0].last().unwrap(), kept[1].last().unwrap())
        );

        let mut fcs = Vec::new();
        export.write(ExportFormat::Fcs, &mut fcs).unwrap();
        let back = tessera_fcs::FcsFile::from_bytes(&fcs).unwrap();
        let back = back.first().columns_raw().unwrap();
        let as_f32 = |c: &Vec<f64>| c.iter().map(|&v| f64::from(v as f32)).collect::<Vec<_>>();
        assert_eq!(back.data, kept.iter().map(as_f32).collect::<Vec<_>>());
    }

    #[test]
    fn keywords_that_number_a_parameter_are_recognised() {
        for numbered in [
            "$P3N",
            "P12DISPLAY",
            "$G1E",
            "$R2I",
            "$PK4",
            "$PKN4",
            "P1BS",
        ] {
            assert!(numbers_a_parameter(numbered), "{numbered}");
        }
        for kept in ["$CYT", "$PROJ", "$PLATEID", "GUID", "$DATE", "PROCESSING"] {
            assert!(!numbers_a_parameter(kept), "{kept}");
        }
    }
}
