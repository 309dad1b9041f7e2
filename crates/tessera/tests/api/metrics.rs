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
        .starts_with("text/plain; version=0.0.4"));
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
        sample(&text, "db_client_connection_count{state=\"idle\"}").is_some(),
        "{text}"
    );
    server.stop().await;
}
