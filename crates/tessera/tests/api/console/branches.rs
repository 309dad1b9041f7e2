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
    assert!(html.contains("id=\"client-redirect_uri-error\""), "{html}");
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

/// With a client, the page has both forms, whose `name` fields must not share an id (a label
/// would point at the wrong field); a refused branch keeps the client it chose.
#[tokio::test]
async fn the_two_forms_have_distinct_ids_and_a_refused_branch_keeps_its_client() {
    let app = TestApp::spawn().await;
    app.user("root").role(Role::Admin).create().await;
    let (mut browser, csrf) = signed_in(&app, "root").await;
    let origin = browser.origin.clone();
    for client_id in [
        "first.apps.googleusercontent.com",
        "second.apps.googleusercontent.com",
    ] {
        let added = browser
            .post(
                "/branches/clients",
                &origin,
                &[
                    ("csrf", &csrf),
                    ("name", client_id),
                    ("provider", "google"),
                    ("client_id", client_id),
                    ("client_secret", "s"),
                    ("redirect_uri", "https://tessera.example/branches/callback"),
                ],
            )
            .await;
        assert_eq!(added.status(), StatusCode::CREATED);
    }
    let page = browser.get("/branches").await.text().await.unwrap();
    assert_eq!(page.matches("id=\"name\"").count(), 1, "{page}");
    assert_eq!(page.matches("id=\"client-name\"").count(), 1);
    let second = page
        .split("<option value=\"")
        .find(|part| part.contains(">second.apps"))
        .map(|part| part[..36].to_owned())
        .expect("the second client is offered");
    let refused = browser
        .post(
            "/branches",
            &origin,
            &[
                ("csrf", &csrf),
                ("branch_id", ""),
                ("name", "Riverside"),
                ("client_id", &second),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains(&format!("<option value=\"{second}\" selected>")),
        "{html}"
    );
}
