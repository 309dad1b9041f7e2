//! Accounts over HTTP: sessions and refresh-token rotation, logout, JWKS verification by an
//! independent library, key rotation, profile, password change, roles and brute-force defence.

use std::time::{Duration, Instant};

use crate::support::{TestApp, PASSWORD, TEST_SECRET};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::types::Role;

async fn login(app: &TestApp, username: &str, password: &str) -> crate::support::Reply {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
}

/// Logs in and returns (access token, refresh token).
async fn session(app: &TestApp, username: &str) -> (String, String) {
    let reply = login(app, username, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    pair(&reply)
}

fn pair(reply: &crate::support::Reply) -> (String, String) {
    (
        reply.data()["access_token"].as_str().unwrap().to_owned(),
        reply.data()["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(app: &TestApp, refresh_token: &str) -> crate::support::Reply {
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh_token}),
    )
    .await
}

/// A query for a binary column as upper-case hex, on either backend.
fn hex_column(app: &TestApp, column: &str, table: &str) -> String {
    if app.db.is_postgres() {
        format!("SELECT upper(encode({column}, 'hex')) FROM {table}")
    } else {
        format!("SELECT hex({column}) FROM {table}")
    }
}

async fn security_events(app: &TestApp, kind: &str) -> usize {
    app.db
        .strings(&format!(
            "SELECT kind FROM security_events WHERE kind = '{kind}'"
        ))
        .await
        .len()
}

#[tokio::test]
async fn login_returns_a_session_and_refresh_rotates_it() {
    let app = TestApp::spawn().await;
    app.user("alice").register().await;
    let reply = login(&app, "alice", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK);
    let data = reply.data();
    assert_eq!(data["token_type"], "bearer");
    assert_eq!(data["expires_in"], 900);
    assert_eq!(data["refresh_expires_in"], 30 * 86_400);
    let (access, first_refresh) = pair(&reply);
    assert!(first_refresh.starts_with("rt_"));

    let rotated = refresh(&app, &first_refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    let (new_access, second_refresh) = pair(&rotated);
    assert_ne!(second_refresh, first_refresh);
    assert_ne!(new_access, access);
    // Both access tokens belong to the running session.
    for token in [&access, &new_access] {
        assert_eq!(
            app.get("/api/v1/tokens", Some(token)).await.status,
            StatusCode::OK
        );
    }
    // The next refresh works with the new token; only hashes are stored.
    let third = refresh(&app, &second_refresh).await;
    assert_eq!(third.status, StatusCode::OK);
    let stored = app
        .db
        .strings(&hex_column(&app, "token_hash", "refresh_tokens"))
        .await
        .join(",")
        .to_lowercase();
    assert!(!stored.contains(&second_refresh.to_lowercase()));
}

#[tokio::test]
async fn a_replayed_refresh_token_kills_the_whole_session() {
    let app = TestApp::spawn().await;
    app.user("alice").register().await;
    let (access, stolen) = session(&app, "alice").await;
    let (other_device, _) = session(&app, "alice").await;
    let (latest_access, latest_refresh) = pair(&refresh(&app, &stolen).await);

    let replay = refresh(&app, &stolen).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.message(), "Invalid refresh token");
    // Every token of that family is dead: refresh tokens and access tokens alike.
    assert_eq!(
        refresh(&app, &latest_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    for token in [&access, &latest_access] {
        let reply = app.get("/api/v1/tokens", Some(token)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.message(), "Token revoked");
    }
    // Another session of the same user is untouched.
    assert_eq!(
        app.get("/api/v1/tokens", Some(&other_device)).await.status,
        StatusCode::OK
    );
    assert_eq!(security_events(&app, "refresh_token_reused").await, 1);
}

#[tokio::test]
async fn concurrent_uses_of_one_refresh_token_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    app.user("alice").register().await;
    let (_, refresh_token) = session(&app, "alice").await;
    let replies = futures::future::join_all((0..8).map(|_| refresh(&app, &refresh_token))).await;
    let succeeded = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(succeeded, 1, "exactly one use may win");
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn garbage_and_unknown_refresh_tokens_are_refused_alike() {
    let app = TestApp::spawn().await;
    for token in [
        "",
        "rt_short",
        "pat_x",
        &format!("rt_{}", "a".repeat(43)),
        "rt_\u{e9}",
    ] {
        let reply = refresh(&app, token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(reply.message(), "Invalid refresh token");
    }
    let reply = app.post("/api/v1/auth/refresh", None, json!({})).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn logout_ends_the_session_and_logout_all_ends_every_one() {
    let app = TestApp::spawn().await;
    app.user("alice").register().await;
    let (first, first_refresh) = session(&app, "alice").await;
    let (second, _) = session(&app, "alice").await;
    let (third, third_refresh) = session(&app, "alice").await;

    let out = app
        .post("/api/v1/auth/logout", Some(&first), json!({}))
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/tokens", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &first_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/tokens", Some(&second)).await.status,
        StatusCode::OK
    );

    let all = app
        .post("/api/v1/auth/logout-all", Some(&second), json!({}))
        .await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.data()["sessions_ended"], 2);
    for token in [&second, &third] {
        assert_eq!(
            app.get("/api/v1/tokens", Some(token)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        refresh(&app, &third_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one() {
    let app = TestApp::spawn().await;
    app.user("alice").register().await;
    app.user("mallory").register().await;
    let laptop = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", "lab-laptop/1.0")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let laptop = TestApp::reply(laptop).await;
    let (laptop_access, _) = pair(&laptop);
    let (phone_access, _) = session(&app, "alice").await;

    let listed = app.get("/api/v1/auth/sessions", Some(&phone_access)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.data()["total"], 2);
    let sessions = listed.data()["sessions"].as_array().unwrap();
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let laptop_session = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(laptop_session["user_agent"], "lab-laptop/1.0");
    assert_eq!(laptop_session["ip"], "127.0.0.1");
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(laptop_session[field].as_str().unwrap().ends_with('Z'));
    }
    let laptop_id = laptop_session["id"].as_str().unwrap();

    // Another user cannot end it, and cannot tell it exists.
    let (mallory, _) = session(&app, "mallory").await;
    let theirs = app
        .delete(
            &format!("/api/v1/auth/sessions/{laptop_id}"),
            Some(&mallory),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/tokens", Some(&laptop_access)).await.status,
        StatusCode::OK
    );

    let ended = app
        .delete(
            &format!("/api/v1/auth/sessions/{laptop_id}"),
            Some(&phone_access),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK);
    assert_eq!(ended.data()["ended"], true);
    assert_eq!(
        app.get("/api/v1/tokens", Some(&laptop_access)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .delete(
            &format!("/api/v1/auth/sessions/{laptop_id}"),
            Some(&phone_access),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// PyJWT, an independent implementation, verifies a Tessera token from the JWKS alone.
#[tokio::test]
async fn an_independent_jwt_library_verifies_tokens_from_the_jwks() {
    let Some(python) = crate::support::python_with("jwt, cryptography") else {
        return;
    };
    let app = TestApp::spawn().await;
    let user_id = app.user("alice").register().await;
    let (access, _) = session(&app, "alice").await;
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let key = &jwks.body["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert!(key.get("d").is_none(), "no private part is published");

    let jwks_url = app.url("/.well-known/jwks.json");
    let output = tokio::task::spawn_blocking({
        let access = access.clone();
        let python = python.clone();
        let jwks_url = jwks_url.clone();
        move || run_pyjwt(&python, &jwks_url, &access)
    })
    .await
    .unwrap();
    assert_eq!(output, format!("valid {user_id}"));
    // A token with a flipped signature byte fails in PyJWT too: the check can fail.
    let mut forged = access.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let output = tokio::task::spawn_blocking(move || run_pyjwt(&python, &jwks_url, &forged))
        .await
        .unwrap();
    assert_eq!(output, "invalid InvalidSignatureError");
}

fn run_pyjwt(python: &str, jwks_url: &str, token: &str) -> String {
    let script = r#"
import sys, jwt
jwks_url, token = sys.argv[1], sys.argv[2]
key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
try:
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="tessera", issuer="tessera")
    print("valid", claims["sub"])
except jwt.InvalidTokenError as e:
    print("invalid", type(e).__name__)
"#;
    let output = std::process::Command::new(python)
        .args(["-c", script, jwks_url, token])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn rotated_keys_sign_new_tokens_while_old_tokens_stay_valid() {
    let app = TestApp::spawn().await;
    app.user("alice").register().await;
    let (old_token, _) = session(&app, "alice").await;
    let old_kid = jwt_kid(&old_token);

    let new_kid =
        tessera::accounts::keys::SigningKeys::rotate(&app.state.store, TEST_SECRET.as_bytes())
            .await
            .unwrap();
    assert_ne!(new_kid, old_kid);
    app.state.jwt.keys().reload().await.unwrap();

    let (new_token, _) = session(&app, "alice").await;
    assert_eq!(jwt_kid(&new_token), new_kid);
    for token in [&old_token, &new_token] {
        assert_eq!(
            app.get("/api/v1/tokens", Some(token)).await.status,
            StatusCode::OK
        );
    }
    let jwks = app.get("/.well-known/jwks.json", None).await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str(), old_kid.as_str()]);
    // The private key is stored sealed, never as the raw PKCS#8 document.
    let sealed = app
        .db
        .strings(&hex_column(&app, "private_key_sealed", "signing_keys"))
        .await;
    assert!(sealed.iter().all(|hex| !hex.starts_with("302E020100")));
}

#[tokio::test]
async fn a_second_instance_verifies_tokens_signed_after_a_rotation_it_has_not_reloaded() {
    let first = TestApp::spawn().await;
    first.user("alice").register().await;
    let second = TestApp::builder().on(first.db.share()).spawn().await;
    tessera::accounts::keys::SigningKeys::rotate(&first.state.store, TEST_SECRET.as_bytes())
        .await
        .unwrap();
    first.state.jwt.keys().reload().await.unwrap();
    let (token, _) = session(&first, "alice").await;
    // The second instance meets an unknown kid and reloads (at most once a second) to find it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = second.get("/api/v1/tokens", Some(&token)).await.status;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            Instant::now() < deadline,
            "second instance never learnt the new key"
        );
        tokio::task::yield_now().await;
    }
}

fn jwt_kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_profile_is_read_and_partly_updated() {
    let app = TestApp::spawn().await;
    let id = app.user("alice").register().await;
    let (token, _) = session(&app, "alice").await;
    let profile = app.get("/api/v1/auth/profile", Some(&token)).await;
    assert_eq!(profile.status, StatusCode::OK);
    assert_eq!(profile.data()["id"], id.as_str());
    assert_eq!(profile.data()["role"], "member");
    assert!(profile.data()["last_login"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(profile.data()["first_name"], Value::Null);

    let put = |body: Value| {
        app.request(
            Method::PUT,
            "/api/v1/auth/profile",
            Some(&token),
            Some(body),
        )
    };
    let updated = put(json!({"first_name": " Alice ", "department": "Physio", "phone_number": "+44 (0)20 7946-0958"})).await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_eq!(updated.data()["first_name"], "Alice");
    assert_eq!(updated.data()["department"], "Physio");
    let cleared = put(json!({"department": null})).await;
    assert_eq!(cleared.data()["department"], Value::Null);
    assert_eq!(
        cleared.data()["first_name"],
        "Alice",
        "absent fields are kept"
    );

    for (body, field) in [
        (json!({"role": "admin"}), "role"),
        (json!({"username": "root"}), "username"),
        (json!({"first_name": "x".repeat(101)}), "first_name"),
        (json!({"phone_number": "call me"}), "phone_number"),
    ] {
        let refused = put(body).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert!(refused.message().contains(field), "{}", refused.message());
    }
    let after = app.get("/api/v1/auth/profile", Some(&token)).await;
    assert_eq!(after.data()["role"], "member");
    assert_eq!(after.data()["first_name"], "Alice");
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let app = TestApp::spawn().await;
    app.user("alice").register().await;
    let (current, _) = session(&app, "alice").await;
    let (other, other_refresh) = session(&app, "alice").await;
    let change = |current_password: &str, new_password: &str| {
        app.post(
            "/api/v1/auth/change-password",
            Some(&current),
            json!({"current_password": current_password, "new_password": new_password}),
        )
    };
    let wrong = change("not my password", "a brand new password").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.message().contains("current_password"));
    let short = change(PASSWORD, "short").await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.message().contains("new_password"));
    assert_eq!(
        app.get("/api/v1/tokens", Some(&other)).await.status,
        StatusCode::OK
    );

    let changed = change(PASSWORD, "a brand new password").await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.data()["sessions_ended"], 1);
    assert_eq!(
        app.get("/api/v1/tokens", Some(&current)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/tokens", Some(&other)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &other_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "alice", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "alice", "a brand new password").await.status,
        StatusCode::OK
    );
}

async fn set_role(app: &TestApp, token: &str, id: &str, role: &str) -> crate::support::Reply {
    app.request(
        Method::PUT,
        &format!("/api/v1/users/{id}/role"),
        Some(token),
        Some(json!({"role": role})),
    )
    .await
}

#[tokio::test]
async fn only_admins_change_roles_and_the_last_admin_stays() {
    let app = TestApp::spawn().await;
    let root = app.user("root").role(Role::Admin).register().await;
    let bob = app.user("bob").register().await;
    let (admin, _) = session(&app, "root").await;
    let (bob_token, _) = session(&app, "bob").await;

    // Every role but admin is refused, manager included (full rights on case records, none on
    // roles); the role is read as stored now, so each change applies to bob's token at once.
    for role in [
        Role::Manager,
        Role::Therapist,
        Role::SocialWorker,
        Role::Coordinator,
        Role::DataEntry,
        Role::Member,
    ] {
        app.assign_role(&bob, role).await;
        let refused = set_role(&app, &bob_token, &bob, "admin").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role}");
    }
    let changed = set_role(&app, &admin, &bob, "therapist").await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(changed.data()["role"], "therapist");
    assert_eq!(changed.data()["previous_role"], "member");
    // Applies at once, without a new login.
    let profile = app.get("/api/v1/auth/profile", Some(&bob_token)).await;
    assert_eq!(profile.data()["role"], "therapist");

    assert_eq!(
        set_role(&app, &admin, &bob, "superuser").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let missing = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        set_role(&app, &admin, &missing, "manager").await.status,
        StatusCode::NOT_FOUND
    );
    let last = set_role(&app, &admin, &root, "manager").await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    // With a second admin, the first may step down.
    assert_eq!(
        set_role(&app, &admin, &bob, "admin").await.status,
        StatusCode::OK
    );
    assert_eq!(
        set_role(&app, &admin, &root, "manager").await.status,
        StatusCode::OK
    );
    assert_eq!(security_events(&app, "role_changed").await, 3);
}

#[tokio::test]
async fn registration_gives_the_least_privileged_role_whoever_comes_first() {
    let app = TestApp::spawn().await;
    app.user("first").register().await;
    let (token, _) = session(&app, "first").await;
    let profile = app.get("/api/v1/auth/profile", Some(&token)).await;
    assert_eq!(profile.data()["role"], "member");
    let via = app
        .db
        .strings("SELECT created_via FROM users WHERE username = 'first'")
        .await;
    assert_eq!(via, ["registration"]);
}

#[tokio::test]
async fn closed_registration_is_refused_in_the_envelope_and_stores_nothing() {
    let app = TestApp::builder()
        .with_config(|config| config.registration = tessera::config::Registration::Closed)
        .spawn()
        .await;
    let reply = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "walkin", "email": "walkin@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.body,
        json!({"success": false, "error": "Forbidden", "message": "Registration is closed: ask an administrator for an account"})
    );
    let count = app
        .db
        .strings("SELECT CAST(count(*) AS TEXT) FROM users")
        .await;
    assert_eq!(count, ["0"]);
}

fn brute_force(account: i32, ip: i32) -> crate::support::TestAppBuilder {
    TestApp::builder().login_lockout(account, ip, 20)
}

#[tokio::test]
async fn repeated_failures_lock_a_login_whether_or_not_the_account_exists() {
    let app = brute_force(4, 1_000).spawn().await;
    app.user("alice").register().await;
    for login_name in ["alice", "ghost"] {
        for _ in 0..4 {
            let reply = login(&app, login_name, "wrong password").await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
            assert_eq!(reply.message(), "Invalid credentials");
        }
    }
    // Locked: even the right password gets exactly the wrong-password answer.
    let locked = login(&app, "alice", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.message(), "Invalid credentials");
    assert_eq!(locked.body, login(&app, "ghost", PASSWORD).await.body);
    // The lock is per login: another account is unaffected.
    app.user("bob").register().await;
    assert_eq!(login(&app, "bob", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(security_events(&app, "login_failed").await, 8);
    assert_eq!(security_events(&app, "login_locked").await, 2);
    assert_eq!(security_events(&app, "login_refused_locked").await, 2);
    // The account lock names the account where one exists (alice), and only then (ghost).
    let named = app
        .db
        .strings("SELECT CAST(COUNT(*) AS TEXT) FROM security_events WHERE kind = 'login_locked' AND user_id IS NOT NULL")
        .await;
    assert_eq!(named, ["1"]);
    // When the lock and window are over, the right password works again.
    app.db.exec("UPDATE login_failures SET locked_until = NULL, last_failure_at = '2000-01-01T00:00:00.000000Z'").await;
    assert_eq!(login(&app, "alice", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn one_client_spraying_many_accounts_is_locked_by_ip() {
    let app = brute_force(1_000, 5).spawn().await;
    app.user("alice").register().await;
    for n in 0..5 {
        let reply = login(&app, &format!("user{n}"), "guess").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = login(&app, "alice", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "the IP is locked");
    // The lock event names the locked address.
    let locked = app
        .db
        .strings("SELECT ip FROM security_events WHERE kind = 'login_locked'")
        .await;
    assert_eq!(locked, ["127.0.0.1"]);
}

/// Logs in as if through a trusted proxy from `client`.
async fn login_from(app: &TestApp, client: &str, username: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Rotating through one /64 does not give fresh counters: the IP lock counts the network.
#[tokio::test]
async fn the_ip_lock_counts_an_ipv6_client_by_its_64() {
    let app = brute_force(1_000, 5).trust_loopback_proxy().spawn().await;
    app.user("alice").register().await;
    for n in 0..5 {
        let client = format!("2001:db8:7:7:{n:x}::1");
        let status = login_from(&app, &client, &format!("user{n}"), "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let same_64 = login_from(&app, "2001:db8:7:7:ffff::9", "alice", PASSWORD).await;
    assert_eq!(same_64, StatusCode::UNAUTHORIZED, "the /64 is locked");
    let other_64 = login_from(&app, "2001:db8:7:8::1", "alice", PASSWORD).await;
    assert_eq!(other_64, StatusCode::OK, "another /64 is not");
    let locked = app
        .db
        .strings("SELECT ip FROM security_events WHERE kind = 'login_locked'")
        .await;
    assert_eq!(locked, ["2001:db8:7:7::/64"]);
}

/// Parallel guesses cannot all pass a count read before any of them was written: each attempt
/// takes a place below the threshold first, so of 60 wrong ones at once exactly the threshold's
/// 10 are checked, and the rest, waiting for a place, find the account locked.
#[tokio::test]
async fn parallel_guesses_get_no_more_checks_than_the_threshold() {
    let app = brute_force(10, 100_000).spawn().await;
    app.user("alice").register().await;
    let guesses = (0..60).map(|_| login(&app, "alice", "wrong guess"));
    let replies = futures::future::join_all(guesses).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:?}", reply.body);
    }
    assert_eq!(security_events(&app, "login_failed").await, 10);
    assert_eq!(security_events(&app, "login_refused_locked").await, 50);
    assert_eq!(security_events(&app, "login_locked").await, 1);
}

/// The production thresholds (10 per account, 50 per address, 3 s delays).
fn default_lockout() -> crate::support::TestAppBuilder {
    TestApp::builder().login_lockout(10, 50, 3_000)
}

/// A burst of honest logins behind one address (an office, a script) is never told its right
/// password is wrong: attempts beyond the places left wait their turn, and none is a failure.
#[tokio::test]
async fn sixty_concurrent_right_passwords_from_one_address_all_log_in() {
    let app = default_lockout().spawn().await;
    app.user("alice").register().await;
    let logins = (0..60).map(|_| login(&app, "alice", PASSWORD));
    let replies = futures::future::join_all(logins).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    assert_eq!(security_events(&app, "login_failed").await, 0);
    let failures = app
        .db
        .strings("SELECT CAST(COALESCE(SUM(failures), 0) AS TEXT) FROM login_failures")
        .await;
    assert_eq!(failures, ["0"]);
    assert_eq!(in_flight(&app).await, 0, "every place was given back");
}

async fn in_flight(app: &TestApp) -> usize {
    let count = app
        .db
        .strings("SELECT CAST(COUNT(*) AS TEXT) FROM login_attempts_in_flight")
        .await;
    count[0].parse().unwrap()
}

/// A client that hangs up while its attempt waits out a delay gives its place back, and the
/// attempt is not counted as a failure.
#[tokio::test]
async fn a_dropped_login_gives_its_place_back_uncounted() {
    let app = TestApp::builder()
        .login_lockout(10, 50, 30_000)
        .spawn()
        .await;
    let id = app.user("alice").register().await;
    // Eight failures in the window: the next attempt is delayed 6.4 s.
    app.db
        .exec(&format!(
            "INSERT INTO login_failures (subject, failures, last_failure_at) \
             VALUES ('account:{id}', 8, '2999-01-01T00:00:00.000000Z')"
        ))
        .await;
    let attempt = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/api/v1/auth/login");
        async move {
            client
                .post(url)
                .json(&json!({"username": "alice", "password": PASSWORD}))
                .send()
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while in_flight(&app).await == 0 {
        assert!(Instant::now() < deadline, "the attempt never took a place");
        tokio::task::yield_now().await;
    }
    attempt.abort();
    while in_flight(&app).await != 0 {
        assert!(
            Instant::now() < deadline,
            "the dropped attempt kept its place"
        );
        tokio::task::yield_now().await;
    }
    let failures = app
        .db
        .strings(&format!(
            "SELECT CAST(failures AS TEXT) FROM login_failures WHERE subject = 'account:{id}'"
        ))
        .await;
    assert_eq!(failures, ["8"], "an unchecked attempt is no failure");
}

/// A place left by a process that died stops counting once it expires.
#[tokio::test]
async fn an_expired_place_does_not_count() {
    let app = brute_force(1, 100_000).spawn().await;
    let id = app.user("alice").register().await;
    app.db
        .exec(&format!(
            "INSERT INTO login_attempts_in_flight (subject, attempt_id, expires_at) \
             VALUES ('account:{id}', {}, '2000-01-01T00:00:00.000000Z')",
            app.db.uuid_literal("0190a8f0-0000-7000-8000-000000000000")
        ))
        .await;
    assert_eq!(login(&app, "alice", PASSWORD).await.status, StatusCode::OK);
}

/// The username and the email of one account share one counter.
#[tokio::test]
async fn the_username_and_the_email_of_an_account_share_one_count() {
    let app = brute_force(4, 1_000).spawn().await;
    app.user("alice").register().await;
    for login_name in ["alice", "alice@example.com", "ALICE", "Alice@Example.com"] {
        let reply = login(&app, login_name, "wrong password").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let locked = login(&app, "alice", PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::UNAUTHORIZED,
        "four failures lock it"
    );
    assert_eq!(security_events(&app, "login_locked").await, 1);
}

/// A flood larger than the hashing queue is refused at once with 503 and `Retry-After`, never
/// left to wait past the request timeout; nothing answers 500.
#[tokio::test]
async fn a_login_flood_past_the_hashing_queue_is_refused_with_retry_after() {
    let app = TestApp::builder()
        .with_config(|config| {
            config.password_hash_concurrency = Some(1);
            config.password_hash_queue = 1;
        })
        .spawn()
        .await;
    app.user("alice").register().await;
    let ghosts: Vec<String> = (0..40).map(|n| format!("ghost{n}")).collect();
    let flood = ghosts.iter().map(|ghost| login(&app, ghost, "wrong guess"));
    let replies = futures::future::join_all(flood).await;
    let busy: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        !busy.is_empty(),
        "40 at once cannot all fit one thread and one place"
    );
    for reply in &replies {
        assert!(
            matches!(
                reply.status,
                StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
            ),
            "{:?}",
            reply.body
        );
    }
    assert_eq!(busy[0].header("retry-after"), "1");
    assert_eq!(
        busy[0].message(),
        "Too many sign-ins at once; try again in a moment"
    );
    // A refused attempt was decided before any write: no counter row, no failure.
    let counted = app
        .db
        .strings("SELECT CAST(COUNT(*) AS TEXT) || ' ' || CAST(COALESCE(SUM(failures), 0) AS TEXT) FROM login_failures WHERE subject LIKE 'account:ghost%'")
        .await;
    let answered = 40 - busy.len();
    assert_eq!(counted, [format!("{answered} {answered}")]);
    assert_eq!(login(&app, "alice", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_success_clears_the_account_count() {
    let app = brute_force(3, 1_000).spawn().await;
    app.user("alice").register().await;
    for _ in 0..2 {
        login(&app, "alice", "wrong").await;
    }
    assert_eq!(login(&app, "alice", PASSWORD).await.status, StatusCode::OK);
    for _ in 0..2 {
        login(&app, "alice", "wrong").await;
    }
    assert_eq!(
        login(&app, "alice", PASSWORD).await.status,
        StatusCode::OK,
        "count was reset"
    );
}

/// Times `n` logins, interleaving the cases so drift in machine load hits both alike.
async fn medians(app: &TestApp, cases: &[(&str, &str)], n: usize) -> Vec<Duration> {
    let mut samples = vec![Vec::with_capacity(n); cases.len()];
    for _ in 0..n {
        for (i, (user, password)) in cases.iter().enumerate() {
            let started = Instant::now();
            let reply = login(app, user, password).await;
            samples[i].push(started.elapsed());
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect()
}

fn assert_close(a: Duration, b: Duration, what: &str) {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    // Medians of interleaved samples; a missing argon2 run (tens of ms) would be far outside this.
    assert!(
        hi.as_secs_f64() <= lo.as_secs_f64() * 1.5 + 0.005,
        "{what}: {a:?} vs {b:?}"
    );
}

#[tokio::test]
async fn unknown_accounts_and_locked_logins_cost_the_same_time_as_a_wrong_password() {
    let app = brute_force(1_000_000, 1_000_000).spawn().await;
    app.user("alice").register().await;
    let unlocked = medians(
        &app,
        &[("alice", "wrong password"), ("nobody", "wrong password")],
        21,
    )
    .await;
    assert_close(unlocked[0], unlocked[1], "wrong password vs unknown user");
    // A hash is tens of milliseconds: if the unknown user skipped it, the medians would differ
    // by far more than the tolerance, so this comparison can fail.
    assert!(unlocked[0] > Duration::from_millis(5), "{unlocked:?}");
    drop(app);

    let app = brute_force(2, 1_000_000).spawn().await;
    app.user("alice").register().await;
    for user in ["alice", "nobody"] {
        for _ in 0..2 {
            login(&app, user, "wrong password").await;
        }
    }
    let locked = medians(&app, &[("alice", PASSWORD), ("nobody", PASSWORD)], 21).await;
    assert_close(
        locked[0],
        locked[1],
        "locked account vs locked unknown login",
    );
}

#[tokio::test]
async fn wrong_current_passwords_count_like_failed_logins_of_the_account() {
    let app = brute_force(3, 1_000).spawn().await;
    app.user("carol").register().await;
    let (token, _) = session(&app, "carol").await;
    let change = |current_password: &'static str| {
        app.post(
            "/api/v1/auth/change-password",
            Some(&token),
            json!({"current_password": current_password, "new_password": "a brand new password"}),
        )
    };
    for _ in 0..3 {
        let guess = change("a guess").await;
        assert_eq!(guess.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(guess.message(), "current_password is not correct");
    }
    // Locked: a stolen access token gets no further, and neither does the login form.
    let right = change(PASSWORD).await;
    assert_eq!(right.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(right.message(), "current_password is not correct");
    assert_eq!(
        login(&app, "carol", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(security_events(&app, "password_change_failed").await, 3);
    assert_eq!(
        security_events(&app, "password_change_refused_locked").await,
        1
    );
    assert_eq!(security_events(&app, "login_locked").await, 1);
}

/// An access token never outlives its session: with a session shorter than the JWT lifetime,
/// `exp` is the session's end and `expires_in` says so.
#[tokio::test]
async fn access_tokens_never_outlive_their_session() {
    let app = TestApp::builder()
        .with_config(|config| {
            config.jwt_ttl_seconds = 900;
            config.refresh_ttl_seconds = 60;
        })
        .spawn()
        .await;
    app.user("alice").register().await;
    let reply = login(&app, "alice", PASSWORD).await;
    let data = reply.data();
    let expires_in = data["expires_in"].as_u64().unwrap();
    assert!(expires_in <= 60, "{expires_in}");
    assert!(expires_in <= data["refresh_expires_in"].as_u64().unwrap());
    let payload = data["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(lifetime <= 60, "{lifetime}");
}

/// A burst of tokens naming one unknown `kid` reloads the key set once, not once per token.
#[tokio::test]
async fn an_unknown_kid_reloads_the_keys_once_for_a_burst() {
    let app = TestApp::spawn().await;
    app.user("alice").register().await;
    let (token, _) = session(&app, "alice").await;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"alg":"EdDSA","typ":"JWT","kid":"not-a-key-of-ours"}"#);
    let forged = format!("{header}.{}", token.split_once('.').unwrap().1);
    let keys = app.state.jwt.keys().clone();
    let before = keys.unknown_kid_reloads();
    let burst = (0..50).map(|_| app.get("/api/v1/auth/profile", Some(&forged)));
    for reply in futures::future::join_all(burst).await {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(keys.unknown_kid_reloads() - before, 1);
}

/// Attempts waiting out a lock's delay hold no place in the hashing queue: a handful of them
/// against a locked (even invented) login cannot shut everyone else out with 503s.
#[tokio::test]
async fn attempts_sleeping_out_a_lock_leave_the_hashing_queue_to_others() {
    let app = TestApp::builder()
        .login_lockout(1, 1_000, 30_000)
        .with_config(|config| {
            config.password_hash_concurrency = Some(1);
            config.password_hash_queue = 1;
        })
        .spawn()
        .await;
    app.user("alice").register().await;
    assert_eq!(
        login(&app, "mallory-guess", "wrong password").await.status,
        StatusCode::UNAUTHORIZED
    );
    // As many locked attempts as the queue has places (one thread + one queued), each now
    // waiting out the 30 s delay.
    let app = std::sync::Arc::new(app);
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { login(&app, "mallory-guess", "wrong password").await })
        })
        .collect();
    while security_events(&app, "login_refused_locked").await < 2 {
        tokio::task::yield_now().await;
    }
    let reply = login(&app, "alice", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    for sleeper in sleepers {
        sleeper.abort();
    }
}
