//! Issue 14, one-time links an admin hands out: password resets
//! (`POST /api/v1/admin/users/{id}/reset-link`, spent at `POST /api/v1/auth/reset-password`) and
//! invitations (`POST /api/v1/admin/invites`, spent at `POST /api/v1/auth/accept-invite`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tessera::config::Registration;
use tessera::types::Role;

use crate::support::{Reply, TestApp, TestUser, PASSWORD};

const NEW_PASSWORD: &str = "a brand new password";

async fn admin(app: &TestApp) -> TestUser {
    app.user("root").role(Role::Admin).create().await
}

/// The secret in a link's `?token=`.
fn token_of(link: &Reply, path: &str) -> String {
    let url = link.data()["url"].as_str().unwrap();
    let (before, token) = url.split_once("?token=").unwrap();
    assert!(before.ends_with(path), "{url}");
    assert!(before.starts_with("http://127.0.0.1:"), "{url}");
    token.to_owned()
}

async fn reset_link(app: &TestApp, admin: &TestUser, id: &str, body: serde_json::Value) -> Reply {
    app.post(
        &format!("/api/v1/admin/users/{id}/reset-link"),
        Some(&admin.jwt),
        body,
    )
    .await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> Reply {
    app.post(
        "/api/v1/auth/reset-password",
        None,
        json!({"token": token, "password": password}),
    )
    .await
}

async fn login(app: &TestApp, username: &str, password: &str) -> StatusCode {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
    .status
}

#[tokio::test]
async fn a_reset_link_works_once_ends_every_session_and_a_newer_link_ends_it() {
    let app = TestApp::spawn().await;
    let root = admin(&app).await;
    let alice = app.user("alice").create().await;

    let first = reset_link(&app, &root, &alice.id, json!({})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let first_token = token_of(&first, "/reset-password");
    let second = reset_link(&app, &root, &alice.id, json!({"expires_in_minutes": 30})).await;
    let second_token = token_of(&second, "/reset-password");

    let replaced = reset(&app, &first_token, NEW_PASSWORD).await;
    assert_eq!(replaced.status, StatusCode::GONE);
    assert!(
        replaced.message().contains("newer one"),
        "{}",
        replaced.message()
    );
    let short = reset(&app, &second_token, "short").await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);

    let done = reset(&app, &second_token, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.data()["id"], alice.id.as_str());
    assert_eq!(
        app.get("/api/v1/tokens", Some(&alice.jwt)).await.message(),
        "Token revoked",
        "every session ended"
    );
    assert_eq!(
        login(&app, "alice", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(&app, "alice", NEW_PASSWORD).await, StatusCode::OK);

    let again = reset(&app, &second_token, "yet another password").await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(
        again.message().contains("already been used"),
        "{}",
        again.message()
    );
    let unknown = reset(&app, "not-a-link-at-all", NEW_PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let kinds = app
        .db
        .strings("SELECT kind FROM security_events WHERE kind IN ('reset_link_created', 'password_reset') ORDER BY id")
        .await;
    assert_eq!(
        kinds,
        ["reset_link_created", "reset_link_created", "password_reset"]
    );
}

#[tokio::test]
async fn a_reset_link_expires_and_bad_requests_make_none() {
    let app = TestApp::spawn().await;
    let root = admin(&app).await;
    let alice = app.user("alice").register().await;
    for minutes in [4, 1441] {
        let refused = reset_link(&app, &root, &alice, json!({"expires_in_minutes": minutes})).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{minutes}"
        );
        assert!(refused.message().contains("expires_in_minutes"));
    }
    let unknown = reset_link(
        &app,
        &root,
        "0190a0b0-0000-7000-8000-000000000000",
        json!({}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.db
            .strings("SELECT purpose FROM account_links")
            .await
            .len(),
        0
    );

    let link = reset_link(&app, &root, &alice, json!({"expires_in_minutes": 5})).await;
    let token = token_of(&link, "/reset-password");
    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    let expired = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(
        expired.message().contains("expired"),
        "{}",
        expired.message()
    );
    assert_eq!(
        login(&app, "alice", PASSWORD).await,
        StatusCode::OK,
        "nothing changed"
    );

    let disabled = app
        .post(
            &format!("/api/v1/admin/users/{alice}/disable"),
            Some(&root.jwt),
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    let refused = reset_link(&app, &root, &alice, json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.message().contains("disabled"));
}

#[tokio::test]
async fn disabling_an_account_withdraws_its_reset_link_and_service_accounts_have_none() {
    let app = TestApp::spawn().await;
    let root = admin(&app).await;
    let alice = app.user("alice").register().await;
    let link = reset_link(&app, &root, &alice, json!({})).await;
    let token = token_of(&link, "/reset-password");
    let disabled = app
        .post(
            &format!("/api/v1/admin/users/{alice}/disable"),
            Some(&root.jwt),
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    app.post(
        &format!("/api/v1/admin/users/{alice}/enable"),
        Some(&root.jwt),
        json!({}),
    )
    .await;
    let withdrawn = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(withdrawn.status, StatusCode::GONE);
    assert!(
        withdrawn.message().contains("withdrawn"),
        "{}",
        withdrawn.message()
    );
    assert_eq!(
        login(&app, "alice", PASSWORD).await,
        StatusCode::OK,
        "unchanged"
    );

    let account = app
        .post(
            "/api/v1/service-accounts",
            Some(&root.jwt),
            json!({"name": "sorter-9"}),
        )
        .await;
    let account = account.data()["id"].as_str().unwrap().to_owned();
    let refused = reset_link(&app, &root, &account, json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.message().contains("service account"),
        "{}",
        refused.message()
    );
}

async fn accept(app: &TestApp, token: &str, username: &str) -> Reply {
    app.post(
        "/api/v1/auth/accept-invite",
        None,
        json!({"token": token, "username": username, "password": PASSWORD}),
    )
    .await
}

#[tokio::test]
async fn an_invitation_makes_the_account_with_its_role_once_even_when_registration_is_by_invite() {
    let app = TestApp::builder()
        .with_config(|config| config.registration = Registration::Invite)
        .spawn()
        .await;
    // Registration is shut: the first admin is an operator's (as `tessera users create` does).
    tessera::accounts::service::create_account(
        &app.state.store,
        &app.state.passwords,
        tessera::accounts::service::RegisterRequest {
            username: "root".to_owned(),
            email: "root@example.com".to_owned(),
            password: PASSWORD.to_owned(),
        },
        Role::Admin,
        tessera::store::AccountOrigin::Operator,
    )
    .await
    .unwrap();
    let root = TestUser {
        id: String::new(),
        username: "root".to_owned(),
        jwt: app.login("root").await,
    };
    let register = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "tess", "email": "tess@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(register.status, StatusCode::FORBIDDEN);
    assert!(
        register.message().contains("invitation"),
        "{}",
        register.message()
    );

    let invite = |body: serde_json::Value| {
        let jwt = root.jwt.clone();
        let app = &app;
        async move { app.post("/api/v1/admin/invites", Some(&jwt), body).await }
    };
    for (body, field) in [
        (
            json!({"email": "not an email", "role": "therapist"}),
            "email",
        ),
        (
            json!({"email": "tess@example.com", "role": "wizard"}),
            "role",
        ),
        (
            json!({"email": "tess@example.com", "role": "therapist", "expires_in_minutes": 20_161}),
            "expires_in_minutes",
        ),
    ] {
        let refused = invite(body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            refused.message().contains(field),
            "{body}: {}",
            refused.message()
        );
    }
    let existing = invite(json!({"email": "root@example.com", "role": "member"})).await;
    assert_eq!(existing.status, StatusCode::CONFLICT);

    let older = invite(json!({"email": "tess@example.com", "role": "member"})).await;
    let older_token = token_of(&older, "/invite");
    let made = invite(json!({"email": "Tess@example.com", "role": "therapist"})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert_eq!(made.data()["role"], "therapist");
    let token = token_of(&made, "/invite");
    assert_eq!(
        accept(&app, &older_token, "tess").await.status,
        StatusCode::GONE
    );

    // A taken username leaves the invitation usable.
    let taken = accept(&app, &token, "root").await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let accepted = accept(&app, &token, "tess").await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{:?}", accepted.body);
    assert_eq!(accepted.data()["role"], "therapist");
    assert_eq!(accepted.data()["email"], "Tess@example.com");
    let jwt = app.login("tess").await;
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&jwt)).await.data()["role"],
        "therapist"
    );

    let replay = accept(&app, &token, "tess2").await;
    assert_eq!(replay.status, StatusCode::GONE);
    assert!(replay.message().contains("already been used"));
    let listed = app
        .get("/api/v1/admin/users?search=tess", Some(&root.jwt))
        .await;
    assert_eq!(listed.data()["total"], 1);
    assert_eq!(listed.data()["users"][0]["created_via"], "invite");
}
