//! What survives: audit entries across `kill -9`, `last_used_at` across a graceful shutdown, and
//! revocation across instances sharing one database.

use std::time::Duration;

use crate::support::{TestApp, TestDb};
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
    let crate::support::Binary {
        mut child,
        base,
        db,
        ..
    } = TestApp::builder().spawn_binary().await;
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
async fn graceful_shutdown_writes_last_used_at_and_ip() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (id, token) = app.pat(&jwt, &["workspaces:read"]).await;
    let unused = app.get(&format!("/api/v1/tokens/{id}"), Some(&jwt)).await;
    assert_eq!(unused.data()["last_used_at"], json!(null));
    assert_eq!(unused.data()["last_used_ip"], json!(null));
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&token)).await.status,
        StatusCode::OK
    );
    let db = app.shutdown().await;

    let app = TestApp::builder().on(db).spawn().await;
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
    // The address of that use, written with it: the tests' client is local.
    assert_eq!(shown.data()["last_used_ip"], "127.0.0.1");
    assert_eq!(app.logs(&jwt, &id, "").await.data()["total_logs"], 1);
}

/// Revocation on one instance reaches another at the speed of the invalidation path: a
/// PostgreSQL NOTIFY from the trigger, or (SQLite, where the other writer is the CLI) the counter
/// poll. The test waits for that event, never for a fixed time.
#[tokio::test]
async fn revocation_and_regeneration_reach_every_instance() {
    let first = TestApp::spawn().await;
    let second = TestApp::builder().on(first.db.share()).spawn().await;
    let jwt = first.user("alice").create().await.jwt;
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

/// Every attributable PAT request leaves an entry with the status the client got, including one
/// that panics (500), one that outlives the request timeout (503) and a 405 on a PAT route. The
/// first two need a route that misbehaves, so they are served behind the app's real middleware
/// stack (`with_middleware`) next to the real app.
#[tokio::test]
async fn panics_timeouts_and_405s_on_pat_routes_are_audited_with_their_status() {
    use axum::routing::get;
    use tessera::tokens::{scopes::WorkspacesRead, Pat};

    let app = TestApp::builder()
        // Long enough for registration and login on a loaded machine; the hang waits it out.
        .with_config(|config| config.request_timeout_seconds = 5)
        .spawn()
        .await;
    let jwt = app.user("alice").create().await.jwt;
    let (id, pat) = app.pat(&jwt, &["workspaces:read"]).await;

    async fn panics(_: Pat<WorkspacesRead>) -> &'static str {
        panic!("a handler bug")
    }
    async fn hangs(_: Pat<WorkspacesRead>) -> &'static str {
        std::future::pending().await
    }
    let routes = axum::Router::new()
        .route("/api/v1/panics", get(panics))
        .route("/api/v1/hangs", get(hangs))
        .with_state(app.state.clone());
    let misbehaving = tessera::router::with_middleware(routes, app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            misbehaving.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let client = reqwest::Client::new();
    let get_status = |url: String| {
        let request = client.get(url).bearer_auth(&pat);
        async move { request.send().await.unwrap().status() }
    };
    let panicked = client
        .get(format!("{base}/api/v1/panics"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(panicked.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // Answered inside the stack, so the 500 carries what every answer carries.
    let header = |name: &str| {
        panicked
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    assert!(header("x-request-id").is_some(), "{:?}", panicked.headers());
    assert_eq!(
        get_status(format!("{base}/api/v1/hangs")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let not_allowed = app
        .request(reqwest::Method::PUT, "/api/v1/workspaces", Some(&pat), None)
        .await;
    assert_eq!(not_allowed.status, StatusCode::METHOD_NOT_ALLOWED);

    let logs = app.logs(&jwt, &id, "").await;
    let entries: Vec<_> = logs.data()["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["endpoint"].as_str().unwrap().to_owned(),
                e["status_code"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("PUT", "/api/v1/workspaces", 405),
        ("GET", "/api/v1/hangs", 503),
        ("GET", "/api/v1/panics", 500),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(m, e, s)| (m.to_string(), e.to_string(), *s))
        .collect();
    assert_eq!(entries, expected, "newest first");
}
