//! `/profile` and `/users`: the person's details, password and sessions; admins and roles.

use reqwest::StatusCode;
use tessera::types::Role;

use super::{signed_in, Browser};
use crate::support::{TestApp, PASSWORD};

#[tokio::test]
async fn profile_details_are_saved_and_a_bad_one_is_said_by_its_field() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let bad = browser
        .post(
            "/profile",
            &origin,
            &[
                ("csrf", &csrf),
                ("first_name", "Alice"),
                ("phone_number", "call me"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains("id=\"phone_number-error\">phone_number may contain only digits"),
        "{html}"
    );
    assert!(html.contains("value=\"Alice\""), "kept as typed");

    let saved = browser
        .post(
            "/profile",
            &origin,
            &[
                ("csrf", &csrf),
                ("first_name", "Alice"),
                ("department", "Flow lab"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let profile = app
        .get("/api/v1/auth/profile", Some(&app.login("alice").await))
        .await;
    assert_eq!(profile.data()["first_name"], "Alice");
    assert_eq!(profile.data()["department"], "Flow lab");
    assert!(profile.data()["phone_number"].is_null());
}

/// Changing the password checks the current one and the confirmation, and ends every other
/// session (here: an API login) while the console stays signed in.
#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let elsewhere = app.login("alice").await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        [
            ("current_password", current),
            ("new_password", new),
            ("confirm_password", again),
        ]
    };
    for (fields, says) in [
        (change(PASSWORD, "a new long password", "another"), "differ"),
        (
            change(
                "wrong password",
                "a new long password",
                "a new long password",
            ),
            "current_password is not correct",
        ),
        (change(PASSWORD, "short", "short"), "new_password"),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let refused = browser.post("/profile/password", &origin, &form).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{says}");
        assert!(refused.text().await.unwrap().contains(says), "{says}");
    }
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&elsewhere))
            .await
            .status,
        StatusCode::OK
    );

    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(change(
        PASSWORD,
        "a new long password",
        "a new long password",
    ));
    let changed = browser.post("/profile/password", &origin, &form).await;
    assert_eq!(changed.status(), StatusCode::OK);
    // The creating login (`create`) and `elsewhere`: two other sessions.
    let html = changed.text().await.unwrap();
    assert!(html.contains("2 other sessions were ended"), "{html}");
    let ended = app.get("/api/v1/auth/profile", Some(&elsewhere)).await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED);
    let still = browser.get("/profile").await;
    assert_eq!(
        still.status(),
        StatusCode::OK,
        "the console's own session stays"
    );
}

#[tokio::test]
async fn another_session_can_be_ended_from_the_profile() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    app.user("bob").create().await;
    let elsewhere = app.login("alice").await;
    let bobs = app.login("bob").await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let sessions = app.get("/api/v1/auth/sessions", Some(&elsewhere)).await;
    let other = sessions.data()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browser.get("/profile").await.text().await.unwrap();
    assert!(
        page.contains(&format!("/profile/sessions/{other}/end")),
        "{page}"
    );
    assert!(page.contains("this browser"));

    let bob_session = app.get("/api/v1/auth/sessions", Some(&bobs)).await.data()["sessions"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let not_mine = browser
        .post(
            &format!("/profile/sessions/{bob_session}/end"),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(not_mine.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&bobs)).await.status,
        StatusCode::OK
    );

    let ended = browser
        .post(
            &format!("/profile/sessions/{other}/end"),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&elsewhere))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// Only admins see `/users` and change roles; every other role is refused both; the last admin
/// keeps the role.
#[tokio::test]
async fn only_admins_see_users_and_change_roles() {
    let app = TestApp::spawn().await;
    let root = app.user("root").role(Role::Admin).create().await;
    let alice = app.user("alice").create().await;
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Admin) {
        let username = format!("user-{role}");
        app.user(&username).role(role).create().await;
        let (mut browser, csrf) = signed_in(&app, &username).await;
        let origin = browser.origin.clone();
        assert_eq!(
            browser.get("/users").await.status(),
            StatusCode::FORBIDDEN,
            "{role}"
        );
        let tried = browser
            .post(
                &format!("/users/{}/role", alice.id),
                &origin,
                &[("csrf", &csrf), ("role", "admin")],
            )
            .await;
        assert_eq!(tried.status(), StatusCode::FORBIDDEN, "{role}");
    }
    let profile = app.get("/api/v1/auth/profile", Some(&alice.jwt)).await;
    assert_eq!(profile.data()["role"], "member", "nothing changed");

    let (mut browser, csrf) = signed_in(&app, "root").await;
    let origin = browser.origin.clone();
    let list = browser.get("/users").await.text().await.unwrap();
    assert!(
        list.contains("alice") && list.contains("root (you)"),
        "{list}"
    );
    let changed = browser
        .post(
            &format!("/users/{}/role", alice.id),
            &origin,
            &[("csrf", &csrf), ("role", "therapist")],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(changed
        .text()
        .await
        .unwrap()
        .contains("Role changed from member to therapist"));
    let profile = app
        .get("/api/v1/auth/profile", Some(&app.login("alice").await))
        .await;
    assert_eq!(profile.data()["role"], "therapist");

    let bogus = browser
        .post(
            &format!("/users/{}/role", alice.id),
            &origin,
            &[("csrf", &csrf), ("role", "emperor")],
        )
        .await;
    assert_eq!(bogus.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let last = browser
        .post(
            &format!("/users/{}/role", root.id),
            &origin,
            &[("csrf", &csrf), ("role", "member")],
        )
        .await;
    assert_eq!(last.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn profile_and_users_need_a_signed_in_person() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    for path in ["/profile", "/users"] {
        assert_eq!(
            browser.get(path).await.status(),
            StatusCode::SEE_OTHER,
            "{path}"
        );
    }
}

/// The link in a page that shows a one-time link, as the path and query it opens.
fn shown_link(html: &str, page: &str) -> String {
    let start = html
        .find(page)
        .unwrap_or_else(|| panic!("{page} not in {html}"));
    let rest = &html[start..];
    let end = rest.find('"').unwrap();
    rest[..end].to_owned()
}

/// Issue 14 in the console: an admin disables and enables someone, hands out a reset link and
/// an invitation; the links' pages work once, for people who are not signed in.
#[tokio::test]
async fn admins_disable_and_hand_out_links_from_the_users_page_and_the_links_work_once() {
    let app = TestApp::spawn().await;
    app.user("root").role(Role::Admin).create().await;
    let alice = app.user("alice").create().await;
    let (mut browser, csrf) = signed_in(&app, "root").await;
    let origin = browser.origin.clone();

    let listed = browser.get("/users?search=ali").await.text().await.unwrap();
    assert!(
        listed.contains("alice") && !listed.contains(">root"),
        "{listed}"
    );
    let disabled = browser
        .post(
            &format!("/users/{}/disable", alice.id),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    assert!(disabled.text().await.unwrap().contains("alice is disabled"));
    assert_eq!(
        app.get("/api/v1/tokens", Some(&alice.jwt)).await.message(),
        "Account disabled"
    );
    let enabled = browser
        .post(
            &format!("/users/{}/enable", alice.id),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert!(enabled.text().await.unwrap().contains("alice is enabled"));

    let made = browser
        .post(
            &format!("/users/{}/reset-link", alice.id),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let link = shown_link(&made.text().await.unwrap(), "/reset-password?token=");
    let mut visitor = super::Browser::new(&app);
    let visitor_origin = visitor.origin.clone();
    let form = visitor.get(&link).await;
    assert_eq!(form.status(), StatusCode::OK);
    let token = link.split_once("token=").unwrap().1.to_owned();
    let differ = visitor
        .post(
            "/reset-password",
            &visitor_origin,
            &[
                ("token", &token),
                ("password", "new password 1"),
                ("confirm", "new password 2"),
            ],
        )
        .await;
    assert_eq!(differ.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let set = visitor
        .post(
            "/reset-password",
            &visitor_origin,
            &[
                ("token", &token),
                ("password", "new password 1"),
                ("confirm", "new password 1"),
            ],
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    assert!(set.text().await.unwrap().contains("Password set"));
    let spent = visitor.get(&link).await;
    assert_eq!(spent.status(), StatusCode::GONE);
    assert!(spent.text().await.unwrap().contains("already been used"));

    let invited = browser
        .post(
            "/users/invite",
            &origin,
            &[
                ("csrf", &csrf),
                ("email", "tess@example.com"),
                ("role", "therapist"),
                ("days", "3"),
            ],
        )
        .await;
    assert_eq!(invited.status(), StatusCode::CREATED);
    let link = shown_link(&invited.text().await.unwrap(), "/invite?token=");
    let page = visitor.get(&link).await.text().await.unwrap();
    assert!(
        page.contains("tess@example.com") && page.contains("therapist"),
        "{page}"
    );
    let token = link.split_once("token=").unwrap().1.to_owned();
    let created = visitor
        .post(
            "/invite",
            &visitor_origin,
            &[
                ("token", &token),
                ("username", "tess"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&app.login("tess").await))
            .await
            .data()["role"],
        "therapist"
    );

    // Not an admin: no users page, no actions.
    let (mut member, member_csrf) = signed_in(&app, "tess").await;
    assert_eq!(member.get("/users").await.status(), StatusCode::FORBIDDEN);
    let member_origin = member.origin.clone();
    let refused = member
        .post(
            &format!("/users/{}/disable", alice.id),
            &member_origin,
            &[("csrf", &member_csrf)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

/// Issue 14 in the console: a manager makes a service account, mints a token within both
/// roles, revokes it and deletes the account; the security-events page shows admins everyone's
/// events and others their own.
#[tokio::test]
async fn managers_run_service_accounts_and_everyone_reads_security_events_in_the_console() {
    let app = TestApp::spawn().await;
    app.user("root").role(Role::Admin).create().await;
    app.user("mia").role(Role::Manager).create().await;
    app.user("theo").role(Role::Therapist).create().await;
    let (mut browser, csrf) = signed_in(&app, "mia").await;
    let origin = browser.origin.clone();
    assert_eq!(
        browser.get("/service-accounts").await.status(),
        StatusCode::OK
    );
    let made = browser
        .post(
            "/service-accounts",
            &origin,
            &[
                ("csrf", &csrf),
                ("name", "sorter-2"),
                ("description", "Bay 2"),
                ("role", "data_entry"),
            ],
        )
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let page_path = made.headers()["location"].to_str().unwrap().to_owned();
    let page = browser.get(&page_path).await.text().await.unwrap();
    assert!(page.contains("sorter-2"), "{page}");
    // data_entry reaches beneficiaries:write, the manager delete: only what both may is offered.
    assert!(page.contains("value=\"beneficiaries:write\""));
    assert!(!page.contains("value=\"beneficiaries:delete\""));

    let minted = browser
        .post(
            &format!("{page_path}/tokens"),
            &origin,
            &[
                ("csrf", &csrf),
                ("name", "nightly"),
                ("scopes", "fcs:read"),
                ("expiry", "90"),
            ],
        )
        .await;
    assert_eq!(minted.status(), StatusCode::CREATED);
    let html = minted.text().await.unwrap();
    let start = html.find("value=\"pat_").unwrap() + "value=\"".len();
    let secret = &html[start..start + html[start..].find('"').unwrap()];
    assert_eq!(
        app.get("/api/v1/fcs/parameters", Some(secret)).await.status,
        StatusCode::OK
    );
    let beyond = browser
        .post(
            &format!("{page_path}/tokens"),
            &origin,
            &[
                ("csrf", &csrf),
                ("name", "too much"),
                ("scopes", "beneficiaries:delete"),
                ("expiry", "90"),
            ],
        )
        .await;
    assert_eq!(beyond.status(), StatusCode::FORBIDDEN);
    let refusal = beyond.text().await.unwrap();
    assert!(
        refusal.contains("may not hold beneficiaries:delete"),
        "{refusal}"
    );

    let token_id = app.get("/api/v1/tokens/self", Some(secret)).await.data()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = browser
        .post(
            &format!("{page_path}/tokens/{token_id}/revoke"),
            &origin,
            &[("csrf", &csrf)],
        )
        .await;
    assert!(revoked.text().await.unwrap().contains("Token revoked."));
    assert_eq!(
        app.get("/api/v1/fcs/parameters", Some(secret))
            .await
            .message(),
        "Token revoked"
    );
    assert_eq!(
        browser.get(&format!("{page_path}/delete")).await.status(),
        StatusCode::OK
    );
    let deleted = browser
        .post(&format!("{page_path}/delete"), &origin, &[("csrf", &csrf)])
        .await;
    assert!(deleted
        .text()
        .await
        .unwrap()
        .contains("Service account deleted"));

    let (mut therapist, _) = signed_in(&app, "theo").await;
    assert_eq!(
        therapist.get("/service-accounts").await.status(),
        StatusCode::FORBIDDEN
    );
    let own = therapist
        .get("/security-events")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !own.contains("<code>service_account_created</code>"),
        "not theirs"
    );
    let (mut admin, _) = signed_in(&app, "root").await;
    let everyone = admin
        .get("/security-events?kind=service_account_created")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        everyone.contains("<code>service_account_created</code>") && everyone.contains("mia"),
        "{everyone}"
    );
}
