//! Gates saved on a file: created, listed with their populations, nested, used by `gate=` on the
//! value routes, deleted with the gates inside them; bad gates refused naming the field with
//! nothing stored; another user's file or gate unseen; each route's scope. Membership itself is
//! checked against FlowKit in `fcs_reference`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{synthetic_bytes, Reply, TestApp, TestAppBuilder};

struct Lab {
    app: TestApp,
    pat: String,
    file: String,
}

impl Lab {
    async fn new(builder: TestAppBuilder) -> Lab {
        let app = builder.spawn().await;
        let jwt = app.user("alice").create().await.jwt;
        let (_, pat) = app.pat(&jwt, &["fcs:analyze"]).await;
        let uploaded = app.upload_fcs(&pat, "run.fcs", synthetic_bytes()).await;
        let file = uploaded.data()["file_id"].as_str().unwrap().to_owned();
        Lab { app, pat, file }
    }

    fn gates(&self) -> String {
        format!("/api/v1/fcs/files/{}/gates", self.file)
    }

    async fn save(&self, body: Value) -> Reply {
        self.app.post(&self.gates(), Some(&self.pat), body).await
    }

    async fn saved(&self, body: Value) -> Value {
        let reply = self.save(body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.data().clone()
    }

    async fn list(&self) -> Vec<Value> {
        let reply = self.app.get(&self.gates(), Some(&self.pat)).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.data()["gates"].as_array().unwrap().clone()
    }

    /// Every event's raw value of `channel`, read page by page.
    async fn column(&self, channel: &str) -> Vec<f64> {
        let mut values = Vec::new();
        loop {
            let path = format!(
                "/api/v1/fcs/events?file_id={}&channels={channel}&limit=10000&offset={}",
                self.file,
                values.len()
            );
            let page = self.app.get(&path, Some(&self.pat)).await;
            let events = page.data()["events"].as_array().unwrap();
            if events.is_empty() {
                return values;
            }
            values.extend(events.iter().map(|e| e[channel].as_f64().unwrap()));
        }
    }
}

fn range_gate(name: &str, min: f64, max: f64) -> Value {
    json!({"name": name, "type": "range", "x": "FL1-A", "min": [min], "max": [max]})
}

#[tokio::test]
async fn a_range_gate_keeps_min_inclusive_max_exclusive_and_reports_its_share() {
    let lab = Lab::new(TestApp::builder()).await;
    let values = lab.column("FL1-A").await;
    assert_eq!(values.len(), 34_297);
    // Bounds on values the file holds, so both edges are met.
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let (low, high) = (sorted[5_000], sorted[20_000]);
    let expected = values.iter().filter(|&&v| v >= low && v < high).count();

    let gate = lab.saved(range_gate("dim", low, high)).await;
    assert_eq!(gate["count"], expected);
    let percent = gate["percent"].as_f64().unwrap();
    assert!((percent - 100.0 * expected as f64 / 34_297.0).abs() < 1e-9);
    assert_eq!(gate["type"], "range");
    assert_eq!(gate["min"], json!([low]));
    assert_eq!(gate["file_id"], lab.file.as_str());

    let listed = lab.list().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], gate["id"]);
    assert_eq!(listed[0]["count"], expected);
}

#[tokio::test]
async fn a_child_gate_counts_inside_its_parent_and_goes_with_it() {
    let lab = Lab::new(TestApp::builder()).await;
    let parent = lab
        .saved(
            json!({"name": "cells", "type": "rectangle", "x": "FSC-A", "y": "SSC-A",
            "min": [0, 0], "max": [3_000_000, null]}),
        )
        .await;
    let child = lab
        .saved(
            json!({"name": "bright", "type": "polygon", "x": "FL1-A", "y": "FL2-A",
            "vertices": [[0, 0], [2_000, 0], [2_000, 2_000], [0, 2_000]],
            "parent": parent["id"]}),
        )
        .await;
    let (parent_count, child_count) = (
        parent["count"].as_u64().unwrap(),
        child["count"].as_u64().unwrap(),
    );
    assert!(
        0 < child_count && child_count < parent_count && parent_count < 34_297,
        "{child_count} {parent_count}"
    );
    let percent = child["percent"].as_f64().unwrap();
    assert!((percent - 100.0 * child_count as f64 / parent_count as f64).abs() < 1e-9);

    // The same polygon without the parent keeps at least as many.
    let alone = lab
        .saved(
            json!({"name": "bright anywhere", "type": "polygon", "x": "FL1-A", "y": "FL2-A",
            "vertices": [[0, 0], [2_000, 0], [2_000, 2_000], [0, 2_000]]}),
        )
        .await;
    assert!(alone["count"].as_u64().unwrap() >= child_count);

    // gate= on the value routes: only the child's members count.
    let gated = |route: &str| {
        format!(
            "/api/v1/fcs/{route}?file_id={}&gate={}",
            lab.file,
            child["id"].as_str().unwrap()
        )
    };
    let histogram = lab
        .app
        .get(
            &format!("{}&channel=FL1-A", gated("histogram")),
            Some(&lab.pat),
        )
        .await;
    assert_eq!(histogram.data()["total"], child_count);
    let events = lab.app.get(&gated("events"), Some(&lab.pat)).await;
    assert_eq!(events.data()["total_events"], child_count);
    for event in events.data()["events"].as_array().unwrap() {
        let (x, y) = (
            event["FL1-A"].as_f64().unwrap(),
            event["FL2-A"].as_f64().unwrap(),
        );
        assert!(
            (0.0..=6e6).contains(&x) && (0.0..=6e6).contains(&y),
            "{event}"
        );
        assert!(event["FSC-A"].as_f64().unwrap() < 3e6);
    }
    let statistics = lab
        .app
        .get(
            &format!("{}&channels=FL1-A", gated("statistics")),
            Some(&lab.pat),
        )
        .await;
    assert_eq!(statistics.data()["statistics"][0]["count"], child_count);
    let chosen = lab
        .app
        .get(
            &format!("{}&channels=FL1-A&stats=percent,count", gated("statistics")),
            Some(&lab.pat),
        )
        .await;
    assert_eq!(chosen.data()["population"], child_count);
    let channel = &chosen.data()["statistics"][0];
    assert_eq!(channel["percent"], child["percent"], "of the parent");
    assert_eq!(channel["count"], child_count);
    assert_eq!(channel.as_object().unwrap().len(), 5, "{channel}");
    let density = lab
        .app
        .get(
            &format!("{}&x=FL1-A&y=FL2-A", gated("density")),
            Some(&lab.pat),
        )
        .await;
    assert_eq!(density.status, StatusCode::OK, "{:?}", density.body);

    let deleted = lab
        .app
        .delete(
            &format!("{}/{}", lab.gates(), parent["id"].as_str().unwrap()),
            Some(&lab.pat),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    let left: Vec<Value> = lab.list().await.iter().map(|g| g["name"].clone()).collect();
    assert_eq!(
        left,
        [json!("bright anywhere")],
        "the child went with its parent"
    );
    let gone = lab.app.get(&gated("events"), Some(&lab.pat)).await;
    assert_eq!(gone.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(gone.message().starts_with("gate: "), "{}", gone.message());
}

#[tokio::test]
async fn a_gate_is_judged_on_its_own_pipeline() {
    let lab = Lab::new(TestApp::builder()).await;
    // Logicle maps FL1-A's range onto about 0…1.4: a range over 0.5…1.0 there is a band
    // of the raw values, and the transform's parameters are stored with it.
    let gate = lab
        .saved(
            json!({"name": "mid", "type": "range", "x": "FL1-A", "min": [0.5], "max": [1.0],
            "transform": {"type": "logicle", "w": 0.5}}),
        )
        .await;
    let count = gate["count"].as_u64().unwrap();
    assert!(count > 0 && count < 34_297, "{count}");
    assert_eq!(gate["transform"]["type"], "logicle");
    let raw = lab.saved(range_gate("mid raw", 0.5, 1.0)).await;
    assert_ne!(raw["count"], gate["count"]);
}

#[tokio::test]
async fn bad_gates_are_refused_naming_the_field_and_nothing_is_stored() {
    let lab = Lab::new(TestApp::builder()).await;
    let square = json!([[0, 0], [1, 0], [1, 1], [0, 1]]);
    let cases = [
        (
            json!({"name": "", "type": "range", "x": "FL1-A", "min": [1]}),
            "name",
        ),
        (
            json!({"name": "g", "type": "range", "x": "NOPE", "min": [1]}),
            "x",
        ),
        (json!({"name": "g", "type": "range", "x": "FL1-A"}), "min"),
        (
            json!({"name": "g", "type": "range", "x": "FL1-A", "min": [5], "max": [5]}),
            "min",
        ),
        (
            json!({"name": "g", "type": "range", "x": "FL1-A", "min": [1, 2]}),
            "min",
        ),
        (
            json!({"name": "g", "type": "range", "x": "FL1-A", "y": "FL2-A", "min": [1]}),
            "y",
        ),
        (
            json!({"name": "g", "type": "rectangle", "x": "FL1-A", "min": [1, 1]}),
            "y",
        ),
        (
            json!({"name": "g", "type": "rectangle", "x": "FL1-A", "y": "FL2-A", "min": [1, 1],
            "vertices": square}),
            "vertices",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A",
            "vertices": [[0, 0], [1, 1]]}),
            "vertices",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A",
            "vertices": [[0, 0], [1, null], [1, 1]]}),
            "vertices",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A",
            "vertices": [[0, 0], [1], [1, 1]]}),
            "vertices",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A"}),
            "vertices",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A", "vertices": square,
            "min": [0, 0]}),
            "min",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A", "vertices": square,
            "compensation": "file"}),
            "compensation",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A", "vertices": square,
            "transform": {"type": "logicle", "w": 4}}),
            "transform.w",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A", "vertices": square,
            "transform": {"type": "arcsinh", "m": 4}}),
            "transform.m",
        ),
        (
            json!({"name": "g", "type": "polygon", "x": "FL1-A", "y": "FL2-A", "vertices": square,
            "transform": {"type": "log", "channels": ["NOPE"]}}),
            "transform.channels",
        ),
        (
            json!({"name": "g", "type": "range", "x": "FL1-A", "min": [1],
            "parent": "0190a1b2-0000-7000-8000-000000000000"}),
            "parent",
        ),
        (
            json!({"name": "g", "type": "range", "x": "FL1-A", "min": [1], "parent": "x"}),
            "parent",
        ),
        (
            json!({"name": "g", "type": "range", "x": "FL1-A", "min": [1], "dataset": 1}),
            "dataset",
        ),
    ];
    for (body, field) in cases {
        let reply = lab.save(body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            reply.body
        );
        assert!(
            reply.message().starts_with(&format!("{field}: ")),
            "{body}: {}",
            reply.message()
        );
    }
    // Not a shape at all: the JSON reader names the field.
    for body in [
        json!({"name": "g", "type": "circle", "x": "FL1-A"}),
        json!({"name": "g", "type": "range", "x": "FL1-A", "min": ["low"]}),
    ] {
        let reply = lab.save(body.clone()).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert!(lab.list().await.is_empty());

    lab.saved(range_gate("twice", 1.0, 2.0)).await;
    let again = lab.save(range_gate("twice", 3.0, 4.0)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    assert!(again.message().starts_with("name: "));
    assert_eq!(lab.list().await.len(), 1);
}

#[tokio::test]
async fn a_file_holds_at_most_the_configured_number_of_gates() {
    let lab = Lab::new(TestApp::builder().with_config(|c| c.fcs_max_gates_per_file = 2)).await;
    lab.saved(range_gate("one", 1.0, 2.0)).await;
    lab.saved(range_gate("two", 1.0, 2.0)).await;
    let third = lab.save(range_gate("three", 1.0, 2.0)).await;
    assert_eq!(third.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(third.message().contains("FCS_MAX_GATES_PER_FILE"));
    assert_eq!(lab.list().await.len(), 2);
}

#[tokio::test]
async fn another_users_file_and_gates_are_not_there() {
    let lab = Lab::new(TestApp::builder()).await;
    let gate = lab.saved(range_gate("mine", 1.0, 2.0)).await;
    let gate_id = gate["id"].as_str().unwrap();
    let bob = lab.app.user("bob").create().await.jwt;
    let (_, bobs) = lab.app.pat(&bob, &["fcs:analyze"]).await;

    let saved = lab
        .app
        .post(&lab.gates(), Some(&bobs), range_gate("theirs", 1.0, 2.0))
        .await;
    assert_eq!(saved.status, StatusCode::NOT_FOUND);
    assert_eq!(
        lab.app.get(&lab.gates(), Some(&bobs)).await.status,
        StatusCode::NOT_FOUND
    );
    let deleted = lab
        .app
        .delete(&format!("{}/{gate_id}", lab.gates()), Some(&bobs))
        .await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    // Alice's gate id on Bob's own view of the sample is no gate of his.
    let path = format!("/api/v1/fcs/statistics?file_id=sample&gate={gate_id}");
    let refused = lab.app.get(&path, Some(&bobs)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.message(), "gate: no such gate on this file");
    assert_eq!(lab.list().await.len(), 1);
}

#[tokio::test]
async fn saving_and_deleting_need_fcs_write_and_listing_fcs_read() {
    let lab = Lab::new(TestApp::builder()).await;
    let gate = lab.saved(range_gate("kept", 1.0, 2.0)).await;
    let jwt = lab.app.login("alice").await;
    let delete_path = format!("{}/{}", lab.gates(), gate["id"].as_str().unwrap());
    for (scope, may_write, may_read) in [
        ("workspaces:admin", false, false),
        ("fcs:read", false, true),
        ("fcs:write", true, true),
    ] {
        let (_, pat) = lab.app.pat(&jwt, &[scope]).await;
        let listed = lab.app.get(&lab.gates(), Some(&pat)).await;
        let saved = lab
            .app
            .post(&lab.gates(), Some(&pat), range_gate(scope, 1.0, 2.0))
            .await;
        let expect = |allowed: bool| {
            if allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            }
        };
        assert_eq!(listed.status, expect(may_read), "{scope} lists");
        if may_write {
            assert_eq!(saved.status, StatusCode::CREATED, "{scope} saves");
        } else {
            assert_eq!(saved.status, StatusCode::FORBIDDEN, "{scope} saves");
            assert_eq!(saved.data()["required_scope"], "fcs:write");
            let deleted = lab.app.delete(&delete_path, Some(&pat)).await;
            assert_eq!(deleted.status, StatusCode::FORBIDDEN, "{scope} deletes");
        }
    }
    assert_eq!(lab.list().await.len(), 2, "only fcs:write saved one");
}

#[tokio::test]
async fn gates_on_the_sample_belong_to_their_owner() {
    let lab = Lab::new(TestApp::builder()).await;
    let path = "/api/v1/fcs/files/sample/gates";
    let saved = lab
        .app
        .post(path, Some(&lab.pat), range_gate("sample gate", 1.0, 2.0))
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{:?}", saved.body);
    assert_eq!(saved.data()["file_id"], "sample");
    let bob = lab.app.user("bob").create().await.jwt;
    let (_, bobs) = lab.app.pat(&bob, &["fcs:analyze"]).await;
    let theirs = lab.app.get(path, Some(&bobs)).await;
    assert_eq!(theirs.data()["gates"], json!([]));
    // The same name on the sample and on an upload: different files.
    lab.saved(range_gate("sample gate", 1.0, 2.0)).await;
}
