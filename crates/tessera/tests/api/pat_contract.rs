//! The PAT contract over HTTP: the required proofs, the scope matrix, isolation, the audit log.

use crate::support::{method, satisfies, TestApp, ALL_SCOPES, PROTECTED};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use tessera::types::Role;

/// Required proof 1: the hierarchy.
#[tokio::test]
async fn scope_hierarchy_admin_and_analyze() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, admin) = app.pat(&jwt, &["workspaces:admin"]).await;
    for (m, path) in [
        ("GET", "/api/v1/workspaces"),
        ("POST", "/api/v1/workspaces"),
        ("DELETE", "/api/v1/workspaces/5"),
        ("PUT", "/api/v1/workspaces/5/settings"),
    ] {
        let reply = app.request(method(m), path, Some(&admin), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{m} {path}: {:?}", reply.body);
        assert_eq!(reply.data()["granted_by"], "workspaces:admin");
    }
    let refused = app.get("/api/v1/fcs/parameters", Some(&admin)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.body,
        json!({"success": false, "error": "Forbidden", "data": {"required_scope": "fcs:read", "your_scopes": ["workspaces:admin"]}})
    );

    let (_, analyze) = app.pat(&jwt, &["fcs:analyze"]).await;
    for (m, path) in [
        ("GET", "/api/v1/fcs/parameters"),
        ("GET", "/api/v1/fcs/events"),
        ("POST", "/api/v1/fcs/upload"),
        ("GET", "/api/v1/fcs/statistics"),
    ] {
        let reply = app.request(method(m), path, Some(&analyze), None).await;
        assert!(
            reply.status != StatusCode::FORBIDDEN && reply.status != StatusCode::UNAUTHORIZED,
            "{m} {path} must get past the scope check: {:?}",
            reply.body
        );
    }
    let refused = app.get("/api/v1/workspaces", Some(&analyze)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.data()["required_scope"], "workspaces:read");
    assert_eq!(refused.data()["your_scopes"], json!(["fcs:analyze"]));
}

/// Required proof 2: expired and revoked tokens, and the order of the 401 messages.
#[tokio::test]
async fn expired_and_revoked_tokens_are_refused_with_their_messages() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (expired_id, expired) = app.pat(&jwt, &["workspaces:read"]).await;
    let (revoked_id, revoked) = app.pat(&jwt, &["workspaces:read"]).await;
    let (both_id, both) = app.pat(&jwt, &["workspaces:read"]).await;

    for prefix in [&expired[..12], &both[..12]] {
        app.db.exec(&format!("UPDATE personal_access_tokens SET expires_at = created_at WHERE token_prefix = '{prefix}'")).await;
    }
    for id in [&revoked_id, &both_id] {
        assert_eq!(
            app.delete(&format!("/api/v1/tokens/{id}"), Some(&jwt))
                .await
                .status,
            StatusCode::OK
        );
    }

    for (token, message) in [
        (&expired, "Token expired"),
        (&revoked, "Token revoked"),
        (&both, "Token revoked"),
    ] {
        let reply = app.get("/api/v1/workspaces", Some(token)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.body,
            json!({"success": false, "error": "Unauthorized", "message": message})
        );
        assert_eq!(reply.header("www-authenticate"), "Bearer");
    }

    let missing = app.get("/api/v1/workspaces", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.message(), "Missing token");
    assert_eq!(missing.header("www-authenticate"), "Bearer");
    for garbage in [
        "garbage",
        "pat_",
        &jwt,
        "pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let reply = app.get("/api/v1/workspaces", Some(garbage)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.message(), "Invalid token", "for {garbage:?}");
    }
    let not_bearer = app
        .client
        .get(app.url("/api/v1/workspaces"))
        .header("authorization", format!("Basic {expired}"))
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::reply(not_bearer).await.message(), "Invalid token");

    // Both refusals are in the audit log with their reasons.
    let logs = app.logs(&jwt, &expired_id, "").await;
    assert_eq!(logs.data()["logs"][0]["reason"], "Token expired");
    assert_eq!(logs.data()["logs"][0]["status_code"], 401);
    let logs = app.logs(&jwt, &revoked_id, "").await;
    assert_eq!(logs.data()["logs"][0]["reason"], "Token revoked");
    assert_eq!(logs.data()["logs"][0]["authorized"], false);

    let listed = app
        .get(&format!("/api/v1/tokens/{expired_id}"), Some(&jwt))
        .await;
    assert_eq!(listed.data()["status"], "expired");
    let listed = app
        .get(&format!("/api/v1/tokens/{both_id}"), Some(&jwt))
        .await;
    assert_eq!(listed.data()["status"], "revoked");
    assert_eq!(listed.data()["is_revoked"], true);
}

/// Required proof 3: storage holds the prefix and the SHA-256, never the token.
#[tokio::test]
async fn storage_holds_hash_and_prefix_only() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (_, token) = app.pat(&jwt, &["workspaces:read"]).await;
    let prefix = &token[..12];
    let expected_hash = hex(&Sha256::digest(token.as_bytes()));

    let (row_sql, hash_sql) = if app.db.is_postgres() {
        (
            "SELECT row_to_json(t)::text FROM personal_access_tokens t",
            format!("SELECT encode(token_hash, 'hex') FROM personal_access_tokens WHERE token_prefix = '{prefix}'"),
        )
    } else {
        (
            "SELECT hex(id) || name || token_prefix || hex(token_hash) || scopes || created_at || expires_at FROM personal_access_tokens",
            format!("SELECT lower(hex(token_hash)) FROM personal_access_tokens WHERE token_prefix = '{prefix}'"),
        )
    };
    let rows = app.db.strings(row_sql).await;
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].contains(&token),
        "the plaintext token is stored: {}",
        rows[0]
    );
    assert!(rows[0].contains(prefix));
    assert_eq!(app.db.strings(&hash_sql).await, vec![expected_hash]);

    if !app.db.is_postgres() {
        // Nothing anywhere in the database files either (main file and WAL). The data dir also
        // holds directories (the FCS sample and uploads), which are not database files.
        for entry in std::fs::read_dir(app.db.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                continue;
            }
            let bytes = std::fs::read(path).unwrap();
            let haystack = String::from_utf8_lossy(&bytes);
            assert!(
                !haystack.contains(&token[12..]),
                "token secret found in a database file"
            );
        }
    }

    assert_eq!(
        app.get("/api/v1/workspaces", Some(&token)).await.status,
        StatusCode::OK
    );
    // Same prefix, wrong tail (with a valid checksum, so it reaches the database lookup).
    let forged = forge_with_prefix(prefix);
    let reply = app.get("/api/v1/workspaces", Some(&forged)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.message(), "Invalid token");
    // Same prefix, wrong tail, wrong checksum.
    let mut tampered = token.clone();
    tampered.replace_range(20..21, if &token[20..21] == "a" { "b" } else { "a" });
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&tampered))
            .await
            .message(),
        "Invalid token"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token with `prefix`, a different random part and a correct checksum.
fn forge_with_prefix(prefix: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let random = format!("{}{}", &prefix[4..], "Z".repeat(22));
    let mut crc = crc32fast::hash(random.as_bytes()) as u64;
    let mut check = [b'0'; 6];
    for digit in check.iter_mut().rev() {
        *digit = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    format!("pat_{random}{}", String::from_utf8(check.to_vec()).unwrap())
}

/// Every scope against every protected route: allowed exactly when the hierarchy says so.
#[tokio::test]
async fn every_scope_against_every_route() {
    let app = TestApp::spawn().await;
    // An admin, whose role may hold every scope (see `a_token_never_outranks_its_owner`).
    let jwt = app.user("alice").role(Role::Admin).create().await.jwt;
    for scope in ALL_SCOPES {
        let (_, token) = app.pat(&jwt, &[scope, "users:read"]).await;
        let granted: Vec<&str> = vec![scope, "users:read"];
        for (m, path, required) in PROTECTED {
            let reply = app.request(method(m), path, Some(&token), None).await;
            let allowed = granted.iter().any(|g| satisfies(g, required));
            if !allowed {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{scope} on {m} {path}");
                assert_eq!(reply.data()["required_scope"], *required);
                let expected: Vec<&str> = if *scope == "users:read" {
                    vec!["users:read"]
                } else {
                    granted.clone()
                };
                assert_eq!(reply.data()["your_scopes"], json!(expected));
                continue;
            }
            assert!(
                reply.status != StatusCode::FORBIDDEN && reply.status != StatusCode::UNAUTHORIZED,
                "{scope} on {m} {path}"
            );
            if path.contains("/fcs/") {
                continue; // answered by the FCS issue's handlers
            }
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{scope} on {m} {path}: {:?}",
                reply.body
            );
            let highest = granted
                .iter()
                .filter(|g| satisfies(g, required))
                .max_by_key(|g| rank(g))
                .unwrap();
            assert_eq!(
                reply.body,
                json!({"success": true, "data": {
                    "endpoint": path, "method": m, "required_scope": required,
                    "granted_by": highest,
                    "your_scopes": if *scope == "users:read" { vec!["users:read"] } else { granted.clone() },
                }})
            );
        }
    }
}

fn rank(scope: &str) -> usize {
    ["read", "write", "delete", "admin", "analyze"]
        .iter()
        .position(|l| scope.ends_with(l))
        .unwrap()
}

#[tokio::test]
async fn double_s_spelling_is_accepted_in_scopes_and_answered_canonically() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let created = app
        .post(
            "/api/v1/tokens",
            Some(&jwt),
            json!({"name": "x", "scopes": ["workspacess:write", "fcs:read", "workspaces:write"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created.data()["scopes"],
        json!(["workspaces:write", "fcs:read"])
    );
    let token = created.data()["token"].as_str().unwrap();
    let reply = app.get("/api/v1/workspacess", Some(token)).await;
    assert_eq!(reply.data()["endpoint"], "/api/v1/workspacess");
    assert_eq!(reply.data()["granted_by"], "workspaces:write");
}

#[tokio::test]
async fn users_see_and_touch_only_their_own_tokens() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await.jwt;
    let bob = app.user("bob").create().await.jwt;
    let (alice_token_id, alice_pat) = app.pat(&alice, &["workspaces:read"]).await;

    let bob_list = app.get("/api/v1/tokens", Some(&bob)).await;
    assert_eq!(bob_list.data()["total"], 0);
    for reply in [
        app.get(&format!("/api/v1/tokens/{alice_token_id}"), Some(&bob))
            .await,
        app.delete(&format!("/api/v1/tokens/{alice_token_id}"), Some(&bob))
            .await,
        app.post(
            &format!("/api/v1/tokens/{alice_token_id}/regenerate"),
            Some(&bob),
            json!({}),
        )
        .await,
        app.logs(&bob, &alice_token_id, "").await,
    ] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{:?}", reply.body);
        assert_eq!(reply.message(), "Token not found");
    }
    // Alice's token still works: Bob's attempts changed nothing.
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&alice_pat)).await.status,
        StatusCode::OK
    );
    // A PAT is not accepted on the tokens API.
    let reply = app.get("/api/v1/tokens", Some(&alice_pat)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.message(), "Invalid token");
}

/// Alice's app and her `CI/CD Pipeline` token (`fcs:read`, 30 days): (app, JWT, creation reply).
async fn pipeline_token() -> (TestApp, String, crate::support::Reply) {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let created = app
        .post(
            "/api/v1/tokens",
            Some(&jwt),
            json!({"name": "  CI/CD Pipeline ", "scopes": ["fcs:read"], "expires_in_days": 30}),
        )
        .await;
    (app, jwt, created)
}

/// Creation answers the seven fields of the contract, the secret once, the name trimmed and the
/// expiry `expires_in_days` after creation.
#[tokio::test]
async fn a_created_token_is_answered_once_with_its_seven_fields() {
    let (_app, _jwt, created) = pipeline_token().await;
    assert_eq!(created.status, StatusCode::CREATED);
    let data = created.data();
    let keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    for key in [
        "id",
        "name",
        "token",
        "token_prefix",
        "scopes",
        "created_at",
        "expires_at",
    ] {
        assert!(data.get(key).is_some(), "missing {key}");
    }
    assert_eq!(data["name"], "CI/CD Pipeline");
    let token = data["token"].as_str().unwrap().to_owned();
    assert_eq!(data["token_prefix"], token[..12]);
    assert!(data["created_at"].as_str().unwrap().ends_with('Z'));
    let created_at = time::OffsetDateTime::parse(
        data["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires_at = time::OffsetDateTime::parse(
        data["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires_at - created_at).whole_days(), 30);
}

/// The list is newest first and shows no secret or hash.
#[tokio::test]
async fn the_token_list_is_newest_first_without_secrets() {
    let (app, jwt, _) = pipeline_token().await;
    let (second_id, _) = app.pat(&jwt, &["users:read"]).await;
    let list = app.get("/api/v1/tokens", Some(&jwt)).await;
    assert_eq!(list.data()["total"], 2);
    assert_eq!(list.data()["tokens"][0]["id"], second_id, "newest first");
    let listed = &list.data()["tokens"][1];
    assert!(listed.get("token").is_none() && listed.get("token_hash").is_none());
    let keys: Vec<&str> = listed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "expires_at",
            "id",
            "is_revoked",
            "last_used_at",
            // Issue 14 (newer than the contract) adds it beside `last_used_at`.
            "last_used_ip",
            "name",
            "scopes",
            "status",
            "token_prefix"
        ]
    );
    assert_eq!(listed["status"], "active");
}

/// Regenerating keeps the token's id, name and scopes and replaces its secret: the old one is
/// refused at once.
#[tokio::test]
async fn regenerating_replaces_the_secret_and_keeps_the_rest() {
    let (app, jwt, created) = pipeline_token().await;
    let token = created.data()["token"].as_str().unwrap().to_owned();
    let id = created.data()["id"].as_str().unwrap().to_owned();
    let regenerated = app
        .post(
            &format!("/api/v1/tokens/{id}/regenerate"),
            Some(&jwt),
            json!({}),
        )
        .await;
    assert_eq!(regenerated.status, StatusCode::OK);
    assert_eq!(regenerated.data()["id"], id);
    assert_eq!(regenerated.data()["name"], "CI/CD Pipeline");
    assert_eq!(regenerated.data()["scopes"], json!(["fcs:read"]));
    let new_token = regenerated.data()["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    assert_eq!(
        app.get("/api/v1/fcs/parameters", Some(&token))
            .await
            .message(),
        "Invalid token"
    );
    assert_ne!(
        app.get("/api/v1/fcs/parameters", Some(&new_token))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// Revocation is idempotent (the first `revoked_at` stays) and final: the secret is refused, the
/// token cannot be regenerated, and its logs stay readable.
#[tokio::test]
async fn revocation_is_idempotent_and_final() {
    let (app, jwt, created) = pipeline_token().await;
    let id = created.data()["id"].as_str().unwrap().to_owned();
    let token = created.data()["token"].as_str().unwrap().to_owned();
    let revoked = app
        .delete(&format!("/api/v1/tokens/{id}"), Some(&jwt))
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(revoked.data()["id"], id);
    let again = app
        .delete(&format!("/api/v1/tokens/{id}"), Some(&jwt))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.data()["revoked_at"],
        revoked.data()["revoked_at"],
        "idempotent: the first revoked_at"
    );
    assert_eq!(
        app.get("/api/v1/fcs/parameters", Some(&token))
            .await
            .message(),
        "Token revoked"
    );
    let regenerate_revoked = app
        .post(
            &format!("/api/v1/tokens/{id}/regenerate"),
            Some(&jwt),
            json!({}),
        )
        .await;
    assert_eq!(regenerate_revoked.status, StatusCode::CONFLICT);
    let shown = app.get(&format!("/api/v1/tokens/{id}"), Some(&jwt)).await;
    assert_eq!(shown.data()["status"], "revoked");
    assert_eq!(
        app.logs(&jwt, &id, "").await.status,
        StatusCode::OK,
        "a revoked token's logs stay readable"
    );
}

#[tokio::test]
async fn audit_log_entries_order_paging_and_reasons() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (id, token) = app.pat(&jwt, &["workspaces:read"]).await;
    let (other_id, _) = app.pat(&jwt, &["workspaces:read"]).await;

    assert_eq!(
        app.get("/api/v1/workspaces?page=2&secret=x", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete("/api/v1/workspaces/5", Some(&token))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/users/me", Some(&token)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/workspacess", Some(&token)).await.status,
        StatusCode::OK
    );
    // Not attributable: no entry.
    app.get("/api/v1/workspaces", Some("pat_nonsense")).await;
    app.get("/api/v1/workspaces", None).await;

    let logs = app.logs(&jwt, &id, "?limit=50&offset=0").await;
    assert_eq!(logs.status, StatusCode::OK);
    assert_eq!(logs.data()["token_id"], id);
    assert_eq!(logs.data()["token_name"], "test token");
    assert_eq!(logs.data()["total_logs"], 4);
    let entries = logs.data()["logs"].as_array().unwrap();
    let summary: Vec<(String, String, i64, bool, Option<String>)> = entries
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["endpoint"].as_str().unwrap().to_owned(),
                e["status_code"].as_i64().unwrap(),
                e["authorized"].as_bool().unwrap(),
                e["reason"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let perm = Some("Insufficient permissions".to_owned());
    assert_eq!(
        summary,
        vec![
            ("GET".into(), "/api/v1/workspacess".into(), 200, true, None),
            (
                "GET".into(),
                "/api/v1/users/me".into(),
                403,
                false,
                perm.clone()
            ),
            (
                "DELETE".into(),
                "/api/v1/workspaces/5".into(),
                403,
                false,
                perm
            ),
            ("GET".into(), "/api/v1/workspaces".into(), 200, true, None),
        ]
    );
    let first = &entries[0];
    assert_eq!(first["ip"], "127.0.0.1");
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "authorized",
            "endpoint",
            "ip",
            "method",
            "reason",
            "status_code",
            "timestamp"
        ]
    );

    let page = app.logs(&jwt, &id, "?limit=2&offset=1").await;
    assert_eq!(page.data()["total_logs"], 4);
    let page_entries = page.data()["logs"].as_array().unwrap();
    assert_eq!(page_entries.len(), 2);
    assert_eq!(page_entries[0]["endpoint"], "/api/v1/users/me");
    assert_eq!(page_entries[1]["endpoint"], "/api/v1/workspaces/5");
    let past_end = app.logs(&jwt, &id, "?offset=100").await;
    assert_eq!(past_end.data()["logs"], json!([]));
    assert_eq!(app.logs(&jwt, &other_id, "").await.data()["total_logs"], 0);
}

#[tokio::test]
async fn two_hundred_concurrent_requests_leave_two_hundred_entries() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (id, token) = app.pat(&jwt, &["workspaces:read"]).await;
    let requests = (0..200).map(|_| app.get("/api/v1/workspaces", Some(&token)));
    let replies = futures::future::join_all(requests).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let logs = app.logs(&jwt, &id, "?limit=1000").await;
    assert_eq!(logs.data()["total_logs"], 200);
    assert_eq!(logs.data()["logs"].as_array().unwrap().len(), 200);
}

#[tokio::test]
async fn ip_allowlist_refuses_and_audits_other_addresses() {
    let app = TestApp::spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (id, elsewhere) = app
        .pat_with(
            &jwt,
            json!({"name": "lab", "scopes": ["workspaces:read"], "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    let reply = app.get("/api/v1/workspaces", Some(&elsewhere)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        json!({"success": false, "error": "Forbidden", "message": "IP not allowed"})
    );
    let logs = app.logs(&jwt, &id, "").await;
    assert_eq!(logs.data()["logs"][0]["reason"], "IP not allowed");
    assert_eq!(logs.data()["logs"][0]["status_code"], 403);
    let shown = app.get(&format!("/api/v1/tokens/{id}"), Some(&jwt)).await;
    assert_eq!(shown.data()["allowed_ips"], json!(["10.0.0.0/8"]));

    let (_, here) = app
        .pat_with(
            &jwt,
            json!({"name": "here", "scopes": ["workspaces:read"], "allowed_ips": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&here)).await.status,
        StatusCode::OK
    );

    let bad = app
        .post(
            "/api/v1/tokens",
            Some(&jwt),
            json!({"name": "x", "scopes": ["fcs:read"], "allowed_ips": ["10.0.0.300/8"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.message().contains("allowed_ips"));
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let app = TestApp::builder().trust_loopback_proxy().spawn().await;
    let jwt = app.user("alice").create().await.jwt;
    let (id, token) = app.pat_with(&jwt, json!({"name": "lab", "scopes": ["workspaces:read"], "allowed_ips": ["203.0.113.0/24"]})).await;
    let via_proxy = app
        .get_with_header(
            "/api/v1/workspaces",
            &token,
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
        )
        .await;
    assert_eq!(via_proxy.status, StatusCode::OK);
    let logs = app.logs(&jwt, &id, "").await;
    assert_eq!(logs.data()["logs"][0]["ip"], "203.0.113.7");

    // Without trust, the same header is ignored.
    let untrusting = TestApp::spawn().await;
    let jwt = untrusting.user("bob").create().await.jwt;
    let (_, token) = untrusting.pat_with(&jwt, json!({"name": "lab", "scopes": ["workspaces:read"], "allowed_ips": ["203.0.113.0/24"]})).await;
    let spoofed = untrusting
        .get_with_header(
            "/api/v1/workspaces",
            &token,
            ("x-forwarded-for", "203.0.113.7"),
        )
        .await;
    assert_eq!(spoofed.status, StatusCode::FORBIDDEN);
}

/// What each role may hold, written here independently of the code's table: the contract's
/// scopes for everyone; case records for staff (deleting for admins and managers); connections
/// for admins (OAuth clients) and managers (branches and grants).
fn role_may_hold(role: &str, scope: &str) -> bool {
    let (resource, level) = scope.split_once(':').unwrap();
    match resource {
        "workspaces" | "users" | "fcs" => true,
        "beneficiaries" => match role {
            "admin" | "manager" => true,
            "member" => false,
            _ => level != "delete",
        },
        "connections" => match role {
            "admin" => true,
            "manager" => level != "admin",
            _ => false,
        },
        other => unreachable!("{other}"),
    }
}

const ROLES: [&str; 7] = [
    "admin",
    "manager",
    "therapist",
    "social_worker",
    "coordinator",
    "data_entry",
    "member",
];

/// Every role against every scope: minting within the role succeeds, beyond it is 403 in the
/// envelope naming the scope, and nothing is stored.
#[tokio::test]
async fn a_token_never_outranks_its_owner() {
    let app = TestApp::spawn().await;
    for role in ROLES {
        let jwt = app
            .user(&format!("{role}-owner"))
            .role(Role::parse(role).unwrap())
            .create()
            .await
            .jwt;
        for scope in ALL_SCOPES {
            let reply = app
                .post(
                    "/api/v1/tokens",
                    Some(&jwt),
                    json!({"name": "t", "scopes": ["fcs:read", scope]}),
                )
                .await;
            if role_may_hold(role, scope) {
                assert_eq!(reply.status, StatusCode::CREATED, "{role} {scope}");
                continue;
            }
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role} {scope}");
            assert_eq!(
                reply.body,
                json!({"success": false, "error": "Forbidden", "message": format!(
                    "A token cannot do more than its owner: your role ({role}) may not hold {scope}"
                )})
            );
        }
        let listed = app.get("/api/v1/tokens", Some(&jwt)).await;
        let allowed = ALL_SCOPES.iter().filter(|s| role_may_hold(role, s)).count();
        assert_eq!(listed.data()["total"], allowed, "{role}");
    }
}

/// A person's own JWT reaches the connections only as far as their role may hold: the same
/// ceiling as their tokens.
#[tokio::test]
async fn a_jwt_reaches_connections_only_as_far_as_the_role() {
    let app = TestApp::spawn().await;
    let routes = [
        ("/api/v1/oauth-clients", "connections:admin"),
        ("/api/v1/branches", "connections:read"),
    ];
    for role in ROLES {
        let jwt = app
            .user(&format!("{role}-owner"))
            .role(Role::parse(role).unwrap())
            .create()
            .await
            .jwt;
        for (path, scope) in routes {
            let reply = app.get(path, Some(&jwt)).await;
            if role_may_hold(role, scope) {
                assert_eq!(reply.status, StatusCode::OK, "{role} {path}");
            } else {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role} {path}");
                assert_eq!(
                    reply.message(),
                    format!("Your role ({role}) may not use {scope}")
                );
            }
        }
        // Writing branches needs connections:write: refused before the body is read.
        let reply = app.post("/api/v1/branches", Some(&jwt), json!({})).await;
        if role_may_hold(role, "connections:write") {
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{role}");
        } else {
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role}");
        }
    }
}

/// Regenerating is minting again: a token whose owner has been demoted below its scopes gets no
/// new secret (403 naming the scope), and the one it has stays as it was.
#[tokio::test]
async fn a_token_beyond_its_owners_role_now_is_not_regenerated() {
    let app = TestApp::spawn().await;
    let owner = app.user("lead").role(Role::Manager).create().await;
    let (id, secret) = app.pat(&owner.jwt, &["beneficiaries:delete"]).await;
    app.assign_role(&owner.id, Role::Therapist).await;
    let refused = app
        .post(
            &format!("/api/v1/tokens/{id}/regenerate"),
            Some(&owner.jwt),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    assert_eq!(
        refused.message(),
        "A token cannot do more than its owner: your role (therapist) may not hold beneficiaries:delete"
    );
    let kept = app
        .get(&format!("/api/v1/tokens/{id}"), Some(&owner.jwt))
        .await;
    assert_eq!(kept.data()["token_prefix"], secret[..12]);
    // Within the role again, it regenerates.
    app.assign_role(&owner.id, Role::Manager).await;
    let renewed = app
        .post(
            &format!("/api/v1/tokens/{id}/regenerate"),
            Some(&owner.jwt),
            json!({}),
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
}
