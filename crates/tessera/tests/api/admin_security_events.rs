//! Issue 14, security events: `GET /api/v1/admin/security-events` (everyone's),
//! `GET /api/v1/auth/security-events` (one's own), and the retention sweep.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tessera::admin::retention::{sweep, Retention, Swept};
use tessera::types::Role;

use crate::support::TestApp;

fn kinds(list: &crate::support::Reply) -> Vec<&str> {
    list.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn admins_read_everyones_events_and_people_read_their_own() {
    let app = TestApp::spawn().await;
    let root = app.user("root").role(Role::Admin).create().await;
    let alice = app.user("alice").create().await;
    let bob = app.user("bob").create().await;
    let wrong = json!({"username": "alice", "password": "not her password"});
    assert_eq!(
        app.post("/api/v1/auth/login", None, wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.post(
        &format!("/api/v1/admin/users/{}/unlock", bob.id),
        Some(&root.jwt),
        json!({}),
    )
    .await;

    let everyone = app
        .get("/api/v1/admin/security-events", Some(&root.jwt))
        .await;
    assert_eq!(everyone.status, StatusCode::OK, "{:?}", everyone.body);
    assert_eq!(kinds(&everyone), ["account_unlocked", "login_failed"]);
    let unlocked = &everyone.data()["events"][0];
    assert_eq!(unlocked["username"], "bob");
    assert_eq!(unlocked["actor_id"], root.id.as_str());
    assert_eq!(unlocked["actor_username"], "root");
    let by_user = app
        .get(
            "/api/v1/admin/security-events?user=alice&kind=login_failed",
            Some(&root.jwt),
        )
        .await;
    assert_eq!(kinds(&by_user), ["login_failed"]);
    assert_eq!(by_user.data()["events"][0]["user_id"], alice.id.as_str());

    let own = app
        .get("/api/v1/auth/security-events", Some(&alice.jwt))
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(kinds(&own), ["login_failed"]);
    let others = app
        .get("/api/v1/auth/security-events?user=bob", Some(&alice.jwt))
        .await;
    assert_eq!(others.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/api/v1/admin/security-events", Some(&alice.jwt))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let window = app
        .get(
            "/api/v1/admin/security-events?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z",
            Some(&root.jwt),
        )
        .await;
    assert_eq!(window.data()["total"], 0);
    for (query, field) in [
        ("kind=party", "kind"),
        ("since=yesterday", "since"),
        ("limit=1001", "limit"),
    ] {
        let refused = app
            .get(
                &format!("/api/v1/admin/security-events?{query}"),
                Some(&root.jwt),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            refused.message().contains(field),
            "{query}: {}",
            refused.message()
        );
    }
}

#[tokio::test]
async fn the_retention_sweep_deletes_only_what_is_older_than_the_setting() {
    let app = TestApp::spawn().await;
    let root = app.user("root").role(Role::Admin).create().await;
    let alice = app.user("alice").create().await;
    let (_, pat) = app.pat(&alice.jwt, &["workspaces:read"]).await;
    // One security event (an admin's unlock) and one audit entry (a PAT's use) each time.
    let unlock_path = format!("/api/v1/admin/users/{}/unlock", alice.id);
    let record_one_of_each = || async {
        app.post(&unlock_path, Some(&root.jwt), json!({})).await;
        app.get("/api/v1/workspaces", Some(&pat)).await;
    };
    record_one_of_each().await;
    app.clock.advance(Duration::from_secs(40 * 86_400));
    record_one_of_each().await;
    record_one_of_each().await;
    let state = app.state.clone();
    let count = |table: &'static str| {
        let app = &app;
        async move {
            app.db
                .strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
                .await[0]
                .clone()
        }
    };
    // Audit entries are committed before their answers are sent.
    assert_eq!(count("pat_audit_log").await, "3");
    assert_eq!(count("security_events").await, "3");

    let keep_a_year = Retention::from_config(&state.config);
    assert_eq!(
        sweep(&state.store, keep_a_year, state.clock.now())
            .await
            .unwrap(),
        Swept::default()
    );
    let month = Retention {
        security_events: time::Duration::days(30),
        audit: Some(time::Duration::days(30)),
    };
    let swept = sweep(&state.store, month, state.clock.now()).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            security_events: 1,
            audit_entries: 1
        }
    );
    assert_eq!(count("pat_audit_log").await, "2");
    assert_eq!(count("security_events").await, "2");
}
