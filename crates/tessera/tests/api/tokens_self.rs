//! Issue 14, tokens that look after themselves: `GET /api/v1/tokens/self`, and the expiry
//! headers on every answer to a PAT.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

const EXPIRATION: &str = "tessera-token-expiration";
const EXPIRES_SOON: &str = "tessera-token-expires-soon";

/// `2027-03-01T10:30:00.123456Z` as the header writes it: `2027-03-01 10:30:00 UTC`.
fn as_header(rfc3339: &str) -> String {
    assert!(rfc3339.ends_with('Z'), "{rfc3339}");
    format!("{} {} UTC", &rfc3339[..10], &rfc3339[11..19])
}

#[tokio::test]
async fn a_token_learns_its_own_scopes_expiry_and_owner_whatever_its_scopes() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let created = app
        .post(
            "/api/v1/tokens",
            Some(&alice.jwt),
            json!({"name": "sorter", "scopes": ["fcs:read"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let secret = created.data()["token"].as_str().unwrap();

    let me = app.get("/api/v1/tokens/self", Some(secret)).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    let data = me.data();
    assert_eq!(data["id"], created.data()["id"]);
    assert_eq!(data["name"], "sorter");
    assert_eq!(data["scopes"], json!(["fcs:read"]));
    assert_eq!(data["expires_at"], created.data()["expires_at"]);
    assert_eq!(data["created_at"], created.data()["created_at"]);
    assert_eq!(data["allowed_ips"], json!(null));
    // Not used before this request, whose own use is written after it is answered.
    assert_eq!(data["last_used_at"], json!(null));
    assert_eq!(data["last_used_ip"], json!(null));
    assert_eq!(
        data["owner"],
        json!({"id": alice.id, "username": "alice", "kind": "user"})
    );
    assert!(data.get("token").is_none() && data.get("token_hash").is_none());

    // Only a PAT is asked about itself: a session is not one.
    let session = app.get("/api/v1/tokens/self", Some(&alice.jwt)).await;
    assert_eq!(session.status, StatusCode::UNAUTHORIZED);
    let nothing = app.get("/api/v1/tokens/self", None).await;
    assert_eq!(nothing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(nothing.body["message"], "Missing token");
}

#[tokio::test]
async fn every_answer_to_a_live_pat_says_when_it_expires_and_whether_soon() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let token = |days: u32| {
        let app = &app;
        let jwt = alice.jwt.clone();
        async move {
            let created = app
                .post(
                    "/api/v1/tokens",
                    Some(&jwt),
                    json!({"name": format!("{days} days"), "scopes": ["fcs:read"], "expires_in_days": days}),
                )
                .await;
            assert_eq!(created.status, StatusCode::CREATED);
            (
                created.data()["id"].as_str().unwrap().to_owned(),
                created.data()["token"].as_str().unwrap().to_owned(),
                as_header(created.data()["expires_at"].as_str().unwrap()),
            )
        }
    };
    let (_, month, month_expiry) = token(30).await;
    let (soon_id, soon, soon_expiry) = token(3).await;

    // Let through, and refused for its scope: both answers carry the expiry.
    let listed = app.get("/api/v1/fcs/files", Some(&month)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.headers[EXPIRATION], month_expiry.as_str());
    assert!(listed.headers.get(EXPIRES_SOON).is_none());
    let refused = app.delete("/api/v1/fcs/files/sample", Some(&month)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.headers[EXPIRATION], month_expiry.as_str());

    let soon_answer = app.get("/api/v1/tokens/self", Some(&soon)).await;
    assert_eq!(soon_answer.headers[EXPIRATION], soon_expiry.as_str());
    assert_eq!(soon_answer.headers[EXPIRES_SOON], "true");

    // Not for a session, nor for a token that no longer works.
    let session = app.get("/api/v1/tokens", Some(&alice.jwt)).await;
    assert_eq!(session.status, StatusCode::OK);
    assert!(session.headers.get(EXPIRATION).is_none());
    let revoked = app
        .delete(&format!("/api/v1/tokens/{soon_id}"), Some(&alice.jwt))
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    let dead = app.get("/api/v1/tokens/self", Some(&soon)).await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED);
    assert_eq!(dead.body["message"], "Token revoked");
    assert!(dead.headers.get(EXPIRATION).is_none());
}
