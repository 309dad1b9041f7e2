//! `GET /api/v1/fcs/export`: a gated, transformed subset of channels exported as FCS and CSV
//! is read back by fcsparser, FlowIO and Python's csv module (tests/reference/read_export.py)
//! to the values Tessera's events route answers for the same query, and says the truth about
//! itself in its keywords.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{synthetic_bytes, TestApp};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/reference/read_export.py"
);
const CHANNELS: [&str; 5] = ["FSC-A", "SSC-A", "FL1-A", "FL9-A", "Time"];

struct Exported {
    app: TestApp,
    pat: String,
    query: String,
}

impl Exported {
    async fn new() -> Exported {
        let app = TestApp::spawn().await;
        let jwt = app.user("alice").create().await.jwt;
        let (_, pat) = app.pat(&jwt, &["fcs:write"]).await;
        let uploaded = app.upload_fcs(&pat, "run.fcs", synthetic_bytes()).await;
        let file = uploaded.data()["file_id"].as_str().unwrap().to_owned();
        let gate = app
            .post(
                &format!("/api/v1/fcs/files/{file}/gates"),
                Some(&pat),
                json!({"name": "cells", "type": "rectangle", "x": "FSC-A", "y": "SSC-A",
                    "min": [0, 0], "max": [2_500_000, 1_000_000]}),
            )
            .await;
        assert_eq!(gate.status, StatusCode::CREATED, "{:?}", gate.body);
        let query = format!(
            "file_id={file}&channels={}&scale=scaled&transform=logicle&gate={}",
            CHANNELS.join(","),
            gate.data()["id"].as_str().unwrap()
        );
        Exported { app, pat, query }
    }

    async fn download(&self, format: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let response = self
            .app
            .client
            .get(self.app.url(&format!(
                "/api/v1/fcs/export?format={format}&{}",
                self.query
            )))
            .bearer_auth(&self.pat)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        (headers, response.bytes().await.unwrap().to_vec())
    }

    /// The gate's events through the same pipeline, per channel, from the events route.
    async fn columns(&self) -> Vec<Vec<f64>> {
        let mut columns = vec![Vec::new(); CHANNELS.len()];
        loop {
            let path = format!(
                "/api/v1/fcs/events?{}&limit=10000&offset={}",
                self.query,
                columns[0].len()
            );
            let page = self.app.get(&path, Some(&self.pat)).await;
            let events = page.data()["events"].as_array().unwrap().clone();
            if events.is_empty() {
                return columns;
            }
            for event in events {
                for (column, name) in columns.iter_mut().zip(CHANNELS) {
                    column.push(event[name].as_f64().unwrap());
                }
            }
        }
    }
}

#[tokio::test]
async fn an_export_reads_back_in_fcsparser_flowio_and_csv_as_the_events_it_holds() {
    let Some(python) = crate::support::python_with("fcsparser, flowio") else {
        return;
    };
    let export = Exported::new().await;
    let (fcs_headers, fcs) = export.download("fcs").await;
    assert_eq!(fcs_headers["content-type"], "application/vnd.isac.fcs");
    assert!(fcs_headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("filename=\"run-export.fcs\""));
    let (csv_headers, csv) = export.download("csv").await;
    assert_eq!(csv_headers["content-type"], "text/csv; charset=utf-8");
    let expected = export.columns().await;
    assert!(
        expected[0].len() > 1_000 && expected[0].len() < 34_297,
        "{}",
        expected[0].len()
    );

    let dir = tempfile::tempdir().unwrap();
    let (fcs_path, csv_path) = (dir.path().join("e.fcs"), dir.path().join("e.csv"));
    std::fs::write(&fcs_path, fcs).unwrap();
    std::fs::write(&csv_path, csv).unwrap();
    let output = std::process::Command::new(python)
        .args([SCRIPT.as_ref(), fcs_path.as_os_str(), csv_path.as_os_str()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();

    let as_f32 = |v: f64| f64::from(v as f32);
    for (reader, round) in [("fcsparser", true), ("flowio", true), ("csv", false)] {
        let names = &read[reader][if reader == "csv" {
            "header"
        } else {
            "channels"
        }];
        assert_eq!(*names, json!(CHANNELS), "{reader}");
        let columns: Vec<Vec<f64>> = serde_json::from_value(read[reader]["columns"].clone())
            .unwrap_or_else(|e| panic!("{reader}: {e}"));
        for (k, (ours, theirs)) in expected.iter().zip(&columns).enumerate() {
            assert_eq!(ours.len(), theirs.len(), "{reader} {}", CHANNELS[k]);
            // FCS holds float32; CSV the exact f64.
            let ours: Vec<f64> = ours
                .iter()
                .map(|&v| if round { as_f32(v) } else { v })
                .collect();
            assert_eq!(&ours, theirs, "{reader} {}", CHANNELS[k]);
        }
    }

    let keywords = &read["fcsparser"]["keywords"];
    assert_eq!(keywords["$ORIGINALITY"], "DataModified");
    assert_eq!(keywords["TESSERA_GATE"], "cells");
    let pipeline = keywords["TESSERA_PIPELINE"].as_str().unwrap();
    assert_eq!(
        pipeline,
        "scale=scaled;compensation=none;transform=logicle(t=262144,w=0.5,m=4.5,a=0) on FL1-A,FL9-A"
    );
    assert_eq!(keywords["$CYT"], "Tessera synthetic sample", "carried over");
    assert_eq!(keywords["$P5N"], "Time");
    assert_eq!(keywords["$P3E"], "0,0");
    assert!(
        keywords.get("$TIMESTEP").is_none(),
        "scaled time is in seconds already"
    );
    assert!(keywords.get("$P6N").is_none());
}

#[tokio::test]
async fn an_export_refuses_what_the_events_route_refuses() {
    let export = Exported::new().await;
    for (query, field) in [
        ("format=xlsx", "Invalid query parameter format"),
        ("channels=NOPE", "channels: "),
        ("transform=logicle&w=9", "w: "),
        ("gate=nope", "gate: "),
    ] {
        let reply = export
            .app
            .get(&format!("/api/v1/fcs/export?{query}"), Some(&export.pat))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            reply.message().starts_with(field),
            "{query}: {}",
            reply.message()
        );
    }
}

/// A compressed export ends cleanly: the compression layer polls the body once more after its
/// end, which a stream that is not fused answers with a panic mid-response.
#[tokio::test]
async fn a_compressed_export_ends_cleanly() {
    let export = Exported::new().await;
    let response = export
        .app
        .client
        .get(
            export
                .app
                .url(&format!("/api/v1/fcs/export?format=csv&{}", export.query)),
        )
        .bearer_auth(&export.pat)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.expect("the whole body arrives");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut text,
    )
    .unwrap();
    assert!(
        text.starts_with("FSC-A,SSC-A,FL1-A,FL9-A,Time\n"),
        "{}",
        &text[..60]
    );
}
