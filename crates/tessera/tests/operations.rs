//! Health, readiness, headers, the rate limit and the API documents.

mod common;

use std::time::Duration;

use common::{TestApp, TestOptions};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn health_and_ready_answer_exactly() {
    let app = TestApp::spawn().await;
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);
    let ready = app.get("/ready", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body, json!({"status": "ready"}));
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    for path in ["/health", "/api/v1/workspaces", "/nope"] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
        assert_eq!(reply.header("x-frame-options"), "DENY");
        assert_eq!(reply.header("referrer-policy"), "no-referrer");
        assert!(reply
            .header("content-security-policy")
            .contains("default-src 'none'"));
        assert_eq!(reply.header("x-request-id").len(), 36, "{path}");
    }
    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn rate_limit_refuses_with_retry_after_and_recovers() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 3,
        ..Default::default()
    })
    .await;
    for remaining in [2, 1, 0] {
        let reply = app.get("/api/v1/workspaces", None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.header("x-ratelimit-limit"), "3");
        assert_eq!(reply.header("x-ratelimit-remaining"), remaining.to_string());
        assert_eq!(reply.header("ratelimit-policy"), "3;w=60");
    }
    let limited = app.get("/api/v1/workspaces", None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.header("retry-after").parse().unwrap();
    assert!(
        (19..=20).contains(&retry_after),
        "one request per 20 s refills: {retry_after}"
    );
    assert_eq!(
        limited.body,
        json!({"success": false, "error": "Too Many Requests", "data": {"retry_after": retry_after}})
    );
    // Health is not rate limited.
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);

    app.clock.advance(Duration::from_secs(retry_after - 1));
    assert_eq!(
        app.get("/api/v1/workspaces", None).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "not before Retry-After"
    );
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(
        app.get("/api/v1/workspaces", None).await.status,
        StatusCode::UNAUTHORIZED,
        "allowed again after Retry-After"
    );
    app.clock.advance(Duration::from_secs(60));
    for _ in 0..3 {
        assert_ne!(
            app.get("/api/v1/auth/login", None).await.status,
            StatusCode::TOO_MANY_REQUESTS,
            "a full window later, a full burst"
        );
    }
    assert_eq!(
        app.get("/api/v1/auth/login", None).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// One IPv6 client rotating through its /64 shares one budget; another /64 has its own.
#[tokio::test]
async fn rate_limit_counts_an_ipv6_client_by_its_64() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 3,
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..Default::default()
    })
    .await;
    let from = |client: String| {
        app.client
            .get(app.url("/api/v1/workspaces"))
            .header("x-forwarded-for", client)
            .send()
    };
    for n in 0..3 {
        let reply = from(format!("2001:db8:1:2:{n:x}::1")).await.unwrap();
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    }
    let rotated = from("2001:db8:1:2:dead:beef:0:1".into()).await.unwrap();
    assert_eq!(rotated.status(), StatusCode::TOO_MANY_REQUESTS);
    let neighbour = from("2001:db8:1:3::1".into()).await.unwrap();
    assert_eq!(neighbour.status(), StatusCode::UNAUTHORIZED);
    let ipv4 = from("192.0.2.1".into()).await.unwrap();
    assert_eq!(ipv4.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn openapi_document_and_docs_page_are_served() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    for (method, path) in [
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/tokens"),
        ("get", "/api/v1/tokens"),
        ("get", "/api/v1/tokens/{id}"),
        ("delete", "/api/v1/tokens/{id}"),
        ("post", "/api/v1/tokens/{id}/regenerate"),
        ("get", "/api/v1/tokens/{id}/logs"),
        ("get", "/api/v1/workspaces"),
        ("put", "/api/v1/workspacess/{id}/settings"),
        ("put", "/api/v1/users/me"),
        ("get", "/health"),
        ("get", "/ready"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the document"
        );
    }
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui-bundle.js"));
    let bundle = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
}

/// Bodies are compressed when the client asks (gzip, br, zstd), decode to the same JSON, and tiny
/// bodies are sent as they are.
#[tokio::test]
async fn responses_are_compressed_when_asked_and_tiny_ones_are_not() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").await;
    let (_, pat) = app.pat(&jwt, &["fcs:read"]).await;
    let events = |encoding: Option<&'static str>| {
        let mut request = app
            .client
            .get(app.url("/api/v1/fcs/events?limit=2000"))
            .bearer_auth(&pat);
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        request.send()
    };
    let plain = events(None).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();

    let gzipped = events(Some("gzip")).await.unwrap();
    assert_eq!(gzipped.status(), StatusCode::OK);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let compressed = gzipped.bytes().await.unwrap();
    assert!(
        compressed.len() * 2 < plain.len(),
        "{} of {}",
        compressed.len(),
        plain.len()
    );
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);

    for encoding in ["br", "zstd"] {
        let reply = events(Some(encoding)).await.unwrap();
        assert_eq!(reply.headers()["content-encoding"], encoding);
    }
    let health = app
        .client
        .get(app.url("/health"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(health.headers().get("content-encoding").is_none());
}
