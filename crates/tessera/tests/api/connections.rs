//! OAuth connections against a mock provider (`wiremock`), on either backend: the flow with PKCE
//! and single-use state, every refresh rule, the concurrency guarantees, scopes, the
//! compatibility routes, disconnecting and the keep-alive task.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{TestApp, TestAppBuilder, TestUser};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use tessera::types::Role;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const PAST: &str = "2000-01-01T00:00:00.000000Z";

/// Form fields of a request body.
fn form(request: &Request) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// Matches a code exchange whose `code_verifier` hashes to `challenge` (S256) and that names
/// the client and redirect URI: the provider's side of PKCE.
struct PkceExchange {
    challenge: String,
    redirect_uri: String,
}

impl wiremock::Match for PkceExchange {
    fn matches(&self, request: &Request) -> bool {
        let form = form(request);
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        form.get("grant_type").map(String::as_str) == Some("authorization_code")
            && s256 == self.challenge
            && form.get("redirect_uri") == Some(&self.redirect_uri)
            && form.get("client_id").map(String::as_str) == Some("client-123")
            && form.get("client_secret").map(String::as_str) == Some("shh-client-secret")
    }
}

fn tokens(access: &str, refresh: Option<&str>, expires_in: Option<u64>) -> ResponseTemplate {
    let mut body = json!({"access_token": access, "token_type": "Bearer",
        "scope": "https://www.googleapis.com/auth/business.manage"});
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    if let Some(seconds) = expires_in {
        body["expires_in"] = json!(seconds);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn refresh_grant() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
}

/// An app whose `google` preset points at `provider`, with quick retries for tests.
fn app_builder(provider: &MockServer) -> TestAppBuilder {
    TestApp::builder()
        .oauth_provider(&provider.uri())
        .with_config(|config| config.oauth_retry_backoff_ms = 1)
}

async fn app(provider: &MockServer) -> TestApp {
    app_builder(provider).spawn().await
}

struct Setup {
    owner: String,
    jwt: String,
    client: String,
    branch: String,
}

const REDIRECT: &str = "http://127.0.0.1:9/api/v1/oauth/callback";

async fn setup(app: &TestApp, username: &str) -> Setup {
    let TestUser {
        username: owner,
        jwt,
        ..
    } = app.user(username).role(Role::Admin).create().await;
    let client = app
        .post(
            "/api/v1/oauth-clients",
            Some(&jwt),
            json!({"client_id": "client-123", "client_secret": "shh-client-secret", "redirect_uri": REDIRECT}),
        )
        .await;
    assert_eq!(client.status, StatusCode::CREATED, "{:?}", client.body);
    let client = client.data()["id"].as_str().unwrap().to_owned();
    let branch = app
        .post(
            "/api/v1/branches",
            Some(&jwt),
            json!({"branch_id": "riyadh-01", "name": "Riyadh Olaya", "client_id": client}),
        )
        .await;
    assert_eq!(branch.status, StatusCode::CREATED, "{:?}", branch.body);
    let branch = branch.data()["id"].as_str().unwrap().to_owned();
    Setup {
        owner,
        jwt,
        client,
        branch,
    }
}

/// A mock provider, an app using it, and the owner's branch connected with `answer`.
async fn connected_app(answer: ResponseTemplate) -> (MockServer, TestApp, Setup) {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let s = setup(&app, "owner").await;
    let reply = connect(&app, &provider, &s, answer).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    (provider, app, s)
}

/// The query of a started flow's authorization URL.
async fn start(app: &TestApp, s: &Setup) -> std::collections::HashMap<String, String> {
    let started = app
        .post(
            &format!("/api/v1/branches/{}/oauth/start", s.branch),
            Some(&s.jwt),
            json!({}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{:?}", started.body);
    let url = url::Url::parse(started.data()["auth_url"].as_str().unwrap()).unwrap();
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["state"], started.data()["state"].as_str().unwrap());
    query
}

async fn callback(app: &TestApp, query: &str) -> crate::support::Reply {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/oauth/callback?{query}")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    TestApp::reply(response).await
}

/// Runs the whole flow with the provider answering `answer` to the code exchange.
async fn connect(
    app: &TestApp,
    provider: &MockServer,
    s: &Setup,
    answer: ResponseTemplate,
) -> crate::support::Reply {
    let query = start(app, s).await;
    consent(app, provider, &query, answer).await
}

async fn token(app: &TestApp, s: &Setup) -> crate::support::Reply {
    app.get(
        &format!("/api/v1/branches/{}/token", s.branch),
        Some(&s.jwt),
    )
    .await
}

async fn expire(app: &TestApp) {
    change_behind_the_apps_back(
        app,
        &format!("UPDATE oauth_connections SET expires_at = '{PAST}'"),
    )
    .await;
}

/// Runs SQL that changes a connection without the app, and waits until the app's change feed
/// (NOTIFY on PostgreSQL, the polled counter on SQLite) has emptied its token-row cache.
async fn change_behind_the_apps_back(app: &TestApp, sql: &str) {
    let mut emptied = app.state.connections.cache.subscribe();
    emptied.borrow_and_update();
    app.db.exec(sql).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), emptied.changed())
        .await
        .expect("the change feed empties the cache")
        .unwrap();
}

#[tokio::test]
async fn the_flow_uses_pkce_and_the_exact_redirect_and_stores_the_grant() {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let s = setup(&app, "owner").await;
    let query = start(&app, &s).await;
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], "client-123");
    assert_eq!(query["redirect_uri"], REDIRECT);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert_eq!(
        query["scope"],
        "https://www.googleapis.com/auth/business.manage"
    );
    assert_eq!(query["access_type"], "offline");
    assert_eq!(query["prompt"], "consent");
    assert_eq!(query["include_granted_scopes"], "true");
    assert!(query["state"].len() >= 43, "at least 256 bits of state");

    let connected = connect(
        &app,
        &provider,
        &s,
        tokens("ya29.first", Some("1//refresh-1"), Some(3599)),
    )
    .await;
    assert_eq!(connected.status, StatusCode::OK, "{:?}", connected.body);
    assert_eq!(connected.data()["status"], "connected");
    assert_eq!(connected.data()["refresh_token_received"], true);
    assert!(
        !connected.body.to_string().contains("ya29.first"),
        "the callback never echoes a token"
    );

    let got = token(&app, &s).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.data()["access_token"], "ya29.first");
    assert_eq!(got.data()["token_type"], "Bearer");
    assert_eq!(
        got.data()["scope"],
        "https://www.googleapis.com/auth/business.manage"
    );
    assert!(got.data().get("refresh_token").is_none());

    let validate = app
        .get(
            &format!("/api/v1/branches/{}/token/validate", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(
        validate.body,
        json!({"is_valid": true, "access_token": "ya29.first",
               "expires_at": got.data()["expires_at"], "message": "Token is valid"})
    );
    let connection = app
        .get(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(connection.data()["status"], "active");
    assert_eq!(connection.data()["has_refresh_token"], true);
    let text = connection.body.to_string();
    assert!(!text.contains("ya29.first") && !text.contains("1//refresh-1"));

    // The browser answer is a page, not JSON, and echoes no token either.
    let query = start(&app, &s).await;
    let _exchange = Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(tokens("ya29.second", Some("1//refresh-2"), Some(3599)))
        .mount_as_scoped(&provider)
        .await;
    let page = app
        .client
        .get(app.url(&format!(
            "/api/v1/oauth/callback?code=c2&state={}",
            query["state"]
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Riyadh Olaya is connected") && !html.contains("ya29.second"),
        "{html}"
    );
}

/// A callback refused with 400 and a message that says why.
fn refused(reply: &crate::support::Reply, why: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert!(reply.message().contains(why), "{why}: {}", reply.message());
}

#[tokio::test]
async fn a_state_works_once_for_its_own_branch_and_redirect_and_not_after_ten_minutes() {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let s = setup(&app, "owner").await;
    refused(
        &callback(&app, "code=x&state=never-issued").await,
        "Unknown or already used",
    );
    refused(&callback(&app, "code=x").await, "no state");

    // Replaying the very same callback: the state is spent.
    let query = start(&app, &s).await;
    let exchange = Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(tokens("ya29.b", Some("1//r2"), Some(3600)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let once = format!("code=c&state={}", query["state"]);
    assert_eq!(callback(&app, &once).await.status, StatusCode::OK);
    refused(&callback(&app, &once).await, "already used");
    drop(exchange);

    // Another branch's id, a different redirect URI: refused (and the state is spent).
    let cases = [
        (
            format!("branch_id={}", uuid::Uuid::new_v4()),
            "another branch",
        ),
        (
            "redirect_uri=https%3A%2F%2Fevil.example%2Fcb".to_owned(),
            "redirect URI does not match",
        ),
        (
            "error=access_denied&error_description=User+said+no".to_owned(),
            "access_denied): User said no",
        ),
    ];
    for (extra, why) in cases {
        let query = start(&app, &s).await;
        refused(
            &callback(&app, &format!("code=c&state={}&{extra}", query["state"])).await,
            why,
        );
    }

    // The client's redirect URI changed after the flow started.
    let query = start(&app, &s).await;
    let patched = app
        .patch(
            &format!("/api/v1/oauth-clients/{}", s.client),
            Some(&s.jwt),
            json!({"redirect_uri": "https://tessera.example/api/v1/oauth/callback"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    refused(
        &callback(&app, &format!("code=c&state={}", query["state"])).await,
        "redirect URI changed",
    );

    // Expired.
    let query = start(&app, &s).await;
    app.db
        .exec(&format!("UPDATE oauth_states SET expires_at = '{PAST}'"))
        .await;
    refused(
        &callback(&app, &format!("code=c&state={}", query["state"])).await,
        "expired",
    );

    // The provider refused the code.
    let query = start(&app, &s).await;
    let _refuse =
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_grant", "error_description": "Bad Request"}),
            ))
            .mount_as_scoped(&provider)
            .await;
    refused(
        &callback(&app, &format!("code=stale&state={}", query["state"])).await,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_code_without_refresh_token_is_stored_and_flagged() {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let s = setup(&app, "owner").await;
    let connected = connect(&app, &provider, &s, tokens("ya29.only", None, Some(3600))).await;
    assert_eq!(connected.status, StatusCode::OK, "{:?}", connected.body);
    assert_eq!(connected.data()["refresh_token_received"], false);
    assert!(connected.data()["message"]
        .as_str()
        .unwrap()
        .contains("no refresh token"));
    assert_eq!(token(&app, &s).await.data()["access_token"], "ya29.only");
    let connection = app
        .get(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(connection.data()["has_refresh_token"], false);
    // Once it expires there is nothing to refresh with: a clear 409, and no provider call.
    expire(&app).await;
    let _no_calls = refresh_grant()
        .respond_with(tokens("x", None, None))
        .expect(0)
        .mount_as_scoped(&provider)
        .await;
    let expired = token(&app, &s).await;
    assert_eq!(expired.status, StatusCode::CONFLICT);
    assert!(
        expired.message().contains("no refresh token"),
        "{}",
        expired.message()
    );
}

#[tokio::test]
async fn refresh_rotates_refresh_tokens_keeps_the_old_one_when_none_comes_and_defaults_the_lifetime(
) {
    let (provider, app, s) = connected_app(tokens("ya29.1", Some("1//r1"), Some(3600))).await;

    expire(&app).await;
    let rotated = refresh_grant()
        .and(body_string_contains("refresh_token=1%2F%2Fr1"))
        .respond_with(tokens("ya29.2", Some("1//r2"), Some(3600)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let got = token(&app, &s).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.data()["access_token"], "ya29.2");
    drop(rotated);

    // No refresh token and no expires_in in the answer: the rotated one stays, the lifetime is
    // the configured default (3600 s).
    expire(&app).await;
    let kept = refresh_grant()
        .and(body_string_contains("refresh_token=1%2F%2Fr2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "ya29.3", "token_type": "Bearer"})),
        )
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let before = time::OffsetDateTime::now_utc();
    let got = token(&app, &s).await;
    assert_eq!(got.data()["access_token"], "ya29.3");
    let expires_at = time::OffsetDateTime::parse(
        got.data()["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lifetime = (expires_at - before).whole_seconds();
    assert!(
        (3590..=3610).contains(&lifetime),
        "default lifetime, got {lifetime} s"
    );
    // Granted scopes were not restated: the previous ones stay.
    assert_eq!(
        got.data()["scope"],
        "https://www.googleapis.com/auth/business.manage"
    );
    drop(kept);

    expire(&app).await;
    let _still_r2 = refresh_grant()
        .and(body_string_contains("refresh_token=1%2F%2Fr2"))
        .respond_with(tokens("ya29.4", None, Some(3600)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    assert_eq!(token(&app, &s).await.data()["access_token"], "ya29.4");
    drop(_still_r2);

    // A nonsensical lifetime is clamped (to a year), not an overflow.
    expire(&app).await;
    let _forever = refresh_grant()
        .respond_with(tokens("ya29.5", None, Some(u64::MAX / 2)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let got = token(&app, &s).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    let expires = got.data()["expires_at"].as_str().unwrap();
    let year = time::OffsetDateTime::now_utc().year() + 1;
    assert!(expires.starts_with(&year.to_string()), "{expires}");
}

#[tokio::test]
async fn invalid_grant_flips_to_needs_reauth_once_and_never_calls_again() {
    let (provider, app, s) = connected_app(tokens("ya29.1", Some("1//dead"), Some(3600))).await;
    expire(&app).await;
    let _dead = refresh_grant()
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    for _ in 0..3 {
        let refused = token(&app, &s).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
        assert!(
            refused.message().contains("must be re-connected"),
            "{}",
            refused.message()
        );
        assert!(refused.message().contains("/oauth/start"));
    }
    let forced = app
        .post(
            &format!("/api/v1/branches/{}/token/refresh", s.branch),
            Some(&s.jwt),
            json!({}),
        )
        .await;
    assert_eq!(forced.status, StatusCode::CONFLICT);
    let validate = app
        .get(
            &format!("/api/v1/branches/{}/token/validate", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(validate.status, StatusCode::OK);
    assert_eq!(validate.body["is_valid"], false);
    assert!(validate.body["message"]
        .as_str()
        .unwrap()
        .contains("re-connected"));
    let connection = app
        .get(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(connection.data()["status"], "needs_reauth");
    assert!(connection.data()["last_error"]
        .as_str()
        .unwrap()
        .contains("invalid_grant"));

    // Re-connecting brings it back.
    let connected = connect(
        &app,
        &provider,
        &s,
        tokens("ya29.new", Some("1//new"), Some(3600)),
    )
    .await;
    assert_eq!(connected.status, StatusCode::OK);
    assert_eq!(token(&app, &s).await.data()["access_token"], "ya29.new");
}

#[tokio::test]
async fn passing_faults_are_retried_then_fall_back_to_a_live_token_and_pause_for_30_s() {
    let (provider, app, s) = connected_app(tokens("ya29.live", Some("1//r"), Some(3600))).await;
    // Inside the refresh buffer (5 minutes) but not expired.
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(60))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let soon = format!("{}.000000Z", &soon[..19]);
    change_behind_the_apps_back(
        &app,
        // Issued an hour ago, so a minute left is inside the 5-minute buffer.
        &format!(
            "UPDATE oauth_connections SET expires_at = '{soon}', connected_at = '2020-01-01T00:00:00.000000Z'"
        ),
    )
    .await;
    let failing = refresh_grant()
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>down</html>"))
        .expect(3) // one attempt and two retries
        .mount_as_scoped(&provider)
        .await;
    let got = token(&app, &s).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(
        got.data()["access_token"],
        "ya29.live",
        "the stored token had not expired"
    );
    drop(failing);

    // Within 30 s of the failure no attempt is made; once expired, a clear 502.
    let _none = refresh_grant()
        .respond_with(tokens("x", None, None))
        .expect(0)
        .mount_as_scoped(&provider)
        .await;
    assert_eq!(token(&app, &s).await.data()["access_token"], "ya29.live");
    // A forced refresh says it could not refresh, rather than handing out the old token.
    let forced = app
        .post(
            &format!("/api/v1/branches/{}/token/refresh", s.branch),
            Some(&s.jwt),
            json!({}),
        )
        .await;
    assert_eq!(forced.status, StatusCode::BAD_GATEWAY, "{:?}", forced.body);
    expire(&app).await;
    let failed = token(&app, &s).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{:?}", failed.body);
    assert!(
        failed.message().contains("HTTP 503") && failed.message().contains("next attempt"),
        "{}",
        failed.message()
    );
    let connection = app
        .get(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(connection.data()["status"], "active");
    assert_eq!(connection.data()["consecutive_failures"], 1);
    assert!(connection.data()["next_attempt_at"].is_string());
}

#[tokio::test]
async fn an_expired_token_and_a_provider_down_answer_502_and_a_slow_provider_504() {
    let provider = MockServer::start().await;
    let app = app_builder(&provider)
        .with_config(|config| {
            config.oauth_http_timeout_seconds = 1;
            config.oauth_refresh_retries = 0;
            config.oauth_failure_cooldown_seconds = 0;
        })
        .spawn()
        .await;
    let s = setup(&app, "owner").await;
    connect(
        &app,
        &provider,
        &s,
        tokens("ya29.1", Some("1//r"), Some(3600)),
    )
    .await;
    expire(&app).await;
    let down = refresh_grant()
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": "server_error"})))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let failed = token(&app, &s).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{:?}", failed.body);
    drop(down);
    let _slow = refresh_grant()
        .respond_with(
            tokens("ya29.late", None, Some(3600)).set_delay(std::time::Duration::from_secs(3)),
        )
        .mount_as_scoped(&provider)
        .await;
    let slow = token(&app, &s).await;
    assert_eq!(slow.status, StatusCode::GATEWAY_TIMEOUT, "{:?}", slow.body);
    assert!(
        slow.message().contains("did not answer within 1 s"),
        "{}",
        slow.message()
    );
}

#[tokio::test]
async fn a_thousand_concurrent_requests_on_an_expired_token_cause_one_refresh() {
    let (provider, app, s) = connected_app(tokens("ya29.old", Some("1//r"), Some(3600))).await;
    expire(&app).await;
    let _once = refresh_grant()
        .respond_with(
            tokens("ya29.fresh", None, Some(3600)).set_delay(std::time::Duration::from_millis(200)),
        )
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let path = format!("/api/v1/branches/{}/token", s.branch);
    let requests = (0..1000).map(|_| app.get(&path, Some(&s.jwt)));
    let replies = futures::future::join_all(requests).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.data()["access_token"], "ya29.fresh");
    }
}

#[tokio::test]
async fn two_tessera_processes_on_one_postgres_database_refresh_once() {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    if !app.db.is_postgres() {
        eprintln!("two-process refresh: PostgreSQL only (SQLite serves one process)");
        return;
    }
    let s = setup(&app, "owner").await;
    connect(
        &app,
        &provider,
        &s,
        tokens("ya29.old", Some("1//r"), Some(3600)),
    )
    .await;
    expire(&app).await;
    let db = app.shutdown().await;
    // Two real binaries on the database; the builder gives them the test app's secret, so they
    // open its keys.
    let first = app_builder(&provider).on(db.share()).spawn_binary().await;
    let second = app_builder(&provider).on(db.share()).spawn_binary().await;
    let _once = refresh_grant()
        .respond_with(
            tokens("ya29.fresh", None, Some(3600)).set_delay(std::time::Duration::from_millis(300)),
        )
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let http = reqwest::Client::new();
    let requests = (0..200).map(|i| {
        let base = if i % 2 == 0 {
            &first.base
        } else {
            &second.base
        };
        let request = http
            .get(format!("{base}/api/v1/branches/{}/token", s.branch))
            .bearer_auth(&s.jwt)
            .send();
        async move { TestApp::reply(request.await.unwrap()).await }
    });
    for reply in futures::future::join_all(requests).await {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.data()["access_token"], "ya29.fresh");
    }
}

/// Each connections route needs its level of the `connections` scope; higher levels include
/// lower ones, and a scope of another resource reaches none.
#[tokio::test]
async fn each_connections_route_needs_its_scope_level() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    let b = &s.branch;
    let (_, read) = app.pat(&s.jwt, &["connections:read"]).await;
    let (_, write) = app.pat(&s.jwt, &["connections:write"]).await;
    let (_, admin) = app.pat(&s.jwt, &["connections:admin"]).await;
    let (_, other) = app.pat(&s.jwt, &["beneficiaries:delete"]).await;
    let routes = [
        (
            "GET",
            format!("/api/v1/branches/{b}/token"),
            "connections:read",
        ),
        (
            "GET",
            format!("/api/v1/branches/{b}/token/validate"),
            "connections:read",
        ),
        (
            "GET",
            format!("/api/v1/branches/{b}/connection"),
            "connections:read",
        ),
        ("GET", "/api/v1/branches".to_owned(), "connections:read"),
        ("GET", format!("/api/v1/branches/{b}"), "connections:read"),
        (
            "GET",
            "/api/v1/branches/by-branch-id/riyadh-01".to_owned(),
            "connections:read",
        ),
        (
            "POST",
            format!("/api/v1/branches/{b}/oauth/start"),
            "connections:write",
        ),
        (
            "GET",
            "/api/v1/oauth-clients".to_owned(),
            "connections:admin",
        ),
        (
            "GET",
            format!("/api/v1/oauth-clients/{}", s.client),
            "connections:admin",
        ),
        (
            "GET",
            "/token-management/tokens/riyadh-01".to_owned(),
            "connections:read",
        ),
    ];
    let rank = |scope: &str| {
        ["connections:read", "connections:write", "connections:admin"]
            .iter()
            .position(|s| *s == scope)
    };
    for (verb, path, required) in &routes {
        for (held, pat) in [
            ("connections:read", &read),
            ("connections:write", &write),
            ("connections:admin", &admin),
            ("beneficiaries:delete", &other),
        ] {
            let reply = app
                .request(
                    crate::support::method(verb),
                    path,
                    Some(pat),
                    (*verb == "POST").then(|| json!({})),
                )
                .await;
            let allowed = matches!((rank(held), rank(required)), (Some(h), Some(r)) if h >= r);
            if allowed {
                assert!(
                    reply.status.is_success(),
                    "{held} on {verb} {path}: {:?}",
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{held} on {verb} {path}"
                );
                assert_eq!(reply.data()["required_scope"], *required);
            }
        }
    }
}

/// Another user's JWT, even an admin's, finds none of the owner's branches or clients, and cannot
/// attach a branch to the owner's client.
#[tokio::test]
async fn another_user_sees_none_of_the_owners_branches_or_clients() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    let b = &s.branch;
    let stranger = app.user("stranger").role(Role::Admin).create().await.jwt;
    for path in [
        format!("/api/v1/branches/{b}/token"),
        format!("/api/v1/branches/{b}"),
        format!("/api/v1/oauth-clients/{}", s.client),
        format!("/api/v1/branches/{b}/connection"),
    ] {
        assert_eq!(
            app.get(&path, Some(&stranger)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        app.get("/api/v1/branches", Some(&stranger)).await.data(),
        &json!({"branches": [], "total": 0})
    );
    let theirs = app
        .post(
            "/api/v1/branches",
            Some(&stranger),
            json!({"branch_id": "x", "name": "X", "client_id": s.client}),
        )
        .await;
    assert_eq!(
        theirs.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        theirs.body
    );
}

/// The client secret is stored but never answered: a listing says only that it is set.
#[tokio::test]
async fn a_clients_secret_is_never_answered() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    let clients = app.get("/api/v1/oauth-clients", Some(&s.jwt)).await;
    assert!(!clients.body.to_string().contains("shh-client-secret"));
    assert_eq!(clients.data()["clients"][0]["client_secret_set"], true);
    assert_eq!(clients.data()["total"], 1);
}

/// An invalid OAuth client is refused naming the field (endpoints on the inside network
/// included), and nothing is stored.
#[tokio::test]
async fn an_invalid_oauth_client_is_refused_naming_the_field() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    for (body, field) in [
        (
            json!({"client_id": "c", "client_secret": "s", "redirect_uri": "not a url"}),
            "redirect_uri",
        ),
        (
            json!({"client_id": "c", "client_secret": "s", "redirect_uri": "http://example.com/cb"}),
            "redirect_uri",
        ),
        (
            json!({"client_id": "c", "client_secret": "", "redirect_uri": REDIRECT}),
            "client_secret",
        ),
        (
            json!({"client_secret": "s", "redirect_uri": REDIRECT}),
            "client_id",
        ),
        (
            json!({"client_id": "c", "client_secret": "s", "redirect_uri": REDIRECT, "provider": "myspace"}),
            "provider",
        ),
        (
            json!({"client_id": "c", "client_secret": "s", "redirect_uri": REDIRECT, "provider": "generic"}),
            "authorization_url",
        ),
        (
            json!({"client_id": "c", "client_secret": "s", "redirect_uri": REDIRECT, "scopes": ["a b"]}),
            "scopes",
        ),
        // Tessera POSTs secrets to token and revocation endpoints: never to the inside network.
        (
            json!({"client_id": "c", "client_secret": "s", "redirect_uri": REDIRECT, "provider": "generic",
                   "authorization_url": "https://auth.example.com/a", "token_url": "https://169.254.169.254/token"}),
            "token_url",
        ),
        (
            json!({"client_id": "c", "client_secret": "s", "redirect_uri": REDIRECT,
                   "revocation_url": "http://revoke.example.com/r"}),
            "revocation_url",
        ),
        (
            json!({"client_id": "c", "client_secret": "s", "redirect_uri": REDIRECT,
                   "token_url": "https://localhost/token"}),
            "token_url",
        ),
    ] {
        let refused = app.post("/api/v1/oauth-clients", Some(&s.jwt), body).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            refused.body
        );
        assert!(
            refused.message().starts_with(field),
            "{field}: {}",
            refused.message()
        );
    }
    let unknown = app.post("/api/v1/oauth-clients", Some(&s.jwt), json!({"client_id": "c", "client_secret": "s", "redirect_uri": REDIRECT, "secret": "typo"})).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/api/v1/oauth-clients", Some(&s.jwt)).await.data()["total"],
        1
    );
}

/// A second client with the same client id, or a second branch with the same branch id, is a
/// conflict and stores nothing.
#[tokio::test]
async fn the_same_client_id_or_branch_id_twice_is_a_conflict() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    let again = app
        .post(
            "/api/v1/oauth-clients",
            Some(&s.jwt),
            json!({"client_id": "client-123", "client_secret": "s", "redirect_uri": REDIRECT}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let twin = app
        .post(
            "/api/v1/branches",
            Some(&s.jwt),
            json!({"branch_id": "riyadh-01", "name": "Twin", "client_id": s.client}),
        )
        .await;
    assert_eq!(twin.status, StatusCode::CONFLICT);
    assert_eq!(
        app.get("/api/v1/oauth-clients", Some(&s.jwt)).await.data()["total"],
        1
    );
}

/// Redirecting where the secret and refresh tokens go needs the secret; a harmless change does
/// not.
#[tokio::test]
async fn moving_a_clients_endpoints_needs_its_secret() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    let client_path = format!("/api/v1/oauth-clients/{}", s.client);
    let moved = app
        .patch(
            &client_path,
            Some(&s.jwt),
            json!({"token_url": "https://elsewhere.example.com/token"}),
        )
        .await;
    assert_eq!(
        moved.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        moved.body
    );
    assert!(
        moved.message().starts_with("client_secret is required"),
        "{}",
        moved.message()
    );
    let moved = app
        .patch(
            &client_path,
            Some(&s.jwt),
            json!({"token_url": "https://elsewhere.example.com/token", "client_secret": "shh-client-secret"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let renamed = app
        .patch(&client_path, Some(&s.jwt), json!({"name": "Renamed"}))
        .await;
    assert_eq!(
        renamed.status,
        StatusCode::OK,
        "a harmless change needs no secret"
    );
}

/// A connected branch keeps its client until it is disconnected, and a client in use cannot be
/// deleted.
#[tokio::test]
async fn a_connected_branch_and_its_client_stay_together() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    let b = &s.branch;
    let other = app
        .post(
            "/api/v1/oauth-clients",
            Some(&s.jwt),
            json!({"client_id": "client-456", "client_secret": "s", "redirect_uri": REDIRECT}),
        )
        .await;
    let switched = app
        .patch(
            &format!("/api/v1/branches/{b}"),
            Some(&s.jwt),
            json!({"client_id": other.data()["id"]}),
        )
        .await;
    assert_eq!(switched.status, StatusCode::CONFLICT, "{:?}", switched.body);
    let in_use = app
        .delete(&format!("/api/v1/oauth-clients/{}", s.client), Some(&s.jwt))
        .await;
    assert_eq!(in_use.status, StatusCode::CONFLICT, "{:?}", in_use.body);
}

/// A branch id that is not a UUID is a 400, not a 404 or a 500.
#[tokio::test]
async fn a_branch_id_that_is_not_a_uuid_is_a_400() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    assert_eq!(
        app.get("/api/v1/branches/not-a-uuid/token", Some(&s.jwt))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

/// An inactive branch hands out no token.
#[tokio::test]
async fn an_inactive_branch_hands_out_no_token() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    let b = &s.branch;
    let deactivated = app
        .patch(
            &format!("/api/v1/branches/{b}"),
            Some(&s.jwt),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{:?}", deactivated.body);
    assert_eq!(token(&app, &s).await.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn disconnect_revokes_at_the_provider_and_deletes_the_grant() {
    let (provider, app, s) =
        connected_app(tokens("ya29.1", Some("1//to-revoke"), Some(3600))).await;
    let _revoke = Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(body_string_contains("token=1%2F%2Fto-revoke"))
        .and(body_string_contains("token_type_hint=refresh_token"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let gone = app
        .delete(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{:?}", gone.body);
    assert_eq!(gone.data()["revoked_at_provider"], true);
    let after = token(&app, &s).await;
    assert_eq!(after.status, StatusCode::CONFLICT);
    assert!(after.message().contains("not connected"));
    assert_eq!(
        app.db
            .strings("SELECT CAST(COUNT(*) AS TEXT) FROM oauth_connections")
            .await,
        vec!["0"]
    );
    let status = app
        .get(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(status.data()["status"], "not_connected");
}

/// The compatibility routes' way to connect a branch: a client and its branch in one call
/// (`jeddah-02`, client id `client-123`), the login redirect to the provider, and the callback.
/// Returns the branch's id.
async fn connect_through_compatibility_routes(
    provider: &MockServer,
    app: &TestApp,
    jwt: &str,
) -> String {
    let created = app
        .post(
            "/token-management/clients",
            Some(jwt),
            json!({"client_id": "client-123", "client_secret": "shh-client-secret", "redirect_uri": REDIRECT,
                   "branch_id": "jeddah-02", "workspace_email": "jeddah@example.com", "workspace_name": "Jeddah"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["success"], true);
    assert_eq!(created.body["branch_id"], "jeddah-02");
    let branch_id = created.body["id"].as_str().unwrap().to_owned();

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = no_redirects
        .get(app.url("/token-management/oauth/login/client-123"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        StatusCode::FOUND,
        "{:?}",
        login.text().await
    );
    let location = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location
        .as_str()
        .starts_with(&format!("{}/authorize", provider.uri())));
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    let _exchange = Mock::given(method("POST"))
        .and(path("/token"))
        .and(PkceExchange {
            challenge: query["code_challenge"].clone(),
            redirect_uri: REDIRECT.to_owned(),
        })
        .respond_with(tokens("ya29.compat", Some("1//compat"), Some(3600)))
        .expect(1)
        .mount_as_scoped(provider)
        .await;
    let callback = app
        .client
        .get(app.url(&format!(
            "/token-management/auth/callback?code=c&state={}",
            query["state"]
        )))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), StatusCode::OK);
    branch_id
}

/// An app on a mock provider with an admin `fetcher`'s branch connected through the
/// compatibility routes: (provider, app, JWT, branch id).
async fn compatibility_connected() -> (MockServer, TestApp, String, String) {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let jwt = app.user("fetcher").role(Role::Admin).create().await.jwt;
    let branch_id = connect_through_compatibility_routes(&provider, &app, &jwt).await;
    (provider, app, jwt, branch_id)
}

/// A branch connected through the compatibility routes is an ordinary active connection.
#[tokio::test]
async fn a_branch_connects_through_the_compatibility_login_and_callback() {
    let (_provider, app, jwt, branch_id) = compatibility_connected().await;
    let connection = app
        .get(
            &format!("/api/v1/branches/{branch_id}/connection"),
            Some(&jwt),
        )
        .await;
    assert_eq!(connection.status, StatusCode::OK, "{:?}", connection.body);
    assert_eq!(connection.data()["status"], "active");
}

/// `GET /token-management/tokens/{branch_id}` answers its seven keys at the top level.
#[tokio::test]
async fn the_compatibility_token_route_keeps_its_shape() {
    let (_provider, app, jwt, _) = compatibility_connected().await;
    let got = app
        .get("/token-management/tokens/jeddah-02", Some(&jwt))
        .await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    let keys: Vec<&str> = got
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    for key in [
        "success",
        "message",
        "client_id",
        "branch_id",
        "access_token",
        "expires_at",
        "token_type",
    ] {
        assert!(got.body.get(key).is_some(), "{key}");
    }
    assert_eq!(got.body["access_token"], "ya29.compat");
    assert_eq!(got.body["client_id"], "client-123");
}

/// `POST /token-management/tokens/refresh` refreshes the branch of a client id, and the new token
/// is the branch's token on the main routes too.
#[tokio::test]
async fn the_compatibility_refresh_route_refreshes_the_branch_of_a_client_id() {
    let (provider, app, jwt, branch_id) = compatibility_connected().await;
    let _refresh = refresh_grant()
        .respond_with(tokens("ya29.compat2", None, Some(3600)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let refreshed = app
        .post(
            "/token-management/tokens/refresh",
            Some(&jwt),
            json!({"client_id": "client-123"}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    assert_eq!(refreshed.body["access_token"], "ya29.compat2");
    assert_eq!(refreshed.body["branch_id"], "jeddah-02");
    let same = app
        .get(&format!("/api/v1/branches/{branch_id}/token"), Some(&jwt))
        .await;
    assert_eq!(same.data()["access_token"], "ya29.compat2");
}

/// An unknown branch id on the compatibility token route is a 404.
#[tokio::test]
async fn an_unknown_branch_on_the_compatibility_token_route_is_a_404() {
    let (_provider, app, jwt, _) = compatibility_connected().await;
    assert_eq!(
        app.get("/token-management/tokens/nope", Some(&jwt))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Runs `sql` on the app's database, then one keep-alive pass, which must make `calls` refresh
/// calls (answered with `access`) and report as many refreshes.
async fn keep_alive_after(
    app: &TestApp,
    provider: &MockServer,
    sql: &str,
    calls: u64,
    access: &str,
) {
    if !sql.is_empty() {
        app.db.exec(sql).await;
    }
    let _refresh = refresh_grant()
        .respond_with(tokens(access, None, Some(3600)))
        .expect(calls)
        .mount_as_scoped(provider)
        .await;
    let refreshed = app.state.connections.keep_alive_once().await.unwrap();
    assert_eq!(refreshed as u64, calls, "after {sql:?}");
}

#[tokio::test]
async fn keep_alive_refreshes_tokens_in_use_that_expire_soon_and_idle_grants() {
    let (provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    // Fresh and unused: nothing to do.
    keep_alive_after(&app, &provider, "", 0, "x").await;

    let now = time::OffsetDateTime::now_utc();
    let stamp = |t: time::OffsetDateTime| {
        let text = t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        format!("{}.000000Z", &text[..19])
    };
    // In use and due before the next pass: refreshed ahead of the consumers.
    let in_use = format!(
        "UPDATE oauth_connections SET expires_at = '{}', last_used_at = '{}', connected_at = '{}'",
        stamp(now + time::Duration::seconds(120)),
        stamp(now),
        stamp(now - time::Duration::hours(1))
    );
    keep_alive_after(&app, &provider, &in_use, 1, "ya29.2").await;
    assert_eq!(token(&app, &s).await.data()["access_token"], "ya29.2");

    // Valid but refreshed 8 days ago and never used: refreshed so the provider keeps the grant.
    let idle = format!(
        "UPDATE oauth_connections SET last_used_at = NULL, last_refresh_at = '{}'",
        stamp(now - time::Duration::days(8))
    );
    keep_alive_after(&app, &provider, &idle, 1, "ya29.3").await;
    // And a dead grant is left alone, however idle.
    let dead = format!(
        "UPDATE oauth_connections SET status = 'needs_reauth', last_refresh_at = '{}'",
        stamp(now - time::Duration::days(8))
    );
    keep_alive_after(&app, &provider, &dead, 0, "x").await;
}

#[tokio::test]
async fn rekey_moves_every_secret_to_the_new_key_and_the_old_key_can_go() {
    const OLD: &str = "old:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const NEW: &str = "new:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let provider = MockServer::start().await;
    let app = app_builder(&provider)
        .with_config(|config| {
            config.token_encryption_keys = Some(OLD.to_owned().into());
        })
        .spawn()
        .await;
    let s = setup(&app, "owner").await;
    connect(
        &app,
        &provider,
        &s,
        tokens("ya29.kept", Some("1//kept"), Some(3600)),
    )
    .await;
    let db = app.shutdown().await;

    let rekey = |keys: String| {
        db.tessera()
            .args(["connections", "rekey"])
            .env("TOKEN_ENCRYPTION_KEYS", keys)
            .output()
            .unwrap()
    };
    let output = rekey(format!("{NEW},{OLD}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report, json!({"resealed": 3, "current": 0, "raced": 0}));
    let again: serde_json::Value =
        serde_json::from_slice(&rekey(format!("{NEW},{OLD}")).stdout).unwrap();
    assert_eq!(again, json!({"resealed": 0, "current": 3, "raced": 0}));

    // The old key is gone from the configuration; everything still opens.
    let app = TestApp::builder()
        .on(db)
        .with_config(|config| config.token_encryption_keys = Some(NEW.to_owned().into()))
        .spawn()
        .await;
    let jwt = app.login(&s.owner).await;
    let got = app
        .get(&format!("/api/v1/branches/{}/token", s.branch), Some(&jwt))
        .await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.data()["access_token"], "ya29.kept");
}

#[tokio::test]
async fn a_disconnect_on_another_instance_reaches_this_instances_token_cache() {
    let provider = MockServer::start().await;
    let first = app(&provider).await;
    let s = setup(&first, "owner").await;
    connect(
        &first,
        &provider,
        &s,
        tokens("ya29.cached", Some("1//r"), Some(3600)),
    )
    .await;
    assert_eq!(
        token(&first, &s).await.data()["access_token"],
        "ya29.cached"
    );
    let second = TestApp::builder().on(first.db.share()).spawn().await;
    let mut emptied = first.state.connections.cache.subscribe();
    emptied.borrow_and_update();
    let gone = second
        .delete(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{:?}", gone.body);
    tokio::time::timeout(std::time::Duration::from_secs(10), emptied.changed())
        .await
        .expect("the first instance hears of the change")
        .unwrap();
    let after = token(&first, &s).await;
    assert_eq!(after.status, StatusCode::CONFLICT, "{:?}", after.body);
}

#[tokio::test]
async fn the_openapi_document_lists_every_connections_route_and_scope() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json", None).await;
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, verbs) in [
        ("/api/v1/oauth-clients", &["get", "post"][..]),
        ("/api/v1/oauth-clients/{id}", &["get", "patch", "delete"]),
        ("/api/v1/branches", &["get", "post"]),
        ("/api/v1/branches/{id}", &["get", "patch", "delete"]),
        ("/api/v1/branches/by-branch-id/{branch_id}", &["get"]),
        ("/api/v1/branches/{id}/oauth/start", &["post"]),
        ("/api/v1/oauth/callback", &["get"]),
        ("/api/v1/branches/{id}/token", &["get"]),
        ("/api/v1/branches/{id}/token/validate", &["get"]),
        ("/api/v1/branches/{id}/token/refresh", &["post"]),
        ("/api/v1/branches/{id}/connection", &["get", "delete"]),
        ("/token-management/clients", &["post"]),
        ("/token-management/oauth/login/{client_id}", &["get"]),
        ("/token-management/tokens/refresh", &["post"]),
        ("/token-management/tokens/{branch_id}", &["get"]),
    ] {
        for verb in verbs {
            assert!(paths[path][verb].is_object(), "{verb} {path}");
        }
    }
    let pat = doc.body["components"]["securitySchemes"]["pat"]["description"]
        .as_str()
        .unwrap();
    assert!(
        pat.contains("connections:admin, connections:write, connections:read"),
        "{pat}"
    );
}

/// `requests` token requests for the setup's branch, from `tasks` concurrent tasks.
async fn token_requests(
    app: &Arc<TestApp>,
    s: &Arc<Setup>,
    requests: usize,
    tasks: usize,
) -> Vec<crate::support::Reply> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..tasks).map(|_| {
        let (app, s, next) = (app.clone(), s.clone(), next.clone());
        tokio::spawn(async move {
            let mut replies = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                replies.push(token(&app, &s).await);
            }
            replies
        })
    });
    let mut replies = Vec::new();
    for worker in futures::future::join_all(workers).await {
        replies.extend(worker.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_every_reconnect_all_consumers_get_the_one_refreshed_token() {
    let provider = MockServer::start().await;
    let app = Arc::new(app(&provider).await);
    let s = Arc::new(setup(&app, "owner").await);
    for round in 0..20 {
        // A grant whose access token lives one second: inside the refresh buffer from the start.
        let short = tokens(&format!("ya29.short-{round}"), Some("1//r"), Some(1));
        let connected = connect(&app, &provider, &s, short).await;
        assert_eq!(connected.status, StatusCode::OK, "{:?}", connected.body);
        let fresh = format!("ya29.fresh-{round}");
        let once = refresh_grant()
            .respond_with(tokens(&fresh, None, Some(3600)))
            .expect(1)
            .mount_as_scoped(&provider)
            .await;
        let replies = token_requests(&app, &s, 300, 64).await;
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        for reply in &replies {
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            let access = reply.data()["access_token"].as_str().unwrap().to_owned();
            *seen.entry(access).or_default() += 1;
        }
        assert_eq!(replies.len(), 300);
        assert_eq!(seen.len(), 1, "round {round}: {seen:?}");
        assert!(seen.contains_key(&fresh), "round {round}: {seen:?}");
        drop(once);
    }
}

/// The stored form of the instant `seconds` from now.
fn stamp_in(seconds: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
    let text = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    format!("{}.000000Z", &text[..19])
}

#[tokio::test]
async fn a_hanging_provider_gets_the_refresh_rules_answer_not_the_request_timeout() {
    let provider = MockServer::start().await;
    // Three attempts of 2 s each (6 s) would outlast the 3 s request timeout.
    let app = app_builder(&provider)
        .with_config(|config| {
            config.request_timeout_seconds = 3;
            config.oauth_http_timeout_seconds = 2;
            config.oauth_refresh_retries = 2;
            config.oauth_failure_cooldown_seconds = 0;
        })
        .spawn()
        .await;
    let s = setup(&app, "owner").await;
    let live = tokens("ya29.live", Some("1//r"), Some(3600));
    assert_eq!(
        connect(&app, &provider, &s, live).await.status,
        StatusCode::OK
    );
    let _hangs = refresh_grant()
        .respond_with(tokens("ya29.never", None, Some(3600)).set_delay(Duration::from_secs(600)))
        .mount_as_scoped(&provider)
        .await;

    // Inside the refresh buffer but not expired (and issued long ago, so due for a refresh by
    // any rule): the stored token.
    let soon = format!(
        "UPDATE oauth_connections SET expires_at = '{}', connected_at = '2020-01-01T00:00:00.000000Z'",
        stamp_in(60)
    );
    change_behind_the_apps_back(&app, &soon).await;
    let got = token(&app, &s).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.data()["access_token"], "ya29.live");

    // Expired: the refresh rules' 504, not the router's 503.
    expire(&app).await;
    let timed_out = token(&app, &s).await;
    assert_eq!(
        timed_out.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{:?}",
        timed_out.body
    );
    assert!(
        timed_out.message().contains("did not answer within"),
        "{}",
        timed_out.message()
    );
}

/// Counts the requests it matches, so a test can wait until a call has reached the provider.
struct Arrivals(Arc<tokio::sync::Semaphore>);

impl wiremock::Match for Arrivals {
    fn matches(&self, _: &Request) -> bool {
        self.0.add_permits(1);
        true
    }
}

impl Arrivals {
    /// The matcher, and a semaphore that gains a permit per matched request.
    fn counter() -> (Arrivals, Arc<tokio::sync::Semaphore>) {
        let arrived = Arc::new(tokio::sync::Semaphore::new(0));
        (Arrivals(arrived.clone()), arrived)
    }
}

/// Waits until `count` more requests have reached the provider (bounded, so a broken test
/// fails instead of hanging).
async fn arrived(arrivals: &tokio::sync::Semaphore, count: u32) {
    tokio::time::timeout(Duration::from_secs(60), arrivals.acquire_many(count))
        .await
        .expect("the refresh reaches the provider")
        .unwrap()
        .forget();
}

/// An owner whose OAuth client's token endpoint is `provider`, with `branches` connected
/// branches.
async fn owner_at(app: &TestApp, name: &str, provider: &MockServer, branches: usize) -> Vec<Setup> {
    let jwt = app.user(name).role(Role::Admin).create().await.jwt;
    let client = app
        .post(
            "/api/v1/oauth-clients",
            Some(&jwt),
            json!({"client_id": "client-123", "client_secret": "shh-client-secret",
                   "redirect_uri": REDIRECT, "token_url": format!("{}/token", provider.uri())}),
        )
        .await;
    assert_eq!(client.status, StatusCode::CREATED, "{:?}", client.body);
    let client = client.data()["id"].as_str().unwrap().to_owned();
    let mut setups = Vec::new();
    for i in 0..branches {
        let branch = app
            .post(
                "/api/v1/branches",
                Some(&jwt),
                json!({"branch_id": format!("b-{i}"), "name": format!("Branch {i}"), "client_id": client}),
            )
            .await;
        assert_eq!(branch.status, StatusCode::CREATED, "{:?}", branch.body);
        let s = Setup {
            owner: name.to_owned(),
            jwt: jwt.clone(),
            client: client.clone(),
            branch: branch.data()["id"].as_str().unwrap().to_owned(),
        };
        let first = tokens(&format!("ya29.{name}-{i}"), Some("1//r"), Some(3600));
        assert_eq!(
            connect(app, provider, &s, first).await.status,
            StatusCode::OK
        );
        setups.push(s);
    }
    setups
}

/// A token request in a task of its own; answers the status.
fn spawn_token_request(app: &TestApp, s: &Setup) -> tokio::task::JoinHandle<StatusCode> {
    let request = app
        .client
        .get(app.url(&format!("/api/v1/branches/{}/token", s.branch)))
        .bearer_auth(&s.jwt)
        .send();
    tokio::spawn(async move { request.await.map(|r| r.status()).unwrap_or_default() })
}

/// `hanging_owners` owners, six branches each, share one token endpoint that hangs; another
/// owner's endpoint answers at once. That owner's refresh must be answered while every refresh
/// at the hanging endpoint is still waiting for it (its answer comes after 10 s).
async fn a_refresh_elsewhere_is_answered_while(hanging_owners: usize) {
    let google = MockServer::start().await;
    let app = app_builder(&google)
        .with_config(|config| {
            config.oauth_allow_private_endpoints = true;
            // Only the hanging endpoint's answer ends its refreshes.
            config.request_timeout_seconds = 120;
            config.oauth_http_timeout_seconds = 60;
        })
        .spawn()
        .await;
    let slow = MockServer::start().await;
    let fast = MockServer::start().await;
    let mut stuck = Vec::new();
    for owner in 0..hanging_owners {
        stuck.extend(owner_at(&app, &format!("slow{owner}"), &slow, 6).await);
    }
    let other = owner_at(&app, "other", &fast, 1).await.remove(0);
    expire(&app).await;
    let (arrivals, arrived_at_slow) = Arrivals::counter();
    let _hangs = refresh_grant()
        .and(arrivals)
        .respond_with(tokens("ya29.late", None, Some(3600)).set_delay(Duration::from_secs(10)))
        .mount_as_scoped(&slow)
        .await;
    let _answers = refresh_grant()
        .respond_with(tokens("ya29.other", None, Some(3600)))
        .expect(1)
        .mount_as_scoped(&fast)
        .await;
    let mut stuck_requests: futures::stream::FuturesUnordered<_> =
        stuck.iter().map(|s| spawn_token_request(&app, s)).collect();
    arrived(&arrived_at_slow, 1).await;
    let answer = tokio::select! {
        answer = token(&app, &other) => answer,
        first = futures::StreamExt::next(&mut stuck_requests) => {
            panic!("the other owner's refresh waited for the hanging endpoint ({first:?})")
        }
    };
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.data()["access_token"], "ya29.other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owners_hanging_token_endpoint_does_not_starve_another_owners_refresh() {
    a_refresh_elsewhere_is_answered_while(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_sharing_a_hanging_host_do_not_starve_a_refresh_at_another_host() {
    a_refresh_elsewhere_is_answered_while(2).await;
}

/// Makes the next write of new tokens to `oauth_connections` fail once, as a passing database
/// fault would (a trigger; on PostgreSQL a sequence counts, since it survives the rollback).
async fn fail_the_next_token_write(db: &crate::support::TestDb) {
    if db.is_postgres() {
        db.exec("CREATE SEQUENCE token_writes").await;
        db.exec(
            "CREATE FUNCTION fail_first_token_write() RETURNS trigger AS $$ BEGIN \
             IF nextval('token_writes') = 1 THEN RAISE EXCEPTION 'injected write failure'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
        )
        .await;
        db.exec(
            "CREATE TRIGGER fail_first_token_write BEFORE UPDATE OF access_token_sealed \
             ON oauth_connections FOR EACH ROW EXECUTE FUNCTION fail_first_token_write()",
        )
        .await;
    } else {
        db.exec("CREATE TABLE token_write_failures (remaining INTEGER NOT NULL)")
            .await;
        db.exec("INSERT INTO token_write_failures VALUES (1)").await;
        // FAIL (unlike ABORT) keeps the countdown the trigger made before failing.
        db.exec(
            "CREATE TRIGGER fail_first_token_write BEFORE UPDATE OF access_token_sealed \
             ON oauth_connections WHEN (SELECT remaining FROM token_write_failures) > 0 \
             BEGIN UPDATE token_write_failures SET remaining = remaining - 1; \
             SELECT RAISE(FAIL, 'injected write failure'); END",
        )
        .await;
    }
}

#[tokio::test]
async fn a_failed_write_after_a_refresh_is_retried_and_the_rotated_token_kept() {
    let (provider, app, s) = connected_app(tokens("ya29.1", Some("1//r1"), Some(3600))).await;
    expire(&app).await;
    fail_the_next_token_write(&app.db).await;
    let rotated = refresh_grant()
        .and(body_string_contains("refresh_token=1%2F%2Fr1"))
        .respond_with(tokens("ya29.2", Some("1//r2"), Some(3600)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let got = token(&app, &s).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.data()["access_token"], "ya29.2");
    drop(rotated);

    // The rotated refresh token was stored: the next refresh sends it.
    expire(&app).await;
    let _with_r2 = refresh_grant()
        .and(body_string_contains("refresh_token=1%2F%2Fr2"))
        .respond_with(tokens("ya29.3", None, Some(3600)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let next = token(&app, &s).await;
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    assert_eq!(next.data()["access_token"], "ya29.3");
}

#[tokio::test]
async fn shutdown_waits_for_a_keep_alive_refresh_so_its_rotated_token_is_stored() {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let s = setup(&app, "owner").await;
    let first = tokens("ya29.1", Some("1//r1"), Some(3600));
    assert_eq!(
        connect(&app, &provider, &s, first).await.status,
        StatusCode::OK
    );
    // Connected long ago and never refreshed: the keep-alive pass refreshes it.
    app.db
        .exec("UPDATE oauth_connections SET connected_at = '2020-01-01T00:00:00.000000Z'")
        .await;
    let (arrivals, arrived_at_provider) = Arrivals::counter();
    let rotating = refresh_grant()
        .and(body_string_contains("refresh_token=1%2F%2Fr1"))
        .and(arrivals)
        .respond_with(tokens("ya29.2", Some("1//r2"), Some(3600)).set_delay(Duration::from_secs(1)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let connections = app.state.connections.clone();
    let pass = tokio::spawn(async move { connections.keep_alive_once().await });
    // Shut down while the provider is still answering the refresh.
    arrived(&arrived_at_provider, 1).await;
    let db = app.shutdown().await;
    assert_eq!(pass.await.unwrap().unwrap(), 1, "the refresh was stored");
    drop(rotating);

    let app = app_builder(&provider).on(db).spawn().await;
    let jwt = app.login(&s.owner).await;
    expire(&app).await;
    let _with_r2 = refresh_grant()
        .and(body_string_contains("refresh_token=1%2F%2Fr2"))
        .respond_with(tokens("ya29.3", None, Some(3600)))
        .expect(1)
        .mount_as_scoped(&provider)
        .await;
    let got = app
        .get(&format!("/api/v1/branches/{}/token", s.branch), Some(&jwt))
        .await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.data()["access_token"], "ya29.3");
}

/// A provider or token-endpoint auth method outside the known names is refused naming the ones
/// accepted; the stored client keeps its own and shows them as names.
#[tokio::test]
async fn unknown_providers_and_auth_methods_are_refused_by_name() {
    let (_provider, app, s) = connected_app(tokens("ya29.1", Some("1//r"), Some(3600))).await;
    let client_path = format!("/api/v1/oauth-clients/{}", s.client);
    for (field, value, message) in [
        (
            "provider",
            "github",
            "provider must be one of google, generic (got \"github\")",
        ),
        (
            "token_auth_method",
            "none",
            "token_auth_method must be one of client_secret_post, client_secret_basic (got \"none\")",
        ),
    ] {
        let refused = app
            .patch(&client_path, Some(&s.jwt), json!({ field: value }))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(refused.message(), message);
    }
    let client = app.get(&client_path, Some(&s.jwt)).await;
    assert_eq!(client.data()["token_auth_method"], "client_secret_post");
    let switched = app
        .patch(
            &client_path,
            Some(&s.jwt),
            json!({"token_auth_method": "client_secret_basic", "client_secret": "s2"}),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{:?}", switched.body);
    assert_eq!(switched.data()["token_auth_method"], "client_secret_basic");
}

/// Issue 15: every change of a branch's grant reaches its owner's webhook, signed (verified with
/// the PyPI `standardwebhooks` library).
#[tokio::test]
async fn each_change_of_a_grant_tells_the_branch_owner_by_webhook() {
    use crate::support::receiver::{verified, Receiver};
    let provider = MockServer::start().await;
    let app = app_builder(&provider)
        .with_config(|config| {
            config.oauth_refresh_retries = 0;
            config.oauth_failure_cooldown_seconds = 0;
        })
        .spawn()
        .await;
    let s = setup(&app, "owner").await;
    let mut receiver = Receiver::start().await;
    let made = app
        .post(
            "/api/v1/webhooks",
            Some(&s.jwt),
            json!({"url": receiver.url, "events": ["connection.*"]}),
        )
        .await;
    let secret = made.data()["secret"].as_str().unwrap().to_owned();
    let mut told = Vec::new();
    let mut take = |app_deliveries: Vec<crate::support::receiver::Received>| {
        for payload in verified(&secret, &app_deliveries) {
            let payload = payload.expect("every delivery verifies");
            assert_eq!(payload["data"]["branch"]["id"], s.branch.as_str());
            assert_eq!(payload["data"]["branch"]["name"], "Riyadh Olaya");
            told.push((
                payload["type"].as_str().unwrap().to_owned(),
                payload["data"]["error"].clone(),
            ));
        }
    };

    let reply = connect(
        &app,
        &provider,
        &s,
        tokens("ya29.1", Some("1//r"), Some(3600)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    take(deliver(&app, &mut receiver, 1).await);

    // A 503: refresh_failed once; the next success: recovered.
    expire(&app).await;
    let down = refresh_grant()
        .respond_with(ResponseTemplate::new(503))
        .mount_as_scoped(&provider)
        .await;
    for _ in 0..2 {
        assert_eq!(token(&app, &s).await.status, StatusCode::BAD_GATEWAY);
    }
    drop(down);
    take(deliver(&app, &mut receiver, 1).await);
    let up = refresh_grant()
        .respond_with(tokens("ya29.2", None, Some(3600)))
        .mount_as_scoped(&provider)
        .await;
    assert_eq!(token(&app, &s).await.status, StatusCode::OK);
    drop(up);
    take(deliver(&app, &mut receiver, 1).await);

    // invalid_grant: refresh_failed with the provider's code, then needs_reauth.
    expire(&app).await;
    let _dead = refresh_grant()
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount_as_scoped(&provider)
        .await;
    assert_eq!(token(&app, &s).await.status, StatusCode::CONFLICT);
    let mut dead = deliver(&app, &mut receiver, 2).await;
    dead.sort_by_key(|d| !d.body.contains("refresh_failed"));
    take(dead);

    // Re-connecting, then disconnecting.
    connect(
        &app,
        &provider,
        &s,
        tokens("ya29.3", Some("1//r3"), Some(3600)),
    )
    .await;
    take(deliver(&app, &mut receiver, 1).await);
    let gone = app
        .delete(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{:?}", gone.body);
    take(deliver(&app, &mut receiver, 1).await);

    let names: Vec<(&str, &serde_json::Value)> = told
        .iter()
        .map(|(kind, error)| (kind.as_str(), error))
        .collect();
    let none = serde_json::Value::Null;
    assert_eq!(
        names,
        [
            ("connection.connected", &none),
            (
                "connection.refresh_failed",
                &json!("temporarily_unavailable")
            ),
            ("connection.recovered", &none),
            ("connection.refresh_failed", &json!("invalid_grant")),
            ("connection.needs_reauth", &none),
            ("connection.connected", &none),
            ("connection.disconnected", &none),
        ]
    );
}

/// One delivery round, and the `count` deliveries it made.
async fn deliver(
    app: &TestApp,
    receiver: &mut crate::support::receiver::Receiver,
    count: usize,
) -> Vec<crate::support::receiver::Received> {
    assert_eq!(app.deliver_webhooks().await, count, "deliveries made");
    let mut got = Vec::new();
    for _ in 0..count {
        got.push(receiver.next().await);
    }
    got
}

/// A reconnect link: the page it opens without login, and the consent it starts.
struct LinkPage {
    status: StatusCode,
    body: String,
}

async fn open_link(app: &TestApp, url: &str) -> LinkPage {
    let response = app.client.get(url).send().await.unwrap();
    LinkPage {
        status: response.status(),
        body: response.text().await.unwrap(),
    }
}

/// Presses the page's button: the provider's authorization URL it redirects to, parsed.
async fn press_continue(app: &TestApp, token: &str) -> std::collections::HashMap<String, String> {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .post(app.url("/connect"))
        .header("origin", format!("http://{}", app.addr))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        response.text().await
    );
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The provider's side of a consent started at `query`, answering the code exchange with `answer`.
async fn consent(
    app: &TestApp,
    provider: &MockServer,
    query: &std::collections::HashMap<String, String>,
    answer: ResponseTemplate,
) -> crate::support::Reply {
    let _guard = Mock::given(method("POST"))
        .and(path("/token"))
        .and(PkceExchange {
            challenge: query["code_challenge"].clone(),
            redirect_uri: REDIRECT.to_owned(),
        })
        .respond_with(answer)
        .expect(1)
        .mount_as_scoped(provider)
        .await;
    callback(app, &format!("code=auth-code-1&state={}", query["state"])).await
}

async fn make_link(app: &TestApp, s: &Setup, body: serde_json::Value) -> crate::support::Reply {
    app.post(
        &format!("/api/v1/branches/{}/connect-link", s.branch),
        Some(&s.jwt),
        body,
    )
    .await
}

fn link_token(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn a_connect_link_lets_a_manager_without_an_account_consent_once() {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let s = setup(&app, "owner").await;
    let made = make_link(&app, &s, json!({"expires_in_hours": 24})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let url = made.data()["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("http://{}/connect?token=", app.addr)),
        "{url}"
    );
    let expires = time::OffsetDateTime::parse(
        made.data()["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let hours = (expires - time::OffsetDateTime::now_utc()).whole_minutes();
    assert!((23 * 60..=24 * 60).contains(&hours), "{hours} minutes");

    // The page, without any login: the branch and the access asked for.
    let page = open_link(&app, &url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Riyadh Olaya") && page.body.contains("business.manage"),
        "{}",
        page.body
    );
    let query = press_continue(&app, &link_token(&url)).await;
    assert_eq!(query["code_challenge_method"], "S256");
    let connected = consent(
        &app,
        &provider,
        &query,
        tokens("ya29.link", Some("1//link"), Some(3600)),
    )
    .await;
    assert_eq!(connected.status, StatusCode::OK, "{:?}", connected.body);
    assert_eq!(connected.data()["status"], "connected");
    assert_eq!(token(&app, &s).await.data()["access_token"], "ya29.link");

    // Spent: it says so, in the console's look, and starts nothing.
    let spent = open_link(&app, &url).await;
    assert_eq!(spent.status, StatusCode::GONE);
    assert!(spent.body.contains("already used"), "{}", spent.body);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let pressed = no_redirects
        .post(app.url("/connect"))
        .header("origin", format!("http://{}", app.addr))
        .form(&[("token", link_token(&url))])
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_connect_link_stops_at_its_expiry_and_when_a_newer_one_is_made() {
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let s = setup(&app, "owner").await;
    for (body, expected) in [
        (json!({"expires_in_hours": 0}), "between 1 and 168"),
        (json!({"expires_in_hours": 169}), "between 1 and 168"),
    ] {
        let refused = make_link(&app, &s, body).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.message().contains(expected),
            "{}",
            refused.message()
        );
    }
    let older = make_link(&app, &s, json!({})).await.data()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let newer = make_link(&app, &s, json!({"expires_in_hours": 1}))
        .await
        .data()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let replaced = open_link(&app, &older).await;
    assert_eq!(replaced.status, StatusCode::GONE);
    assert!(replaced.body.contains("newer link"), "{}", replaced.body);
    assert_eq!(open_link(&app, &newer).await.status, StatusCode::OK);
    app.clock.advance(Duration::from_secs(3600));
    let expired = open_link(&app, &newer).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.body.contains("expired"), "{}", expired.body);
    let unknown = open_link(&app, &app.url("/connect?token=not-a-link")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("not valid"), "{}", unknown.body);

    // Someone else's branch, no login, a token without connections:write: refused.
    let other = app.user("stranger").role(Role::Admin).create().await;
    let theirs = app
        .post(
            &format!("/api/v1/branches/{}/connect-link", s.branch),
            Some(&other.jwt),
            json!({}),
        )
        .await;
    assert_eq!(
        theirs.status,
        StatusCode::NOT_FOUND,
        "another owner's branch is no branch"
    );
    let member = app.user("member").create().await;
    let no_role = app
        .post(
            &format!("/api/v1/branches/{}/connect-link", s.branch),
            Some(&member.jwt),
            json!({}),
        )
        .await;
    assert_eq!(no_role.status, StatusCode::FORBIDDEN, "{:?}", no_role.body);
    let anonymous = app
        .post(
            &format!("/api/v1/branches/{}/connect-link", s.branch),
            None,
            json!({}),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let (_, read_only) = app.pat(&s.jwt, &["connections:read"]).await;
    let weak = app
        .post(
            &format!("/api/v1/branches/{}/connect-link", s.branch),
            Some(&read_only),
            json!({}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::FORBIDDEN, "{:?}", weak.body);
    let (_, writer) = app.pat(&s.jwt, &["connections:write"]).await;
    let scripted = app
        .post(
            &format!("/api/v1/branches/{}/connect-link", s.branch),
            Some(&writer),
            json!({}),
        )
        .await;
    assert_eq!(scripted.status, StatusCode::CREATED, "{:?}", scripted.body);
}

#[tokio::test]
async fn a_consent_without_the_required_scope_is_stored_as_insufficient_scope() {
    use crate::support::receiver::{verified, Receiver};
    let provider = MockServer::start().await;
    let app = app(&provider).await;
    let s = setup(&app, "owner").await;
    let mut receiver = Receiver::start().await;
    let secret = app
        .post(
            "/api/v1/webhooks",
            Some(&s.jwt),
            json!({"url": receiver.url, "events": ["connection.needs_reauth"]}),
        )
        .await
        .data()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = make_link(&app, &s, json!({})).await.data()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = press_continue(&app, &link_token(&url)).await;
    let unticked = ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "ya29.partial", "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": "1//partial", "scope": "openid email"
    }));
    let answered = consent(&app, &provider, &query, unticked).await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    assert_eq!(answered.data()["status"], "insufficient_scope");
    assert!(answered.data()["message"]
        .as_str()
        .unwrap()
        .contains("business.manage"));

    let refused = token(&app, &s).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert!(
        refused.message().contains("without a scope it needs")
            && refused.message().contains("business.manage"),
        "{}",
        refused.message()
    );
    let connection = app
        .get(
            &format!("/api/v1/branches/{}/connection", s.branch),
            Some(&s.jwt),
        )
        .await;
    assert_eq!(connection.data()["status"], "insufficient_scope");

    assert_eq!(app.deliver_webhooks().await, 1);
    let payload = verified(&secret, &[receiver.next().await])
        .remove(0)
        .unwrap();
    assert_eq!(payload["type"], "connection.needs_reauth");
    assert_eq!(payload["data"]["reason"], "insufficient_scope");
    assert_eq!(
        payload["data"]["missing_scopes"],
        "https://www.googleapis.com/auth/business.manage"
    );

    // The link still works, so the manager can try again and grant it.
    assert_eq!(open_link(&app, &url).await.status, StatusCode::OK);
    let again = press_continue(&app, &link_token(&url)).await;
    let granted = consent(
        &app,
        &provider,
        &again,
        tokens("ya29.full", Some("1//full"), Some(3600)),
    )
    .await;
    assert_eq!(granted.data()["status"], "connected");
    assert_eq!(token(&app, &s).await.data()["access_token"], "ya29.full");
    assert_eq!(open_link(&app, &url).await.status, StatusCode::GONE);
}
