//! The FCS endpoints over HTTP: the real DxFLEX sample against REFERENCE.json, the synthetic
//! sample, uploads (accepted, rejected, oversized), isolation between users and the scopes.
//!
//! Tests that need the reference corpus (`../shared/data/fcs`) print a notice and skip when it
//! is absent; the others generate their files with the engine.

use std::path::{Path, PathBuf};

use crate::support::{synthetic_bytes, TestApp, TestAppBuilder};
use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub(crate) const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/fcs");
const DXFLEX: &str = "dxflex_clearllab_10c_t_tube.fcs";

/// A corpus file, or `None` after printing why the test is skipped.
fn corpus_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(CORPUS).join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the FCS reference corpus lives in ../shared/data/fcs)",
            path.display()
        );
        None
    }
}

fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(CORPUS).join("REFERENCE.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["file"] == name)
        .unwrap_or_else(|| panic!("{name} is in REFERENCE.json"))["datasets"][0]
        .clone()
}

/// (PnN, PnS, PnR, display) of the DxFLEX file, as its TEXT segment says.
fn dxflex_parameters() -> Vec<(&'static str, &'static str, u64, &'static str)> {
    const R: u64 = 16_777_215;
    let mut params = vec![
        ("FSC-H", "FSC-H", R, "LIN"),
        ("FSC-A", "FSC-A", R, "LIN"),
        ("SSC-H", "SSC-H", R, "LIN"),
        ("SSC-A", "SSC-A", R, "LIN"),
    ];
    let labels = [
        ("FL1", "TCRgd FITC"),
        ("FL2", "CD4 PE"),
        ("FL3", "CD2 ECD"),
        ("FL4", "CD56 PC5.5"),
        ("FL5", "CD5 PC7"),
        ("FL6", "CD34 APC"),
        ("FL7", "CD7 APC-A700"),
        ("FL8", "CD8 APC-A750"),
        ("FL9", "CD3 PB450"),
        ("FL10", "CD45 KO525"),
    ];
    for (channel, label) in labels {
        for kind in ["H", "A"] {
            let pnn: &'static str = format!("{channel}-{kind}").leak();
            let pns: &'static str = format!("{label}-{kind}").leak();
            params.push((pnn, pns, R, "LOG"));
        }
    }
    params.push(("FSC-Width", "FSC-Width", 10_000, "LIN"));
    params.push(("Time", "Time", 900_000_000, "LIN"));
    params
}

fn assert_dxflex_parameters(data: &Value) {
    assert_eq!(data["total_events"], 34_297);
    assert_eq!(data["total_parameters"], 26);
    let expected: Vec<Value> = dxflex_parameters()
        .into_iter()
        .enumerate()
        .map(|(i, (pnn, pns, range, display))| {
            json!({"index": i + 1, "pnn": pnn, "pns": pns, "range": range, "display": display})
        })
        .collect();
    assert_eq!(data["parameters"], json!(expected));
}

/// An app and one user's PAT with `scopes`.
async fn app_with(builder: TestAppBuilder, scopes: &[&str]) -> (TestApp, String) {
    let app = builder.spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, pat) = app.pat(&jwt, scopes).await;
    (app, pat)
}

/// GET returning the raw body text too (serde_json's `Value` sorts keys; order matters here).
async fn get_text(app: &TestApp, path: &str, pat: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(pat)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

fn close(got: f64, expected: f64) -> bool {
    got == expected || (got - expected).abs() <= 1e-9 * expected.abs().max(got.abs())
}

#[tokio::test]
async fn real_sample_parameters_statistics_and_events_match_the_reference() {
    let Some(sample) = corpus_file(DXFLEX) else {
        return;
    };
    let (app, pat) = app_with(TestApp::builder().fcs_sample(sample), &["fcs:analyze"]).await;
    let reference = reference(DXFLEX);

    let parameters = app.get("/api/v1/fcs/parameters", Some(&pat)).await;
    assert_eq!(parameters.status, StatusCode::OK, "{:?}", parameters.body);
    assert_eq!(parameters.data()["file_id"], "sample");
    assert_dxflex_parameters(parameters.data());
    let pns: Vec<&Value> = parameters.data()["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["pns"])
        .collect();
    assert_eq!(json!(pns), reference["pns"]);

    let stats = app.get("/api/v1/fcs/statistics", Some(&pat)).await;
    assert_eq!(stats.status, StatusCode::OK, "{:?}", stats.body);
    assert_eq!(stats.data()["total_events"], 34_297);
    let rows = stats.data()["statistics"].as_array().unwrap();
    let expected = reference["stats"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len());
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!(row["parameter"], want["name"]);
        for field in ["min", "max", "mean", "median", "std"] {
            let (got, want) = (row[field].as_f64().unwrap(), want[field].as_f64().unwrap());
            assert!(
                close(got, want),
                "{} {field}: {got} vs {want}",
                row["parameter"]
            );
        }
        assert_eq!(row["count"], 34_297);
    }
    assert_eq!(rows[4]["pns"], "TCRgd FITC-H");
    assert_eq!(rows[4]["display"], "LOG");

    let (status, text) = get_text(&app, "/api/v1/fcs/events?limit=2", &pat).await;
    assert_eq!(status, StatusCode::OK);
    // Float32 values print as the shortest text that reads back to the same float32.
    assert!(
        text.contains(r#""FL1-H":370.1,"FL1-A":265.0,"#),
        "{text:.400}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let events = body["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for (event, want) in events
        .iter()
        .zip(reference["first_events"].as_array().unwrap())
    {
        for ((pnn, _, _, _), want) in dxflex_parameters().iter().zip(want.as_array().unwrap()) {
            let got = event[*pnn].as_f64().unwrap() as f32;
            assert_eq!(got, want.as_f64().unwrap() as f32, "{pnn}");
        }
    }
}

#[tokio::test]
async fn events_page_and_select_channels() {
    let Some(sample) = corpus_file(DXFLEX) else {
        return;
    };
    let (app, pat) = app_with(TestApp::builder().fcs_sample(sample), &["fcs:analyze"]).await;
    let events = |query: &str| {
        let path = format!("/api/v1/fcs/events{query}");
        let app = &app;
        let pat = &pat;
        async move { app.get(&path, Some(pat)).await }
    };

    let default = events("").await;
    assert_eq!(default.status, StatusCode::OK);
    assert_eq!(default.data()["limit"], 100);
    assert_eq!(default.data()["offset"], 0);
    assert_eq!(default.data()["events"].as_array().unwrap().len(), 100);
    assert_eq!(
        events("?limit=10000").await.data()["events"]
            .as_array()
            .unwrap()
            .len(),
        10_000
    );
    let tail = events("?offset=34290&limit=100").await;
    assert_eq!(tail.data()["events"].as_array().unwrap().len(), 7);
    for past in ["?offset=34297", "?offset=99999999"] {
        let reply = events(past).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.data()["events"], json!([]));
        assert_eq!(reply.data()["total_events"], 34_297);
    }
    for (query, named) in [
        ("?limit=10001", "limit"),
        ("?limit=0", "limit"),
        ("?limit=-5", "limit"),
        ("?offset=-1", "offset"),
        ("?channels=FSC-A,NOPE", "NOPE"),
        ("?channels=,", "channels"),
    ] {
        let reply = events(query).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            reply.message().contains(named),
            "{query}: {}",
            reply.message()
        );
    }
    // A value the query extractor cannot parse is a bad value like the others.
    let unparsable = events("?limit=abc").await;
    assert_eq!(unparsable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unparsable.message().contains("limit"),
        "{}",
        unparsable.message()
    );

    // Selected channels come back in parameter order, whatever order they were asked in.
    let (status, text) = get_text(
        &app,
        "/api/v1/fcs/events?limit=1&channels=SSC-A,FSC-A",
        &pat,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(r#""events":[{"FSC-A":59898.4,"SSC-A":61658.9}]"#),
        "{text}"
    );

    let stats = app
        .get("/api/v1/fcs/statistics?channels=Time,FSC-H", Some(&pat))
        .await;
    let names: Vec<&Value> = stats.data()["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["parameter"])
        .collect();
    assert_eq!(json!(names), json!(["FSC-H", "Time"]));
}

#[tokio::test]
async fn without_a_sample_path_the_synthetic_sample_is_served() {
    let (app, pat) = app_with(TestApp::builder().generate_sample(), &["fcs:analyze"]).await;
    let parameters = app.get("/api/v1/fcs/parameters", Some(&pat)).await;
    assert_eq!(parameters.status, StatusCode::OK, "{:?}", parameters.body);
    assert_dxflex_parameters(parameters.data());
    let generated = std::fs::read(app.db.dir.path().join("sample/synthetic_dxflex.fcs")).unwrap();
    // The other tests are given these bytes instead of generating them: they must be the same.
    assert!(
        generated == synthetic_bytes(),
        "the generated sample differs"
    );

    let files = app.get("/api/v1/fcs/files", Some(&pat)).await;
    assert_eq!(files.status, StatusCode::OK);
    let sample = &files.data()["files"][0];
    assert_eq!(sample["file_id"], "sample");
    assert_eq!(sample["sample"], true);
    assert_eq!(sample["synthetic"], true);
    assert_eq!(sample["total_events"], 34_297);

    let stats = app.get("/api/v1/fcs/statistics", Some(&pat)).await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.data()["statistics"].as_array().unwrap().len(), 26);
    let events = app
        .get("/api/v1/fcs/events?file_id=sample&limit=3", Some(&pat))
        .await;
    assert_eq!(events.data()["events"].as_array().unwrap().len(), 3);

    let document = app.get("/openapi.json", None).await;
    for path in [
        "/api/v1/fcs/parameters",
        "/api/v1/fcs/events",
        "/api/v1/fcs/statistics",
        "/api/v1/fcs/upload",
        "/api/v1/fcs/files",
        "/api/v1/fcs/files/{id}",
    ] {
        assert!(
            document.body["paths"][path].is_object(),
            "{path} documented"
        );
    }
}

#[tokio::test]
async fn an_upload_is_readable_listed_private_and_deletable() {
    let (app, pat) = app_with(TestApp::builder(), &["fcs:analyze"]).await;
    let uploaded = app
        .upload_fcs(&pat, "../../my run?.fcs", synthetic_bytes())
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    let file_id = uploaded.data()["file_id"].as_str().unwrap().to_owned();
    assert_eq!(uploaded.data()["filename"], "my run_.fcs");
    assert_eq!(uploaded.data()["total_events"], 34_297);
    assert_eq!(uploaded.data()["total_parameters"], 26);
    assert_eq!(app.db.stored_objects().len(), 1);

    let parameters = app
        .get(
            &format!("/api/v1/fcs/parameters?file_id={file_id}"),
            Some(&pat),
        )
        .await;
    assert_eq!(parameters.status, StatusCode::OK);
    assert_eq!(parameters.data()["file_id"], file_id.as_str());
    assert_dxflex_parameters(parameters.data());
    let files = app.get("/api/v1/fcs/files", Some(&pat)).await;
    assert_eq!(files.data()["total"], 2);
    assert_eq!(files.data()["files"][1]["file_id"], file_id.as_str());

    // Another user's id is answered exactly like an unknown one.
    let jwt = app.user("bob").create().await.jwt;
    let (_, bob) = app.pat(&jwt, &["fcs:analyze"]).await;
    for path in [
        format!("/api/v1/fcs/parameters?file_id={file_id}"),
        format!("/api/v1/fcs/events?file_id={file_id}"),
        format!("/api/v1/fcs/statistics?file_id={file_id}"),
        format!("/api/v1/fcs/statistics?file_id={}", uuid::Uuid::now_v7()),
    ] {
        let reply = app.get(&path, Some(&bob)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.message(), "FCS file not found");
    }
    let refused = app
        .delete(&format!("/api/v1/fcs/files/{file_id}"), Some(&bob))
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/fcs/files", Some(&bob)).await.data()["total"],
        1
    );

    let bad = app.get("/api/v1/fcs/events?file_id=12", Some(&pat)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.message().contains("file_id"));
    let sample = app.delete("/api/v1/fcs/files/sample", Some(&pat)).await;
    assert_eq!(sample.status, StatusCode::CONFLICT);
    assert_eq!(
        app.delete("/api/v1/fcs/files/nope", Some(&pat))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let deleted = app
        .delete(&format!("/api/v1/fcs/files/{file_id}"), Some(&pat))
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    assert_eq!(deleted.data()["file_id"], file_id.as_str());
    assert!(app.db.stored_objects().is_empty());
    assert_eq!(
        app.get("/api/v1/fcs/files", Some(&pat)).await.data()["total"],
        1
    );
    let gone = app
        .get(
            &format!("/api/v1/fcs/parameters?file_id={file_id}"),
            Some(&pat),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let again = app
        .delete(&format!("/api/v1/fcs/files/{file_id}"), Some(&pat))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_real_integer_file_uploads_and_reads_back_exactly() {
    let Some(path) = corpus_file("cytek_xp5_int24.fcs") else {
        return;
    };
    let (app, pat) = app_with(TestApp::builder(), &["fcs:analyze"]).await;
    let reference = reference("cytek_xp5_int24.fcs");
    let uploaded = app
        .upload_fcs(&pat, "cytek_xp5_int24.fcs", std::fs::read(path).unwrap())
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    assert_eq!(uploaded.data()["total_events"], reference["events_decoded"]);
    let file_id = uploaded.data()["file_id"].as_str().unwrap();

    let (status, text) = get_text(
        &app,
        &format!("/api/v1/fcs/events?limit=1&file_id={file_id}"),
        &pat,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Integer data prints as integers, keyed in parameter order.
    assert!(
        text.contains(r#"[{"TIME":0,"FSC":286,"SSC":164,"FL1":154,"FL2":54,"FL3":470,"FL4 red":1023,"FL5 red":770}]"#),
        "{text}"
    );
    let stats = app
        .get(
            &format!("/api/v1/fcs/statistics?file_id={file_id}"),
            Some(&pat),
        )
        .await;
    let rows = stats.data()["statistics"].as_array().unwrap();
    for (row, want) in rows.iter().zip(reference["stats"].as_array().unwrap()) {
        for field in ["min", "max", "mean", "median", "std"] {
            let (got, want) = (row[field].as_f64().unwrap(), want[field].as_f64().unwrap());
            assert!(
                close(got, want),
                "{} {field}: {got} vs {want}",
                row["parameter"]
            );
        }
    }
}

#[tokio::test]
async fn a_file_the_engine_rejects_leaves_nothing_behind() {
    let (app, pat) = app_with(TestApp::builder(), &["fcs:write", "fcs:read"]).await;
    let mut truncated = synthetic_bytes();
    truncated.truncate(truncated.len() / 2);
    let mut junk = b"this is not an FCS file at all, just some text".to_vec();
    junk.extend_from_slice(&[0u8; 100]);
    for (name, bytes, says) in [
        ("half.fcs", truncated, "events"),
        ("junk.fcs", junk, "not an FCS file"),
        ("empty.fcs", Vec::new(), "file"),
    ] {
        let reply = app.upload_fcs(&pat, name, bytes).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {:?}",
            reply.body
        );
        assert!(reply.message().starts_with("file: "), "{}", reply.message());
        assert!(
            reply.message().contains(says),
            "{name}: {}",
            reply.message()
        );
    }
    // A real instrument's truncated file from the corpus, which the reference parsers reject too.
    if let Some(path) = corpus_file("aurora_header_only_truncated.fcs") {
        let bytes = std::fs::read(path).unwrap();
        let reply = app.upload_fcs(&pat, "aurora.fcs", bytes).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            reply.body
        );
    }
    assert!(
        app.db.stored_objects().is_empty(),
        "{:?}",
        app.db.stored_objects()
    );
    assert_eq!(
        app.get("/api/v1/fcs/files", Some(&pat)).await.data()["total"],
        1
    );
    assert_eq!(
        app.db
            .strings("SELECT CAST(COUNT(*) AS TEXT) FROM fcs_files")
            .await,
        vec!["0".to_owned()]
    );
}

#[tokio::test]
async fn uploads_over_the_limit_or_not_multipart_are_refused() {
    let builder = TestApp::builder().with_config(|config| config.fcs_max_upload_mb = 1);
    let (app, pat) = app_with(builder, &["fcs:write", "fcs:read"]).await;
    let bytes = synthetic_bytes();
    assert!(bytes.len() > 3 << 20);
    let reply = app.upload_fcs(&pat, "big.fcs", bytes).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        reply.body
    );
    assert!(
        reply.message().contains("FCS_MAX_UPLOAD_MB"),
        "{}",
        reply.message()
    );
    assert!(app.db.stored_objects().is_empty());
    assert_eq!(
        app.get("/api/v1/fcs/files", Some(&pat)).await.data()["total"],
        1
    );

    let json = app
        .post("/api/v1/fcs/upload", Some(&pat), json!({"file": "x"}))
        .await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(json.message().contains("multipart"));
    let form = Form::new().text("other", "value");
    let response = app
        .client
        .post(app.url("/api/v1/fcs/upload"))
        .bearer_auth(&pat)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let missing = TestApp::reply(response).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing.message().starts_with("file:"),
        "{}",
        missing.message()
    );
}

#[tokio::test]
async fn scopes_guard_upload_and_statistics() {
    let (app, read) = app_with(TestApp::builder(), &["fcs:read"]).await;
    let refused = app.upload_fcs(&read, "x.fcs", synthetic_bytes()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.data()["required_scope"], "fcs:write");
    assert!(app.db.stored_objects().is_empty());

    let jwt = app.user("bob").create().await.jwt;
    let (_, write) = app.pat(&jwt, &["fcs:write"]).await;
    let refused = app.get("/api/v1/fcs/statistics", Some(&write)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.data()["required_scope"], "fcs:analyze");
    // fcs:write includes fcs:read.
    assert_eq!(
        app.get("/api/v1/fcs/files", Some(&write)).await.status,
        StatusCode::OK
    );
    let delete = app.delete("/api/v1/fcs/files/sample", Some(&read)).await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
}

#[test]
fn the_cli_writes_the_synthetic_sample_and_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synth.fcs");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let path = out.to_str().unwrap();
    let written = run(&["fcs", "synth", path]);
    assert_eq!(written["synthetic"], true);
    assert_eq!(written["total_events"], 34_297);
    assert_dxflex_parameters(&run(&["fcs", "info", path]));
    let events = run(&["fcs", "events", path, "--limit", "2", "--offset", "34296"]);
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    let stats = run(&["fcs", "stats", path, "--channels", "Time"]);
    assert_eq!(stats["statistics"][0]["parameter"], "Time");
    assert_eq!(stats["statistics"][0]["count"], 34_297);
}
