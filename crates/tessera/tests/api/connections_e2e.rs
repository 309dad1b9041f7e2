//! OAuth connections end to end against a real third-party authorization server on loopback:
//! the npm package `oauth2-mock-server`, which `scripts/test.sh` installs and starts and names in
//! `OAUTH_MOCK_URL`. It checks PKCE (a wrong `code_verifier` is refused), signs real JWTs and
//! rotates refresh tokens. Runs on whichever backend the run uses; without `OAUTH_MOCK_URL`
//! (plain `cargo test`) it says so and passes.

use crate::support::TestApp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::types::Role;

#[tokio::test]
async fn start_authorize_callback_token_refresh_revoke_against_oauth2_mock_server() {
    let Ok(issuer) = std::env::var("OAUTH_MOCK_URL") else {
        // scripts/test.sh sets this, so the test cannot be skipped there by a failed start.
        assert!(
            std::env::var_os("TESSERA_REQUIRE_OAUTH_MOCK").is_none(),
            "TESSERA_REQUIRE_OAUTH_MOCK is set but OAUTH_MOCK_URL is not"
        );
        eprintln!("OAUTH_MOCK_URL is not set: run scripts/test.sh for the end-to-end test");
        return;
    };
    let app = TestApp::builder().oauth_provider(&issuer).spawn().await;
    let jwt = app.user("owner").role(Role::Admin).create().await.jwt;
    let redirect_uri = app.url("/api/v1/oauth/callback");
    let client = app
        .post(
            "/api/v1/oauth-clients",
            Some(&jwt),
            json!({"client_id": "e2e-client", "client_secret": "e2e-secret", "redirect_uri": redirect_uri}),
        )
        .await;
    assert_eq!(client.status, StatusCode::CREATED, "{:?}", client.body);
    let branch = app
        .post(
            "/api/v1/branches",
            Some(&jwt),
            json!({"branch_id": "e2e-branch", "name": "E2E", "client_id": client.data()["id"]}),
        )
        .await;
    let branch = branch.data()["id"].as_str().unwrap().to_owned();

    // start
    let started = app
        .post(
            &format!("/api/v1/branches/{branch}/oauth/start"),
            Some(&jwt),
            json!({}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
    let auth_url = started.data()["auth_url"].as_str().unwrap();
    assert!(auth_url.starts_with(&format!("{issuer}/authorize?")));

    // authorize: the server approves and sends the browser back with code and state
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorized = browser.get(auth_url).send().await.unwrap();
    assert_eq!(authorized.status(), StatusCode::FOUND);
    let back = authorized.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(back.starts_with(&format!("{redirect_uri}?")), "{back}");

    // callback: exchanges the code with the PKCE verifier (the server checks it)
    let connected = TestApp::reply(
        browser
            .get(&back)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(connected.status, StatusCode::OK, "{:?}", connected.body);
    assert_eq!(connected.data()["refresh_token_received"], true);
    let replayed = TestApp::reply(
        browser
            .get(&back)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "the state is single use"
    );

    // token, as an internal consumer with a read-only PAT
    let (_, consumer) = app.pat(&jwt, &["connections:read"]).await;
    let token = app
        .get(&format!("/api/v1/branches/{branch}/token"), Some(&consumer))
        .await;
    assert_eq!(token.status, StatusCode::OK, "{:?}", token.body);
    let claims = jwt_claims(token.data()["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], issuer.as_str(), "a token the server signed");
    assert_eq!(token.data()["token_type"], "Bearer");

    // refresh
    let refreshed = app
        .post(
            &format!("/api/v1/branches/{branch}/token/refresh"),
            Some(&jwt),
            json!({}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    assert_eq!(
        jwt_claims(refreshed.data()["access_token"].as_str().unwrap())["iss"],
        issuer.as_str()
    );
    let connection = app
        .get(&format!("/api/v1/branches/{branch}/connection"), Some(&jwt))
        .await;
    assert_eq!(connection.data()["refresh_count"], 1);
    assert_eq!(connection.data()["status"], "active");
    assert!(connection.data()["last_refresh_at"].is_string());

    // revoke
    let revoked = app
        .delete(&format!("/api/v1/branches/{branch}/connection"), Some(&jwt))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    assert_eq!(revoked.data()["revoked_at_provider"], true);
    let after = app
        .get(&format!("/api/v1/branches/{branch}/token"), Some(&consumer))
        .await;
    assert_eq!(after.status, StatusCode::CONFLICT);
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
