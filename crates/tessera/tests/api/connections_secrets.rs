//! No OAuth secret in plain text anywhere but the token routes' answers: the real binary, with
//! debug logging, goes through connect → token → refresh (with a rotated refresh token) →
//! disconnect against a mock provider; then every log line and every byte of the database
//! (SQLite: the files, WAL included; PostgreSQL: every row of every table, as text and as hex)
//! are searched for the client secret, the code, the state's verifier, and every token.

use crate::support::{TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRETS: &[&str] = &[
    "client-secret-8d3f1a",
    "ya29.access-token-one-5b2c",
    "1//refresh-token-one-77ae",
    "ya29.access-token-two-c91d",
    "1//refresh-token-two-0f4e",
    "authorization-code-3e9b",
];

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    jwt: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client
        .request(method, url)
        .header("accept", "application/json");
    if let Some(jwt) = jwt {
        request = request.bearer_auth(jwt);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_a_database_column_in_plain_text() {
    let provider = MockServer::start().await;
    let server = TestApp::builder()
        .oauth_provider(&provider.uri())
        .with_config(|config| config.debug = true)
        .spawn_binary()
        .await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    use reqwest::Method;

    call(&http, Method::POST, format!("{base}/api/v1/auth/register"), None,
        Some(json!({"username": "owner", "email": "o@example.com", "password": "correct horse battery"}))).await;
    server
        .db
        .exec("UPDATE users SET role = 'admin' WHERE username = 'owner'")
        .await;
    let (_, login) = call(
        &http,
        Method::POST,
        format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"username": "owner", "password": "correct horse battery"})),
    )
    .await;
    let jwt = login["data"]["access_token"].as_str().unwrap().to_owned();
    let (status, client) = call(&http, Method::POST, format!("{base}/api/v1/oauth-clients"), Some(&jwt),
        Some(json!({"client_id": "client-id-public", "client_secret": SECRETS[0], "redirect_uri": format!("{base}/api/v1/oauth/callback")}))).await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let (_, branch) = call(
        &http,
        Method::POST,
        format!("{base}/api/v1/branches"),
        Some(&jwt),
        Some(json!({"branch_id": "b1", "name": "B1", "client_id": client["data"]["id"]})),
    )
    .await;
    let branch = branch["data"]["id"].as_str().unwrap().to_owned();
    let (_, started) = call(
        &http,
        Method::POST,
        format!("{base}/api/v1/branches/{branch}/oauth/start"),
        Some(&jwt),
        Some(json!({})),
    )
    .await;
    let auth_url = url::Url::parse(started["data"]["auth_url"].as_str().unwrap()).unwrap();
    let state = auth_url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();

    Mock::given(method("POST")).and(path("/token")).and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": SECRETS[1], "refresh_token": SECRETS[2], "token_type": "Bearer", "expires_in": 3600})))
        .mount(&provider).await;
    Mock::given(method("POST")).and(path("/token")).and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": SECRETS[3], "refresh_token": SECRETS[4], "token_type": "Bearer", "expires_in": 3600})))
        .mount(&provider).await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&provider)
        .await;

    let (status, connected) = call(
        &http,
        Method::GET,
        format!(
            "{base}/api/v1/oauth/callback?code={}&state={state}",
            SECRETS[5]
        ),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{connected}");
    let (_, token) = call(
        &http,
        Method::GET,
        format!("{base}/api/v1/branches/{branch}/token"),
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(token["data"]["access_token"], SECRETS[1]);
    let (_, refreshed) = call(
        &http,
        Method::POST,
        format!("{base}/api/v1/branches/{branch}/token/refresh"),
        Some(&jwt),
        Some(json!({})),
    )
    .await;
    assert_eq!(refreshed["data"]["access_token"], SECRETS[3]);
    // A failing refresh too: its error must not carry the refresh token either.
    provider.reset().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&provider)
        .await;
    let (status, _) = call(
        &http,
        Method::POST,
        format!("{base}/api/v1/branches/{branch}/token/refresh"),
        Some(&jwt),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The database, while it holds the grant.
    let stored = database_text(&server.db).await;
    // Positive controls: values stored in plain text are found, so the search reads the rows.
    assert!(stored.contains("needs_reauth") && stored.contains("client-id-public"));
    for secret in SECRETS {
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            !stored.contains(secret) && !stored.contains(&hex),
            "{secret} is stored in plain text"
        );
    }

    let (status, _) = call(
        &http,
        Method::DELETE,
        format!("{base}/api/v1/branches/{branch}/connection"),
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (logs, _) = server.stop().await;
    let logs = logs.join("\n");
    assert!(
        logs.contains("branch connected") && logs.contains("oauth/callback"),
        "debug logs were captured"
    );
    for secret in SECRETS.iter().chain([&state.as_str()]) {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
}

/// Everything the database holds, as one searchable text.
async fn database_text(db: &TestDb) -> String {
    if db.is_postgres() {
        let tables = db
            .strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()")
            .await;
        let mut text = String::new();
        for table in tables {
            for row in db
                .strings(&format!("SELECT CAST(t AS TEXT) FROM {table} t"))
                .await
            {
                text.push_str(&row);
                text.push('\n');
            }
        }
        text
    } else {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(db.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                bytes.extend(std::fs::read(&path).unwrap());
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
