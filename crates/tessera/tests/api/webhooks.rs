//! Issue 15, webhooks: `/api/v1/webhooks…` — endpoints, signed deliveries, retries and their
//! log. Every delivery a test receives is verified with the PyPI `standardwebhooks` library.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::receiver::{verified, Receiver};
use crate::support::{method, Reply, TestApp, TestUser};

/// Registers an endpoint for `events` at `url`; returns its id and secret.
pub async fn register(
    app: &TestApp,
    user: &TestUser,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let made = app
        .post(
            "/api/v1/webhooks",
            Some(&user.jwt),
            json!({"url": url, "events": events, "description": "lab pager"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let id = made.data()["id"].as_str().unwrap().to_owned();
    (id, made.data()["secret"].as_str().unwrap().to_owned())
}

async fn deliveries(app: &TestApp, user: &TestUser, endpoint: &str) -> Vec<Value> {
    let listed = app
        .get(
            &format!("/api/v1/webhooks/{endpoint}/deliveries"),
            Some(&user.jwt),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    listed.data()["deliveries"].as_array().unwrap().clone()
}

/// The endpoint's only delivery.
async fn only_delivery(app: &TestApp, user: &TestUser, endpoint: &str) -> Value {
    let listed = deliveries(app, user, endpoint).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    listed[0].clone()
}

async fn send_test(app: &TestApp, user: &TestUser, endpoint: &str) -> Reply {
    app.post(
        &format!("/api/v1/webhooks/{endpoint}/test"),
        Some(&user.jwt),
        json!({}),
    )
    .await
}

#[tokio::test]
async fn an_endpoint_is_registered_listed_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let made = app
        .post(
            "/api/v1/webhooks",
            Some(&ana.jwt),
            json!({"url": "https://hooks.example.com/tessera", "events": ["connection.*", "token.expiring", "connection.*"]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let secret = made.data()["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(
        made.data()["events"],
        json!(["connection.*", "token.expiring"]),
        "each once"
    );
    assert_eq!(made.data()["enabled"], true);
    let id = made.data()["id"].as_str().unwrap();

    let listed = app.get("/api/v1/webhooks", Some(&ana.jwt)).await;
    assert_eq!(listed.data()["total"], 1);
    let fetched = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&ana.jwt))
        .await;
    assert_eq!(fetched.data()["url"], "https://hooks.example.com/tessera");
    for reply in [&listed.body, &fetched.body] {
        assert!(
            !reply.to_string().contains(secret),
            "the secret is shown once"
        );
    }

    let changed = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            Some(&ana.jwt),
            json!({"events": ["*"], "description": "pager", "enabled": false}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.data()["events"], json!(["*"]));
    assert_eq!(changed.data()["enabled"], false);
    assert_eq!(changed.data()["disabled_reason"], "disabled by its owner");
    let cleared = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            Some(&ana.jwt),
            json!({"description": null, "enabled": true}),
        )
        .await;
    assert_eq!(cleared.data()["description"], Value::Null);
    assert_eq!(cleared.data()["disabled_reason"], Value::Null);

    let deleted = app
        .delete(&format!("/api/v1/webhooks/{id}"), Some(&ana.jwt))
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let gone = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&ana.jwt))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_endpoints_are_refused_with_the_reason() {
    let app = TestApp::builder()
        .with_config(|c| {
            c.webhook_allow_private_endpoints = false;
            c.webhook_max_endpoints = 1;
        })
        .spawn()
        .await;
    let ana = app.user("ana").create().await;
    let cases = [
        (
            json!({"url": "http://hooks.example.com/x", "events": ["*"]}),
            "url must use https",
        ),
        (
            json!({"url": "https://127.0.0.1/x", "events": ["*"]}),
            "public host",
        ),
        (
            json!({"url": "https://10.1.2.3/x", "events": ["*"]}),
            "public host",
        ),
        (
            json!({"url": "https://localhost/x", "events": ["*"]}),
            "public host",
        ),
        (json!({"url": "not a url", "events": ["*"]}), "absolute URL"),
        (
            json!({"url": "https://hooks.example.com/x", "events": []}),
            "at least one",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["token.revoke"]}),
            "not an event type",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["tokens.*"]}),
            "not an event type",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["*"], "description": "x".repeat(201)}),
            "at most 200",
        ),
    ];
    for (body, expected) in cases {
        let refused = app
            .post("/api/v1/webhooks", Some(&ana.jwt), body.clone())
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            refused.body
        );
        assert!(
            refused.message().contains(expected),
            "{body}: {}",
            refused.message()
        );
    }
    register(&app, &ana, "https://hooks.example.com/one", &["*"]).await;
    let second = app
        .post(
            "/api/v1/webhooks",
            Some(&ana.jwt),
            json!({"url": "https://hooks.example.com/two", "events": ["*"]}),
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{:?}", second.body);
    assert!(
        second.message().contains("At most 1"),
        "{}",
        second.message()
    );
}

#[tokio::test]
async fn endpoints_are_their_owners_alone() {
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let bob = app
        .user("bob")
        .role(tessera::types::Role::Admin)
        .create()
        .await;
    let (id, _) = register(&app, &ana, "https://hooks.example.com/a", &["*"]).await;
    let routes = [
        ("GET", format!("/api/v1/webhooks/{id}")),
        ("PATCH", format!("/api/v1/webhooks/{id}")),
        ("DELETE", format!("/api/v1/webhooks/{id}")),
        ("POST", format!("/api/v1/webhooks/{id}/rotate-secret")),
        ("POST", format!("/api/v1/webhooks/{id}/test")),
        ("GET", format!("/api/v1/webhooks/{id}/deliveries")),
        (
            "POST",
            format!("/api/v1/webhooks/{id}/deliveries/{id}/retry"),
        ),
    ];
    let (_, pat) = app.pat(&ana.jwt, &["users:read"]).await;
    for (verb, path) in &routes {
        let other = app
            .request(method(verb), path, Some(&bob.jwt), Some(json!({})))
            .await;
        assert_eq!(
            other.status,
            StatusCode::NOT_FOUND,
            "{verb} {path} by an admin who is not the owner"
        );
        for bearer in [None, Some(pat.as_str())] {
            let refused = app
                .request(method(verb), path, bearer, Some(json!({})))
                .await;
            assert_eq!(
                refused.status,
                StatusCode::UNAUTHORIZED,
                "{verb} {path} with {bearer:?}"
            );
        }
    }
    let listed = app.get("/api/v1/webhooks", Some(&bob.jwt)).await;
    assert_eq!(
        listed.data()["total"],
        0,
        "nobody lists another's endpoints"
    );
    assert_eq!(
        app.request(Method::GET, "/api/v1/webhooks", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_test_event_arrives_signed_as_the_standard_says() {
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    // Subscribed to nothing a test event is: it goes to the endpoint it names all the same.
    let (id, secret) = register(&app, &ana, &receiver.url, &["token.revoked"]).await;
    let queued = send_test(&app, &ana, &id).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:?}", queued.body);
    assert_eq!(queued.data()["type"], "webhook.test");

    assert_eq!(app.deliver_webhooks().await, 1);
    let delivery = receiver.next().await;
    let payload = verified(&secret, std::slice::from_ref(&delivery))
        .remove(0)
        .expect("the signature verifies");
    assert_eq!(payload["type"], "webhook.test");
    assert_eq!(payload["data"]["endpoint"]["id"], id.as_str());
    assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(delivery.headers["content-type"], "application/json");

    let settled = only_delivery(&app, &ana, &id).await;
    assert_eq!(settled["status"], "delivered", "{settled}");
    assert_eq!(settled["id"], delivery.headers["webhook-id"].as_str());
    assert_eq!(settled["event_id"], queued.data()["event_id"]);
    assert_eq!(settled["attempt_log"][0]["status_code"], 204);
    assert!(!settled.to_string().contains(&secret));

    // Someone else's secret does not verify it: the check can fail.
    let (_, other_secret) = register(&app, &ana, "https://hooks.example.com/b", &["*"]).await;
    assert_eq!(
        verified(&other_secret, &[delivery]).remove(0),
        Err("WebhookVerificationError".to_owned())
    );
}

#[tokio::test]
async fn a_receiver_that_answers_500_twice_gets_the_event_on_the_third_attempt() {
    let app = TestApp::builder()
        .with_config(|c| c.webhook_retry_schedule.0 = vec![Duration::ZERO; 3])
        .spawn()
        .await;
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    receiver.answer(&[500, 500]);
    let (id, secret) = register(&app, &ana, &receiver.url, &["*"]).await;
    send_test(&app, &ana, &id).await;
    let mut attempts = Vec::new();
    for _ in 0..3 {
        assert_eq!(app.deliver_webhooks().await, 1);
        attempts.push(receiver.next().await);
    }
    assert_eq!(
        app.deliver_webhooks().await,
        0,
        "nothing is due after the success"
    );
    let ids: Vec<&str> = attempts
        .iter()
        .map(|a| a.headers["webhook-id"].as_str())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one message id on every attempt: {ids:?}"
    );
    for result in verified(&secret, &attempts) {
        assert_eq!(result.unwrap()["type"], "webhook.test");
    }
    let settled = only_delivery(&app, &ana, &id).await;
    assert_eq!(settled["status"], "delivered", "{settled}");
    assert_eq!(settled["attempts"], 3);
    let codes: Vec<&Value> = settled["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(204)]);
    assert_eq!(
        settled["attempt_log"][0]["error"],
        "the receiver answered 500"
    );
    assert!(receiver.pending().is_empty(), "nothing after the success");
}

#[tokio::test]
async fn retries_wait_the_schedule_and_the_last_failure_fails_the_delivery() {
    let app = TestApp::builder()
        .with_config(|c| c.webhook_retry_schedule.0 = vec![Duration::from_secs(5)])
        .spawn()
        .await;
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    receiver.answer(&[503, 503]);
    let (id, _) = register(&app, &ana, &receiver.url, &["*"]).await;
    send_test(&app, &ana, &id).await;
    app.deliver_webhooks().await;
    receiver.next().await;
    let waiting = only_delivery(&app, &ana, &id).await;
    assert_eq!(waiting["status"], "pending");
    assert_eq!(waiting["last_status"], 503);
    let last: time::OffsetDateTime = parse(&waiting["last_attempt_at"]);
    let next: time::OffsetDateTime = parse(&waiting["next_attempt_at"]);
    assert_eq!(next - last, time::Duration::seconds(5), "{waiting}");

    assert_eq!(
        app.deliver_webhooks().await,
        0,
        "not due before the pause ends"
    );
    app.clock.advance(Duration::from_secs(5));
    assert_eq!(app.deliver_webhooks().await, 1);
    receiver.next().await;
    let failed = only_delivery(&app, &ana, &id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"], 2);
    assert_eq!(failed["next_attempt_at"], Value::Null);

    // A person retries it: due at once, and this time the receiver takes it.
    let delivery_id = failed["id"].as_str().unwrap();
    let retried = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry"),
            Some(&ana.jwt),
            json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{:?}", retried.body);
    assert_eq!(retried.data()["status"], "pending");
    assert_eq!(
        retried.data()["attempt_log"].as_array().unwrap().len(),
        2,
        "the attempts so far"
    );
    assert_eq!(app.deliver_webhooks().await, 1);
    receiver.next().await;
    let delivered = only_delivery(&app, &ana, &id).await;
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["attempts"], 3);
    let unknown = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{id}/retry"),
            Some(&ana.jwt),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends() {
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    let (id, old) = register(&app, &ana, &receiver.url, &["*"]).await;
    let rotated = app
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            Some(&ana.jwt),
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let new = rotated.data()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated.data()["previous_secret_valid_until"].is_string());
    send_test(&app, &ana, &id).await;
    app.deliver_webhooks().await;
    let during = receiver.next().await;
    assert!(verified(&new, std::slice::from_ref(&during))[0].is_ok());
    assert!(
        verified(&old, std::slice::from_ref(&during))[0].is_ok(),
        "the old secret still verifies"
    );

    let at_once = app
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            Some(&ana.jwt),
            json!({"grace_seconds": 0}),
        )
        .await;
    let newest = at_once.data()["secret"].as_str().unwrap().to_owned();
    send_test(&app, &ana, &id).await;
    app.deliver_webhooks().await;
    let after = receiver.next().await;
    assert!(verified(&newest, std::slice::from_ref(&after))[0].is_ok());
    assert!(
        verified(&new, std::slice::from_ref(&after))[0].is_err(),
        "no grace: the replaced secret stops"
    );

    let too_long = app
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            Some(&ana.jwt),
            json!({"grace_seconds": 604801}),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_endpoint_failing_for_the_set_time_is_disabled_and_its_owner_told() {
    let app = TestApp::builder()
        .with_config(|c| {
            c.webhook_retry_schedule.0 = vec![Duration::from_secs(3600); 3];
            c.webhook_disable_after_hours = 1;
        })
        .spawn()
        .await;
    let ana = app.user("ana").create().await;
    let mut failing = Receiver::start().await;
    failing.answer(&[500; 10]);
    let mut pager = Receiver::start().await;
    let (id, _) = register(&app, &ana, &failing.url, &["token.revoked"]).await;
    let (_, pager_secret) = register(&app, &ana, &pager.url, &["webhook.*"]).await;
    send_test(&app, &ana, &id).await;
    app.deliver_webhooks().await;
    failing.next().await;
    let endpoint = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&ana.jwt))
        .await;
    assert!(
        endpoint.data()["failing_since"].is_string(),
        "{:?}",
        endpoint.body
    );
    assert_eq!(endpoint.data()["enabled"], true, "an hour has not passed");

    app.clock.advance(Duration::from_secs(3600));
    app.deliver_webhooks().await;
    failing.next().await;
    assert_eq!(
        app.deliver_webhooks().await,
        1,
        "the owner's other endpoint is told"
    );
    let told = pager.next().await;
    let payload = verified(&pager_secret, &[told]).remove(0).unwrap();
    assert_eq!(payload["type"], "webhook.disabled");
    assert_eq!(payload["data"]["endpoint"]["id"], id.as_str());
    let endpoint = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&ana.jwt))
        .await;
    assert_eq!(endpoint.data()["enabled"], false);
    assert!(endpoint.data()["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("failing"));

    // Enabling it again forgets the failures.
    let enabled = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            Some(&ana.jwt),
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(enabled.data()["failing_since"], Value::Null);
}

fn parse(value: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        value.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

/// The payloads `standardwebhooks` verified, in the order they arrived (every one must verify).
fn payloads(secret: &str, deliveries: &[crate::support::receiver::Received]) -> Vec<Value> {
    verified(secret, deliveries)
        .into_iter()
        .map(|result| result.expect("every delivery verifies"))
        .collect()
}

async fn receive_all(
    app: &TestApp,
    receiver: &mut Receiver,
    count: usize,
) -> Vec<crate::support::receiver::Received> {
    assert_eq!(app.deliver_webhooks().await, count, "deliveries made");
    let mut got = Vec::new();
    for _ in 0..count {
        got.push(receiver.next().await);
    }
    got
}

#[tokio::test]
async fn regenerating_and_revoking_a_pat_tell_its_owner_once_each() {
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let root = app
        .user("root")
        .role(tessera::types::Role::Admin)
        .create()
        .await;
    let mut receiver = Receiver::start().await;
    let (_, secret) = register(&app, &ana, &receiver.url, &["token.*"]).await;
    let (first, _) = app.pat(&ana.jwt, &["users:read"]).await;
    let (second, _) = app.pat(&ana.jwt, &["users:read"]).await;

    let renewed = app
        .post(
            &format!("/api/v1/tokens/{first}/regenerate"),
            Some(&ana.jwt),
            json!({"grace_seconds": 60}),
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    for _ in 0..2 {
        let revoked = app
            .delete(&format!("/api/v1/tokens/{first}"), Some(&ana.jwt))
            .await;
        assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    }
    let by_admin = app
        .delete(&format!("/api/v1/admin/tokens/{second}"), Some(&root.jwt))
        .await;
    assert_eq!(by_admin.status, StatusCode::OK, "{:?}", by_admin.body);

    // Deliveries run side by side, so they may arrive in any order (receivers order by the
    // payload's timestamp): sorted here by type, then by who revoked.
    let mut got = payloads(&secret, &receive_all(&app, &mut receiver, 3).await);
    got.sort_by_key(|p| {
        (
            p["type"].to_string(),
            p["data"]["revoked_by"]["kind"] != "owner",
        )
    });
    let kinds: Vec<&Value> = got.iter().map(|p| &p["type"]).collect();
    assert_eq!(
        kinds,
        ["token.regenerated", "token.revoked", "token.revoked"],
        "a second revocation tells nobody"
    );
    assert_eq!(
        got[0]["data"]["token"],
        json!({"id": first, "name": "test token"})
    );
    assert!(got[0]["data"]["previous_secret_valid_until"].is_string());
    assert_eq!(got[1]["data"]["revoked_by"], json!({"kind": "owner"}));
    assert_eq!(got[2]["data"]["token"]["id"], second.as_str());
    assert_eq!(
        got[2]["data"]["revoked_by"],
        json!({"kind": "admin", "id": root.id})
    );
    assert!(
        !got.iter().any(|p| p.to_string().contains("pat_")),
        "no secret in any event"
    );
}

#[tokio::test]
async fn a_change_that_rolls_back_sends_nothing() {
    use tessera::webhooks::events::{Event, EventKind};
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    register(&app, &ana, &receiver.url, &["token.*"]).await;
    let (token, _) = app.pat(&ana.jwt, &["users:read"]).await;
    let (owner, id) = (ana.id.parse().unwrap(), token.parse().unwrap());
    let now = app.clock.now();
    let mut tx = app.state.store.begin().await.unwrap();
    assert!(tx
        .revoke_token(Some(owner), id, now)
        .await
        .unwrap()
        .is_some());
    let event = Event::new(
        EventKind::TokenRevoked,
        owner,
        json!({"token": {"id": id}}),
        now,
    );
    tx.enqueue_event(&event.row()).await.unwrap();
    drop(tx);

    assert_eq!(
        app.deliver_webhooks().await,
        0,
        "no event outlives its rolled-back change"
    );
    assert!(receiver.pending().is_empty());
    let listed = app
        .get(&format!("/api/v1/tokens/{token}"), Some(&ana.jwt))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    assert_eq!(
        listed.data()["revoked_at"],
        Value::Null,
        "and the change did not happen either"
    );
}

/// Moves the app's clock to `before` ahead of `expires_at` and writes the notices due.
async fn at_before_expiry(app: &TestApp, expires_at: &Value, before: time::Duration) {
    let target = parse(expires_at) - before;
    let now = app.clock.now().datetime();
    if target > now {
        app.clock.advance((target - now).try_into().unwrap());
    }
    tessera::tokens::expiry::tell_owners(&app.state.store, app.clock.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expiring_pat_tells_its_owner_at_30_7_and_1_days_then_that_it_expired() {
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    let (_, secret) = register(
        &app,
        &ana,
        &receiver.url,
        &["token.expiring", "token.expired"],
    )
    .await;
    let made = app
        .post(
            "/api/v1/tokens",
            Some(&ana.jwt),
            json!({"name": "nightly export", "scopes": ["users:read"], "expires_in_days": 60}),
        )
        .await;
    let (id, expires_at) = (made.data()["id"].clone(), made.data()["expires_at"].clone());

    let mut told = Vec::new();
    for (days_before, expected) in [(31, 0), (30, 1), (29, 0), (7, 1), (6, 0), (1, 1)] {
        let before = time::Duration::days(days_before) - time::Duration::seconds(1);
        at_before_expiry(&app, &expires_at, before).await;
        // Again: a notice is written once, however often (and by however many) the scan runs.
        tessera::tokens::expiry::tell_owners(&app.state.store, app.clock.now())
            .await
            .unwrap();
        for payload in payloads(&secret, &receive_all(&app, &mut receiver, expected).await) {
            assert_eq!(payload["type"], "token.expiring");
            assert_eq!(
                payload["data"]["token"],
                json!({"id": id, "name": "nightly export"})
            );
            assert_eq!(payload["data"]["expires_at"], expires_at);
            told.push(payload["data"]["days_left"].clone());
        }
    }
    assert_eq!(told, [30, 7, 1]);
    at_before_expiry(&app, &expires_at, time::Duration::seconds(-1)).await;
    let expired = payloads(&secret, &receive_all(&app, &mut receiver, 1).await);
    assert_eq!(expired[0]["type"], "token.expired");
    assert_eq!(expired[0]["data"]["token"]["id"], id);
    tessera::tokens::expiry::tell_owners(&app.state.store, app.clock.now())
        .await
        .unwrap();
    assert_eq!(app.deliver_webhooks().await, 0, "expiry is told once");

    // Born inside the 30-day threshold: its owner is told first at 7 days.
    let short = app
        .post(
            "/api/v1/tokens",
            Some(&ana.jwt),
            json!({"name": "short", "scopes": ["users:read"], "expires_in_days": 10}),
        )
        .await;
    let short_expiry = short.data()["expires_at"].clone();
    // (The wire's expiry is cut to the second: a second less reaches inside the threshold.)
    let second = time::Duration::seconds(1);
    at_before_expiry(&app, &short_expiry, time::Duration::days(8) - second).await;
    assert_eq!(app.deliver_webhooks().await, 0);
    at_before_expiry(&app, &short_expiry, time::Duration::days(7) - second).await;
    let first = payloads(&secret, &receive_all(&app, &mut receiver, 1).await);
    assert_eq!(
        (
            &first[0]["data"]["token"]["name"],
            &first[0]["data"]["days_left"]
        ),
        (&json!("short"), &json!(7))
    );
}

#[tokio::test]
async fn account_events_reach_the_account_and_every_admin_but_no_one_else() {
    let app = TestApp::builder()
        .login_lockout(3, 100_000, 0)
        .spawn()
        .await;
    let root = app
        .user("root")
        .role(tessera::types::Role::Admin)
        .create()
        .await;
    let ana = app.user("ana").create().await;
    let bob = app.user("bob").create().await;
    let (mut to_root, mut to_ana, mut to_bob) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let (_, root_secret) = register(&app, &root, &to_root.url, &["account.*"]).await;
    let (_, ana_secret) = register(&app, &ana, &to_ana.url, &["account.*"]).await;
    register(&app, &bob, &to_bob.url, &["*"]).await;

    // A spent refresh token presented again.
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "ana", "password": crate::support::PASSWORD}),
        )
        .await;
    let refresh = login.data()["refresh_token"].clone();
    for expected in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let refreshed = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": refresh}),
            )
            .await;
        assert_eq!(refreshed.status, expected, "{:?}", refreshed.body);
    }
    // Three wrong passwords lock the account.
    for _ in 0..3 {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({"username": "ana", "password": "wrong wrong wrong"}),
        )
        .await;
    }
    assert_eq!(
        app.deliver_webhooks().await,
        4,
        "two events, each to ana and to the admin"
    );
    let mut heard_by_ana: Vec<Value> =
        payloads(&ana_secret, &[to_ana.next().await, to_ana.next().await]);
    let mut heard_by_root: Vec<Value> =
        payloads(&root_secret, &[to_root.next().await, to_root.next().await]);
    for heard in [&mut heard_by_ana, &mut heard_by_root] {
        heard.sort_by_key(|p| p["type"].to_string());
        assert_eq!(heard[0]["type"], "account.locked");
        assert_eq!(heard[1]["type"], "account.refresh_token_reused");
        for payload in heard.iter() {
            assert_eq!(
                payload["data"]["account"],
                json!({"id": ana.id, "username": "ana"})
            );
        }
    }

    // Disabled: the admins hear of it; the account's own endpoints stop with the account.
    let disabled = app
        .post(
            &format!("/api/v1/admin/users/{}/disable", ana.id),
            Some(&root.jwt),
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{:?}", disabled.body);
    assert_eq!(app.deliver_webhooks().await, 1);
    let told = payloads(&root_secret, &[to_root.next().await]);
    assert_eq!(told[0]["type"], "account.disabled");
    assert_eq!(told[0]["data"]["account"]["id"], ana.id.as_str());
    assert!(to_ana.pending().is_empty());
    assert!(
        to_bob.pending().is_empty(),
        "another member hears nothing of ana's account"
    );
}

/// A signed-in client of a running binary.
struct Session {
    client: reqwest::Client,
    base: String,
    jwt: String,
}

impl Session {
    async fn login(base: &str, username: &str) -> Session {
        let client = reqwest::Client::new();
        let login: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": crate::support::PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwt = login["data"]["access_token"]
            .as_str()
            .expect("logged in")
            .to_owned();
        Session {
            client,
            base: base.to_owned(),
            jwt,
        }
    }

    async fn send(&self, method: Method, path: &str) -> StatusCode {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.jwt)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn an_event_committed_before_kill_9_is_delivered_after_the_restart() {
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    let (_, secret) = register(&app, &ana, &receiver.url, &["token.revoked"]).await;
    let (token, _) = app.pat(&ana.jwt, &["users:read"]).await;
    let db = app.shutdown().await;

    // The change, on an instance that dies (SIGKILL) before delivering anything.
    let crate::support::Binary {
        mut child,
        base,
        db,
        ..
    } = TestApp::builder().on(db).spawn_binary().await;
    let ana = Session::login(&base, "ana").await;
    assert_eq!(
        ana.send(Method::DELETE, &format!("/api/v1/tokens/{token}"))
            .await,
        StatusCode::OK
    );
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert!(receiver.pending().is_empty());

    let restarted = TestApp::builder()
        .on(db)
        .with_config(|c| {
            c.webhook_delivery = true;
            c.webhook_poll_interval_ms = 20;
        })
        .spawn_binary()
        .await;
    let delivered = receiver.next().await;
    let payload = verified(&secret, &[delivered])
        .remove(0)
        .expect("it verifies");
    assert_eq!(payload["type"], "token.revoked");
    assert_eq!(payload["data"]["token"]["id"], token.as_str());
    restarted.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_postgresql_deliver_each_event_once() {
    let app = TestApp::spawn().await;
    if !app.db.is_postgres() {
        eprintln!("SKIPPED: several instances share PostgreSQL only");
        return;
    }
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, &ana, &receiver.url, &["*"]).await;
    let db = app.shutdown().await;
    let delivering = |db| {
        TestApp::builder()
            .on(db)
            .with_config(|c| {
                c.webhook_delivery = true;
                c.webhook_poll_interval_ms = 10;
            })
            .spawn_binary()
    };
    let first = delivering(db.share()).await;
    let second = delivering(db.share()).await;
    let sessions = [
        Session::login(&first.base, "ana").await,
        Session::login(&second.base, "ana").await,
    ];
    const EVENTS: usize = 40;
    for n in 0..EVENTS {
        let queued = sessions[n % 2]
            .send(Method::POST, &format!("/api/v1/webhooks/{endpoint}/test"))
            .await;
        assert_eq!(queued, StatusCode::ACCEPTED);
    }
    let mut received = Vec::new();
    for _ in 0..EVENTS {
        received.push(receiver.next().await);
    }
    // Graceful stops: each worker finishes its round, so every attempt it posted is recorded.
    first.stop().await;
    second.stop().await;
    assert!(receiver.pending().is_empty(), "no event arrived twice");
    let ids: std::collections::HashSet<&String> =
        received.iter().map(|r| &r.headers["webhook-id"]).collect();
    assert_eq!(ids.len(), EVENTS, "each event once");
    assert!(verified(&secret, &received).iter().all(Result::is_ok));
    let attempts = db
        .strings("SELECT CAST(attempts AS TEXT) || ' ' || status FROM webhook_deliveries")
        .await;
    assert_eq!(attempts.len(), EVENTS);
    assert!(attempts.iter().all(|a| a == "1 delivered"), "{attempts:?}");
}

#[tokio::test]
async fn a_paused_endpoint_keeps_its_events_until_it_is_resumed() {
    let app = TestApp::spawn().await;
    let ana = app.user("ana").create().await;
    let mut receiver = Receiver::start().await;
    let (id, secret) = register(&app, &ana, &receiver.url, &["token.*"]).await;
    let path = format!("/api/v1/webhooks/{id}");
    app.patch(&path, Some(&ana.jwt), json!({"enabled": false}))
        .await;
    let (token, _) = app.pat(&ana.jwt, &["users:read"]).await;
    app.delete(&format!("/api/v1/tokens/{token}"), Some(&ana.jwt))
        .await;
    assert_eq!(app.deliver_webhooks().await, 0, "paused: nothing is sent");
    // Editing something else leaves it paused.
    let edited = app
        .patch(&path, Some(&ana.jwt), json!({"description": "pager"}))
        .await;
    assert_eq!(edited.data()["enabled"], false);
    app.patch(&path, Some(&ana.jwt), json!({"enabled": true}))
        .await;
    let got = payloads(&secret, &receive_all(&app, &mut receiver, 1).await);
    assert_eq!(
        got[0]["type"], "token.revoked",
        "the event raised while paused waited"
    );
}
