//! Issue 15's metrics, first step: `/metrics` in the Prometheus text format on a listener of its
//! own (`METRICS_ADDR`), never on the public port; the request histogram moves by what a load did.

use crate::support::TestApp;

/// The value of the sample line that starts with `series` (name and labels, exactly).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn the_metrics_listener_counts_requests_by_route_template_and_status() {
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestApp::builder()
        .with_config(|config| {
            config.metrics_addr = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap())
        })
        .spawn_binary()
        .await;
    let http = reqwest::Client::new();
    for id in [
        "0190a0b0-0000-7000-8000-000000000001",
        "0190a0b0-0000-7000-8000-000000000002",
    ] {
        let refused = http
            .get(format!("{}/api/v1/tokens/{id}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
    }
    let health = http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let public = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "never on the public port");

    let scrape = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(scrape.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let text = scrape.text().await.unwrap();
    assert!(
        text.contains("# TYPE http_server_request_duration_seconds histogram"),
        "{text}"
    );
    let tokens = "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/api/v1/tokens/{id}\",http_response_status_code=\"401\"}";
    assert_eq!(sample(&text, tokens), Some(2.0), "{text}");
    let health = "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/health\",http_response_status_code=\"200\"}";
    assert_eq!(sample(&text, health), Some(1.0), "{text}");
    let unmatched = "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"unmatched\",http_response_status_code=\"404\"}";
    assert_eq!(
        sample(&text, unmatched),
        Some(1.0),
        "the raw path never becomes a label: {text}"
    );
    assert!(
        sample(&text, "db_client_connections_usage{state=\"idle\"}").is_some(),
        "{text}"
    );
    server.stop().await;
}

/// The scrape (OpenMetrics) in the classic text format promtool lints: a counter family `x` is
/// described as `x_total` there, and there is no `# EOF`.
fn classic(openmetrics: &str) -> String {
    let counters: Vec<String> = openmetrics
        .lines()
        .filter_map(|line| {
            line.strip_prefix("# TYPE ")?
                .strip_suffix(" counter")
                .map(str::to_owned)
        })
        .collect();
    openmetrics
        .lines()
        .filter(|line| *line != "# EOF")
        .map(|line| {
            for family in &counters {
                for keyword in ["# HELP ", "# TYPE "] {
                    let head = format!("{keyword}{family} ");
                    if let Some(rest) = line.strip_prefix(&head) {
                        return format!("{keyword}{family}_total {rest}\n");
                    }
                }
            }
            format!("{line}\n")
        })
        .collect()
}

/// `promtool check metrics` on a scrape: the exposition parses and follows Prometheus's naming
/// rules. Required where scripts/test.sh runs (it installs Debian's prometheus).
fn promtool_accepts(openmetrics: &str) {
    let text = classic(openmetrics);
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var("TESSERA_REQUIRE_PROMTOOL").is_err(),
            "promtool is missing: scripts/test.sh installs Debian's prometheus"
        );
        eprintln!("SKIPPED: promtool is not installed");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_counters_move_by_what_a_load_did_and_promtool_accepts_the_scrape() {
    use crate::support::receiver::Receiver;
    use serde_json::json;
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::builder()
        .with_config(|config| {
            config.metrics_addr = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap());
            config.webhook_delivery = true;
            config.webhook_poll_interval_ms = 20;
        })
        .spawn()
        .await;
    let scrape = || async {
        reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // The in-process app binds the metrics listener as it starts serving, just after `spawn`
    // returns: the first scrape waits for it (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", metrics_port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the metrics listener never bound"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before = scrape().await;
    promtool_accepts(&before);

    let ana = app.user("ana").create().await;
    for _ in 0..2 {
        let refused = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "ana", "password": "not it at all"}),
            )
            .await;
        assert_eq!(refused.status, reqwest::StatusCode::UNAUTHORIZED);
    }
    let (_, pat) = app.pat(&ana.jwt, &["users:read"]).await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/api/v1/users/me", Some(&pat)).await.status,
            reqwest::StatusCode::OK
        );
    }
    let mut receiver = Receiver::start().await;
    let made = app
        .post(
            "/api/v1/webhooks",
            Some(&ana.jwt),
            json!({"url": receiver.url, "events": ["*"]}),
        )
        .await;
    let id = made.data()["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/webhooks/{id}/test"),
        Some(&ana.jwt),
        json!({}),
    )
    .await;
    receiver.next().await;
    // The attempt is counted once its outcome is written, just after the receiver answered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        let text = scrape().await;
        if sample(&text, "tessera_webhook_attempts_total{kind=\"delivered\"}") == Some(1.0) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    promtool_accepts(&after);
    let moved = |series: &str| {
        sample(&after, series).unwrap_or(0.0) - sample(&before, series).unwrap_or(0.0)
    };
    assert_eq!(moved("tessera_login_failures_total"), 2.0, "{after}");
    assert!(
        moved("tessera_cache_lookups_total{cache=\"pat\",result=\"hit\"}") >= 2.0,
        "{after}"
    );
    assert!(
        moved("tessera_cache_lookups_total{cache=\"pat\",result=\"miss\"}") >= 1.0,
        "{after}"
    );
    assert!(
        sample(&after, "tessera_audit_batch_entries_count").unwrap_or(0.0) >= 1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "tessera_oauth_connections{kind=\"active\"}"),
        Some(0.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "tessera_webhook_pending_deliveries"),
        Some(0.0),
        "{after}"
    );
    assert!(
        sample(&after, "tessera_audit_queue_entries").is_some(),
        "{after}"
    );
    assert!(
        sample(&after, "tessera_password_hashing_jobs").is_some(),
        "{after}"
    );
    assert!(
        sample(&after, "tessera_fcs_cache_bytes").is_some(),
        "{after}"
    );
}
