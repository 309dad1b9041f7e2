//! Issue 15's console pages: `/webhooks` (register, the secret once, deliveries with a retry
//! button, test, rotate, pause, delete) and a branch's connect link.

use reqwest::StatusCode;

use super::{signed_in, Browser};
use crate::support::receiver::{verified, Receiver};
use crate::support::TestApp;

/// The `whsec_` secret a page shows.
fn secret_in(html: &str) -> String {
    let start = html.find("whsec_").expect("the secret is shown");
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '/' | '='))
        .collect()
}

async fn page(browser: &mut Browser, path: &str) -> String {
    let got = browser.get(path).await;
    assert_eq!(got.status(), StatusCode::OK, "{path}");
    got.text().await.unwrap()
}

#[tokio::test]
async fn an_endpoint_registered_in_the_console_gets_signed_events_and_shows_each_delivery() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let mut receiver = Receiver::start().await;
    assert!(
        page(&mut browser, "/").await.contains("href=\"/webhooks\""),
        "in the navigation"
    );
    assert!(page(&mut browser, "/webhooks")
        .await
        .contains("New endpoint"));

    let refused = browser
        .post(
            "/webhooks",
            &origin,
            &[
                ("csrf", &csrf),
                ("url", &receiver.url),
                ("description", "pager"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("at least one event type") && html.contains(&receiver.url),
        "kept what was typed: {html}"
    );

    let made = browser
        .post(
            "/webhooks",
            &origin,
            &[
                ("csrf", &csrf),
                ("url", &receiver.url),
                ("description", "pager"),
                ("events", "token.*"),
                ("events", "webhook.*"),
            ],
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let html = made.text().await.unwrap();
    assert!(html.contains("only time it is shown"), "{html}");
    let secret = secret_in(&html);
    let list = page(&mut browser, "/webhooks").await;
    assert!(
        list.contains("token.*, webhook.*") && !list.contains(&secret),
        "{list}"
    );
    let marker = "href=\"/webhooks/";
    let start = html.find(marker).expect("a link to the endpoint") + marker.len();
    let id: String = html[start..].chars().take_while(|c| *c != '"').collect();

    let tested = browser
        .post(&format!("/webhooks/{id}/test"), &origin, &[("csrf", &csrf)])
        .await;
    assert_eq!(tested.status(), StatusCode::OK);
    assert!(tested
        .text()
        .await
        .unwrap()
        .contains("webhook.test event is queued"));
    assert_eq!(app.deliver_webhooks().await, 1);
    let delivered = receiver.next().await;
    assert_eq!(
        verified(&secret, &[delivered]).remove(0).unwrap()["type"],
        "webhook.test"
    );
    let shown = page(&mut browser, &format!("/webhooks/{id}")).await;
    assert!(
        shown.contains("status-delivered") && shown.contains("HTTP 204"),
        "{shown}"
    );

    let delivery = app
        .get(
            &format!("/api/v1/webhooks/{id}/deliveries"),
            Some(&app.login("alice").await),
        )
        .await;
    let delivery = delivery.data()["deliveries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retried = browser
        .post(
            &format!("/webhooks/{id}/deliveries/{delivery}/retry"),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(retried.status(), StatusCode::OK);
    assert!(retried.text().await.unwrap().contains("Retrying"));
    assert_eq!(app.deliver_webhooks().await, 1);
    receiver.next().await;

    let rotated = browser
        .post(
            &format!("/webhooks/{id}/rotate-secret"),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let new_secret = secret_in(&rotated.text().await.unwrap());
    assert_ne!(new_secret, secret);
    let paused = browser
        .post(
            &format!("/webhooks/{id}/pause"),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert!(paused
        .text()
        .await
        .unwrap()
        .contains("paused: disabled by its owner"));
    let forged = browser
        .post(
            &format!("/webhooks/{id}/resume"),
            &origin,
            &[("csrf", "wrong")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    assert!(page(&mut browser, &format!("/webhooks/{id}/delete"))
        .await
        .contains("Delete the endpoint"));
    let deleted = browser
        .post(
            &format!("/webhooks/{id}/delete"),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert!(deleted.text().await.unwrap().contains("Endpoint deleted"));
    assert_eq!(
        browser.get(&format!("/webhooks/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn another_persons_endpoint_is_not_found_in_the_console() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    app.user("brian").create().await;
    let made = app
        .post(
            "/api/v1/webhooks",
            Some(&alice.jwt),
            serde_json::json!({"url": "https://hooks.example.com/a", "events": ["*"]}),
        )
        .await;
    let id = made.data()["id"].as_str().unwrap().to_owned();
    let (mut browser, csrf) = signed_in(&app, "brian").await;
    let origin = browser.origin.clone();
    assert_eq!(
        browser.get(&format!("/webhooks/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    for action in ["test", "pause", "rotate-secret", "delete"] {
        let refused = browser
            .post(
                &format!("/webhooks/{id}/{action}"),
                &origin,
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{action}");
    }
}

#[tokio::test]
async fn a_branch_page_makes_a_connect_link_and_shows_it_once() {
    let app = TestApp::spawn().await;
    let owner = app
        .user("owner")
        .role(tessera::types::Role::Admin)
        .create()
        .await;
    let client = app
        .post(
            "/api/v1/oauth-clients",
            Some(&owner.jwt),
            serde_json::json!({"client_id": "client-123", "client_secret": "shh", "redirect_uri": "http://127.0.0.1:9/api/v1/oauth/callback"}),
        )
        .await;
    let client = client.data()["id"].as_str().unwrap().to_owned();
    let branch = app
        .post("/api/v1/branches", Some(&owner.jwt), serde_json::json!({"branch_id": "riyadh-01", "name": "Riyadh Olaya", "client_id": client}))
        .await;
    let branch = branch.data()["id"].as_str().unwrap().to_owned();
    let (mut browser, csrf) = signed_in(&app, "owner").await;
    let origin = browser.origin.clone();
    assert!(page(&mut browser, "/branches")
        .await
        .contains(&format!("/branches/{branch}/connect-link")));
    let made = browser
        .post(
            &format!("/branches/{branch}/connect-link"),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let html = made.text().await.unwrap();
    let start = html.find("/connect?token=").expect("the link is shown");
    let token: String = html[start + "/connect?token=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    let opened = Browser::new(&app)
        .get(&format!("/connect?token={token}"))
        .await;
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(opened
        .text()
        .await
        .unwrap()
        .contains("Connect Riyadh Olaya"));
    assert!(
        !page(&mut browser, "/branches").await.contains(&token),
        "shown once"
    );
}
