//! Bad input gets the envelope with the right status and a message a person can act on; nothing
//! answers 500 and nothing stored changes.

use crate::support::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::types::Role;

async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    jwt: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> crate::support::Reply {
    let mut request = app
        .client
        .request(crate::support::method(method), app.url(path))
        .body(body.to_owned());
    if let Some(jwt) = jwt {
        request = request.bearer_auth(jwt);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    TestApp::reply(request.send().await.unwrap()).await
}

fn assert_envelope(reply: &crate::support::Reply, status: StatusCode, message_part: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.body["success"], false);
    assert_eq!(reply.body["error"], status.canonical_reason().unwrap());
    assert!(
        reply
            .message()
            .to_lowercase()
            .contains(&message_part.to_lowercase()),
        "message {:?} should mention {message_part:?}",
        reply.message()
    );
}

#[tokio::test]
async fn token_creation_rejects_bad_bodies_and_stores_nothing() {
    let app = TestApp::builder()
        .with_config(|config| config.max_body_bytes = 4096)
        .spawn()
        .await;
    let jwt = app.user("alice").create().await.jwt;
    let json = Some("application/json");
    let cases: Vec<(Option<&str>, String, StatusCode, &str)> = vec![
        (json, "{\"name\": ".into(), StatusCode::BAD_REQUEST, "json"),
        (json, "{\"name\" 1}".into(), StatusCode::BAD_REQUEST, "json"),
        (json, "{\"name\": 5, \"scopes\": [\"fcs:read\"]}".into(), StatusCode::UNPROCESSABLE_ENTITY, "name"),
        (json, "{\"scopes\": [\"fcs:read\"]}".into(), StatusCode::UNPROCESSABLE_ENTITY, "name"),
        (json, "{\"name\": \"x\"}".into(), StatusCode::UNPROCESSABLE_ENTITY, "scopes"),
        (json, "{\"name\": \"x\", \"scopes\": \"fcs:read\"}".into(), StatusCode::UNPROCESSABLE_ENTITY, "scopes"),
        (json, "{\"name\": \"x\", \"scopes\": []}".into(), StatusCode::UNPROCESSABLE_ENTITY, "at least one scope"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:fly\", \"admin\"]}".into(), StatusCode::UNPROCESSABLE_ENTITY, "unknown scope(s): fcs:fly, admin"),
        (json, "{\"name\": \"   \", \"scopes\": [\"fcs:read\"]}".into(), StatusCode::UNPROCESSABLE_ENTITY, "name must not be empty"),
        (json, format!("{{\"name\": \"{}\", \"scopes\": [\"fcs:read\"]}}", "n".repeat(101)), StatusCode::UNPROCESSABLE_ENTITY, "at most 100"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_in_days\": 0}".into(), StatusCode::UNPROCESSABLE_ENTITY, "expires_in_days"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_in_days\": 366}".into(), StatusCode::UNPROCESSABLE_ENTITY, "expires_in_days"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_in_days\": -5}".into(), StatusCode::UNPROCESSABLE_ENTITY, "expires_in_days"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_in_days\": 99999999999999999999}".into(), StatusCode::UNPROCESSABLE_ENTITY, "expires_in_days"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_at\": \"tomorrow\"}".into(), StatusCode::UNPROCESSABLE_ENTITY, "expires_at"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_at\": \"2001-01-01T00:00:00Z\"}".into(), StatusCode::UNPROCESSABLE_ENTITY, "future"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_at\": \"2999-01-01T00:00:00Z\"}".into(), StatusCode::UNPROCESSABLE_ENTITY, "within 365"),
        // In year 10000 once in UTC: refused before any arithmetic (it was a panic, a 500).
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_at\": \"9999-12-31T23:59:59-01:00\"}".into(), StatusCode::UNPROCESSABLE_ENTITY, "expires_at"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_at\": \"0000-01-01T00:00:00+23:59\"}".into(), StatusCode::UNPROCESSABLE_ENTITY, "expires_at"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_in_days\": 5, \"expires_at\": \"2999-01-01T00:00:00Z\"}".into(), StatusCode::UNPROCESSABLE_ENTITY, "not both"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"expires_in_dayz\": 5}".into(), StatusCode::UNPROCESSABLE_ENTITY, "unknown field"),
        (json, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"], \"allowed_ips\": []}".into(), StatusCode::UNPROCESSABLE_ENTITY, "allowed_ips"),
        (json, format!("{{\"name\": \"{}\", \"scopes\": [\"fcs:read\"]}}", "n".repeat(10_000)), StatusCode::PAYLOAD_TOO_LARGE, "larger"),
        (Some("text/plain"), "{\"name\": \"x\", \"scopes\": [\"fcs:read\"]}".into(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type"),
        (None, "{\"name\": \"x\", \"scopes\": [\"fcs:read\"]}".into(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type"),
    ];
    for (content_type, body, status, part) in cases {
        let reply = raw(
            &app,
            "POST",
            "/api/v1/tokens",
            Some(&jwt),
            content_type,
            &body,
        )
        .await;
        assert_envelope(&reply, status, part);
    }
    let list = app.get("/api/v1/tokens", Some(&jwt)).await;
    assert_eq!(list.data()["total"], 0, "no bad request stored anything");
}

#[tokio::test]
async fn ids_limits_and_offsets_are_checked() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (id, _) = app.pat(&jwt, &["fcs:read"]).await;
    for path in [
        "/api/v1/tokens/not-a-uuid",
        "/api/v1/tokens/123/logs",
        "/api/v1/tokens/%00",
    ] {
        assert_envelope(
            &app.get(path, Some(&jwt)).await,
            StatusCode::BAD_REQUEST,
            "uuid",
        );
    }
    assert_envelope(
        &app.delete("/api/v1/tokens/nope", Some(&jwt)).await,
        StatusCode::BAD_REQUEST,
        "uuid",
    );
    let missing = uuid::Uuid::now_v7();
    assert_envelope(
        &app.get(&format!("/api/v1/tokens/{missing}"), Some(&jwt))
            .await,
        StatusCode::NOT_FOUND,
        "not found",
    );
    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=-1",
        "?offset=-1",
        "?limit=99999999999999",
    ] {
        let reply = app.logs(&jwt, &id, query).await;
        assert_envelope(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            if query.contains("offset") {
                "offset"
            } else {
                "limit"
            },
        );
    }
    // Values the query extractor cannot parse (not a number, a fraction, beyond i64) are bad
    // values like the others: 422 naming the parameter.
    for (query, parameter) in [
        ("?limit=abc", "limit"),
        ("?offset=1.5", "offset"),
        ("?limit=99999999999999999999999", "limit"),
        ("?limit=99999999999999999999", "limit"),
    ] {
        assert_envelope(
            &app.logs(&jwt, &id, query).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("query parameter {parameter}"),
        );
    }
    assert_eq!(
        app.logs(&jwt, &id, "?limit=1000&offset=0").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn query_values_beyond_their_type_are_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").role(Role::Admin).create().await.jwt;
    let (id, _) = app.pat(&jwt, &["fcs:read"]).await;
    // One past i64::MAX does not parse; i64::MAX parses and is refused by the range check.
    for per_page in [
        "9223372036854775808",
        "9223372036854775807",
        "-9223372036854775809",
    ] {
        let reply = app
            .get(
                &format!("/api/v1/beneficiaries?per_page={per_page}"),
                Some(&jwt),
            )
            .await;
        assert_envelope(&reply, StatusCode::UNPROCESSABLE_ENTITY, "per_page");
    }
    let reply = app.logs(&jwt, &id, "?limit=99999999999999999999").await;
    assert_envelope(&reply, StatusCode::UNPROCESSABLE_ENTITY, "limit");
    // The same route still answers a good page.
    assert_eq!(
        app.get("/api/v1/beneficiaries?per_page=100", Some(&jwt))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bearer_garbage_and_wrong_kinds_of_token_are_invalid_tokens() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, pat) = app.pat(&jwt, &["workspaces:read"]).await;
    let bad_headers: Vec<String> = vec![
        "Bearer".into(),
        "Bearer ".into(),
        "Bearer a.b.c".into(),
        format!("Bearer {}", "x".repeat(5000)),
        format!("Token {jwt}"),
        format!("Bearer {pat}"),
    ];
    for header in &bad_headers {
        let reply = app
            .client
            .get(app.url("/api/v1/tokens"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        let reply = TestApp::reply(reply).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(reply.message(), "Invalid token");
    }
    let non_ascii = app
        .client
        .get(app.url("/api/v1/workspaces"))
        .header("authorization", b"Bearer \xff\xfe".as_slice())
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::reply(non_ascii).await.message(), "Invalid token");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    assert_envelope(
        &app.get("/nope", None).await,
        StatusCode::NOT_FOUND,
        "no route",
    );
    assert_envelope(
        &app.get("/api/v1/nope", None).await,
        StatusCode::NOT_FOUND,
        "/api/v1/nope",
    );
    assert_envelope(
        &app.request(
            crate::support::method("PATCH"),
            "/api/v1/workspaces",
            None,
            None,
        )
        .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method",
    );
    assert_envelope(
        &app.request(
            crate::support::method("PUT"),
            "/api/v1/tokens",
            Some(&jwt),
            None,
        )
        .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method",
    );
    assert_envelope(
        &app.request(crate::support::method("DELETE"), "/health", None, None)
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method",
    );
}

#[tokio::test]
async fn registration_and_login_validate_every_field() {
    let app = TestApp::spawn().await;
    let good =
        json!({"username": "alice", "email": "alice@example.com", "password": "correct horse"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let cases = vec![
        (with("username", json!("al")), "username"),
        (with("username", json!("a".repeat(51))), "username"),
        (with("username", json!("al ice")), "username"),
        (with("username", json!("ålice")), "username"),
        (with("email", json!("not-an-email")), "email"),
        (
            with("email", json!(format!("{}@example.com", "a".repeat(250)))),
            "email",
        ),
        (with("password", json!("short")), "password"),
        (with("password", json!("p".repeat(257))), "password"),
        (with("password", json!(12345678)), "password"),
        (
            json!({"username": "alice", "password": "correct horse"}),
            "email",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post("/api/v1/auth/register", None, body.clone()).await;
        assert_envelope(&reply, StatusCode::UNPROCESSABLE_ENTITY, field);
    }
    assert_eq!(
        app.post("/api/v1/auth/register", None, good.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    let taken = app
        .post(
            "/api/v1/auth/register",
            None,
            with("username", json!("ALICE")).clone(),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let same_name = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "Alice", "email": "other@example.com", "password": "correct horse"}),
        )
        .await;
    assert_envelope(&same_name, StatusCode::CONFLICT, "username already taken");
    let same_email = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "other", "email": "ALICE@example.com", "password": "correct horse"}),
        )
        .await;
    assert_envelope(
        &same_email,
        StatusCode::CONFLICT,
        "email already registered",
    );

    let wrong_password = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice", "password": "wrong horse"}),
        )
        .await;
    let unknown_user = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "nobody", "password": "correct horse"}),
        )
        .await;
    for reply in [&wrong_password, &unknown_user] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.body,
            json!({"success": false, "error": "Unauthorized", "message": "Invalid credentials"})
        );
    }
    let by_email = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "alice@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(by_email.status, StatusCode::OK);
    assert_eq!(by_email.data()["token_type"], "bearer");
    assert_eq!(by_email.data()["expires_in"], 900);
    assert_envelope(
        &app.post("/api/v1/auth/login", None, json!({"username": "alice"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "password",
    );
}

#[tokio::test]
async fn echoed_values_are_cut_to_a_readable_length() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let long = "x".repeat(5000);
    let reply = app
        .post(
            "/api/v1/tokens",
            Some(&jwt),
            json!({"name": "x", "scopes": [long]}),
        )
        .await;
    assert_envelope(&reply, StatusCode::UNPROCESSABLE_ENTITY, "unknown scope");
    assert!(
        reply.message().len() < 600,
        "{} bytes",
        reply.message().len()
    );
    let reply = app
        .post(
            "/api/v1/tokens",
            Some(&jwt),
            json!({"name": "x", "scopes": ["fcs:read"], "allowed_ips": [long]}),
        )
        .await;
    assert_envelope(&reply, StatusCode::UNPROCESSABLE_ENTITY, "allowed_ips");
    assert!(reply.message().len() < 200);
}

#[tokio::test]
async fn nul_characters_are_refused_not_a_server_error_on_either_backend() {
    let app = TestApp::spawn().await;
    // A role that reaches case records and OAuth clients, so every body reaches validation.
    let jwt = app.user("nul").role(Role::Admin).create().await.jwt;
    let nul = "Lay\u{0}la";
    let beneficiary = json!({"national_id": "N-1", "first_name": nul, "last_name": "H",
        "date_of_birth": "2015-04-30", "gender": "female", "guardian_name": "O", "guardian_phone": "+44 20 7946 0958"});
    let validated: Vec<(reqwest::Method, &str, serde_json::Value)> = vec![
        (reqwest::Method::POST, "/api/v1/beneficiaries", beneficiary),
        (
            reqwest::Method::PUT,
            "/api/v1/auth/profile",
            json!({"first_name": nul}),
        ),
        (
            reqwest::Method::POST,
            "/api/v1/oauth-clients",
            json!({"client_id": nul, "client_secret": "s", "redirect_uri": "http://localhost/cb"}),
        ),
    ];
    for (method, path, body) in validated {
        let reply = app
            .request(method.clone(), path, Some(&jwt), Some(body))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path}: {:?}",
            reply.body
        );
        assert!(reply.message().contains("NUL"), "{}", reply.message());
    }
    // Where no validator reads the text, the answer is still a client error.
    let unvalidated = [
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"username": nul, "password": "whatever"}),
        )
        .await,
        app.get("/api/v1/beneficiaries?search=a%00b", Some(&jwt))
            .await,
        app.get("/api/v1/branches/by-branch-id/a%00b", Some(&jwt))
            .await,
        app.post(
            "/api/v1/tokens",
            Some(&jwt),
            json!({"name": nul, "scopes": ["fcs:read"]}),
        )
        .await,
    ];
    for reply in unvalidated {
        assert!(
            reply.status.is_client_error() || reply.status.is_success(),
            "{:?}",
            reply.body
        );
    }
}

/// A time column edited by hand into another RFC 3339 form (no fraction, another offset) is read
/// as the instant it names, not a 500 on every request that touches the row.
#[tokio::test]
async fn hand_edited_times_in_other_rfc3339_forms_are_read() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (id, pat) = app.pat(&jwt, &["workspaces:read"]).await;
    // Valid for a while yet, whenever the test runs: the first of January of next year.
    let next_year = time::OffsetDateTime::now_utc().year() + 1;
    app.db
        .exec(&format!(
            "UPDATE personal_access_tokens SET created_at = '2020-01-01T00:00:00Z', \
             expires_at = '{next_year}-01-01T02:00:00+02:00' WHERE id = {}",
            app.db.uuid_literal(&id)
        ))
        .await;
    let list = app.get("/api/v1/tokens", Some(&jwt)).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let token = &list.data()["tokens"][0];
    assert_eq!(token["created_at"], "2020-01-01T00:00:00Z");
    assert_eq!(token["expires_at"], format!("{next_year}-01-01T00:00:00Z"));
    let used = app.get("/api/v1/workspaces", Some(&pat)).await;
    assert_eq!(used.status, StatusCode::OK, "{:?}", used.body);
}

/// A UUID as a literal of the test's backend (SQLite stores UUIDs as 16-byte blobs).
/// SQLite busy past its busy timeout (another process holding the write lock) is a passing
/// condition: 503 with `Retry-After` in the envelope, not a 500, and nothing half-stored.
#[tokio::test]
async fn a_sqlite_write_lock_held_elsewhere_is_a_503_with_retry_after() {
    use sqlx::Connection;
    let app = TestApp::spawn().await;
    if app.db.is_postgres() {
        return; // SQLite's single write lock; PostgreSQL has row locks instead.
    }
    let mut holder = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let body = json!({"username": "blocked", "email": "blocked@example.com", "password": "correct horse battery"});
    let refused = app.post("/api/v1/auth/register", None, body.clone()).await;
    assert_envelope(&refused, StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert_eq!(refused.header("retry-after"), "1");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let created = app.post("/api/v1/auth/register", None, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
}

/// A time an operator wrote by hand with SQLite's own functions (`datetime('now', …)`, the form
/// `YYYY-MM-DD HH:MM:SS` in UTC) is read, not a 500 for every request that touches the row.
#[tokio::test]
async fn a_hand_edited_sqlite_datetime_is_read() {
    let app = TestApp::spawn().await;
    if app.db.is_postgres() {
        return; // PostgreSQL has a time type: a hand-edited value is parsed by the server.
    }
    let jwt = app.user("alice").create().await.jwt;
    let (id, pat) = app.pat(&jwt, &["workspaces:read"]).await;
    app.db
        .exec("UPDATE personal_access_tokens SET expires_at = datetime('now', '+1 day')")
        .await;
    let listed = app.get(&format!("/api/v1/tokens/{id}"), Some(&jwt)).await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let expires_at = listed.data()["expires_at"].as_str().unwrap().to_owned();
    assert!(
        expires_at.ends_with('Z') && expires_at.len() == 20,
        "{expires_at}"
    );
    let used = app.get("/api/v1/workspaces", Some(&pat)).await;
    assert_eq!(used.status, StatusCode::OK, "{:?}", used.body);
}
