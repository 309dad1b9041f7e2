//! Health, readiness, headers, the rate limit and the API documents.

use std::time::Duration;

use crate::support::TestApp;
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
    let app = TestApp::builder().rate_limit(3).spawn().await;
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
    let app = TestApp::builder()
        .rate_limit(3)
        .trust_loopback_proxy()
        .spawn()
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
    let jwt = app.user("alice").create().await.jwt;
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

/// Reads until the server closes the connection; `None` if it is still open after `guard`.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, guard: Duration) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    match tokio::time::timeout(guard, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(answer),
        Err(_) => None,
    }
}

/// A client that never finishes its request head is disconnected after the header-read timeout
/// (slowloris); a prompt one on the next connection is served. The setting (1 s) is far from
/// hyper's own default (30 s), so the guard (5 s) shows the setting is what applies.
#[tokio::test]
async fn a_slow_request_head_is_disconnected_after_the_header_read_timeout() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::builder()
        .with_config(|config| {
            config.header_read_timeout_seconds = 1;
        })
        .spawn()
        .await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("the server closed the slow connection");
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "never served"
    );
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);
}

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// An HTTP/2 HEADERS frame on stream 1 asking `GET http://localhost/health` (HPACK: `:method GET`,
/// `:scheme http` from the static table, `:authority` and `:path` as literals), ending the stream.
fn h2_get_health() -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x41, 9];
    block.extend_from_slice(b"localhost");
    block.extend_from_slice(&[0x44, 7]);
    block.extend_from_slice(b"/health");
    let mut frame = vec![0, 0, block.len() as u8, 0x1, 0x5, 0, 0, 0, 1];
    frame.extend_from_slice(&block);
    frame
}

/// The frame types (with their stream ids) in a byte stream from an HTTP/2 server.
fn h2_frames(mut bytes: &[u8]) -> Vec<(u8, u32, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 9 {
        let length =
            usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        let stream = u32::from_be_bytes([bytes[5] & 0x7f, bytes[6], bytes[7], bytes[8]]);
        let payload = bytes[9..].get(..length).unwrap_or_default().to_vec();
        frames.push((bytes[3], stream, payload));
        bytes = &bytes[(9 + length).min(bytes.len())..];
    }
    frames
}

/// `MAX_CONNECTIONS` silent sockets (some only sent the HTTP/2 preface) cannot keep the server
/// from taking connections: each is closed at the header-read timeout from connect, and a real
/// request queued behind them is served within that timeout plus one second.
#[tokio::test]
async fn silent_connections_filling_every_slot_are_closed_at_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::builder()
        .with_config(|config| {
            config.max_connections = 16;
            config.header_read_timeout_seconds = 2;
        })
        .spawn()
        .await;
    let mut silent = Vec::new();
    for n in 0..16 {
        let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        if n % 2 == 0 {
            socket.write_all(H2_PREFACE).await.unwrap();
        }
        silent.push(socket);
    }
    let served = tokio::time::timeout(Duration::from_secs(3), app.get("/health", None))
        .await
        .expect("a real request is served within the header timeout plus one second");
    assert_eq!(served.status, StatusCode::OK);
    for socket in &mut silent {
        assert!(read_until_closed(socket, Duration::from_secs(5))
            .await
            .is_some());
    }
}

/// A kept-alive HTTP/1.1 connection with no request in flight is closed after
/// `IDLE_TIMEOUT_SECONDS` (here 1 s; the header-read timeout, which hyper also applies between
/// requests, is 30 s, beyond the guard).
#[tokio::test]
async fn an_idle_http1_connection_is_closed_after_the_idle_timeout() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::builder()
        .with_config(|config| {
            config.header_read_timeout_seconds = 30;
            config.idle_timeout_seconds = 1;
        })
        .spawn()
        .await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut socket, Duration::from_secs(10))
        .await
        .expect("the idle connection was closed");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

/// The same on HTTP/2: served, then closed once idle.
#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::builder()
        .with_config(|config| {
            config.header_read_timeout_seconds = 30;
            config.idle_timeout_seconds = 1;
        })
        .spawn()
        .await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(H2_PREFACE).await.unwrap();
    socket.write_all(&h2_get_health()).await.unwrap();
    let answer = read_until_closed(&mut socket, Duration::from_secs(10))
        .await
        .expect("the idle connection was closed");
    let frames = h2_frames(&answer);
    let status_200 = frames.iter().any(|(kind, stream, payload)| {
        *kind == 0x1 && *stream == 1 && payload.first() == Some(&0x88)
    });
    assert!(status_200, "stream 1 answered 200: {frames:?}");
}

/// An HTTP/2 peer that stops answering pings is dropped after `HTTP2_KEEPALIVE_SECONDS` twice
/// (a ping after that much silence, then that long for its answer), long before the idle timeout.
#[tokio::test]
async fn an_http2_peer_that_ignores_pings_is_dropped() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::builder()
        .with_config(|config| {
            config.header_read_timeout_seconds = 30;
            config.idle_timeout_seconds = 600;
            config.http2_keepalive_seconds = 1;
        })
        .spawn()
        .await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(H2_PREFACE).await.unwrap();
    socket.write_all(&h2_get_health()).await.unwrap();
    let answer = read_until_closed(&mut socket, Duration::from_secs(10))
        .await
        .expect("the silent peer was dropped");
    let pinged = h2_frames(&answer).iter().any(|(kind, _, _)| *kind == 0x6);
    assert!(pinged, "the server pinged first");
}

/// With `MAX_CONNECTIONS=1`, a second connection is not served while the first is open, and is
/// served as soon as the first closes.
#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::builder()
        .with_config(|config| config.max_connections = 1)
        .spawn()
        .await;
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    first.write_all(request).await.unwrap();
    let mut buffer = [0u8; 1024];
    let read = first.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));

    let mut second = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    second.write_all(request).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(500), second.read(&mut buffer)).await;
    assert!(waiting.is_err(), "served while the only slot was taken");
    drop(first);
    let read = tokio::time::timeout(Duration::from_secs(30), second.read(&mut buffer))
        .await
        .expect("served once the slot was free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
}

/// Shutdown waits for in-flight requests only until the deadline: a request that never ends
/// cannot hold the process.
#[tokio::test]
async fn shutdown_closes_what_is_still_open_at_the_deadline() {
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let handler_entered = entered.clone();
    let routes = axum::Router::new().route(
        "/hangs",
        axum::routing::get(move || {
            handler_entered.notify_one();
            std::future::pending::<&'static str>()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = tessera::server::ServeLimits {
        max_connections: 8,
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        http2_keepalive: Duration::from_secs(20),
        shutdown_deadline: Duration::from_secs(1),
    };
    let server = tokio::spawn(tessera::server::serve_router(
        listener,
        routes,
        limits,
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let hanging = tokio::spawn(client.get(format!("http://{addr}/hangs")).send());
    entered.notified().await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stopped at the deadline")
        .unwrap();
    assert!(
        hanging.await.unwrap().is_err(),
        "the hanging request was cut off"
    );
}

/// Every operation in the document, as (method, path with its path parameters filled in, the
/// operation object).
fn documented_operations(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let mut filled = path.clone();
            while let (Some(open), Some(close)) = (filled.find('{'), filled.find('}')) {
                filled.replace_range(open..=close, &uuid::Uuid::now_v7().to_string());
            }
            operations.push((method.to_uppercase(), filled, operation.clone()));
        }
    }
    operations
}

/// The statuses the document adds to every operation from its traits are the statuses the
/// router gives: 429 exactly where the rate limit applies, 401 on every secured operation.
#[tokio::test]
async fn shared_statuses_in_the_document_match_the_router() {
    let app = TestApp::builder().rate_limit(1).spawn().await;
    let doc = app.get("/openapi.json", None).await.body;
    // The one request of the minute.
    app.get("/api/v1/workspaces", None).await;
    for (method, path, operation) in documented_operations(&doc) {
        let reply = app
            .client
            .request(crate::support::method(&method), app.url(&path))
            .send()
            .await
            .unwrap();
        let documented = operation["responses"].get("429").is_some();
        assert_eq!(
            reply.status() == StatusCode::TOO_MANY_REQUESTS,
            documented,
            "{method} {path}: {} (429 documented: {documented})",
            reply.status()
        );
    }

    let app = TestApp::spawn().await;
    for (method, path, operation) in documented_operations(&doc) {
        let secured = operation["security"]
            .as_array()
            .is_some_and(|requirements| !requirements.is_empty());
        if !secured {
            continue;
        }
        assert!(
            operation["responses"].get("401").is_some(),
            "{method} {path}"
        );
        let mut request = app
            .client
            .request(crate::support::method(&method), app.url(&path));
        if operation["requestBody"]["content"]
            .get("application/json")
            .is_some()
        {
            request = request.json(&json!({}));
        }
        let reply = request.send().await.unwrap();
        assert_eq!(
            reply.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
    }
}

/// ReDoc beside Swagger UI: the page, its boot script and the bundle, from the binary, under a
/// CSP that allows no inline script. Needs `.merge(openapi::redoc_routes())` in `app::router`.
#[tokio::test]
async fn redoc_page_and_bundle_are_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/redoc")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from {csp}"))
            .to_owned()
    };
    assert_eq!(directive("script-src"), "script-src 'self'");
    assert_eq!(directive("connect-src"), "connect-src 'self'");
    assert_eq!(directive("worker-src"), "worker-src blob:");
    assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("<script").count(), 2, "{html}");
    assert_eq!(html.matches("<script src=\"/redoc/").count(), 2, "{html}");

    let init = app
        .client
        .get(app.url("/redoc/init.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), StatusCode::OK);
    assert!(init
        .text()
        .await
        .unwrap()
        .contains("Redoc.init(\"/openapi.json\""));

    let bundle = app
        .client
        .get(app.url("/redoc/redoc.standalone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(bundle.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let bundle = bundle.text().await.unwrap();
    assert!(bundle.contains("\"2.5.4\""), "the pinned ReDoc version");
    // Nothing is loaded from off the host: the one CDN image is replaced.
    assert!(!bundle.contains("cdn.redoc.ly"));
    assert!(bundle.len() > 1_000_000);
    let licenses = app
        .client
        .get(app.url("/redoc/redoc.standalone.js.LICENSE.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(licenses.status(), StatusCode::OK);
}

/// A panic in a layer outside every other one (here: wrapped around the app's whole stack) is
/// still answered, by the server loop: 500 in the envelope, the connection kept.
#[tokio::test]
async fn a_panic_in_any_layer_is_a_500_in_the_envelope_not_a_dropped_connection() {
    async fn panicking_layer(
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        if request.uri().path() == "/health" {
            return next.run(request).await;
        }
        panic!("a layer bug")
    }
    let app = TestApp::spawn().await;
    let routes = tessera::router::router(app.state.clone())
        .layer(axum::middleware::from_fn(panicking_layer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = tessera::server::ServeLimits::from_config(&app.state.config);
    tokio::spawn(tessera::server::serve_router(
        listener,
        routes,
        limits,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let reply = client
        .get(format!("http://{addr}/api/v1/workspaces"))
        .send()
        .await
        .expect("answered, not dropped");
    assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": false, "error": "Internal Server Error", "message": "Internal server error"})
    );
    // The same connection pool still serves.
    let health = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
