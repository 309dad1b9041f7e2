//! Issue 14, the admins' token inventory: `GET /api/v1/admin/tokens` and
//! `DELETE /api/v1/admin/tokens/{id}`.

use reqwest::StatusCode;
use serde_json::json;
use tessera::types::Role;

use crate::support::TestApp;

fn names(list: &crate::support::Reply) -> Vec<&str> {
    list.data()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn admins_list_everyones_tokens_by_owner_status_and_scope_and_revoke_any() {
    let app = TestApp::spawn().await;
    let root = app.user("root").role(Role::Admin).create().await;
    let alice = app.user("alice").create().await;
    let bob = app.user("bob").create().await;
    let mint = |jwt: &str, name: &str, scopes: &[&str]| {
        let body = json!({"name": name, "scopes": scopes});
        let jwt = jwt.to_owned();
        let app = &app;
        async move {
            let made = app.post("/api/v1/tokens", Some(&jwt), body).await;
            assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
            (
                made.data()["id"].as_str().unwrap().to_owned(),
                made.data()["token"].as_str().unwrap().to_owned(),
            )
        }
    };
    mint(&alice.jwt, "sorter", &["fcs:analyze"]).await;
    let (ci_id, ci) = mint(&alice.jwt, "ci", &["workspaces:read"]).await;
    mint(&bob.jwt, "reader", &["fcs:read"]).await;

    let list = |query: &str| {
        let path = format!("/api/v1/admin/tokens{query}");
        let jwt = root.jwt.clone();
        let app = &app;
        async move {
            let answer = app.get(&path, Some(&jwt)).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
            answer
        }
    };
    let all = list("").await;
    assert_eq!(names(&all), ["reader", "ci", "sorter"]);
    assert_eq!(all.data()["total"], 3);
    let first = &all.data()["tokens"][0];
    assert_eq!(first["owner"], json!({"id": bob.id, "username": "bob"}));
    assert!(first.get("token").is_none() && first.get("token_hash").is_none());
    assert_eq!(names(&list("?user=alice").await), ["ci", "sorter"]);
    assert_eq!(names(&list(&format!("?user={}", bob.id)).await), ["reader"]);
    // fcs:analyze grants fcs:read.
    assert_eq!(names(&list("?scope=fcs:read").await), ["reader", "sorter"]);
    assert_eq!(names(&list("?scope=fcs:analyze").await), ["sorter"]);
    assert_eq!(names(&list("?limit=1&offset=1").await), ["ci"]);

    let revoked = app
        .delete(&format!("/api/v1/admin/tokens/{ci_id}"), Some(&root.jwt))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    let again = app
        .delete(&format!("/api/v1/admin/tokens/{ci_id}"), Some(&root.jwt))
        .await;
    assert_eq!(again.data()["revoked_at"], revoked.data()["revoked_at"]);
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&ci)).await.message(),
        "Token revoked"
    );
    assert_eq!(names(&list("?status=revoked").await), ["ci"]);
    assert_eq!(names(&list("?status=active").await), ["reader", "sorter"]);
    assert_eq!(list("?status=expired").await.data()["total"], 0);
    // One event, naming the admin, about the owner.
    let events = app
        .get(
            "/api/v1/admin/security-events?kind=token_revoked_by_admin",
            Some(&root.jwt),
        )
        .await;
    assert_eq!(events.data()["total"], 1);
    assert_eq!(events.data()["events"][0]["username"], "alice");
    assert_eq!(events.data()["events"][0]["actor_username"], "root");

    for (query, field) in [
        ("user=nobody", "user"),
        ("status=lost", "status"),
        ("scope=fcs:fly", "scope"),
        ("limit=501", "limit"),
    ] {
        let refused = app
            .get(&format!("/api/v1/admin/tokens?{query}"), Some(&root.jwt))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            refused.message().contains(field),
            "{query}: {}",
            refused.message()
        );
    }
    let unknown = app
        .delete(
            "/api/v1/admin/tokens/0190a0b0-0000-7000-8000-000000000000",
            Some(&root.jwt),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
