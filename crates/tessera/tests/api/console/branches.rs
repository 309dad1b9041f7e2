//! `/branches`: who sees what (the connections scopes as role rules), the client form never
//! sending a secret back, and the callback page needing no sign-in.

use reqwest::StatusCode;
use tessera::tokens::ceiling::role_allows;
use tessera::tokens::scopes::{ConnectionsAdmin, ConnectionsRead, RequiredScope};
use tessera::types::Role;

use super::{signed_in, Browser};
use crate::support::TestApp;

#[tokio::test]
async fn every_role_sees_only_the_connections_its_scopes_allow() {
    let app = TestApp::spawn().await;
    for role in Role::ALL {
        let username = format!("user-{role}");
        app.user(&username).role(role).create().await;
        let (mut browser, csrf) = signed_in(&app, &username).await;
        let origin = browser.origin.clone();
        let page = browser.get("/branches").await;
        let reads = role_allows(role, ConnectionsRead::SCOPE);
        let expected = if reads {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(page.status(), expected, "{role}");
        let html = page.text().await.unwrap();
        let admin = role_allows(role, ConnectionsAdmin::SCOPE);
        assert_eq!(html.contains("Add OAuth client"), admin, "{role}");

        let tried = browser
            .post(
                "/branches/clients",
                &origin,
                &[
                    ("csrf", &csrf),
                    ("provider", "google"),
                    ("client_id", "x.apps.googleusercontent.com"),
                    ("client_secret", "s"),
                    ("redirect_uri", "https://tessera.example/branches/callback"),
                ],
            )
            .await;
        let expected = if admin {
            StatusCode::CREATED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(tried.status(), expected, "{role}");
    }
}

#[tokio::test]
async fn a_refused_client_form_keeps_the_fields_but_never_the_secret() {
    let app = TestApp::spawn().await;
    app.user("root").role(Role::Admin).create().await;
    let (mut browser, csrf) = signed_in(&app, "root").await;
    let origin = browser.origin.clone();
    let refused = browser
        .post(
            "/branches/clients",
            &origin,
            &[
                ("csrf", &csrf),
                ("provider", "google"),
                ("client_id", "kept-client-id"),
                ("client_secret", "do-not-echo-me"),
                ("redirect_uri", "ftp://nowhere"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"redirect_uri-error\""), "{html}");
    assert!(html.contains("value=\"kept-client-id\""));
    assert!(
        !html.contains("do-not-echo-me"),
        "the secret is never sent back"
    );
}

#[tokio::test]
async fn the_callback_page_needs_no_sign_in_and_refuses_an_unknown_state() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let page = browser
        .get("/branches/callback?code=abc&state=unknown")
        .await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let html = page.text().await.unwrap();
    assert!(html.contains("The branch was not connected"), "{html}");
    assert!(html.contains("start the authorization again"), "{html}");
    assert!(
        !html.contains("Sign out"),
        "no navigation for a signed-out visit"
    );
}
