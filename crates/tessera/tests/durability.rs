//! What survives: audit entries across `kill -9`, `last_used_at` across a graceful shutdown, and
//! revocation across instances sharing one database.

mod common;

use std::time::Duration;

use common::{TestApp, TestDb, TestOptions};
use reqwest::StatusCode;
use serde_json::json;

async fn audit_rows(db: &TestDb) -> i64 {
    let rows = db
        .strings("SELECT CAST(COUNT(*) AS TEXT) FROM pat_audit_log")
        .await;
    rows[0].parse().unwrap()
}

#[tokio::test]
async fn answered_requests_keep_their_audit_entries_after_kill_9() {
    let db = TestDb::new().await;
    let common::Binary {
        mut child, base, ..
    } = common::Binary::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value, bearer: Option<String>| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    post(
        "/api/v1/auth/register",
        json!({"username": "alice", "email": "a@example.com", "password": "correct horse"}),
        None,
    )
    .await
    .unwrap();
    let login: serde_json::Value = post(
        "/api/v1/auth/login",
        json!({"username": "alice", "password": "correct horse"}),
        None,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let jwt = login["data"]["access_token"].as_str().unwrap().to_owned();
    let created: serde_json::Value = post(
        "/api/v1/tokens",
        json!({"name": "t", "scopes": ["workspaces:read"]}),
        Some(jwt),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let pat = created["data"]["token"].as_str().unwrap().to_owned();

    let requests = (0..150).map(|_| {
        client
            .get(format!("{base}/api/v1/workspaces"))
            .bearer_auth(&pat)
            .send()
    });
    let answered = futures::future::join_all(requests).await;
    assert!(answered
        .iter()
        .all(|r| r.as_ref().is_ok_and(|r| r.status() == StatusCode::OK)));

    child.start_kill().unwrap(); // SIGKILL: no shutdown hook runs
    child.wait().await.unwrap();
    assert_eq!(
        audit_rows(&db).await,
        150,
        "every answered request's entry is on disk"
    );
}

#[tokio::test]
async fn graceful_shutdown_writes_last_used_at() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").await;
    let (id, token) = app.pat(&jwt, &["workspaces:read"]).await;
    assert_eq!(
        app.get(&format!("/api/v1/tokens/{id}"), Some(&jwt))
            .await
            .data()["last_used_at"],
        json!(null)
    );
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&token)).await.status,
        StatusCode::OK
    );
    let db = app.shutdown().await;

    let app = TestApp::start(db, &TestOptions::default()).await;
    let jwt = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": "correct horse battery"}),
        )
        .await
        .data()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = app.get(&format!("/api/v1/tokens/{id}"), Some(&jwt)).await;
    assert!(
        shown.data()["last_used_at"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "{:?}",
        shown.body
    );
    assert_eq!(app.logs(&jwt, &id, "").await.data()["total_logs"], 1);
}

/// Revocation on one instance reaches another at the speed of the invalidation path: a
/// PostgreSQL NOTIFY from the trigger, or (SQLite, where the other writer is the CLI) the counter
/// poll. The test waits for that event, never for a fixed time.
#[tokio::test]
async fn revocation_and_regeneration_reach_every_instance() {
    let first = TestApp::spawn().await;
    let second = TestApp::start(first.db.share(), &TestOptions::default()).await;
    let jwt = first.user("alice").await;
    let (id, token) = first.pat(&jwt, &["workspaces:read"]).await;
    let (other_id, other) = first.pat(&jwt, &["workspaces:read"]).await;
    // Wait until the second instance's listener is up (PostgreSQL) so it trusts its cache.
    assert_eq!(
        second.get("/api/v1/workspaces", Some(&token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        second.get("/api/v1/workspaces", Some(&other)).await.status,
        StatusCode::OK
    );

    let mut emptied = second.state.token_cache.subscribe();
    emptied.borrow_and_update();
    assert_eq!(
        first
            .delete(&format!("/api/v1/tokens/{id}"), Some(&jwt))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        first
            .get("/api/v1/workspaces", Some(&token))
            .await
            .message(),
        "Token revoked",
        "at once on the revoking instance"
    );
    tokio::time::timeout(Duration::from_secs(5), emptied.changed())
        .await
        .expect("the other instance hears of the revocation")
        .unwrap();
    assert_eq!(
        second
            .get("/api/v1/workspaces", Some(&token))
            .await
            .message(),
        "Token revoked"
    );

    emptied.borrow_and_update();
    let regenerated = first
        .post(
            &format!("/api/v1/tokens/{other_id}/regenerate"),
            Some(&jwt),
            json!({}),
        )
        .await;
    tokio::time::timeout(Duration::from_secs(5), emptied.changed())
        .await
        .expect("the other instance hears of the new secret")
        .unwrap();
    assert_eq!(
        second
            .get("/api/v1/workspaces", Some(&other))
            .await
            .message(),
        "Invalid token"
    );
    let fresh = regenerated.data()["token"].as_str().unwrap();
    assert_eq!(
        second.get("/api/v1/workspaces", Some(fresh)).await.status,
        StatusCode::OK
    );
    // The JWT from one instance is good on the other (same SECRET_KEY).
    assert_eq!(
        second.get("/api/v1/tokens", Some(&jwt)).await.data()["total"],
        2
    );
}
