//! The lab's FCS routes beyond the contract: a file's detail, keywords and original bytes; the
//! value pipeline's arguments on every value route, bad ones refused naming the field; the
//! histogram and density; and the scope each route needs. Values themselves are checked
//! against FlowKit in `fcs_reference`.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::fcs::CORPUS;
use crate::support::{synthetic_bytes, TestApp};

/// An app, alice's PAT with `fcs:analyze` and the id of her upload of the synthetic sample.
async fn app_with_upload(name: &str) -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, pat) = app.pat(&jwt, &["fcs:analyze"]).await;
    let uploaded = app.upload_fcs(&pat, name, synthetic_bytes()).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    let id = uploaded.data()["file_id"].as_str().unwrap().to_owned();
    (app, pat, id)
}

fn corpus_bytes(name: &str) -> Option<Vec<u8>> {
    let path = Path::new(CORPUS).join(name);
    if !path.exists() {
        eprintln!("SKIPPED: {} is absent", path.display());
        return None;
    }
    Some(std::fs::read(path).unwrap())
}

#[tokio::test]
async fn a_files_detail_keywords_and_bytes_are_its_owners_alone() {
    let (app, pat, id) = app_with_upload("run 1.fcs").await;

    let detail = app
        .get(&format!("/api/v1/fcs/files/{id}"), Some(&pat))
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{:?}", detail.body);
    assert_eq!(detail.data()["filename"], "run 1.fcs");
    assert_eq!(detail.data()["file_id"], id.as_str());
    let datasets = detail.data()["datasets"].as_array().unwrap();
    assert_eq!(datasets.len(), 1);
    assert_eq!(datasets[0]["total_events"], 34_297);
    assert_eq!(datasets[0]["total_parameters"], 26);

    let keywords = app
        .get(&format!("/api/v1/fcs/files/{id}/keywords"), Some(&pat))
        .await;
    assert_eq!(keywords.status, StatusCode::OK, "{:?}", keywords.body);
    assert_eq!(keywords.data()["keywords"]["$TOT"], "34297");
    assert_eq!(keywords.data()["keywords"]["$P1N"], "FSC-H");
    assert_eq!(keywords.data()["spillover"], Value::Null);

    let response = app
        .client
        .get(app.url(&format!("/api/v1/fcs/files/{id}/download")))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert_eq!(
        disposition,
        "attachment; filename=\"run 1.fcs\"; filename*=UTF-8''run%201%2Efcs"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), synthetic_bytes());

    let bob = app.user("bob").create().await.jwt;
    let (_, bobs) = app.pat(&bob, &["fcs:analyze"]).await;
    for route in ["", "/keywords", "/download"] {
        let path = format!("/api/v1/fcs/files/{id}{route}");
        let refused = app.get(&path, Some(&bobs)).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{path}");
    }
    let refused = app
        .get(
            &format!("/api/v1/fcs/files/{id}/keywords?dataset=1"),
            Some(&pat),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.message().starts_with("dataset: "),
        "{:?}",
        refused.body
    );
}

#[tokio::test]
async fn every_dataset_of_a_file_is_reachable_and_one_past_the_last_is_refused() {
    let Some(bytes) = corpus_bytes("beckman_coulter_2_datasets.lmd") else {
        return;
    };
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, pat) = app.pat(&jwt, &["fcs:analyze"]).await;
    let uploaded = app.upload_fcs(&pat, "two.lmd", bytes).await;
    let id = uploaded.data()["file_id"].as_str().unwrap();

    let detail = app
        .get(&format!("/api/v1/fcs/files/{id}"), Some(&pat))
        .await;
    assert_eq!(detail.data()["datasets"].as_array().unwrap().len(), 2);
    for route in ["parameters", "events", "statistics"] {
        let second = app
            .get(
                &format!("/api/v1/fcs/{route}?file_id={id}&dataset=1"),
                Some(&pat),
            )
            .await;
        assert_eq!(second.status, StatusCode::OK, "{route} {:?}", second.body);
        let past = app
            .get(
                &format!("/api/v1/fcs/{route}?file_id={id}&dataset=2"),
                Some(&pat),
            )
            .await;
        assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY, "{route}");
        assert!(past.message().starts_with("dataset: "), "{:?}", past.body);
    }
    let first = app
        .get(&format!("/api/v1/fcs/parameters?file_id={id}"), Some(&pat))
        .await;
    let second = app
        .get(
            &format!("/api/v1/fcs/parameters?file_id={id}&dataset=1"),
            Some(&pat),
        )
        .await;
    assert_eq!(second.data()["dataset"], 1);
    assert_ne!(first.data()["parameters"], second.data()["parameters"]);
}

#[tokio::test]
async fn a_files_own_matrix_is_shown_and_compensates() {
    let Some(bytes) = corpus_bytes("flowio_b01_kc.fcs") else {
        return;
    };
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, pat) = app.pat(&jwt, &["fcs:analyze"]).await;
    let uploaded = app.upload_fcs(&pat, "b01.fcs", bytes).await;
    let id = uploaded.data()["file_id"].as_str().unwrap();

    let keywords = app
        .get(&format!("/api/v1/fcs/files/{id}/keywords"), Some(&pat))
        .await;
    let spillover = &keywords.data()["spillover"];
    let channels = spillover["channels"].as_array().unwrap();
    let matrix = spillover["matrix"].as_array().unwrap();
    assert!(!channels.is_empty());
    assert_eq!(matrix.len(), channels.len());
    for (i, row) in matrix.iter().enumerate() {
        assert_eq!(row.as_array().unwrap().len(), channels.len());
        assert_eq!(row[i], 1.0, "a detector sees all of its own fluorochrome");
    }

    let path = format!("/api/v1/fcs/events?file_id={id}&limit=5");
    let raw = app.get(&path, Some(&pat)).await;
    let compensated = app
        .get(&format!("{path}&compensation=file"), Some(&pat))
        .await;
    assert_eq!(compensated.status, StatusCode::OK, "{:?}", compensated.body);
    let moved = channels.iter().any(|channel| {
        let channel = channel.as_str().unwrap();
        let event = |reply: &crate::support::Reply| reply.data()["events"][0][channel].clone();
        event(&raw) != event(&compensated)
    });
    assert!(moved, "the first event's detectors are compensated");
}

/// Each bad argument, on the route that reads it, is 422 with a message starting with the
/// field's name: a form can put it beside the field.
#[tokio::test]
async fn bad_pipeline_arguments_are_refused_naming_the_field() {
    let (app, pat, id) = app_with_upload("run.fcs").await;
    let cases = [
        ("events", "transform=logicle&w=3", "w"),
        ("events", "transform=logicle&a=-1", "a"),
        ("events", "transform=logicle&t=0", "t"),
        ("events", "transform=logicle&m=-2", "m"),
        ("events", "transform=asinh&w=0.5", "w"),
        ("events", "transform=asinh&a=5", "a"),
        ("events", "transform=arcsinh&cofactor=0", "cofactor"),
        ("events", "transform=arcsinh&t=5", "t"),
        ("events", "transform=log&a=1", "a"),
        ("events", "cofactor=5", "cofactor"),
        ("events", "transform_channels=FL1-A", "transform_channels"),
        (
            "events",
            "transform=logicle&transform_channels=FL1-A,NOPE",
            "transform_channels",
        ),
        ("events", "compensation=file", "compensation"),
        ("statistics", "compensation=file", "compensation"),
        ("events", "dataset=1", "dataset"),
        ("statistics", "dataset=3", "dataset"),
        ("statistics", "stats=mode", "stats"),
        ("statistics", "stats=quantile:2", "stats"),
        ("statistics", "gate=nope", "gate"),
        ("histogram", "", "channel"),
        ("histogram", "channel=NOPE", "channel"),
        ("histogram", "channel=FL1-A&bins=0", "bins"),
        ("histogram", "channel=FL1-A&bins=4097", "bins"),
        ("histogram", "channel=FL1-A&min=5&max=5", "min"),
        ("histogram", "channel=FL1-A&min=5&max=1", "min"),
        ("histogram", "channel=FL1-A&transform=log&w=1", "w"),
        ("density", "x=FL1-A", "y"),
        ("density", "y=FL1-A", "x"),
        ("density", "x=FL1-A&y=NOPE", "y"),
        ("density", "x=FL1-A&y=FL2-A&bins=1025", "bins"),
        ("density", "x=FL1-A&y=FL2-A&x_min=3&x_max=2", "x_min"),
        ("density", "x=FL1-A&y=FL2-A&y_min=3&y_max=3", "y_min"),
    ];
    for (route, query, field) in cases {
        let path = format!("/api/v1/fcs/{route}?file_id={id}&{query}");
        let reply = app.get(&path, Some(&pat)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["success"], false);
        assert!(
            reply.message().starts_with(&format!("{field}: ")),
            "{path}: {}",
            reply.message()
        );
    }
    // Values of the wrong type or unknown choices are refused by the query parser, named too.
    for (query, field) in [
        ("scale=log", "scale"),
        ("transform=biex", "transform"),
        ("compensation=yes", "compensation"),
        ("w=wide&transform=logicle", "w"),
        ("dataset=-1", "dataset"),
    ] {
        let path = format!("/api/v1/fcs/events?file_id={id}&{query}");
        let reply = app.get(&path, Some(&pat)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(
            reply
                .message()
                .starts_with(&format!("Invalid query parameter {field}: ")),
            "{path}: {}",
            reply.message()
        );
    }
}

#[tokio::test]
async fn a_histogram_accounts_for_every_event() {
    let (app, pat, id) = app_with_upload("run.fcs").await;
    let reply = app
        .get(
            &format!("/api/v1/fcs/histogram?file_id={id}&channel=FL1-A&transform=logicle"),
            Some(&pat),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let data = reply.data();
    let counts: Vec<u64> = serde_json::from_value(data["counts"].clone()).unwrap();
    let edges: Vec<f64> = serde_json::from_value(data["edges"].clone()).unwrap();
    assert_eq!(edges.len(), counts.len() + 1);
    assert!(edges.windows(2).all(|pair| pair[0] < pair[1]));
    // By default the axis spans the channel's whole range through the transform: every event
    // lands inside.
    let outside = ["underflow", "overflow", "nan"].map(|k| data[k].as_u64().unwrap());
    assert_eq!(outside, [0, 0, 0]);
    assert_eq!(counts.iter().sum::<u64>(), 34_297);
    assert_eq!(data["total"], 34_297);

    let narrow = app
        .get(
            &format!("/api/v1/fcs/histogram?file_id={id}&channel=FL1-A&bins=4&min=100&max=200"),
            Some(&pat),
        )
        .await;
    let data = narrow.data();
    assert_eq!(
        data["edges"],
        serde_json::json!([100.0, 125.0, 150.0, 175.0, 200.0])
    );
    let inside: u64 = data["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    let parts = inside + data["underflow"].as_u64().unwrap() + data["overflow"].as_u64().unwrap();
    assert_eq!(parts, 34_297);
    assert!(data["underflow"].as_u64().unwrap() > 0 && data["overflow"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_density_is_bins_by_bins_and_counts_every_event_inside() {
    let (app, pat, id) = app_with_upload("run.fcs").await;
    let reply = app
        .get(
            &format!("/api/v1/fcs/density?file_id={id}&x=FSC-A&y=SSC-A&bins=16"),
            Some(&pat),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let counts: Vec<Vec<u64>> = serde_json::from_value(reply.data()["counts"].clone()).unwrap();
    assert_eq!(counts.len(), 16);
    assert!(counts.iter().all(|row| row.len() == 16));
    // The default axes span each channel's $PnR: nothing falls outside.
    let sum: u64 = counts.iter().flatten().sum();
    assert_eq!(sum, 34_297);
    assert_eq!(reply.data()["x"], "FSC-A");
    assert_eq!(reply.data()["y"], "SSC-A");
}

/// Reading a file's description needs `fcs:read`; computing over its values `fcs:analyze`.
/// Every scope against every new route: those below are refused naming what is needed.
#[tokio::test]
async fn each_route_answers_the_scopes_that_reach_it_and_refuses_the_rest() {
    let (app, _, id) = app_with_upload("run.fcs").await;
    let jwt = app.login("alice").await;
    let routes = [
        (format!("/api/v1/fcs/files/{id}"), "fcs:read"),
        (format!("/api/v1/fcs/files/{id}/keywords"), "fcs:read"),
        (format!("/api/v1/fcs/files/{id}/download"), "fcs:read"),
        (
            format!("/api/v1/fcs/export?file_id={id}&format=csv&channels=FL1-A"),
            "fcs:read",
        ),
        (
            format!("/api/v1/fcs/events?file_id={id}&transform=arcsinh"),
            "fcs:read",
        ),
        (
            format!("/api/v1/fcs/statistics?file_id={id}&transform=arcsinh"),
            "fcs:analyze",
        ),
        (
            format!("/api/v1/fcs/histogram?file_id={id}&channel=FL1-A"),
            "fcs:analyze",
        ),
        (
            format!("/api/v1/fcs/density?file_id={id}&x=FL1-A&y=FL2-A"),
            "fcs:analyze",
        ),
        (
            format!("/api/v1/fcs/stability?file_id={id}&channel=FL1-A"),
            "fcs:analyze",
        ),
        (
            format!("/api/v1/fcs/plot?file_id={id}&x=FL1-A"),
            "fcs:analyze",
        ),
    ];
    // fcs:analyze ⊇ fcs:write ⊇ fcs:read; workspaces:admin reaches none of them.
    let ranks = ["workspaces:admin", "fcs:read", "fcs:write", "fcs:analyze"];
    for (held_rank, held) in ranks.iter().enumerate() {
        let (_, pat) = app.pat(&jwt, &[held]).await;
        for (path, needed) in &routes {
            let needed_rank = ranks.iter().position(|s| s == needed).unwrap();
            let status = app
                .client
                .get(app.url(path))
                .bearer_auth(&pat)
                .send()
                .await
                .unwrap()
                .status();
            if held_rank >= needed_rank && held_rank > 0 {
                assert_eq!(status, StatusCode::OK, "{held} on {path}");
                continue;
            }
            let refused = app.get(path, Some(&pat)).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{held} on {path}");
            assert_eq!(refused.data()["required_scope"], *needed, "{path}");
        }
    }
}

#[tokio::test]
async fn stability_slices_the_run_by_time_and_without_time_by_event_order() {
    let (app, pat, id) = app_with_upload("run.fcs").await;
    let reply = app
        .get(
            &format!("/api/v1/fcs/stability?file_id={id}&channel=FL1-A&scale=scaled"),
            Some(&pat),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let data = reply.data();
    assert_eq!(data["sliced_by"], "time");
    let slices = data["slices"].as_array().unwrap();
    assert_eq!(slices.len(), 20);
    let events: u64 = slices.iter().map(|s| s["events"].as_u64().unwrap()).sum();
    assert_eq!(events, 34_297);
    assert!(slices.windows(2).all(|w| w[0]["end"] == w[1]["start"]));
    let medians: Vec<f64> = slices
        .iter()
        .map(|s| s["median"].as_f64().unwrap())
        .collect();
    let mean = medians.iter().sum::<f64>() / 20.0;
    let std = (medians.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / 20.0).sqrt();
    let cv = data["cv"].as_f64().unwrap();
    assert!((cv - 100.0 * std / mean.abs()).abs() < 1e-9, "{cv}");

    // A file with no time channel is cut into equal runs of events.
    let params = [
        tessera_fcs::WriteParameter::new("FSC-A", 1024.0),
        tessera_fcs::WriteParameter::new("FL1-A", 1024.0),
    ];
    let columns = vec![(0..100).map(f64::from).collect::<Vec<_>>(); 2];
    let mut bytes = Vec::new();
    let no_keywords: [(&str, &str); 0] = [];
    tessera_fcs::write_fcs31(&mut bytes, &params, &columns, &no_keywords).unwrap();
    let timeless = app.upload_fcs(&pat, "timeless.fcs", bytes).await;
    let timeless = timeless.data()["file_id"].as_str().unwrap();
    let reply = app
        .get(
            &format!("/api/v1/fcs/stability?file_id={timeless}&channel=FL1-A&slices=4"),
            Some(&pat),
        )
        .await;
    let data = reply.data();
    assert_eq!(data["sliced_by"], "event_order");
    let medians: Vec<f64> = data["slices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["median"].as_f64().unwrap())
        .collect();
    assert_eq!(medians, [12.0, 37.0, 62.0, 87.0]);

    for (query, field) in [
        ("slices=0", "slices"),
        ("slices=4097", "slices"),
        ("", "channel"),
    ] {
        let path = format!("/api/v1/fcs/stability?file_id={id}&{query}");
        let reply = app.get(&path, Some(&pat)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(
            reply.message().starts_with(&format!("{field}: ")),
            "{}",
            reply.message()
        );
    }
}

/// `tessera fcs keywords|hist|export` answer what the routes answer for the same options.
#[tokio::test]
async fn the_cli_answers_as_the_routes_do() {
    let (app, pat, id) = app_with_upload("run.fcs").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.fcs");
    std::fs::write(&file, synthetic_bytes()).unwrap();
    let file = file.to_str().unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            output.stdout,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let json = |args: &[&str]| {
        let (ok, stdout, stderr) = run(args);
        assert!(ok, "{args:?}: {stderr}");
        let mut value: Value = serde_json::from_slice(&stdout).unwrap();
        value["file_id"] = Value::Null;
        value
    };
    let api = |path: String| {
        let app = &app;
        let pat = &pat;
        async move {
            let mut data = app.get(&path, Some(pat)).await.data().clone();
            data["file_id"] = Value::Null;
            data
        }
    };

    assert_eq!(
        json(&["fcs", "keywords", file]),
        api(format!("/api/v1/fcs/files/{id}/keywords")).await
    );
    assert_eq!(
        json(&["fcs", "hist", file, "--channel", "FL1-A", "--bins", "32", "--scale", "scaled",
            "--transform", "logicle", "--w", "0.7", "--min", "-0.1"]),
        api(format!(
            "/api/v1/fcs/histogram?file_id={id}&channel=FL1-A&bins=32&scale=scaled&transform=logicle&w=0.7&min=-0.1"
        ))
        .await
    );
    let out = dir.path().join("out.csv");
    json(&[
        "fcs",
        "export",
        file,
        "--out",
        out.to_str().unwrap(),
        "--format",
        "csv",
        "--channels",
        "FSC-A,FL2-A",
        "--transform",
        "arcsinh",
        "--cofactor",
        "5",
    ]);
    let exported = app
        .client
        .get(app.url(&format!(
            "/api/v1/fcs/export?file_id={id}&format=csv&channels=FSC-A,FL2-A&transform=arcsinh&cofactor=5"
        )))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), exported.to_vec());

    let (ok, _, stderr) = run(&[
        "fcs",
        "hist",
        file,
        "--channel",
        "FL1-A",
        "--transform",
        "logicle",
        "--w",
        "9",
    ]);
    assert!(!ok);
    assert!(stderr.contains("w: must be between 0 and M/2"), "{stderr}");
}

#[tokio::test]
async fn plots_are_svg_images_with_labelled_axes_ticked_in_data_units() {
    let (app, pat, id) = app_with_upload("run.fcs").await;
    let (app, pat, id) = (&app, &pat, &id);
    let image = |query: String| async move {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/fcs/plot?file_id={id}&{query}")))
            .bearer_auth(pat)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "image/svg+xml; charset=utf-8"
        );
        response.text().await.unwrap()
    };
    let histogram = image("x=FL1-A&transform=logicle&scale=scaled".to_owned()).await;
    assert!(histogram.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(histogram.trim_end().ends_with("</svg>"));
    assert!(
        histogram.contains("FL1-A (TCRgd FITC-A)"),
        "x labelled by $PnN ($PnS)"
    );
    for decade in ["10³", "10⁴", "10⁵"] {
        assert!(histogram.contains(&format!(">{decade}</text>")), "{decade}");
    }
    assert!(histogram.contains(">events</text>"));

    let density = image("kind=density&x=FSC-A&y=SSC-A&width=300&height=200".to_owned()).await;
    assert!(density.contains("width=\"300\" height=\"200\""));
    assert!(density.matches("<rect").count() > 50, "cells drawn");
    // FSC-A spans its $PnR, 0 to 16,777,215: round ticks 5M apart.
    assert!(density.contains(">5M</text>") && density.contains(">15M</text>"));
    let scatter = image("kind=scatter&x=FL1-A&y=FL2-A&transform=arcsinh".to_owned()).await;
    assert!(scatter.contains("#1f4e79"), "dots in one colour");

    for (query, field) in [
        ("kind=density&x=FSC-A", "y: "),
        ("x=FSC-A&width=100", "width: "),
        ("x=FSC-A&height=4000", "height: "),
        ("x=NOPE", "x: "),
        ("x=FSC-A&format=gif", "Invalid query parameter format"),
    ] {
        let reply = app
            .get(&format!("/api/v1/fcs/plot?file_id={id}&{query}"), Some(pat))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            reply.message().starts_with(field),
            "{query}: {}",
            reply.message()
        );
    }
}

/// `format=png` rasterises the same plot at the asked size, its labels drawn in the font built
/// into the binary (a server may have none installed).
#[tokio::test]
async fn plots_come_as_png_with_their_labels_drawn() {
    let (app, pat, id) = app_with_upload("run.fcs").await;
    let response = app
        .client
        .get(app.url(&format!(
            "/api/v1/fcs/plot?file_id={id}&x=FL1-A&transform=logicle&scale=scaled&format=png&width=400&height=300"
        )))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    let bytes = response.bytes().await.unwrap();
    let image = resvg::tiny_skia::Pixmap::decode_png(&bytes).expect("a PNG");
    assert_eq!((image.width(), image.height()), (400, 300));
    // The x axis's title sits in the bottom 20 pixels, below the tick labels: text there is
    // drawn only when a font was found.
    let dark = |x: u32, y: u32| {
        let pixel = image.pixel(x, y).unwrap();
        pixel.red() < 128 && pixel.green() < 128 && pixel.blue() < 128
    };
    let title_pixels = (280..298)
        .flat_map(|y| (100..300).map(move |x| (x, y)))
        .filter(|&(x, y)| dark(x, y))
        .count();
    assert!(
        title_pixels > 50,
        "x title drawn: {title_pixels} dark pixels"
    );
}

/// FCS_MAX_PLOT_PIXELS and FCS_MAX_STATISTICS are the limits the routes hold to, and their
/// refusals name the field and the setting.
#[tokio::test]
async fn plot_size_and_statistics_count_follow_their_settings() {
    let app = TestApp::builder()
        .with_config(|config| {
            config.fcs_max_plot_pixels = 300;
            config.fcs_max_statistics = 2;
        })
        .spawn()
        .await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, pat) = app.pat(&jwt, &["fcs:analyze"]).await;
    let fits = app
        .client
        .get(app.url("/api/v1/fcs/plot?x=FSC-A&width=300&height=300"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status(), StatusCode::OK);
    for (query, field) in [("width=301", "width: "), ("height=301", "height: ")] {
        let reply = app
            .get(&format!("/api/v1/fcs/plot?x=FSC-A&{query}"), Some(&pat))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(reply.message().starts_with(field), "{}", reply.message());
        assert!(reply.message().contains("300"), "{}", reply.message());
    }

    let two = app
        .get(
            "/api/v1/fcs/statistics?channels=FSC-A&stats=min,max",
            Some(&pat),
        )
        .await;
    assert_eq!(two.status, StatusCode::OK);
    let three = app
        .get(
            "/api/v1/fcs/statistics?channels=FSC-A&stats=min,max,mean",
            Some(&pat),
        )
        .await;
    assert_eq!(three.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        three.message(),
        "stats: at most 2 statistics a request (FCS_MAX_STATISTICS)"
    );
}
