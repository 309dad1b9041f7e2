//! The console's error pages: whatever goes wrong, a browser gets a page in the console's look
//! with the right status, never raw JSON — a page that panics (500), a method a page does not
//! take (405), the database going away (503).

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use reqwest::{Response, StatusCode};

use super::signed_in;
use crate::support::TestApp;

async fn assert_console_page(response: Response, status: StatusCode, says: &str) {
    assert_eq!(response.status(), status);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(
        response.headers()[CONTENT_SECURITY_POLICY],
        "default-src 'self'; frame-ancestors 'none'"
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains("href=\"/console.css\""),
        "in the console's look: {html}"
    );
    assert!(html.contains(says), "{says} missing from {html}");
}

#[tokio::test]
async fn a_page_that_panics_is_the_consoles_500_page() {
    use axum::routing::get;

    let app = TestApp::spawn().await;
    async fn panics() -> &'static str {
        panic!("a page bug")
    }
    let pages = tessera::console::in_console_look(axum::Router::new().route("/boom", get(panics)))
        .with_state(app.state.clone());
    let served = tessera::router::with_middleware(pages, app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            served.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let answer = reqwest::get(format!("{base}/boom")).await.unwrap();
    assert_console_page(
        answer,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side",
    )
    .await;
}

#[tokio::test]
async fn a_method_a_page_does_not_take_is_a_console_page() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let answer = browser
        .post("/tokens/new", &origin, &[("csrf", &csrf)])
        .await;
    assert!(answer.headers().contains_key("allow"));
    assert_console_page(
        answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "cannot be used that way",
    )
    .await;
}

#[tokio::test]
async fn the_database_going_away_is_the_consoles_unavailable_page() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (mut browser, _) = signed_in(&app, "alice").await;
    app.state.store.close().await;
    for path in ["/", "/tokens", "/fcs"] {
        let answer = browser.get(path).await;
        assert_console_page(
            answer,
            StatusCode::SERVICE_UNAVAILABLE,
            "database is unavailable",
        )
        .await;
    }
}
