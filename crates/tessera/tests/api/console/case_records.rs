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
