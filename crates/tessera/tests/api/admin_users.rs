//! Issue 14, administration of accounts: `/api/v1/admin/users…` — listing with status, disabling
//! (sessions end, PATs refused on every instance), enabling, unlocking — and the rule that only
//! admins reach any `/api/v1/admin/` route.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::types::Role;

use crate::support::{method, TestApp, TestUser, PASSWORD};

async fn admin(app: &TestApp) -> TestUser {
    app.user("root").role(Role::Admin).create().await
}

async fn disable(app: &TestApp, admin: &TestUser, id: &str) -> crate::support::Reply {
    app.post(
        &format!("/api/v1/admin/users/{id}/disable"),
        Some(&admin.jwt),
        json!({}),
    )
    .await
}

async fn login(app: &TestApp, username: &str, password: &str) -> crate::support::Reply {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
}

fn usernames(list: &crate::support::Reply) -> Vec<&str> {
    list.data()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_disabled_user_is_refused_everywhere_until_enabled() {
    let app = TestApp::spawn().await;
    let root = admin(&app).await;
    let alice = app.user("alice").create().await;
    let (token_id, pat) = app.pat(&alice.jwt, &["fcs:read"]).await;
    assert_eq!(
        app.get("/api/v1/tokens/self", Some(&pat)).await.status,
        StatusCode::OK
    );

    let disabled = disable(&app, &root, &alice.id).await;
    assert_eq!(disabled.status, StatusCode::OK, "{:?}", disabled.body);
    assert_eq!(disabled.data()["sessions_ended"], 1);
    assert_eq!(disabled.data()["user"]["status"], "disabled");
    assert!(disabled.data()["user"]["disabled_at"].is_string());

    let session = app.get("/api/v1/tokens", Some(&alice.jwt)).await;
    assert_eq!(session.status, StatusCode::UNAUTHORIZED);
    assert_eq!(session.message(), "Account disabled");
    let by_pat = app.get("/api/v1/tokens/self", Some(&pat)).await;
    assert_eq!(by_pat.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        by_pat.body,
        json!({"success": false, "error": "Unauthorized", "message": "Account disabled"})
    );
    let signed_in = login(&app, "alice", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::UNAUTHORIZED);
    assert_eq!(signed_in.message(), "Account disabled");
    // Only someone who knows the password learns the account is disabled.
    assert_eq!(
        login(&app, "alice", "wrong password!").await.message(),
        "Invalid credentials"
    );
    // Disabling again changes nothing and says so the same way.
    let again = disable(&app, &root, &alice.id).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.data()["sessions_ended"], 0);
    assert_eq!(
        again.data()["user"]["disabled_at"],
        disabled.data()["user"]["disabled_at"]
    );

    let enabled = app
        .post(
            &format!("/api/v1/admin/users/{}/enable", alice.id),
            Some(&root.jwt),
            json!({}),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{:?}", enabled.body);
    assert_eq!(enabled.data()["status"], "active");
    assert_eq!(enabled.data()["disabled_at"], Value::Null);
    assert_eq!(
        app.get("/api/v1/tokens/self", Some(&pat)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/tokens", Some(&alice.jwt)).await.message(),
        "Token revoked",
        "the sessions disabling ended stay ended"
    );
    let jwt = app.login("alice").await;

    // The refused use is in the token's log; the admin's actions are security events naming them.
    let logs = app.logs(&jwt, &token_id, "").await;
    assert!(logs.data()["logs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["reason"] == "Account disabled" && e["status_code"] == 401));
    let kinds = app
        .db
        .strings(&format!(
            "SELECT kind FROM security_events WHERE actor_id = {} ORDER BY id",
            app.db.uuid_literal(&root.id)
        ))
        .await;
    assert_eq!(kinds, ["account_disabled", "account_enabled"]);
}

/// Disabling on one instance reaches another at the speed of the token cache's invalidation
/// (see `durability.rs`); a session is checked against the database on every request anyway.
#[tokio::test]
async fn a_disabled_users_jwt_and_pats_are_refused_on_every_instance() {
    let first = TestApp::spawn().await;
    let second = TestApp::builder().on(first.db.share()).spawn().await;
    let root = admin(&first).await;
    let alice = first.user("alice").create().await;
    let (_, pat) = first.pat(&alice.jwt, &["workspaces:read"]).await;
    // Cached on the second instance (and its listener up, on PostgreSQL).
    assert_eq!(
        second.get("/api/v1/workspaces", Some(&pat)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        second.get("/api/v1/tokens", Some(&alice.jwt)).await.status,
        StatusCode::OK
    );

    let mut emptied = second.state.token_cache.subscribe();
    emptied.borrow_and_update();
    assert_eq!(
        disable(&first, &root, &alice.id).await.status,
        StatusCode::OK
    );
    assert_eq!(
        second
            .get("/api/v1/tokens", Some(&alice.jwt))
            .await
            .message(),
        "Account disabled"
    );
    tokio::time::timeout(Duration::from_secs(5), emptied.changed())
        .await
        .expect("the other instance hears of the disabled account")
        .unwrap();
    assert_eq!(
        second.get("/api/v1/workspaces", Some(&pat)).await.message(),
        "Account disabled"
    );
}

#[tokio::test]
async fn the_user_list_searches_filters_and_pages_and_unlock_clears_a_lock() {
    let app = TestApp::builder().login_lockout(3, 1_000, 0).spawn().await;
    let root = admin(&app).await;
    app.user("alice").register().await;
    app.user("alicia").register().await;
    let bob = app.user("bob").role(Role::Therapist).register().await;
    let carol = app.user("carol").register().await;
    assert_eq!(disable(&app, &root, &bob).await.status, StatusCode::OK);
    for _ in 0..3 {
        login(&app, "carol", "not the password").await;
    }
    assert_eq!(
        login(&app, "carol", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );

    let list = |query: &str| {
        let path = format!("/api/v1/admin/users{query}");
        let app = &app;
        let jwt = root.jwt.clone();
        async move {
            let answer = app.get(&path, Some(&jwt)).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
            answer
        }
    };
    let all = list("").await;
    assert_eq!(usernames(&all), ["root", "alice", "alicia", "bob", "carol"]);
    assert_eq!(all.data()["total"], 5);
    assert!(all.data()["users"][0].get("password_hash").is_none());
    assert_eq!(usernames(&list("?search=ALI").await), ["alice", "alicia"]);
    assert_eq!(
        usernames(&list("?search=example.com&limit=2&offset=1").await),
        ["alice", "alicia"]
    );
    assert_eq!(
        list("?search=%25").await.data()["total"],
        0,
        "% is a character, not a wildcard"
    );
    assert_eq!(usernames(&list("?role=therapist").await), ["bob"]);
    assert_eq!(usernames(&list("?status=disabled").await), ["bob"]);
    let locked = list("?status=locked").await;
    assert_eq!(usernames(&locked), ["carol"]);
    assert_eq!(locked.data()["users"][0]["status"], "locked");
    assert!(locked.data()["users"][0]["locked_until"].is_string());
    assert_eq!(
        usernames(&list("?status=active").await),
        ["root", "alice", "alicia"]
    );

    let unlocked = app
        .post(
            &format!("/api/v1/admin/users/{carol}/unlock"),
            Some(&root.jwt),
            json!({}),
        )
        .await;
    assert_eq!(unlocked.status, StatusCode::OK, "{:?}", unlocked.body);
    assert_eq!(unlocked.data()["status"], "active");
    assert_eq!(login(&app, "carol", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_admin_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let root = admin(&app).await;
    let alice = app.user("alice").create().await;
    for (query, field) in [
        ("role=wizard", "role"),
        ("status=gone", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("offset=-1", "offset"),
    ] {
        let refused = app
            .get(&format!("/api/v1/admin/users?{query}"), Some(&root.jwt))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            refused.message().contains(field),
            "{query}: {}",
            refused.message()
        );
    }
    let long = "a".repeat(101);
    let refused = app
        .get(
            &format!("/api/v1/admin/users?search={long}"),
            Some(&root.jwt),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);

    let own = disable(&app, &root, &root.id).await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    assert!(
        own.message().contains("your own account"),
        "{}",
        own.message()
    );
    let unknown = disable(&app, &root, "0190a0b0-0000-7000-8000-000000000000").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let malformed = disable(&app, &root, "alice").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    // Nothing changed: both still work.
    assert_eq!(
        app.get("/api/v1/tokens", Some(&root.jwt)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/tokens", Some(&alice.jwt)).await.status,
        StatusCode::OK
    );
}

/// Every `/api/v1/admin/` operation the API documents, read from the document itself, so a new
/// admin route is covered here without being listed.
async fn admin_operations(app: &TestApp) -> Vec<(Method, String)> {
    let doc = app.get("/openapi.json", None).await;
    let mut operations = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/admin/") {
            continue;
        }
        let concrete = path.replace("{id}", "0190a0b0-0000-7000-8000-000000000000");
        for verb in item.as_object().unwrap().keys() {
            operations.push((method(&verb.to_uppercase()), concrete.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn every_admin_route_refuses_everyone_but_admins() {
    let app = TestApp::spawn().await;
    let operations = admin_operations(&app).await;
    assert!(operations.len() >= 5, "{operations:?}");
    let alice = app.user("alice").create().await;
    let (_, pat) = app
        .pat(&alice.jwt, &["users:write", "workspaces:admin"])
        .await;
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Admin) {
        let user = app.user(&format!("u_{role}")).role(role).create().await;
        for (verb, path) in &operations {
            let refused = app
                .request(verb.clone(), path, Some(&user.jwt), Some(json!({})))
                .await;
            assert_eq!(
                refused.status,
                StatusCode::FORBIDDEN,
                "{role} {verb} {path}"
            );
            assert_eq!(refused.message(), "Admins only", "{role} {verb} {path}");
        }
    }
    for (verb, path) in &operations {
        let anonymous = app.request(verb.clone(), path, None, Some(json!({}))).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{verb} {path}");
        let by_pat = app
            .request(verb.clone(), path, Some(&pat), Some(json!({})))
            .await;
        assert_eq!(
            by_pat.status,
            StatusCode::UNAUTHORIZED,
            "a PAT reaches no admin route: {verb} {path}"
        );
    }
}
