//! The case-records API over HTTP (`case-records.md`, "Case records"): beneficiaries, therapy
//! sessions, role rules, the `beneficiaries` PAT scope and the per-record access log.
//!
//! Runs on SQLite by default and on PostgreSQL with `TEST_DATABASE_URL=postgres://…`.

use crate::support::{Reply, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::types::Role;

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

fn iso(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        date.month() as u8,
        date.day()
    )
}

/// A day far enough ahead that no test's "today" reaches it.
/// The first day of this run (UTC), fixed at first use so a run crossing midnight stays on it.
static RUN_DAY: std::sync::OnceLock<time::Date> = std::sync::OnceLock::new();

/// The date `days` after the run's first day, `YYYY-MM-DD`: bookings are in the future whenever
/// the tests run, and never rot into the past.
fn days_ahead(days: i64) -> String {
    let today = *RUN_DAY.get_or_init(|| time::OffsetDateTime::now_utc().date());
    (today + time::Duration::days(days)).to_string()
}

/// The day most sessions are booked on.
fn day() -> String {
    days_ahead(100)
}

fn person(national_id: &str) -> Value {
    json!({
        "national_id": national_id,
        "first_name": "Layla",
        "last_name": "Haddad",
        "date_of_birth": "2015-04-30",
        "gender": "female",
        "guardian_name": "Omar Haddad",
        "guardian_phone": "+44 20 7946 0958",
    })
}

async fn new_beneficiary(app: &TestApp, jwt: &str, national_id: &str) -> String {
    let reply = app
        .post("/api/v1/beneficiaries", Some(jwt), person(national_id))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.data()["id"].as_str().unwrap().to_owned()
}

fn slot(date: &str, start: &str, end: &str) -> Value {
    json!({"session_type": "speech", "session_date": date, "start_time": start, "end_time": end})
}

async fn book(app: &TestApp, jwt: &str, beneficiary: &str, body: Value) -> crate::support::Reply {
    app.post(
        &format!("/api/v1/beneficiaries/{beneficiary}/sessions"),
        Some(jwt),
        body,
    )
    .await
}

async fn new_session(
    app: &TestApp,
    jwt: &str,
    beneficiary: &str,
    start: &str,
    end: &str,
) -> String {
    let reply = book(app, jwt, beneficiary, slot(&day(), start, end)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.data()["id"].as_str().unwrap().to_owned()
}

async fn log_of(app: &TestApp, jwt: &str, beneficiary: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/api/v1/beneficiaries/{beneficiary}/access-log?limit=200"),
            Some(jwt),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.data().as_array().unwrap().clone()
}

fn actions(log: &[Value]) -> Vec<&str> {
    log.iter().map(|e| e["action"].as_str().unwrap()).collect()
}

async fn count(app: &TestApp, table: &str) -> usize {
    app.db
        .strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
        .await[0]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn create_fills_defaults_and_computed_fields() {
    let app = TestApp::spawn().await;
    let TestUser {
        jwt: admin,
        id: admin_id,
        ..
    } = app.user("admin1").role(Role::Admin).create().await;
    let born = today().replace_year(today().year() - 9).unwrap_or(today());
    let mut body = person("NID-1");
    body["date_of_birth"] = json!(iso(born));
    body["medical_history"] = json!(["asthma"]);
    let created = app.post("/api/v1/beneficiaries", Some(&admin), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let data = created.data();
    assert_eq!(data["age"], 9);
    assert_eq!(data["sessions_count"], 0);
    assert_eq!(data["status"], "active");
    assert_eq!(data["registration_date"], iso(today()));
    assert_eq!(data["medical_history"], json!(["asthma"]));
    assert_eq!(data["allergies"], json!([]));
    assert_eq!(data["disability_type"], Value::Null);
    assert_eq!(data["created_by"], admin_id.as_str());
    assert!(data["created_at"].as_str().unwrap().ends_with('Z'));
    let id = data["id"].as_str().unwrap();

    let session = book(&app, &admin, id, slot(&day(), "09:00", "09:45")).await;
    assert_eq!(session.status, StatusCode::CREATED, "{:?}", session.body);
    let s = session.data();
    assert_eq!(s["duration_minutes"], 45);
    assert_eq!(s["status"], "scheduled");
    assert_eq!(s["therapist_id"], admin_id.as_str());
    assert_eq!(s["beneficiary_id"], id);
    assert!(s["session_number"].as_str().unwrap().starts_with("TS-"));
    let read = app
        .get(&format!("/api/v1/beneficiaries/{id}"), Some(&admin))
        .await;
    assert_eq!(read.data()["sessions_count"], 1);
}

/// Every role of the spec; self-registration gives `member`.
const ROLES: [&str; 7] = [
    "admin",
    "manager",
    "therapist",
    "social_worker",
    "coordinator",
    "data_entry",
    "member",
];
/// Every staff role: all but `member`, which is allowed nothing.
const STAFF: &[&str] = &[
    "admin",
    "manager",
    "therapist",
    "social_worker",
    "coordinator",
    "data_entry",
];
/// The staff who work with sessions: all but `data_entry`.
const SESSION_STAFF: &[&str] = &[
    "admin",
    "manager",
    "therapist",
    "social_worker",
    "coordinator",
];

/// One case-records call, made by `jwt` on a beneficiary and a session booked for it.
async fn call_route(app: &TestApp, route: &str, jwt: &str, fixture: &RoleFixture) -> Reply {
    let RoleFixture {
        beneficiary,
        session,
        start,
        end,
    } = fixture;
    let b = format!("/api/v1/beneficiaries/{beneficiary}");
    let s = format!("/api/v1/sessions/{session}");
    match route {
        "list beneficiaries" => app.get("/api/v1/beneficiaries", Some(jwt)).await,
        "read beneficiary" => app.get(&b, Some(jwt)).await,
        "create beneficiary" => {
            let national_id = format!("new-{}", uuid::Uuid::new_v4().simple());
            app.post("/api/v1/beneficiaries", Some(jwt), person(&national_id))
                .await
        }
        "update beneficiary" => app.patch(&b, Some(jwt), json!({"city": "Leeds"})).await,
        "delete beneficiary" => app.delete(&b, Some(jwt)).await,
        "list sessions" => app.get(&format!("{b}/sessions"), Some(jwt)).await,
        "create session" => {
            let slot = slot(&days_ahead(400), start, end);
            book(app, jwt, beneficiary, slot).await
        }
        "read session" => app.get(&s, Some(jwt)).await,
        "update session" => app.patch(&s, Some(jwt), json!({"notes": "ok"})).await,
        "complete session" => {
            let body = json!({"progress_rating": 7});
            app.post(&format!("{s}/complete"), Some(jwt), body).await
        }
        "cancel session" => {
            let body = json!({"reason": "ill"});
            app.post(&format!("{s}/cancel"), Some(jwt), body).await
        }
        "upcoming sessions" => app.get("/api/v1/sessions/upcoming", Some(jwt)).await,
        "read access log" => app.get(&format!("{b}/access-log"), Some(jwt)).await,
        other => unreachable!("{other}"),
    }
}

/// A beneficiary and a session of theirs, booked by an admin in a slot of its own.
struct RoleFixture {
    beneficiary: String,
    session: String,
    start: String,
    end: String,
}

async fn role_fixture(app: &TestApp, admin: &str, n: usize) -> RoleFixture {
    let beneficiary = new_beneficiary(app, admin, &format!("R{n}")).await;
    let (start, end) = (format!("{:02}:00", 6 + n), format!("{:02}:30", 6 + n));
    let booked = book(
        app,
        admin,
        &beneficiary,
        slot(&days_ahead(200), &start, &end),
    )
    .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{:?}", booked.body);
    let session = booked.data()["id"].as_str().unwrap().to_owned();
    RoleFixture {
        beneficiary,
        session,
        start,
        end,
    }
}

/// Each role tries `route` on records of its own: the `allowed` roles succeed; every other
/// (`member` always) gets a 403 naming its role.
async fn assert_only_these_roles(route: &str, allowed: &[&str]) {
    let app = TestApp::spawn().await;
    let admin = app.user("boss").role(Role::Admin).create().await.jwt;
    for (n, role) in ROLES.iter().enumerate() {
        let jwt = app
            .user(&format!("user{n}"))
            .role(Role::parse(role).unwrap())
            .create()
            .await
            .jwt;
        let fixture = role_fixture(&app, &admin, n).await;
        let reply = call_route(&app, route, &jwt, &fixture).await;
        if allowed.contains(role) {
            assert!(
                reply.status.is_success(),
                "{role} must be allowed to {route}: {:?}",
                reply.body
            );
        } else {
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role} on {route}");
            assert_eq!(reply.body["error"], "Forbidden");
            assert!(
                reply
                    .message()
                    .starts_with(&format!("Your role ({role}) may not")),
                "{role} on {route}: {}",
                reply.message()
            );
        }
    }
}

// The spec's role × route table (and the calls made where it is silent), a test per route.

#[tokio::test]
async fn staff_list_beneficiaries() {
    assert_only_these_roles("list beneficiaries", STAFF).await;
}

#[tokio::test]
async fn staff_read_a_beneficiary() {
    assert_only_these_roles("read beneficiary", STAFF).await;
}

#[tokio::test]
async fn admins_managers_and_data_entry_create_beneficiaries() {
    assert_only_these_roles("create beneficiary", &["admin", "manager", "data_entry"]).await;
}

#[tokio::test]
async fn staff_but_therapists_update_beneficiaries() {
    let allowed = [
        "admin",
        "manager",
        "social_worker",
        "coordinator",
        "data_entry",
    ];
    assert_only_these_roles("update beneficiary", &allowed).await;
}

#[tokio::test]
async fn admins_and_managers_delete_beneficiaries() {
    assert_only_these_roles("delete beneficiary", &["admin", "manager"]).await;
}

#[tokio::test]
async fn session_staff_list_a_beneficiarys_sessions() {
    assert_only_these_roles("list sessions", SESSION_STAFF).await;
}

#[tokio::test]
async fn admins_managers_and_therapists_book_sessions() {
    assert_only_these_roles("create session", &["admin", "manager", "therapist"]).await;
}

#[tokio::test]
async fn session_staff_read_a_session() {
    assert_only_these_roles("read session", SESSION_STAFF).await;
}

#[tokio::test]
async fn session_staff_update_a_session() {
    assert_only_these_roles("update session", SESSION_STAFF).await;
}

#[tokio::test]
async fn session_staff_complete_a_session() {
    assert_only_these_roles("complete session", SESSION_STAFF).await;
}

#[tokio::test]
async fn session_staff_cancel_a_session() {
    assert_only_these_roles("cancel session", SESSION_STAFF).await;
}

#[tokio::test]
async fn session_staff_list_upcoming_sessions() {
    assert_only_these_roles("upcoming sessions", SESSION_STAFF).await;
}

#[tokio::test]
async fn admins_and_managers_read_the_access_log() {
    assert_only_these_roles("read access log", &["admin", "manager"]).await;
}

/// Every case-records route with the PAT scope it needs: `b` a beneficiary path, `s` a session
/// path, `c` a session path that may be cancelled.
fn case_record_routes(
    b: &str,
    s: &str,
    c: &str,
) -> Vec<(Method, String, &'static str, Option<Value>)> {
    vec![
        (
            Method::GET,
            "/api/v1/beneficiaries".into(),
            "beneficiaries:read",
            None,
        ),
        (Method::GET, b.to_owned(), "beneficiaries:read", None),
        (
            Method::GET,
            format!("{b}/sessions"),
            "beneficiaries:read",
            None,
        ),
        (
            Method::GET,
            format!("{b}/access-log"),
            "beneficiaries:read",
            None,
        ),
        (Method::GET, s.to_owned(), "beneficiaries:read", None),
        (
            Method::GET,
            "/api/v1/sessions/upcoming".into(),
            "beneficiaries:read",
            None,
        ),
        (
            Method::POST,
            "/api/v1/beneficiaries".into(),
            "beneficiaries:write",
            Some(person("P-2")),
        ),
        (
            Method::PATCH,
            b.to_owned(),
            "beneficiaries:write",
            Some(json!({"notes": "n"})),
        ),
        (
            Method::POST,
            format!("{b}/sessions"),
            "beneficiaries:write",
            Some(slot(&day(), "11:00", "12:00")),
        ),
        (
            Method::PATCH,
            s.to_owned(),
            "beneficiaries:write",
            Some(json!({"notes": "n"})),
        ),
        (
            Method::POST,
            format!("{s}/complete"),
            "beneficiaries:write",
            Some(json!({"progress_rating": 5})),
        ),
        (
            Method::POST,
            format!("{c}/cancel"),
            "beneficiaries:write",
            Some(json!({"reason": "r"})),
        ),
        (Method::DELETE, b.to_owned(), "beneficiaries:delete", None),
    ]
}

/// Self-registration gives `member`, which reaches no case record with a JWT or with a PAT that
/// holds every `beneficiaries` scope; an admin gives staff roles.
#[tokio::test]
async fn self_registered_accounts_reach_no_case_record() {
    let app = TestApp::spawn().await;
    let manager = app.user("mgr").role(Role::Manager).create().await.jwt;
    let beneficiary = new_beneficiary(&app, &manager, "M-1").await;
    let session = new_session(&app, &manager, &beneficiary, "09:00", "10:00").await;
    let b = format!("/api/v1/beneficiaries/{beneficiary}");
    let s = format!("/api/v1/sessions/{session}");

    let newcomer = app.user("newcomer").create().await;
    let member = newcomer.jwt.clone();
    let profile = app.get("/api/v1/auth/profile", Some(&member)).await;
    assert_eq!(profile.data()["role"], "member");
    // A member cannot mint a case-record scope at all ...
    let refused = app
        .post(
            "/api/v1/tokens",
            Some(&member),
            json!({"name": "too much", "scopes": ["fcs:read", "beneficiaries:delete"]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.message(),
        "A token cannot do more than its owner: your role (member) may not hold beneficiaries:delete"
    );
    // ... and one minted before that rule (here: while the account was a manager) does not
    // reach the case records either: the rules go by the owner's role now.
    app.assign_role(&newcomer.id, Role::Manager).await;
    let (_, pat) = app
        .pat(&member, &["beneficiaries:delete", "fcs:read"])
        .await;
    app.assign_role(&newcomer.id, Role::Member).await;
    for credential in [&member, &pat] {
        for (method, path, _, body) in case_record_routes(&b, &s, &s) {
            let reply = app
                .request(method.clone(), &path, Some(credential), body)
                .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert!(
                reply.message().starts_with("Your role (member) may not"),
                "{method} {path}: {}",
                reply.message()
            );
        }
    }
    // What a member is for still works: its PAT reads FCS data.
    let fcs = app.get("/api/v1/fcs/parameters", Some(&pat)).await;
    assert_eq!(fcs.status, StatusCode::OK, "{:?}", fcs.body);
    // Nothing was changed by the refused calls.
    let read = app.get(&b, Some(&manager)).await;
    assert_eq!(read.status, StatusCode::OK);
}

/// Scope matrix on the new routes (they need existing ids, so the shared `PROTECTED` table of
/// `pat_contract.rs` cannot drive them), and a PAT never doing more than its owner's role.
#[tokio::test]
async fn pat_scopes_and_owner_role() {
    let app = TestApp::spawn().await;
    let TestUser {
        jwt: manager,
        id: manager_id,
        ..
    } = app.user("mgr").role(Role::Manager).create().await;
    let beneficiary = new_beneficiary(&app, &manager, "P-1").await;
    let session = new_session(&app, &manager, &beneficiary, "09:00", "10:00").await;
    let to_cancel = new_session(&app, &manager, &beneficiary, "13:00", "14:00").await;
    let b = format!("/api/v1/beneficiaries/{beneficiary}");
    let s = format!("/api/v1/sessions/{session}");
    let c = format!("/api/v1/sessions/{to_cancel}");
    let routes = case_record_routes(&b, &s, &c);
    let rank = |scope: &str| {
        [
            "beneficiaries:read",
            "beneficiaries:write",
            "beneficiaries:delete",
        ]
        .iter()
        .position(|s| *s == scope)
    };
    for held in ["fcs:read", "beneficiaries:read", "beneficiaries:write"] {
        let (_, token) = app.pat(&manager, &[held]).await;
        for (method, path, required, body) in &routes {
            let reply = app
                .request(method.clone(), path, Some(&token), body.clone())
                .await;
            let allowed = matches!((rank(held), rank(required)), (Some(h), Some(r)) if h >= r);
            if allowed {
                assert!(
                    reply.status.is_success(),
                    "{held} on {method} {path}: {:?}",
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.body,
                    json!({"success": false, "error": "Forbidden", "data": {"required_scope": required, "your_scopes": [held]}}),
                    "{held} on {method} {path}"
                );
            }
        }
    }
    // The delete scope allows everything, the delete last.
    let (token_id, delete_token) = app.pat(&manager, &["beneficiaries:delete"]).await;
    let other = new_beneficiary(&app, &manager, "P-3").await;
    let reply = app
        .get(
            &format!("/api/v1/beneficiaries/{other}"),
            Some(&delete_token),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let log = log_of(&app, &manager, &other).await;
    assert_eq!(log[0]["via"], "pat");
    assert_eq!(log[0]["token_id"], token_id.as_str());
    assert_eq!(log[1]["via"], "jwt");

    // The owner's role bounds the token: demoted, the same PAT may no longer delete.
    app.assign_role(&manager_id, Role::Therapist).await;
    let refused = app
        .delete(
            &format!("/api/v1/beneficiaries/{other}"),
            Some(&delete_token),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.message(),
        "Your role (therapist) may not delete beneficiaries"
    );
    let refused = app
        .post("/api/v1/beneficiaries", Some(&delete_token), person("P-4"))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.message(),
        "Your role (therapist) may not create beneficiaries"
    );
    app.assign_role(&manager_id, Role::Manager).await;
    let deleted = app
        .delete(
            &format!("/api/v1/beneficiaries/{other}"),
            Some(&delete_token),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);

    // No token at all: 401 as everywhere else.
    let anonymous = app.get("/api/v1/beneficiaries", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pagination_edges_and_sorting() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    // Five beneficiaries with the same last name: the id must break the ties.
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(new_beneficiary(&app, &admin, &format!("PG-{n}")).await);
    }
    for query in ["per_page=0", "per_page=101", "page=0", "page=-1"] {
        let reply = app
            .get(&format!("/api/v1/beneficiaries?{query}"), Some(&admin))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            reply
                .message()
                .starts_with(query.split('=').next().unwrap()),
            "{query}"
        );
    }
    let bad_sort = app
        .get("/api/v1/beneficiaries?sort_by=password_hash", Some(&admin))
        .await;
    assert_eq!(bad_sort.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_sort
            .message()
            .starts_with("sort_by must be one of created_at"),
        "{}",
        bad_sort.message()
    );
    let bad_order = app
        .get("/api/v1/beneficiaries?sort_order=sideways", Some(&admin))
        .await;
    assert_eq!(bad_order.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_status = app
        .get("/api/v1/beneficiaries?status=dead", Some(&admin))
        .await;
    assert_eq!(bad_status.status, StatusCode::UNPROCESSABLE_ENTITY);

    for order in ["asc", "desc"] {
        let mut seen = Vec::new();
        for page in 1..=3 {
            let reply = app
                .get(
                    &format!("/api/v1/beneficiaries?per_page=2&page={page}&sort_by=last_name&sort_order={order}"),
                    Some(&admin),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(
                reply.body["pagination"],
                json!({"page": page, "per_page": 2, "total": 5, "pages": 3})
            );
            let rows = reply.data().as_array().unwrap();
            assert_eq!(rows.len(), if page == 3 { 1 } else { 2 });
            seen.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 5, "pages overlap ({order}): {seen:?}");
    }
    let past_end = app
        .get("/api/v1/beneficiaries?per_page=2&page=9", Some(&admin))
        .await;
    assert_eq!(past_end.status, StatusCode::OK);
    assert_eq!(past_end.data(), &json!([]));
    assert_eq!(past_end.body["pagination"]["total"], 5);

    // Default order is newest first.
    let newest = app.get("/api/v1/beneficiaries", Some(&admin)).await;
    assert_eq!(newest.data()[0]["id"], ids[4].as_str());
    assert_eq!(newest.body["pagination"]["per_page"], 20);
}

#[tokio::test]
async fn search_is_case_insensitive_and_wildcards_are_literal() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let people = [
        ("AB%12", "Maryam", "SMITH", "Yusuf Khan"),
        ("ABX12", "Noor", "Jones", "Fatima Al-Sayed"),
        ("CD_34", "Sami", "Brown", "Ali Brown"),
        ("CDY34", "Hana", "Smithson", "Zaid Brown"),
    ];
    for (nid, first, last, guardian) in people {
        let mut body = person(nid);
        body["first_name"] = json!(first);
        body["last_name"] = json!(last);
        body["guardian_name"] = json!(guardian);
        let reply = app.post("/api/v1/beneficiaries", Some(&admin), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
    let search = |term: &str| {
        let app = &app;
        let admin = admin.clone();
        let term = term.to_owned();
        async move {
            let url = reqwest::Url::parse_with_params(
                &app.url("/api/v1/beneficiaries"),
                &[
                    ("search", term.as_str()),
                    ("sort_by", "national_id"),
                    ("sort_order", "asc"),
                ],
            )
            .unwrap();
            let reply = app
                .get(
                    &format!("{}?{}", url.path(), url.query().unwrap()),
                    Some(&admin),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            reply
                .data()
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["national_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("smith").await, ["AB%12", "CDY34"]);
    assert_eq!(search("SmItH").await, ["AB%12", "CDY34"]);
    assert_eq!(search("%").await, ["AB%12"]);
    assert_eq!(search("ab%").await, ["AB%12"]);
    assert_eq!(search("_").await, ["CD_34"]);
    assert_eq!(search("fatima").await, ["ABX12"]);
    assert_eq!(search("maryam smith").await, ["AB%12"]);
    assert_eq!(search("brown").await, ["CD_34", "CDY34"]);
    assert!(search("nobody").await.is_empty());
    let filtered = app
        .get("/api/v1/beneficiaries?status=inactive", Some(&admin))
        .await;
    assert_eq!(filtered.body["pagination"]["total"], 0);
}

/// Each invalid beneficiary field is refused with a message naming it, and nothing is stored:
/// no record, no access-log entry.
#[tokio::test]
async fn an_invalid_beneficiary_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let tomorrow = iso(today().next_day().unwrap());
    let cases: Vec<(Value, &str)> = vec![
        (json!({"national_id": null}), "national_id is required"),
        (json!({"first_name": "  "}), "first_name must not be empty"),
        (
            json!({"date_of_birth": "30/04/2015"}),
            "date_of_birth must be a date like 2015-04-30",
        ),
        (
            json!({"date_of_birth": "2015-02-30"}),
            "date_of_birth must be a date like 2015-04-30",
        ),
        (
            json!({"date_of_birth": tomorrow}),
            "date_of_birth cannot be in the future",
        ),
        (
            json!({"gender": "other"}),
            "gender must be one of male, female",
        ),
        (
            json!({"disability_type": "mental"}),
            "disability_type must be one of physical, intellectual, sensory, multiple, other",
        ),
        (
            json!({"severity_level": "high"}),
            "severity_level must be one of mild",
        ),
        (
            json!({"status": "deleted"}),
            "status must be one of active, inactive, graduated, transferred",
        ),
        (
            json!({"guardian_phone": "call me"}),
            "guardian_phone must be a phone number",
        ),
        (
            json!({"email": "not-an-email"}),
            "email must be an email address",
        ),
        (
            json!({"diagnosis_date": "2001-01-01"}),
            "diagnosis_date cannot be before date_of_birth",
        ),
        (
            json!({"allergies": ["nuts", ""]}),
            "allergies entries must not be empty",
        ),
        (json!({"dob": "2015-04-30"}), "unknown field `dob`"),
    ];
    for (change, message) in &cases {
        let mut body = person("V-1");
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let reply = app.post("/api/v1/beneficiaries", Some(&admin), body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{change}");
        assert!(
            reply.message().contains(message),
            "{change}: {}",
            reply.message()
        );
    }
    let mut missing = person("V-1");
    missing.as_object_mut().unwrap().remove("guardian_name");
    let reply = app
        .post("/api/v1/beneficiaries", Some(&admin), missing)
        .await;
    assert_eq!(reply.message(), "guardian_name is required");
    assert_eq!(count(&app, "beneficiaries").await, 0);
    assert_eq!(count(&app, "case_access_log").await, 0);
}

/// PATCH keeps what is absent and clears an optional field sent as null.
#[tokio::test]
async fn a_patch_keeps_absent_fields_and_clears_nulled_optional_ones() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let id = new_beneficiary(&app, &admin, "V-2").await;
    let path = format!("/api/v1/beneficiaries/{id}");
    let set = app
        .patch(
            &path,
            Some(&admin),
            json!({"city": "Amman", "allergies": ["nuts"]}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(
        (set.data()["city"].clone(), set.data()["first_name"].clone()),
        (json!("Amman"), json!("Layla"))
    );
    let cleared = app
        .patch(
            &path,
            Some(&admin),
            json!({"city": null, "allergies": null}),
        )
        .await;
    assert_eq!(cleared.data()["city"], Value::Null);
    assert_eq!(cleared.data()["allergies"], json!([]));
}

/// PATCH cannot null a required field or store an invalid value; the record stays as it was.
#[tokio::test]
async fn a_patch_cannot_null_a_required_field_or_store_an_invalid_value() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let id = new_beneficiary(&app, &admin, "V-2").await;
    let path = format!("/api/v1/beneficiaries/{id}");
    for field in [
        "first_name",
        "date_of_birth",
        "gender",
        "guardian_phone",
        "national_id",
    ] {
        let mut body = json!({});
        body[field] = Value::Null;
        let reply = app.patch(&path, Some(&admin), body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(
            reply.message(),
            format!("{field} is required and cannot be null")
        );
    }
    let bad = app
        .patch(&path, Some(&admin), json!({"date_of_birth": "yesterday"}))
        .await;
    assert!(bad
        .message()
        .starts_with("date_of_birth must be a date like 2015-04-30"));
    let unchanged = app.get(&path, Some(&admin)).await;
    assert_eq!(unchanged.data()["first_name"], "Layla");
    assert_eq!(unchanged.data()["date_of_birth"], "2015-04-30");
}

/// Each invalid session field is refused with a message naming it, and no session is stored.
#[tokio::test]
async fn an_invalid_session_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let id = new_beneficiary(&app, &admin, "V-2").await;
    let session_cases: Vec<(Value, &str)> = vec![
        (
            json!({"end_time": "08:00"}),
            "end_time must be after start_time",
        ),
        (
            json!({"end_time": "09:00"}),
            "end_time must be after start_time",
        ),
        (
            json!({"start_time": "9am"}),
            "start_time must be a 24-hour time like 14:30",
        ),
        (
            json!({"session_date": "14/03/2031"}),
            "session_date must be a date like 2015-04-30",
        ),
        (
            json!({"session_type": "yoga"}),
            "session_type must be one of physical",
        ),
        (
            json!({"progress_rating": 11}),
            "progress_rating must be between 1 and 10",
        ),
        (
            json!({"engagement": "meh"}),
            "engagement must be one of excellent",
        ),
        (
            json!({"status": "completed"}),
            "status of a new session must be scheduled",
        ),
        (
            json!({"therapist_id": "0190f5c4-3a0b-7d4e-8f00-000000000001"}),
            "therapist_id must be the id of an existing user",
        ),
        (json!({"session_type": null}), "session_type is required"),
    ];
    for (change, message) in &session_cases {
        let mut body = slot(&day(), "09:00", "10:00");
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let reply = book(&app, &admin, &id, body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{change}: {:?}",
            reply.body
        );
        assert!(
            reply.message().contains(message),
            "{change}: {}",
            reply.message()
        );
    }
    assert_eq!(count(&app, "therapy_sessions").await, 0);
}

#[tokio::test]
async fn duplicate_national_id_is_409_on_create_and_patch() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    new_beneficiary(&app, &admin, "DUP-1").await;
    let other = new_beneficiary(&app, &admin, "DUP-2").await;
    for nid in ["DUP-1", "dup-1", " DUP-1 "] {
        let reply = app
            .post("/api/v1/beneficiaries", Some(&admin), person(nid))
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{nid}");
        assert!(
            reply.message().contains("national_id"),
            "{}",
            reply.message()
        );
    }
    let path = format!("/api/v1/beneficiaries/{other}");
    let reply = app
        .patch(
            &path,
            Some(&admin),
            json!({"national_id": "dup-1", "city": "Irbid"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    let after = app.get(&path, Some(&admin)).await;
    assert_eq!(after.data()["national_id"], "DUP-2");
    assert_eq!(
        after.data()["city"],
        Value::Null,
        "a refused PATCH changes nothing"
    );
    // Its own id is not a clash.
    let same = app
        .patch(&path, Some(&admin), json!({"national_id": "DUP-2"}))
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(count(&app, "beneficiaries").await, 2);
}

#[tokio::test]
async fn overlapping_bookings_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let TestUser {
        jwt: therapist,
        id: therapist_id,
        ..
    } = app.user("ther1").role(Role::Therapist).create().await;
    let b = new_beneficiary(&app, &admin, "O-1").await;
    let first = book(&app, &therapist, &b, slot(&day(), "09:00", "10:00")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let first_id = first.data()["id"].as_str().unwrap().to_owned();
    for (start, end) in [
        ("09:30", "10:30"),
        ("08:00", "09:01"),
        ("09:10", "09:20"),
        ("08:00", "11:00"),
    ] {
        let reply = book(&app, &therapist, &b, slot(&day(), start, end)).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{start}-{end}");
        assert!(reply
            .message()
            .contains(first.data()["session_number"].as_str().unwrap()));
    }
    // Touching is not overlapping; another day or another therapist is free.
    assert_eq!(
        book(&app, &therapist, &b, slot(&day(), "10:00", "11:00"))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        book(
            &app,
            &therapist,
            &b,
            slot(&days_ahead(101), "09:00", "10:00")
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let admins = book(&app, &admin, &b, slot(&day(), "09:00", "10:00")).await;
    assert_eq!(admins.status, StatusCode::CREATED);
    let admins_id = admins.data()["id"].as_str().unwrap().to_owned();
    // Booking for another therapist explicitly.
    let mut body = slot(&day(), "09:15", "09:45");
    body["therapist_id"] = json!(therapist_id);
    assert_eq!(
        book(&app, &admin, &b, body).await.status,
        StatusCode::CONFLICT
    );

    // PATCH: moving into a busy slot, or to a busy therapist, is refused and changes nothing.
    let moved = app
        .patch(
            &format!("/api/v1/sessions/{admins_id}"),
            Some(&admin),
            json!({"therapist_id": therapist_id}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CONFLICT);
    let later = book(&app, &therapist, &b, slot(&day(), "12:00", "13:00")).await;
    let later_id = later.data()["id"].as_str().unwrap();
    let into = app
        .patch(
            &format!("/api/v1/sessions/{later_id}"),
            Some(&therapist),
            json!({"start_time": "10:30"}),
        )
        .await;
    assert_eq!(into.status, StatusCode::CONFLICT);
    let unchanged = app
        .get(&format!("/api/v1/sessions/{later_id}"), Some(&therapist))
        .await;
    assert_eq!(unchanged.data()["start_time"], "12:00");
    // A session does not clash with itself.
    let itself = app
        .patch(
            &format!("/api/v1/sessions/{later_id}"),
            Some(&therapist),
            json!({"start_time": "11:30"}),
        )
        .await;
    assert_eq!(itself.status, StatusCode::OK, "{:?}", itself.body);
    assert_eq!(itself.data()["duration_minutes"], 90);

    // A cancelled session frees its slot.
    let cancel = app
        .post(
            &format!("/api/v1/sessions/{first_id}/cancel"),
            Some(&therapist),
            json!({"reason": "ill"}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(
        book(&app, &therapist, &b, slot(&day(), "09:30", "10:00"))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn concurrent_overlapping_bookings_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let therapist = app.user("ther1").role(Role::Admin).create().await.jwt;
    // One beneficiary each, so only the therapist's lock (not the beneficiary's) can serialise them.
    let mut beneficiaries = Vec::new();
    for n in 0..20 {
        beneficiaries.push(new_beneficiary(&app, &therapist, &format!("C-{n}")).await);
    }
    let b = beneficiaries[0].clone();
    let replies = futures::future::join_all(beneficiaries.iter().enumerate().map(|(n, b)| {
        let (app, therapist) = (&app, &therapist);
        async move {
            let start = format!("09:{:02}", n);
            book(app, therapist, b, slot(&day(), &start, "10:30")).await
        }
    }))
    .await;
    let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(count(&app, "therapy_sessions").await, 1);

    // Non-overlapping concurrent bookings all succeed with distinct numbers.
    let replies = futures::future::join_all((0..20).map(|n| {
        let (app, therapist, b) = (&app, &therapist, &b);
        async move {
            let start = format!("{:02}:00", n + 1);
            let end = format!("{:02}:30", n + 1);
            book(app, therapist, b, slot(&days_ahead(118), &start, &end)).await
        }
    }))
    .await;
    let mut numbers: Vec<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            r.data()["session_number"].as_str().unwrap().to_owned()
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 20);
}

/// An admin's app with one scheduled session, 09:00–10:00: (app, admin JWT, session path).
async fn scheduled_session() -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let b = new_beneficiary(&app, &admin, "S-1").await;
    let session = new_session(&app, &admin, &b, "09:00", "10:00").await;
    (app, admin, format!("/api/v1/sessions/{session}"))
}

/// Completing needs a valid rating; a completed session cannot be completed again or
/// cancelled.
#[tokio::test]
async fn a_scheduled_session_completes_once_with_a_valid_rating() {
    let (app, admin, one) = scheduled_session().await;
    let s = |path: &str, tail: &str| format!("{path}{tail}");
    for (body, message) in [
        (json!({}), "progress_rating"),
        (
            json!({"progress_rating": 0}),
            "progress_rating must be between 1 and 10",
        ),
        (
            json!({"progress_rating": 5, "engagement": "wow"}),
            "engagement must be one of",
        ),
    ] {
        let reply = app
            .post(&s(&one, "/complete"), Some(&admin), body.clone())
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(reply.message().contains(message), "{}", reply.message());
    }
    let done = app
        .post(
            &s(&one, "/complete"),
            Some(&admin),
            // `rating` and `goals`, the spec's words, name progress_rating and goals_achieved.
            json!({"rating": 8, "notes": "Good focus", "goals": ["named 5 colours"], "attendance_status": "present", "engagement": "good"}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    let d = done.data();
    assert_eq!(
        (d["status"].clone(), d["progress_rating"].clone()),
        (json!("completed"), json!(8))
    );
    assert_eq!(d["goals_achieved"], json!(["named 5 colours"]));
    assert!(d["completed_at"].as_str().unwrap().ends_with('Z'));
    let again = app
        .post(
            &s(&one, "/complete"),
            Some(&admin),
            json!({"progress_rating": 9}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.message(),
        "Only a scheduled session can be completed; this one is completed"
    );
    let cancel_done = app
        .post(&s(&one, "/cancel"), Some(&admin), json!({"reason": "x"}))
        .await;
    assert_eq!(cancel_done.status, StatusCode::CONFLICT);
}

/// Cancelling needs a reason; a cancelled session cannot be completed.
#[tokio::test]
async fn a_scheduled_session_cancels_once_with_a_reason() {
    let (app, admin, two) = scheduled_session().await;
    let s = |path: &str, tail: &str| format!("{path}{tail}");
    for body in [json!({}), json!({"reason": "   "})] {
        let reply = app.post(&s(&two, "/cancel"), Some(&admin), body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.message().contains("reason"), "{}", reply.message());
    }
    let cancelled = app
        .post(
            &s(&two, "/cancel"),
            Some(&admin),
            json!({"reason": "Family emergency"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(cancelled.data()["status"], "cancelled");
    assert_eq!(cancelled.data()["cancellation_reason"], "Family emergency");
    let complete_cancelled = app
        .post(
            &s(&two, "/complete"),
            Some(&admin),
            json!({"progress_rating": 5}),
        )
        .await;
    assert_eq!(complete_cancelled.status, StatusCode::CONFLICT);
    assert_eq!(
        app.get(&s(&two, ""), Some(&admin)).await.data()["status"],
        "cancelled"
    );
}

/// PATCH moves the status only to `no_show` or `rescheduled`, and only from `scheduled`; other
/// fields stay editable.
#[tokio::test]
async fn a_patch_moves_the_status_only_from_scheduled_to_no_show_or_rescheduled() {
    let (app, admin, three) = scheduled_session().await;
    let s = |path: &str, tail: &str| format!("{path}{tail}");
    let via_patch = app
        .patch(&s(&three, ""), Some(&admin), json!({"status": "completed"}))
        .await;
    assert_eq!(via_patch.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_show = app
        .patch(&s(&three, ""), Some(&admin), json!({"status": "no_show"}))
        .await;
    assert_eq!(no_show.data()["status"], "no_show");
    let back = app
        .patch(
            &s(&three, ""),
            Some(&admin),
            json!({"status": "rescheduled"}),
        )
        .await;
    assert_eq!(back.status, StatusCode::CONFLICT);
    let notes = app
        .patch(
            &s(&three, ""),
            Some(&admin),
            json!({"notes": "called the guardian"}),
        )
        .await;
    assert_eq!(notes.status, StatusCode::OK);
}

/// Completing or cancelling an unknown session is a 404.
#[tokio::test]
async fn completing_or_cancelling_an_unknown_session_is_a_404() {
    let (app, admin, _) = scheduled_session().await;
    let s = |id: &str, tail: &str| format!("/api/v1/sessions/{id}{tail}");
    let missing = "0190f5c4-3a0b-7d4e-8f00-000000000001";
    assert_eq!(
        app.post(
            &s(missing, "/complete"),
            Some(&admin),
            json!({"progress_rating": 5})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&s(missing, "/cancel"), Some(&admin), json!({"reason": "x"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deleting_a_beneficiary_deletes_sessions_and_keeps_the_log() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let b = new_beneficiary(&app, &admin, "D-1").await;
    let keep = new_beneficiary(&app, &admin, "D-2").await;
    let session = new_session(&app, &admin, &b, "09:00", "10:00").await;
    new_session(&app, &admin, &b, "10:00", "11:00").await;
    new_session(&app, &admin, &keep, "11:00", "12:00").await;
    let path = format!("/api/v1/beneficiaries/{b}");
    let deleted = app.delete(&path, Some(&admin)).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        deleted.body,
        json!({"success": true, "data": {"id": b, "deleted": true}})
    );
    assert_eq!(
        app.get(&path, Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&path, Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/sessions/{session}"), Some(&admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("{path}/sessions"), Some(&admin))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        count(&app, "therapy_sessions").await,
        1,
        "only the other beneficiary's session is left"
    );
    let log = log_of(&app, &admin, &b).await;
    assert_eq!(log[0]["action"], "beneficiary.delete");
    assert_eq!(*actions(&log).last().unwrap(), "beneficiary.create");
}

#[tokio::test]
async fn access_log_records_who_did_what_but_never_values() {
    let app = TestApp::spawn().await;
    let TestUser {
        jwt: manager,
        id: manager_id,
        ..
    } = app.user("mgr1").role(Role::Manager).create().await;
    let TestUser {
        jwt: worker,
        id: worker_id,
        ..
    } = app.user("sw1").role(Role::SocialWorker).create().await;
    let b = new_beneficiary(&app, &manager, "L-1").await;
    let path = format!("/api/v1/beneficiaries/{b}");
    assert_eq!(app.get(&path, Some(&worker)).await.status, StatusCode::OK);
    let patched = app
        .patch(&path, Some(&worker), json!({"diagnosis": "Cerebral palsy, spastic diplegia", "city": "Zarqa", "first_name": "Layla"}))
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    app.get("/api/v1/beneficiaries?search=layla", Some(&worker))
        .await;
    let session = new_session(&app, &manager, &b, "09:00", "10:00").await;
    app.get(&format!("/api/v1/sessions/{session}"), Some(&worker))
        .await;
    app.patch(
        &format!("/api/v1/sessions/{session}"),
        Some(&worker),
        json!({"observations": "Tired today"}),
    )
    .await;
    app.post(
        &format!("/api/v1/sessions/{session}/complete"),
        Some(&worker),
        json!({"progress_rating": 6}),
    )
    .await;
    app.get(&format!("{path}/sessions"), Some(&worker)).await;
    // Failed requests leave no trace.
    let entries_before = count(&app, "case_access_log").await;
    app.patch(&path, Some(&worker), json!({"gender": "x"}))
        .await;
    app.delete(&path, Some(&worker)).await;
    app.post(
        &format!("/api/v1/sessions/{session}/complete"),
        Some(&worker),
        json!({"progress_rating": 6}),
    )
    .await;
    app.get(
        &format!(
            "/api/v1/sessions/{}",
            "0190f5c4-3a0b-7d4e-8f00-000000000001"
        ),
        Some(&worker),
    )
    .await;
    assert_eq!(count(&app, "case_access_log").await, entries_before);

    let reply = app
        .get(
            &format!("{path}/access-log?limit=3&offset=0"),
            Some(&manager),
        )
        .await;
    assert_eq!(
        reply.body["pagination"],
        json!({"limit": 3, "offset": 0, "total": entries_before})
    );
    assert_eq!(reply.data().as_array().unwrap().len(), 3);
    let log = log_of(&app, &manager, &b).await;
    assert_eq!(
        actions(&log),
        [
            "session.list",
            "session.complete",
            "session.update",
            "session.read",
            "session.create",
            "beneficiary.list",
            "beneficiary.update",
            "beneficiary.read",
            "beneficiary.create",
        ]
    );
    let update = &log[6];
    assert_eq!(update["user_id"], worker_id.as_str());
    assert_eq!(update["username"], "sw1");
    assert_eq!(update["via"], "jwt");
    assert_eq!(
        update["fields"],
        json!(["diagnosis", "city"]),
        "first_name did not change"
    );
    assert_eq!(log[8]["user_id"], manager_id.as_str());
    assert_eq!(log[4]["session_id"], session.as_str());
    assert_eq!(
        log[1]["fields"],
        json!(["status", "progress_rating", "completed_at"])
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains("palsy") && !text.contains("Zarqa") && !text.contains("Tired"),
        "{text}"
    );
    let ids: Vec<i64> = log.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");

    for query in ["limit=0", "limit=201", "offset=-1"] {
        let reply = app
            .get(&format!("{path}/access-log?{query}"), Some(&manager))
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }
    let unknown = app
        .get(
            "/api/v1/beneficiaries/0190f5c4-3a0b-7d4e-8f00-000000000001/access-log",
            Some(&manager),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn missing_ids_are_404_and_malformed_ids_400() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let missing = "0190f5c4-3a0b-7d4e-8f00-000000000001";
    let b = format!("/api/v1/beneficiaries/{missing}");
    let s = format!("/api/v1/sessions/{missing}");
    for (method, path, body) in [
        (Method::GET, b.clone(), None),
        (Method::PATCH, b.clone(), Some(json!({"city": "x"}))),
        (Method::DELETE, b.clone(), None),
        (Method::GET, format!("{b}/sessions"), None),
        (
            Method::POST,
            format!("{b}/sessions"),
            Some(slot(&day(), "09:00", "10:00")),
        ),
        (Method::GET, s.clone(), None),
        (Method::PATCH, s.clone(), Some(json!({"notes": "x"}))),
    ] {
        let reply = app.request(method.clone(), &path, Some(&admin), body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["success"], false);
    }
    for path in [
        "/api/v1/beneficiaries/not-a-uuid",
        "/api/v1/sessions/42",
        "/api/v1/beneficiaries/xyz/sessions",
    ] {
        let reply = app.get(path, Some(&admin)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(reply.message(), "The id in the path is not a valid UUID");
    }
    let bad_json = app
        .client
        .post(app.url("/api/v1/beneficiaries"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&app, "case_access_log").await, 0);
}

#[tokio::test]
async fn upcoming_lists_the_callers_scheduled_sessions_in_order() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin1").role(Role::Admin).create().await.jwt;
    let therapist = app.user("ther1").role(Role::Therapist).create().await.jwt;
    let b = new_beneficiary(&app, &admin, "U-1").await;
    let day = |n: i64| iso(today() + time::Duration::days(n));
    let mine = [
        (day(3), "09:00", "10:00"),
        (day(0), "15:00", "16:00"),
        (day(0), "08:00", "09:00"),
        (day(7), "09:00", "10:00"),
        (day(8), "09:00", "10:00"),
    ];
    let mut ids = Vec::new();
    for (date, start, end) in &mine {
        let reply = book(&app, &therapist, &b, slot(date, start, end)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        ids.push(reply.data()["id"].as_str().unwrap().to_owned());
    }
    let cancelled = book(&app, &therapist, &b, slot(&day(1), "09:00", "10:00")).await;
    let cancelled_id = cancelled.data()["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/sessions/{cancelled_id}/cancel"),
        Some(&therapist),
        json!({"reason": "x"}),
    )
    .await;
    book(&app, &admin, &b, slot(&day(1), "11:00", "12:00")).await; // someone else's
    book(&app, &therapist, &b, slot(&day(-1), "11:00", "12:00")).await; // yesterday

    let reply = app.get("/api/v1/sessions/upcoming", Some(&therapist)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let got: Vec<&str> = reply
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [
            ids[2].as_str(),
            ids[1].as_str(),
            ids[0].as_str(),
            ids[3].as_str()
        ]
    );
    let wider = app
        .get("/api/v1/sessions/upcoming?days=8", Some(&therapist))
        .await;
    assert_eq!(wider.data().as_array().unwrap().len(), 5);
    for days in ["0", "91", "-3"] {
        let reply = app
            .get(
                &format!("/api/v1/sessions/upcoming?days={days}"),
                Some(&therapist),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{days}");
        assert_eq!(reply.message(), "days must be between 1 and 90");
    }
    // `from`/`to` filters of a beneficiary's sessions.
    let listed = app
        .get(
            &format!(
                "/api/v1/beneficiaries/{b}/sessions?from={}&to={}&status=scheduled",
                day(0),
                day(3)
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(listed.body["pagination"]["total"], 4, "{:?}", listed.body);
    let bad = app
        .get(
            &format!("/api/v1/beneficiaries/{b}/sessions?from=tomorrow"),
            Some(&admin),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .message()
        .starts_with("from must be a date like 2015-04-30"));
    let reversed = app
        .get(
            &format!(
                "/api/v1/beneficiaries/{b}/sessions?from={}&to={}",
                day(3),
                day(0)
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(reversed.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_openapi_document_lists_the_case_records_routes() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json", None).await;
    let paths = doc.body["paths"].as_object().unwrap();
    for path in [
        "/api/v1/beneficiaries",
        "/api/v1/beneficiaries/{id}",
        "/api/v1/beneficiaries/{id}/sessions",
        "/api/v1/beneficiaries/{id}/access-log",
        "/api/v1/sessions/upcoming",
        "/api/v1/sessions/{id}",
        "/api/v1/sessions/{id}/complete",
        "/api/v1/sessions/{id}/cancel",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    assert!(paths["/api/v1/beneficiaries/{id}"]["patch"].is_object());
}

#[tokio::test]
async fn the_openapi_document_describes_the_paginated_list_envelope() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json", None).await;
    for path in [
        "/api/v1/beneficiaries",
        "/api/v1/beneficiaries/{id}/sessions",
    ] {
        let schema = &doc.body["paths"][path]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"];
        let properties = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{path}: {schema}"));
        for key in ["success", "data", "pagination"] {
            assert!(properties.contains_key(key), "{path}: {key} in {schema}");
        }
    }
}
