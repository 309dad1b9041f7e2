//! The value pipeline against independent tools. `tests/reference/fcs_flowkit.py` reads every
//! corpus file with FlowIO, compensates with FlowKit's `Matrix`, transforms with FlowKit's
//! GatingML transforms and bins with numpy; this test asks Tessera the same questions over HTTP
//! and compares: values and statistics within 1e-6 relative, bin counts exactly.
//!
//! It needs a Python with FlowKit (`TESSERA_TEST_PYTHON`, which scripts/test.sh points at a venv
//! holding FlowKit 1.3.2 and FlowIO 1.4.0) and the corpus (`../shared/data/fcs`). Without them it
//! skips with a notice, except under `CI` or `TESSERA_REQUIRE_FLOWKIT`, where it fails.

use std::collections::HashMap;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::fcs::CORPUS;
use crate::support::TestApp;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/reference/fcs_flowkit.py"
);

/// Relative tolerance of values and statistics, as the issue asks.
const RELATIVE: f64 = 1e-6;
/// Below this magnitude values are compared absolutely: a compensated value near zero is the
/// difference of large numbers, and its relative error says nothing.
const ABSOLUTE: f64 = 1e-9;

#[tokio::test]
async fn the_pipeline_agrees_with_flowkit_on_every_corpus_file() {
    let Some(python) = crate::support::python_with("flowkit, flowio") else {
        return;
    };
    if !Path::new(CORPUS).exists() {
        eprintln!("SKIPPED: the FCS reference corpus ({CORPUS}) is absent");
        return;
    }
    let cases = tokio::task::spawn_blocking(move || reference_cases(&python))
        .await
        .unwrap();
    assert!(cases.len() > 50, "only {} reference cases", cases.len());

    // Four gates a case, many cases a file.
    let app = TestApp::builder()
        .with_config(|config| config.fcs_max_gates_per_file = 10_000)
        .spawn()
        .await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, pat) = app.pat(&jwt, &["fcs:analyze"]).await;
    let mut files = HashMap::new();
    let mut mismatches = Vec::new();
    for case in &cases {
        let name = case["file"].as_str().unwrap();
        if !files.contains_key(name) {
            let bytes = std::fs::read(Path::new(CORPUS).join(name)).unwrap();
            let uploaded = app.upload_fcs(&pat, name, bytes).await;
            assert_eq!(uploaded.status, StatusCode::CREATED, "{name}");
            let id = uploaded.data()["file_id"].as_str().unwrap().to_owned();
            files.insert(name.to_owned(), id);
        }
        let asked = Asked::new(&app, &pat, &files[name], case);
        mismatches.extend(compare_case(&asked, case).await);
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches with FlowKit, the first:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(30)].join("\n")
    );
}

fn reference_cases(python: &str) -> Vec<Value> {
    let output = std::process::Command::new(python)
        .args([SCRIPT, CORPUS])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// One case's questions: its file, dataset and pipeline query, asked of one route at a time.
struct Asked<'a> {
    app: &'a TestApp,
    pat: &'a str,
    label: String,
    base: Vec<(String, String)>,
}

impl<'a> Asked<'a> {
    fn new(app: &'a TestApp, pat: &'a str, file_id: &str, case: &Value) -> Self {
        let mut base = vec![
            ("file_id".to_owned(), file_id.to_owned()),
            ("dataset".to_owned(), case["dataset"].to_string()),
        ];
        for (key, value) in case["query"].as_object().unwrap() {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            base.push((key.clone(), value));
        }
        let label = format!("{}[{}] {}", case["file"], case["dataset"], case["query"]);
        Asked {
            app,
            pat,
            label,
            base,
        }
    }

    /// Saves a gate on the case's file; its answer's data.
    async fn save(&self, body: Value) -> Result<Value, String> {
        let path = format!("/api/v1/fcs/files/{}/gates", self.base[0].1);
        let reply = self.app.post(&path, Some(self.pat), body).await;
        if reply.status != StatusCode::CREATED {
            return Err(format!(
                "{} gate: {} {}",
                self.label, reply.status, reply.body
            ));
        }
        Ok(reply.data().clone())
    }

    async fn get(&self, route: &str, extra: &[(&str, String)]) -> Result<Value, String> {
        let extra = extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone()));
        let query: Vec<(String, String)> = self.base.iter().cloned().chain(extra).collect();
        let response = self
            .app
            .client
            .get(self.app.url(&format!("/api/v1/fcs/{route}")))
            .query(&query)
            .bearer_auth(self.pat)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status != StatusCode::OK {
            return Err(format!("{} {route}: {status} {body}", self.label));
        }
        Ok(body["data"].clone())
    }
}

async fn compare_case(asked: &Asked<'_>, case: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut note = |result: Result<Vec<String>, String>| match result {
        Ok(more) => found.extend(more),
        Err(refused) => found.push(refused),
    };
    note(compare_events(asked, case).await);
    note(compare_statistics(asked, case, None).await);
    let chosen = case["chosen"].as_str();
    note(compare_statistics(asked, case, chosen).await);
    if !case["histogram"].is_null() {
        note(compare_histogram(asked, &case["histogram"]).await);
        note(compare_density(asked, &case["density"]).await);
    }
    if !case["gates"].is_null() {
        note(compare_gates(asked, case).await);
    }
    found
}

/// The case's pipeline as a gate's body gives it: `scale`, `compensation`, `transform: {…}`.
fn gate_pipeline(query: &Value) -> Value {
    let mut body = serde_json::Map::new();
    let mut transform = serde_json::Map::new();
    for (key, value) in query.as_object().unwrap() {
        match key.as_str() {
            "scale" | "compensation" => body.insert(key.clone(), value.clone()),
            "transform" => transform.insert("type".to_owned(), value.clone()),
            _ => transform.insert(key.clone(), value.clone()),
        };
    }
    if !transform.is_empty() {
        body.insert("transform".to_owned(), Value::Object(transform));
    }
    Value::Object(body)
}

/// FlowKit's counts of a rectangle, a hexagon, a self-crossing star and the star inside the
/// rectangle, against the gates saved with the case's pipeline.
async fn compare_gates(asked: &Asked<'_>, case: &Value) -> Result<Vec<String>, String> {
    let expected = &case["gates"];
    let pipeline = gate_pipeline(&case["query"]);
    let named = |name: &str, shape: Value| {
        let mut body = pipeline.clone();
        let fields = body.as_object_mut().unwrap();
        let name = format!("{} {name}", case["query"]);
        fields.insert("name".to_owned(), name.into());
        fields.insert("dataset".to_owned(), case["dataset"].clone());
        fields.insert("x".to_owned(), expected["x"].clone());
        fields.insert("y".to_owned(), expected["y"].clone());
        fields.extend(shape.as_object().unwrap().clone());
        body
    };
    let rectangle = &expected["rectangle"];
    let rectangle = asked
        .save(named(
            "rectangle",
            serde_json::json!({"type": "rectangle", "min": rectangle["min"], "max": rectangle["max"]}),
        ))
        .await?;
    let polygon = |vertices: &Value| serde_json::json!({"type": "polygon", "vertices": vertices});
    let hexagon = asked
        .save(named("hexagon", polygon(&expected["hexagon"]["vertices"])))
        .await?;
    let star = asked
        .save(named("star", polygon(&expected["star"]["vertices"])))
        .await?;
    let mut inside = named("star in rectangle", polygon(&expected["star"]["vertices"]));
    inside["parent"] = rectangle["id"].clone();
    let star_inside = asked.save(inside).await?;
    let counts = [
        ("rectangle", &rectangle, &expected["rectangle"]["count"]),
        ("hexagon", &hexagon, &expected["hexagon"]["count"]),
        ("star", &star, &expected["star"]["count"]),
        (
            "star in rectangle",
            &star_inside,
            &expected["star"]["in_rectangle"],
        ),
    ];
    Ok(counts
        .into_iter()
        .filter(|(_, ours, theirs)| ours["count"] != **theirs)
        .map(|(name, ours, theirs)| {
            format!("{} {name}: {} FlowKit {theirs}", asked.label, ours["count"])
        })
        .collect())
}

/// Channel names that occur once: the events' objects are keyed by name.
fn unique_channels(case: &Value) -> Vec<(usize, &str)> {
    let names: Vec<&str> = case["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let once = |name: &&str| names.iter().filter(|n| *n == name).count() == 1;
    names
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, name)| once(name))
        .collect()
}

async fn compare_events(asked: &Asked<'_>, case: &Value) -> Result<Vec<String>, String> {
    let expected = case["first_events"].as_array().unwrap();
    let limit = ("limit", expected.len().to_string());
    let data = asked.get("events", &[limit]).await?;
    let events = data["events"].as_array().unwrap();
    if events.len() != expected.len() {
        return Ok(vec![format!(
            "{}: {} events, FlowIO {}",
            asked.label,
            events.len(),
            expected.len()
        )]);
    }
    let mut found = Vec::new();
    for (row, (ours, theirs)) in events.iter().zip(expected).enumerate() {
        for (column, name) in unique_channels(case) {
            let what = format!("{} event {row} {name}", asked.label);
            found.extend(differs(&what, &ours[name], &theirs[column]));
        }
    }
    Ok(found)
}

/// The default statistics (`stats` `None`) or the `stats=` chosen, against numpy's, for every
/// channel whose name occurs once.
async fn compare_statistics(
    asked: &Asked<'_>,
    case: &Value,
    chosen: Option<&str>,
) -> Result<Vec<String>, String> {
    const DEFAULT: [&str; 5] = ["min", "max", "mean", "median", "std"];
    let query: Vec<(&str, String)> = chosen
        .map(|c| ("stats", c.to_owned()))
        .into_iter()
        .collect();
    let names: Vec<&str> = chosen.map_or(DEFAULT.to_vec(), |c| c.split(',').collect());
    let data = asked.get("statistics", &query).await?;
    let ours: HashMap<&str, &Value> = data["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["parameter"].as_str().unwrap(), s))
        .collect();
    let mut found = Vec::new();
    for (_, name) in unique_channels(case) {
        let theirs = &case["statistics"][name];
        if theirs.is_null() {
            continue;
        }
        let theirs = if chosen.is_some() {
            &theirs["chosen"]
        } else {
            theirs
        };
        for stat in &names {
            let what = format!("{} {name} {stat}", asked.label);
            found.extend(differs(&what, &ours[name][*stat], &theirs[*stat]));
        }
    }
    Ok(found)
}

async fn compare_histogram(asked: &Asked<'_>, expected: &Value) -> Result<Vec<String>, String> {
    let query = [
        ("channel", text(&expected["channel"])),
        ("bins", expected["bins"].to_string()),
        ("min", expected["min"].to_string()),
        ("max", expected["max"].to_string()),
    ];
    let data = asked.get("histogram", &query).await?;
    let mut found = Vec::new();
    if data["counts"] != expected["counts"] {
        found.push(format!(
            "{} histogram of {}: {} numpy {}",
            asked.label, expected["channel"], data["counts"], expected["counts"]
        ));
    }
    Ok(found)
}

async fn compare_density(asked: &Asked<'_>, expected: &Value) -> Result<Vec<String>, String> {
    let mut query = vec![
        ("x", text(&expected["x"])),
        ("y", text(&expected["y"])),
        ("bins", expected["bins"].to_string()),
    ];
    for edge in ["x_min", "x_max", "y_min", "y_max"] {
        query.push((edge, expected[edge].to_string()));
    }
    let data = asked.get("density", &query).await?;
    if data["counts"] == expected["counts"] {
        return Ok(Vec::new());
    }
    Ok(vec![format!(
        "{} density of {} × {} differs from numpy",
        asked.label, expected["x"], expected["y"]
    )])
}

fn text(value: &Value) -> String {
    value.as_str().unwrap().to_owned()
}

/// A mismatch between Tessera's value and the reference's, if any (`null` is not a number).
fn differs(what: &str, ours: &Value, theirs: &Value) -> Option<String> {
    let close = match (ours.as_f64(), theirs.as_f64()) {
        (None, None) => ours.is_null() && theirs.is_null(),
        (Some(a), Some(b)) => (a - b).abs() <= ABSOLUTE.max(RELATIVE * b.abs()),
        _ => false,
    };
    (!close).then(|| format!("{what}: {ours} reference {theirs}"))
}
