//! The operator CLI against the same database as the server: `migrate`, `users create`,
//! `tokens create|list|revoke` — and a CLI revocation reaches a running server.

use std::process::Output;
use std::time::Duration;

use crate::support::{TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::Value;
use tessera::types::Role;

/// Runs `tessera` with whitespace-separated `args` on the test database (the password prompt
/// answered from `TESSERA_PASSWORD`).
fn tessera(db: &TestDb, args: &str) -> Output {
    db.tessera()
        .args(args.split_whitespace())
        .env("TESSERA_PASSWORD", "correct horse battery")
        .output()
        .unwrap()
}

fn json_stdout(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn operators_manage_users_and_tokens_from_the_command_line() {
    let db = TestDb::new().await;
    assert!(tessera(&db, "migrate").status.success());
    let user = json_stdout(&tessera(
        &db,
        "users create --username ops --email ops@example.com",
    ));
    assert_eq!(user["username"], "ops");
    let duplicate = tessera(&db, "users create --username OPS --email x@example.com");
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("Username already taken"));

    let created = json_stdout(&tessera(
        &db,
        "tokens create --user ops --name backup --scopes workspaces:read,fcs:read",
    ));
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["scopes"],
        serde_json::json!(["workspaces:read", "fcs:read"])
    );
    let bad_scope = tessera(&db, "tokens create --user ops --name x --scopes nope:read");
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope"));

    let listed = json_stdout(&tessera(&db, "tokens list --user ops"));
    assert_eq!(listed["total"], 1);
    assert!(
        !String::from_utf8_lossy(&tessera(&db, "tokens list --user ops").stdout).contains(&token)
    );

    // A running server honours the token, then the CLI's revocation.
    let app = TestApp::builder().on(db.share()).spawn().await;
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&token)).await.status,
        StatusCode::OK
    );
    let mut emptied = app.state.token_cache.subscribe();
    emptied.borrow_and_update();
    // The server runs on this test's thread: the CLI must not block it, or a write the server
    // has begun would hold SQLite's lock for all of the CLI's wait.
    let mut command = db.tessera();
    command.args(["tokens", "revoke", "--user", "ops", &id]);
    let revoked = tokio::process::Command::from(command)
        .output()
        .await
        .unwrap();
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    tokio::time::timeout(Duration::from_secs(5), emptied.changed())
        .await
        .expect("the server hears of the revocation")
        .unwrap();
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&token)).await.message(),
        "Token revoked"
    );
}

#[tokio::test]
async fn operators_make_admins_assign_roles_and_rotate_signing_keys() {
    let db = TestDb::new().await;
    let root = json_stdout(&tessera(
        &db,
        "users create --username root --email root@example.com --role admin",
    ));
    assert_eq!(root["username"], "root");
    json_stdout(&tessera(
        &db,
        "users create --username bob --email bob@example.com",
    ));
    let bad_role = tessera(
        &db,
        "users create --username eve --email eve@example.com --role root",
    );
    assert!(!bad_role.status.success());
    assert!(tessera(&db, "users set-role --user bob --role therapist")
        .status
        .success());
    let last_admin = tessera(&db, "users set-role --user root --role manager");
    assert!(!last_admin.status.success());
    assert!(String::from_utf8_lossy(&last_admin.stderr).contains("last admin"));

    let app = TestApp::builder().on(db.share()).spawn().await;
    let jwt = app.login("root").await;
    let profile = app.get("/api/v1/auth/profile", Some(&jwt)).await;
    assert_eq!(profile.data()["role"], "admin");
    let bob = app.login("bob").await;
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&bob)).await.data()["role"],
        "therapist"
    );

    let rotated = tessera(&db, "keys rotate");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let keys = json_stdout(&tessera(&db, "keys list"));
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0]["retired_at"].is_null());
    assert!(keys[1]["retired_at"].is_string());
    // The token signed before the rotation still works; new ones use the new key.
    assert_eq!(
        app.get("/api/v1/tokens", Some(&jwt)).await.status,
        StatusCode::OK
    );
    app.state.jwt.keys().reload().await.unwrap();
    assert_eq!(
        app.get("/api/v1/tokens", Some(&jwt)).await.status,
        StatusCode::OK
    );
}

/// After an upgrade, an operator finds the `data_entry` accounts (those made before the upgrade
/// show `created_via: null`) and demotes the self-registered ones to `member`.
#[tokio::test]
async fn operators_list_accounts_by_role_and_demote_them() {
    let db = TestDb::new().await;
    assert!(tessera(&db, "migrate").status.success());
    let app = TestApp::builder().on(db.share()).spawn().await;
    app.user("walkin").create().await;
    app.user("legacy").create().await;
    // As a row from before the upgrade: self-registered as data_entry, origin unrecorded.
    app.db
        .exec("UPDATE users SET role = 'data_entry', created_via = NULL WHERE username = 'legacy'")
        .await;
    json_stdout(&tessera(
        &db,
        "users create --username clerk --email clerk@example.com --role data_entry",
    ));

    let listed = json_stdout(&tessera(&db, "users list --role data_entry"));
    let names: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["username"].as_str().unwrap(), u["created_via"].clone()))
        .collect();
    assert_eq!(
        names,
        [("legacy", Value::Null), ("clerk", Value::from("operator"))]
    );
    let everyone = json_stdout(&tessera(&db, "users list"));
    assert_eq!(everyone.as_array().unwrap().len(), 3);
    assert_eq!(everyone[0]["role"], "member");
    assert_eq!(everyone[0]["created_via"], "registration");

    assert!(tessera(&db, "users set-role --user legacy --role member")
        .status
        .success());
    let listed = json_stdout(&tessera(&db, "users list --role data_entry"));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    app.shutdown().await;
}

/// Tokens minted before the role ceiling, or whose owner's role was lowered since, keep working
/// until reviewed: a role change names them, `tokens list --over-privileged` finds them, and
/// `tokens revoke --over-privileged` ends them (and only them).
#[tokio::test]
async fn operators_find_and_revoke_tokens_beyond_their_owners_role() {
    let db = TestDb::new().await;
    assert!(tessera(&db, "migrate").status.success());
    let app = TestApp::builder().on(db.share()).spawn().await;
    app.user("root").role(Role::Admin).create().await;
    let admin = app.user("boss").role(Role::Admin).create().await.jwt;
    let (beyond, beyond_secret) = app.pat(&admin, &["connections:admin", "fcs:read"]).await;
    let (within, _) = app.pat(&admin, &["fcs:read"]).await;
    let nobody = json_stdout(&tessera(&db, "tokens list --over-privileged"));
    assert_eq!(nobody, serde_json::json!([]));

    let demoted = tessera(&db, "users set-role --user boss --role member");
    assert!(demoted.status.success());
    let said = String::from_utf8_lossy(&demoted.stderr);
    assert!(
        said.contains("1 of boss's tokens now hold scopes beyond the role"),
        "{said}"
    );
    assert!(said.contains(&beyond), "the log names the token: {said}");

    let found = json_stdout(&tessera(&db, "tokens list --over-privileged"));
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], beyond.as_str());
    assert_eq!(found[0]["owner"], "boss");
    assert_eq!(found[0]["role"], "member");
    assert_eq!(
        found[0]["beyond_role"],
        serde_json::json!(["connections:admin"])
    );
    // Still working until reviewed, for what the role allows.
    let fcs = app
        .get("/api/v1/fcs/parameters", Some(&beyond_secret))
        .await;
    assert_eq!(fcs.status, StatusCode::OK);

    let revoked = tessera(&db, "tokens revoke --over-privileged");
    assert!(revoked.status.success());
    assert!(String::from_utf8_lossy(&revoked.stdout).contains(&beyond));
    assert_eq!(
        json_stdout(&tessera(&db, "tokens list --over-privileged")),
        serde_json::json!([])
    );
    let member = app.login("boss").await;
    let listed = app.get("/api/v1/tokens", Some(&member)).await;
    let status_of = |id: &str| {
        listed.data()["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of(&beyond), "revoked");
    assert_eq!(status_of(&within), "active");
    app.shutdown().await;
}

/// `--help` shows which settings come from the environment, never the database password.
#[test]
fn help_does_not_print_the_database_password() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--help")
        .env("DATABASE_URL", "postgres://app:hunter2-db@db/tessera")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("DATABASE_URL"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
}

/// Issue 14's administration from the command line: disable, enable, unlock, reset links,
/// invitations and service accounts, on the database a server uses.
#[tokio::test]
async fn operators_administer_accounts_and_service_accounts_from_the_command_line() {
    let db = TestDb::new().await;
    assert!(tessera(&db, "migrate").status.success());
    json_stdout(&tessera(
        &db,
        "users create --username boss --email boss@example.com --role admin",
    ));
    json_stdout(&tessera(
        &db,
        "users create --username ada --email ada@example.com",
    ));

    // The last enabled admin stays.
    let last = tessera(&db, "users disable --user boss");
    assert!(!last.status.success());
    assert!(String::from_utf8_lossy(&last.stderr).contains("last enabled admin"));
    let disabled = json_stdout(&tessera(&db, "users disable --user ada"));
    assert_eq!(disabled["status"], "disabled");
    let app = TestApp::builder().on(db.share()).spawn().await;
    let refused = app
        .post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({"username": "ada", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(refused.message(), "Account disabled");
    assert_eq!(
        json_stdout(&tessera(&db, "users enable --user ada"))["status"],
        "active"
    );
    assert_eq!(
        json_stdout(&tessera(&db, "users unlock --user ada"))["status"],
        "active"
    );

    let link = json_stdout(&tessera(
        &db,
        "users reset-link --user ada --expires-in-minutes 30",
    ));
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:8000/reset-password?token="),
        "{url}"
    );
    let token = url.split_once("token=").unwrap().1;
    let reset = app
        .post(
            "/api/v1/auth/reset-password",
            None,
            serde_json::json!({"token": token, "password": "a new password"}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{:?}", reset.body);
    let invite = json_stdout(&tessera(
        &db,
        "users invite --email new@example.com --role therapist",
    ));
    assert!(invite["url"].as_str().unwrap().contains("/invite?token="));
    let bad = tessera(&db, "users invite --email new@example.com --role wizard");
    assert!(!bad.status.success());

    let account = json_stdout(&tessera(
        &db,
        "service-accounts create --name sorter-1 --role data_entry",
    ));
    assert_eq!(account["role"], "data_entry");
    assert_eq!(account["created_by"], Value::Null, "an operator made it");
    let minted = json_stdout(&tessera(
        &db,
        "service-accounts token --account sorter-1 --name nightly --scopes fcs:read",
    ));
    let secret = minted["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/fcs/parameters", Some(&secret))
            .await
            .status,
        StatusCode::OK
    );
    let listed = json_stdout(&tessera(&db, "service-accounts list"));
    assert_eq!(listed[0]["live_tokens"], 1);
    let deleted = tessera(&db, "service-accounts delete --account sorter-1");
    assert!(deleted.status.success());
    assert!(String::from_utf8_lossy(&deleted.stdout).contains("1 token(s) revoked"));
}
