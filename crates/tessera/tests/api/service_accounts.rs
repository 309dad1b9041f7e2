//! Issue 14, service accounts: `/api/v1/service-accounts…` — accounts owned by the lab whose
//! tokens outlive the person who minted them.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera::types::Role;

use crate::support::{method, Reply, TestApp, TestUser};

async fn make(app: &TestApp, by: &TestUser, body: serde_json::Value) -> Reply {
    app.post("/api/v1/service-accounts", Some(&by.jwt), body)
        .await
}

async fn mint(app: &TestApp, by: &TestUser, account: &str, scopes: &[&str]) -> Reply {
    app.post(
        &format!("/api/v1/service-accounts/{account}/tokens"),
        Some(&by.jwt),
        json!({"name": "acquisition", "scopes": scopes}),
    )
    .await
}

#[tokio::test]
async fn a_service_account_token_outlives_the_person_who_minted_it() {
    let app = TestApp::spawn().await;
    let root = app.user("root").role(Role::Admin).create().await;
    let manager = app.user("mia").role(Role::Manager).create().await;
    let made = make(
        &app,
        &manager,
        json!({"name": "cytometer-3", "description": "The Aurora in room 2"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert_eq!(made.data()["role"], "member", "least privilege by default");
    assert_eq!(
        made.data()["created_by"],
        json!({"id": manager.id, "username": "mia"})
    );
    let account = made.data()["id"].as_str().unwrap().to_owned();

    let token = mint(&app, &manager, &account, &["fcs:write"]).await;
    assert_eq!(token.status, StatusCode::CREATED, "{:?}", token.body);
    let secret = token.data()["token"].as_str().unwrap().to_owned();
    let token_id = token.data()["id"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/tokens/self", Some(&secret)).await;
    assert_eq!(
        me.data()["owner"],
        json!({"id": account, "username": "cytometer-3", "kind": "service"})
    );

    // The minter leaves: the instrument keeps working.
    let disabled = app
        .post(
            &format!("/api/v1/admin/users/{}/disable", manager.id),
            Some(&root.jwt),
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/fcs/parameters", Some(&secret))
            .await
            .status,
        StatusCode::OK
    );

    let listed = app
        .get(
            &format!("/api/v1/service-accounts/{account}/tokens"),
            Some(&root.jwt),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    assert_eq!(
        listed.data()["tokens"][0]["created_by"],
        manager.id.as_str()
    );
    let logs = app
        .get(
            &format!("/api/v1/service-accounts/{account}/tokens/{token_id}/logs"),
            Some(&root.jwt),
        )
        .await;
    assert_eq!(logs.data()["token_name"], "acquisition");
    assert!(logs.data()["total_logs"].as_i64().unwrap() >= 2);
    let all = app.get("/api/v1/service-accounts", Some(&root.jwt)).await;
    assert_eq!(all.data()["total"], 1);
    assert_eq!(all.data()["service_accounts"][0]["live_tokens"], 1);

    // It cannot sign in, whatever the password; nor is it among the people.
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "cytometer-3", "password": "anything at all"}),
        )
        .await;
    assert_eq!(login.message(), "Invalid credentials");
    let people = app
        .get("/api/v1/admin/users?search=cytometer", Some(&root.jwt))
        .await;
    assert_eq!(people.data()["total"], 0);
    // Nor does the people's role change reach it: it never administers, nor counts as an admin.
    let promoted = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/users/{account}/role"),
            Some(&root.jwt),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(
            &format!("/api/v1/service-accounts/{account}"),
            Some(&root.jwt)
        )
        .await
        .data()["role"],
        "member"
    );
}

#[tokio::test]
async fn a_service_accounts_tokens_stay_within_its_role_and_deleting_it_revokes_them() {
    let app = TestApp::spawn().await;
    let manager = app.user("mia").role(Role::Manager).create().await;
    let account = make(&app, &manager, json!({"name": "intake-sync"}))
        .await
        .data()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let beyond = mint(&app, &manager, &account, &["beneficiaries:read"]).await;
    assert_eq!(beyond.status, StatusCode::FORBIDDEN);
    assert!(
        beyond.message().contains("service account's role (member)"),
        "{}",
        beyond.message()
    );

    let promoted = app
        .patch(
            &format!("/api/v1/service-accounts/{account}"),
            Some(&manager.jwt),
            json!({"role": "data_entry", "description": "nightly intake import"}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{:?}", promoted.body);
    assert_eq!(promoted.data()["role"], "data_entry");
    let within = mint(&app, &manager, &account, &["beneficiaries:write"]).await;
    assert_eq!(within.status, StatusCode::CREATED, "{:?}", within.body);
    let secret = within.data()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        mint(&app, &manager, &account, &["beneficiaries:delete"])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let cleared = app
        .patch(
            &format!("/api/v1/service-accounts/{account}"),
            Some(&manager.jwt),
            json!({"description": null}),
        )
        .await;
    assert_eq!(cleared.data()["description"], json!(null));
    assert_eq!(cleared.data()["role"], "data_entry", "absent fields stay");

    let deleted = app
        .delete(
            &format!("/api/v1/service-accounts/{account}"),
            Some(&manager.jwt),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    assert_eq!(deleted.data()["tokens_revoked"], 1);
    assert_eq!(
        app.get("/api/v1/tokens/self", Some(&secret))
            .await
            .message(),
        "Token revoked"
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/service-accounts/{account}"),
            Some(&manager.jwt)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/service-accounts", Some(&manager.jwt))
            .await
            .data()["total"],
        0
    );
    // Its name stays taken, so its audit history stays unambiguous.
    assert_eq!(
        make(&app, &manager, json!({"name": "intake-sync"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn bad_service_account_requests_are_refused_and_make_nothing() {
    let app = TestApp::spawn().await;
    let root = app.user("root").role(Role::Admin).create().await;
    for (body, field) in [
        (json!({"name": "x"}), "name"),
        (json!({"name": "has space"}), "name"),
        (json!({"name": "ok-name", "role": "admin"}), "admin"),
        (json!({"name": "ok-name", "role": "wizard"}), "role"),
        (
            json!({"name": "ok-name", "description": "d".repeat(501)}),
            "description",
        ),
        (json!({"name": "ok-name", "password": "x"}), "password"),
    ] {
        let refused = make(&app, &root, body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            refused.message().contains(field),
            "{body}: {}",
            refused.message()
        );
    }
    assert_eq!(
        make(&app, &root, json!({"name": "ROOT"})).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.get("/api/v1/service-accounts", Some(&root.jwt))
            .await
            .data()["total"],
        0
    );
    let unknown = "0190a0b0-0000-7000-8000-000000000000";
    assert_eq!(
        mint(&app, &root, unknown, &["fcs:read"]).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn only_admins_and_managers_reach_service_accounts() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json", None).await;
    let mut operations: Vec<(Method, String)> = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if path.starts_with("/api/v1/service-accounts") {
            let concrete = path
                .replace("{id}", "0190a0b0-0000-7000-8000-000000000000")
                .replace("{token_id}", "0190a0b0-0000-7000-8000-000000000001");
            for verb in item.as_object().unwrap().keys() {
                operations.push((method(&verb.to_uppercase()), concrete.clone()));
            }
        }
    }
    assert!(operations.len() >= 9, "{operations:?}");
    let alice = app.user("alice").create().await;
    let (_, pat) = app.pat(&alice.jwt, &["users:write"]).await;
    for role in Role::ALL {
        let user = app.user(&format!("u_{role}")).role(role).create().await;
        for (verb, path) in &operations {
            let answer = app
                .request(verb.clone(), path, Some(&user.jwt), Some(json!({})))
                .await;
            if matches!(role, Role::Admin | Role::Manager) {
                assert_ne!(answer.status, StatusCode::FORBIDDEN, "{role} {verb} {path}");
            } else {
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{role} {verb} {path}");
                assert_eq!(
                    answer.message(),
                    "Only admins and managers manage service accounts"
                );
            }
        }
    }
    for (verb, path) in &operations {
        let by_pat = app
            .request(verb.clone(), path, Some(&pat), Some(json!({})))
            .await;
        assert_eq!(by_pat.status, StatusCode::UNAUTHORIZED, "{verb} {path}");
    }
}
