//! Issue 14, tokens that renew themselves: `POST /api/v1/tokens/self/rotate`, and the grace a
//! regenerated secret may keep (`grace_seconds`), judged by the app's clock, which the tests
//! move forward instead of waiting.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{TestApp, TestUser};

const GRACE_REASON: &str = "previous secret (grace)";

async fn sorter_token(app: &TestApp, owner: &TestUser) -> (String, String) {
    app.pat(&owner.jwt, &["fcs:read"]).await
}

async fn works(app: &TestApp, secret: &str) -> bool {
    let answer = app.get("/api/v1/tokens/self", Some(secret)).await;
    match answer.status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("unexpected {other}: {:?}", answer.body),
    }
}

async fn rotate(app: &TestApp, secret: &str, body: Value) -> crate::support::Reply {
    app.post("/api/v1/tokens/self/rotate", Some(secret), body)
        .await
}

#[tokio::test]
async fn a_rotated_secret_keeps_working_through_its_grace_and_not_a_second_longer() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let (id, old) = sorter_token(&app, &alice).await;

    let rotated = rotate(&app, &old, json!({"grace_seconds": 60})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let new = rotated.data()["token"].as_str().unwrap().to_owned();
    assert_eq!(rotated.data()["id"], id.as_str());
    assert_eq!(rotated.data()["scopes"], json!(["fcs:read"]));
    assert_ne!(new, old);

    assert!(works(&app, &new).await);
    assert!(works(&app, &old).await, "the old secret works in its grace");
    app.clock.advance(Duration::from_secs(59));
    assert!(works(&app, &old).await, "and still at 59 s");
    app.clock.advance(Duration::from_secs(2));
    let late = app.get("/api/v1/tokens/self", Some(&old)).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
    assert_eq!(late.body["message"], "Invalid token");
    assert!(works(&app, &new).await, "the new secret is untouched");

    // The owner sees which uses came by the old secret.
    let logs = app.logs(&alice.jwt, &id, "").await;
    let reasons: Vec<&Value> = logs.data()["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| &entry["reason"])
        .collect();
    let grace_uses = reasons.iter().filter(|r| **r == GRACE_REASON).count();
    assert_eq!(grace_uses, 2, "{reasons:?}");
    let entries = logs.data()["logs"].as_array().unwrap();
    assert!(entries
        .iter()
        .filter(|entry| entry["reason"] == GRACE_REASON)
        .all(|entry| entry["authorized"] == true && entry["status_code"] == 200));
}

#[tokio::test]
async fn revoking_a_token_in_its_grace_ends_both_secrets() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let (id, old) = sorter_token(&app, &alice).await;
    let regenerated = app
        .post(
            &format!("/api/v1/tokens/{id}/regenerate"),
            Some(&alice.jwt),
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(regenerated.status, StatusCode::OK, "{:?}", regenerated.body);
    let new = regenerated.data()["token"].as_str().unwrap().to_owned();
    assert!(works(&app, &old).await && works(&app, &new).await);

    let revoked = app
        .delete(&format!("/api/v1/tokens/{id}"), Some(&alice.jwt))
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    for secret in [&old, &new] {
        let refused = app.get("/api/v1/tokens/self", Some(secret)).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.body["message"], "Token revoked");
    }
}

#[tokio::test]
async fn regenerating_again_ends_the_earlier_grace_and_no_grace_means_at_once() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let (id, first) = sorter_token(&app, &alice).await;
    let regenerate = |grace: Value| {
        let path = format!("/api/v1/tokens/{id}/regenerate");
        let jwt = alice.jwt.clone();
        let app = &app;
        async move {
            let answer = app.post(&path, Some(&jwt), grace).await;
            assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
            answer.data()["token"].as_str().unwrap().to_owned()
        }
    };
    let second = regenerate(json!({"grace_seconds": 600})).await;
    let third = regenerate(json!({"grace_seconds": 600})).await;
    assert!(
        !works(&app, &first).await,
        "only the secret just replaced has a grace"
    );
    assert!(works(&app, &second).await && works(&app, &third).await);

    // No body at all: the contract's regenerate, the old secret stops at once.
    let plain = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/tokens/{id}/regenerate"),
            Some(&alice.jwt),
            None,
        )
        .await;
    assert_eq!(plain.status, StatusCode::OK, "{:?}", plain.body);
    let fourth = plain.data()["token"].as_str().unwrap().to_owned();
    assert!(!works(&app, &second).await && !works(&app, &third).await);
    assert!(works(&app, &fourth).await);
}

#[tokio::test]
async fn rotation_refuses_bad_input_and_replaced_secrets_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let (_, secret) = sorter_token(&app, &alice).await;
    for (body, field) in [
        (json!({"grace_seconds": -1}), "grace_seconds"),
        (json!({"grace_seconds": 86_401}), "grace_seconds"),
        (json!({"expires_in_days": 0}), "expires_in_days"),
        (json!({"expires_in_days": 366}), "expires_in_days"),
        (json!({"grace": 60}), "grace"),
    ] {
        let refused = rotate(&app, &secret, body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            refused.message().contains(field),
            "{body}: {}",
            refused.message()
        );
        assert!(works(&app, &secret).await, "{body} changed nothing");
    }
    let session = rotate(&app, &alice.jwt, json!({})).await;
    assert_eq!(
        session.status,
        StatusCode::UNAUTHORIZED,
        "a session is no PAT"
    );

    let rotated = rotate(
        &app,
        &secret,
        json!({"grace_seconds": 60, "expires_in_days": 10}),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let expires_at = rotated.data()["expires_at"].as_str().unwrap();
    let in_ten_days = (time::OffsetDateTime::now_utc() + time::Duration::days(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(&expires_at[..13], &in_ten_days[..13], "{expires_at}");

    let again = rotate(&app, &secret, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    assert!(again.message().contains("already replaced"));
    let new = rotated.data()["token"].as_str().unwrap();
    assert!(
        works(&app, new).await,
        "the refused rotation left the new secret alone"
    );
}
