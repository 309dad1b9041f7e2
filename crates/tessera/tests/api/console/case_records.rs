//! `/beneficiaries` and `/sessions`: every role sees exactly the pages and buttons its rules
//! allow, and is refused the rest anyway; forms keep what was typed and say what is wrong by
//! the field.

use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::json;
use tessera::resources::case_records::rules::{permits, Action};
use tessera::types::Role;

use super::signed_in;
use crate::support::TestApp;

const LAYLA: &[(&str, &str)] = &[
    ("national_id", "NID-1"),
    ("first_name", "Layla"),
    ("last_name", "Haddad"),
    ("date_of_birth", "2015-04-30"),
    ("gender", "female"),
    ("guardian_name", "Omar Haddad"),
    ("guardian_phone", "+44 20 7946 0958"),
];

/// A beneficiary made over the API by an admin; answers its id.
async fn beneficiary(app: &TestApp) -> String {
    let admin = app.user("root").role(Role::Admin).create().await;
    let body: serde_json::Map<String, serde_json::Value> = LAYLA
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let made = app
        .post("/api/v1/beneficiaries", Some(&admin.jwt), body.into())
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    made.data()["id"].as_str().unwrap().to_owned()
}

/// For every role: the list and a beneficiary's page answer as the role's rules say, show a
/// button only for what the role may do, and refuse a create the role may not make.
#[tokio::test]
async fn every_role_sees_only_what_its_rules_allow() {
    let app = TestApp::spawn().await;
    let id = beneficiary(&app).await;
    for role in Role::ALL {
        let username = format!("user-{role}");
        app.user(&username).role(role).create().await;
        let (mut browser, csrf) = signed_in(&app, &username).await;
        let origin = browser.origin.clone();
        let reads = permits(role, Action::ReadBeneficiary);
        let expected = if reads {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };

        let list = browser.get("/beneficiaries").await;
        assert_eq!(list.status(), expected, "{role}");
        let list = list.text().await.unwrap();
        assert_eq!(list.contains("Layla Haddad"), reads, "{role}");
        assert_eq!(
            list.contains("href=\"/beneficiaries/new\""),
            permits(role, Action::CreateBeneficiary),
            "{role}"
        );

        let page = browser.get(&format!("/beneficiaries/{id}")).await;
        assert_eq!(page.status(), expected, "{role}");
        let page = page.text().await.unwrap();
        for (marker, action) in [
            ("/edit\"", Action::UpdateBeneficiary),
            ("Book session", Action::CreateSession),
            ("/log\"", Action::ReadAccessLog),
        ] {
            assert_eq!(
                page.contains(marker),
                reads && permits(role, action),
                "{role}: {marker}"
            );
        }
        let log = browser.get(&format!("/beneficiaries/{id}/log")).await;
        let may_log = permits(role, Action::ReadAccessLog);
        assert_eq!(log.status().is_success(), may_log, "{role}");

        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        let national_id = format!("NID-{role}");
        form.extend(LAYLA.iter().filter(|(k, _)| *k != "national_id"));
        form.push(("national_id", &national_id));
        let created = browser.post("/beneficiaries", &origin, &form).await;
        let expected = if permits(role, Action::CreateBeneficiary) {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(created.status(), expected, "{role}");
    }
}

/// A refused create keeps every field as typed and says what is wrong next to the field; a
/// taken national id is said next to that field.
#[tokio::test]
async fn a_refused_form_keeps_what_was_typed_and_says_why_by_the_field() {
    let app = TestApp::spawn().await;
    beneficiary(&app).await;
    app.user("maria").role(Role::Manager).create().await;
    let (mut browser, csrf) = signed_in(&app, "maria").await;
    let origin = browser.origin.clone();
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf), ("allergies", "peanuts\nlatex")];
    form.extend(LAYLA.iter().filter(|(k, _)| *k != "date_of_birth"));
    form.push(("date_of_birth", "2999-01-01"));
    let refused = browser.post("/beneficiaries", &origin, &form).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("id=\"date_of_birth-error\">date_of_birth cannot be in the future"),
        "{html}"
    );
    assert!(html.contains("value=\"2999-01-01\""));
    assert!(html.contains(">peanuts\nlatex</textarea>"), "{html}");

    let mut taken: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    taken.extend(LAYLA);
    let conflict = browser.post("/beneficiaries", &origin, &taken).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let html = conflict.text().await.unwrap();
    assert!(
        html.contains("id=\"national_id-error\">national_id: A beneficiary with national_id"),
        "{html}"
    );
}

/// Booking, completing and cancelling from the pages, with the service's rules: a session that
/// is no longer scheduled cannot be cancelled, and says so.
#[tokio::test]
async fn a_session_is_booked_completed_and_not_cancelled_after() {
    let app = TestApp::spawn().await;
    let id = beneficiary(&app).await;
    app.user("tess").role(Role::Therapist).create().await;
    let (mut browser, csrf) = signed_in(&app, "tess").await;
    let origin = browser.origin.clone();
    let day = (time::OffsetDateTime::now_utc().date() + time::Duration::days(3)).to_string();
    let booked = browser
        .post(
            &format!("/beneficiaries/{id}/sessions"),
            &origin,
            &[
                ("csrf", &csrf),
                ("session_type", "speech"),
                ("session_date", &day),
                ("start_time", "09:00"),
                ("end_time", "09:45"),
            ],
        )
        .await;
    assert_eq!(booked.status(), StatusCode::SEE_OTHER);
    let session = booked.headers()[LOCATION].to_str().unwrap().to_owned();
    let upcoming = browser.get("/sessions").await.text().await.unwrap();
    assert!(
        upcoming.contains(&format!("href=\"{session}\"")),
        "{upcoming}"
    );

    let busy = browser
        .post(
            &format!("/beneficiaries/{id}/sessions"),
            &origin,
            &[
                ("csrf", &csrf),
                ("session_type", "speech"),
                ("session_date", &day),
                ("start_time", "09:30"),
                ("end_time", "10:00"),
            ],
        )
        .await;
    assert_eq!(busy.status(), StatusCode::CONFLICT);
    assert!(busy
        .text()
        .await
        .unwrap()
        .contains("already has scheduled session"));

    let bad = browser
        .post(
            &format!("{session}/complete"),
            &origin,
            &[("csrf", &csrf), ("progress_rating", "11")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("id=\"progress_rating-error\""));
    let done = browser
        .post(
            &format!("{session}/complete"),
            &origin,
            &[("csrf", &csrf), ("progress_rating", "7")],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let late = browser
        .post(
            &format!("{session}/cancel"),
            &origin,
            &[("csrf", &csrf), ("reason", "ill")],
        )
        .await;
    assert_eq!(late.status(), StatusCode::CONFLICT);
    assert!(late
        .text()
        .await
        .unwrap()
        .contains("Only a scheduled session can be cancelled"));
}

/// A beneficiary's page is logged as the API's reads are (`beneficiary.read`, and `session.list`
/// for roles that read sessions); a page for an unknown id logs nothing.
#[tokio::test]
async fn viewing_a_beneficiary_is_in_the_access_log() {
    let app = TestApp::spawn().await;
    let id = beneficiary(&app).await;
    let manager = app.user("maria").role(Role::Manager).create().await;
    app.user("dee").role(Role::DataEntry).create().await;
    for username in ["maria", "dee"] {
        let (mut browser, _) = signed_in(&app, username).await;
        assert_eq!(
            browser.get(&format!("/beneficiaries/{id}")).await.status(),
            StatusCode::OK
        );
    }
    let unknown = uuid::Uuid::now_v7();
    let (mut browser, _) = signed_in(&app, "maria").await;
    assert_eq!(
        browser
            .get(&format!("/beneficiaries/{unknown}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let log = app
        .get(
            &format!("/api/v1/beneficiaries/{id}/access-log"),
            Some(&manager.jwt),
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let entries: Vec<(String, String)> = log
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["username"].as_str().unwrap_or("").to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("maria", "beneficiary.read"),
        ("maria", "session.list"),
        ("dee", "beneficiary.read"),
    ] {
        assert!(
            entries
                .iter()
                .any(|(u, a)| u == expected.0 && a == expected.1),
            "{expected:?} missing from {entries:?}"
        );
    }
    assert!(
        !entries
            .iter()
            .any(|(u, a)| u == "dee" && a == "session.list"),
        "{entries:?}"
    );
    let log = app
        .get(
            &format!("/api/v1/beneficiaries/{unknown}/access-log"),
            Some(&manager.jwt),
        )
        .await;
    assert_eq!(
        log.status,
        StatusCode::NOT_FOUND,
        "nothing was logged for an unknown id"
    );
}

/// The list searches, filters by status and disability type, and pages 20 at a time, with the
/// filters kept in the page links; a bad filter is the API's refusal.
#[tokio::test]
async fn the_list_searches_filters_and_pages() {
    let app = TestApp::spawn().await;
    let admin = app.user("root").role(Role::Admin).create().await;
    for i in 0..23 {
        let kind = if i % 2 == 0 { "physical" } else { "sensory" };
        let made = app
            .post(
                "/api/v1/beneficiaries",
                Some(&admin.jwt),
                json!({"national_id": format!("N-{i:02}"), "first_name": format!("Name{i:02}"),
                       "last_name": "Haddad", "date_of_birth": "2015-04-30", "gender": "female",
                       "guardian_name": "Omar", "guardian_phone": "+44 20 7946 0958",
                       "disability_type": kind}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED);
    }
    let (mut browser, _) = signed_in(&app, "root").await;
    let first = browser.get("/beneficiaries").await.text().await.unwrap();
    assert!(first.contains("23 beneficiaries; page 1 of 2"), "{first}");
    assert_eq!(
        first.matches("<tr><td><a href=\"/beneficiaries/").count(),
        20
    );
    let second = browser
        .get("/beneficiaries?page=2")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        second.matches("<tr><td><a href=\"/beneficiaries/").count(),
        3
    );

    let sensory = browser
        .get("/beneficiaries?disability_type=sensory&search=haddad")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        sensory.contains("11 beneficiaries; page 1 of 1"),
        "{sensory}"
    );
    let one = browser
        .get("/beneficiaries?search=name07")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        one.contains("1 beneficiary; page 1 of 1") && one.contains("Name07 Haddad"),
        "{one}"
    );
    let bad = browser.get("/beneficiaries?status=asleep").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("status"));
    assert_eq!(
        browser.get("/beneficiaries?page=0").await.status(),
        StatusCode::BAD_REQUEST
    );
}

/// The access log pages by offset; an offset at the end of the number range is no panic.
#[tokio::test]
async fn the_access_log_pages_without_overflowing() {
    let app = TestApp::spawn().await;
    let id = beneficiary(&app).await;
    app.user("maria").role(Role::Manager).create().await;
    let (mut browser, _) = signed_in(&app, "maria").await;
    let page = browser
        .get(&format!("/beneficiaries/{id}/log?offset={}", i64::MAX))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(!html.contains("rel=\"next\""), "{html}");
    assert!(html.contains("rel=\"prev\""));
}
