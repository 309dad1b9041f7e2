//! The FCS endpoints' limits over HTTP: the size of an events page (and that it is streamed),
//! the decoded size of one file, the per-user quota, the upload timeout, staging left by failed
//! or crashed uploads, and the engine's refusal of `$NEXTDATA` chains that share one TEXT —
//! measured against the real binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::support::{fcs_form, synthetic_bytes, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;

/// An app with `change` made to its settings, and one user's PAT with `fcs:analyze` (which
/// includes read and write).
async fn app_with(change: impl FnOnce(&mut Config)) -> (TestApp, String) {
    let app = TestApp::builder().with_config(change).spawn().await;
    let pat = pat_of(&app, "alice").await;
    (app, pat)
}

async fn pat_of(app: &TestApp, username: &str) -> String {
    let jwt = app.user(username).create().await.jwt;
    app.pat(&jwt, &["fcs:analyze"]).await.1
}

fn staged(db: &TestDb) -> Vec<PathBuf> {
    let staging = db.dir.path().join("uploads").join("staging");
    db.stored_objects()
        .into_iter()
        .filter(|p| p.starts_with(&staging))
        .collect()
}

/// A float32 file with one parameter per name and `events` events.
fn fcs_file(names: &[String], events: usize) -> Vec<u8> {
    let params: Vec<_> = names
        .iter()
        .map(|n| tessera_fcs::WriteParameter::new(n.clone(), 1024.0))
        .collect();
    let columns: Vec<Vec<f64>> = (0..names.len())
        .map(|p| {
            (0..events)
                .map(|e| ((e * 31 + p) % 1000) as f64 + 0.5)
                .collect()
        })
        .collect();
    let no_keywords: [(&str, &str); 0] = [];
    let mut bytes = Vec::new();
    tessera_fcs::write_fcs31(&mut bytes, &params, &columns, &no_keywords).unwrap();
    bytes
}

/// `multipart/form-data` with the `file` field holding `file`: (boundary, body).
fn multipart_body(file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "tessera-test-boundary-7d1f".to_owned();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"raw.fcs\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// Opens a raw connection and sends an upload's request head and the first `sent` bytes of its
/// body (a client that can stall or vanish half-way, which reqwest cannot be made to do).
async fn start_raw_upload(
    app: &TestApp,
    pat: &str,
    body: &[u8],
    boundary: &str,
    sent: usize,
) -> TcpStream {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/fcs/upload HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {pat}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..sent]).await.unwrap();
    stream
}

/// Reads the whole answer on a raw connection (the server closes it after answering an upload
/// whose body it did not read to the end): status and JSON body.
async fn raw_reply(mut stream: TcpStream) -> (u16, Value) {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:.200}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text:.400}"));
    (status, body)
}

// ---- 1. the size of an events page ---------------------------------------------------------

/// 26 channels with the longest names the engine accepts: every event repeats 6.6 KB of names,
/// so a 10,000-event page is about 70 MB of JSON.
fn long_names() -> Vec<String> {
    (0..26)
        .map(|i| format!("{i:02}{}", "N".repeat(254)))
        .collect()
}

/// An app with `FCS_MAX_RESPONSE_MB` (`None`: the default) holding the long-names file.
async fn long_names_app(max_response_mb: Option<u64>) -> (TestApp, String, String) {
    let (app, pat) = app_with(move |c| {
        if let Some(mb) = max_response_mb {
            c.fcs_max_response_mb = mb;
        }
    })
    .await;
    let uploaded = app
        .upload_fcs(&pat, "long-names.fcs", fcs_file(&long_names(), 10_000))
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    let file_id = uploaded.data()["file_id"].as_str().unwrap().to_owned();
    (app, pat, file_id)
}

async fn events_of(app: &TestApp, pat: &str, file_id: &str, query: &str) -> crate::support::Reply {
    app.get(
        &format!("/api/v1/fcs/events?file_id={file_id}&{query}"),
        Some(pat),
    )
    .await
}

/// The `limit=N` an over-size refusal suggests.
fn suggested_limit(message: &str) -> usize {
    message
        .split("limit=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no limit suggested: {message}"))
}

#[tokio::test]
async fn an_events_page_over_fcs_max_response_mb_is_refused_with_how_to_page() {
    let (app, pat, file_id) = long_names_app(None).await;
    let refused = events_of(&app, &pat, &file_id, "limit=10000").await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    let message = refused.message();
    assert!(
        message.starts_with("events: this page would be about "),
        "{message}"
    );
    assert!(
        message.contains("more than FCS_MAX_RESPONSE_MB=64"),
        "{message}"
    );
    assert!(message.contains("fewer channels (channels="), "{message}");
    assert!(
        (5_000..10_000).contains(&suggested_limit(message)),
        "{message}"
    );
}

#[tokio::test]
async fn what_an_over_size_refusal_suggests_is_accepted() {
    // A small cap keeps the pages of this test small.
    let (app, pat, file_id) = long_names_app(Some(2)).await;
    let refused = events_of(&app, &pat, &file_id, "limit=10000").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let suggested = suggested_limit(refused.message());

    let fewer_events = events_of(&app, &pat, &file_id, &format!("limit={suggested}")).await;
    assert_eq!(
        fewer_events.status,
        StatusCode::OK,
        "{:?}",
        fewer_events.body
    );
    assert_eq!(
        fewer_events.data()["events"].as_array().unwrap().len(),
        suggested
    );
    let one_more = events_of(&app, &pat, &file_id, &format!("limit={}", suggested + 1)).await;
    assert_eq!(one_more.status, StatusCode::UNPROCESSABLE_ENTITY);

    let names = long_names();
    let query = format!(
        "limit={}&channels={},{}",
        2 * suggested,
        names[0],
        names[25]
    );
    let fewer_channels = events_of(&app, &pat, &file_id, &query).await;
    assert_eq!(
        fewer_channels.status,
        StatusCode::OK,
        "{:?}",
        fewer_channels.body
    );
    let events = fewer_channels.data()["events"].as_array().unwrap();
    assert_eq!(
        (events.len(), events[0].as_object().unwrap().len()),
        (2 * suggested, 2)
    );
}

#[tokio::test]
async fn event_pages_are_streamed_in_chunks() {
    let (app, pat) = app_with(|_| {}).await;
    let response = app
        .client
        .get(app.url("/api/v1/fcs/events?limit=10000"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    // No length known up front: the body is produced while it is sent.
    assert_eq!(header("content-length"), None);
    assert_eq!(header("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with(
            r#"{"success":true,"data":{"file_id":"sample","total_events":34297,"limit":10000,"offset":0,"events":[{"FSC-H":"#
        ),
        "{text:.300}"
    );
    assert!(text.ends_with("}]}}"), "{}", &text[text.len() - 100..]);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["data"]["events"].as_array().unwrap().len(), 10_000);
}

// ---- 2. the decoded size of one file --------------------------------------------------------

#[tokio::test]
async fn an_upload_that_decodes_larger_than_one_file_may_is_refused_naming_the_setting() {
    // The synthetic sample: 34,297 events × 26 parameters decode to 6.8 MiB of f64s.
    for (cache_mb, decode_mb, named) in [
        (2, 1024, "FCS_CACHE_MB=2"),
        (512, 3, "FCS_DECODE_MEMORY_MB=3"),
    ] {
        let (app, pat) = app_with(move |c| {
            c.fcs_cache_mb = cache_mb;
            c.fcs_decode_memory_mb = decode_mb;
        })
        .await;
        let refused = app.upload_fcs(&pat, "sample.fcs", synthetic_bytes()).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            refused.body
        );
        let message = refused.message();
        assert!(message.starts_with("file: "), "{message}");
        assert!(
            message.contains("34297 events × 26 parameters"),
            "{message}"
        );
        assert!(message.contains("6.8 MiB"), "{message}");
        assert!(message.contains(named), "{message}");
        assert!(app.db.stored_objects().is_empty());
        assert_eq!(
            app.db
                .strings("SELECT CAST(COUNT(*) AS TEXT) FROM fcs_files")
                .await,
            vec!["0".to_owned()]
        );
    }
}

// ---- 3. $NEXTDATA chains sharing one TEXT, against the real binary ---------------------------

/// `k` HEADERs at bytes 0, 58, 116, … all aimed at one TEXT of about `text_len` bytes after
/// them, whose `$NEXTDATA` (58) leads each HEADER to the next (as crates/fcs/tests/limits.rs).
fn shared_text_file(k: usize, text_len: usize) -> Vec<u8> {
    let mut text = String::from(
        "/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$TOT/0/$PAR/1/$P1N/A/$P1B/16/$P1R/1024/$NEXTDATA/58/PAD/",
    );
    text.push_str(&"x".repeat(text_len.saturating_sub(text.len() + 1)));
    text.push('/');
    let t = 58 * k;
    let mut out = Vec::with_capacity(t + text.len());
    for i in 0..k {
        let (tb, te) = (t - 58 * i, t + text.len() - 1 - 58 * i);
        let h = format!("FCS3.1    {tb:>8}{te:>8}{:>8}{:>8}{:>8}{:>8}", 0, 0, 0, 0);
        out.extend_from_slice(h.as_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

#[tokio::test]
async fn datasets_sharing_one_text_are_refused_over_http_quickly_and_cheaply() {
    let server = TestApp::builder().spawn_binary().await;
    let pid = server.child.id().unwrap();
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    let registered = post(
        "/api/v1/auth/register",
        json!({"username": "ada", "email": "ada@example.com", "password": "correct horse battery"}),
    )
    .await
    .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let login: Value = post(
        "/api/v1/auth/login",
        json!({"username": "ada", "password": "correct horse battery"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let jwt = login["data"]["access_token"].as_str().unwrap();
    let token: Value = client
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(jwt)
        .json(&json!({"name": "proof", "scopes": ["fcs:write"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pat = token["data"]["token"].as_str().unwrap().to_owned();
    let send = |name: &str, bytes: Vec<u8>| {
        client
            .post(format!("{base}/api/v1/fcs/upload"))
            .bearer_auth(&pat)
            .multipart(fcs_form(name, bytes))
            .send()
    };
    // Warm up the upload path (storage, multipart, decoding) so the peak measures the file.
    let warm = send("warm.fcs", fcs_file(&["A".to_owned()], 200_000))
        .await
        .unwrap();
    assert_eq!(warm.status(), StatusCode::CREATED);

    let crafted = shared_text_file(4000, 1_000_000);
    let size = crafted.len();
    let peak_before = peak_rss_kib(pid);
    let started = Instant::now();
    let refused = send("crafted.fcs", crafted).await.unwrap();
    let elapsed = started.elapsed();
    let status = refused.status();
    let body: Value = refused.json().await.unwrap();
    let peak_after = peak_rss_kib(pid);
    let growth_mib = (peak_after.saturating_sub(peak_before)) as f64 / 1024.0;
    eprintln!(
        "MEASURED: {size} bytes, 4,000 datasets on one TEXT: answered {status} in {:.1} ms; \
         server peak RSS {peak_before} KiB -> {peak_after} KiB (+{growth_mib:.1} MiB)",
        elapsed.as_secs_f64() * 1000.0
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["message"],
        "file: dataset 1 (starting at byte 58): TEXT (bytes 232,000..=1,231,999) overlaps the TEXT \
         of dataset 0 (bytes 232,000..=1,231,999); datasets chained by $NEXTDATA may not share bytes"
    );
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert!(growth_mib < 50.0, "peak RSS grew by {growth_mib:.1} MiB");
    assert_eq!(staged(&server.db), Vec::<PathBuf>::new());
    server.stop().await;
}

// ---- 4. staging objects of failed uploads ---------------------------------------------------

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_no_staging_file() {
    let (app, pat) = app_with(|_| {}).await;
    let (boundary, body) = multipart_body(&vec![0u8; 48 * MIB]);
    let stream = start_raw_upload(&app, &pat, &body, &boundary, 40 * MIB).await;
    // 40 MiB sent, more than the socket buffers hold: the server is writing the upload.
    assert!(
        !staged(&app.db).is_empty(),
        "the upload is being received into staging"
    );
    drop(stream);
    // A graceful shutdown waits for every connection's request to end.
    let db = app.shutdown().await;
    assert_eq!(db.stored_objects(), Vec::<PathBuf>::new());
}

/// Creates `name` under `<data dir>/uploads/staging` last modified `age` ago.
fn leftover(data_dir: &Path, name: &str, age: Duration) -> PathBuf {
    let dir = data_dir.join("uploads").join("staging");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    path
}

#[tokio::test]
async fn staging_leftovers_older_than_an_hour_are_swept_when_the_store_opens() {
    let db = TestDb::new().await;
    let hours = |h: u64| Duration::from_secs(h * 3600);
    // What crashes leave: a finished staging object and an unfinished multipart part file.
    let old = [
        leftover(
            db.dir.path(),
            "0190f0e0-0000-7000-8000-000000000001.fcs",
            hours(2),
        ),
        leftover(
            db.dir.path(),
            "0190f0e0-0000-7000-8000-000000000002.fcs#1",
            hours(30),
        ),
    ];
    // An upload another instance may still be receiving.
    let young = leftover(
        db.dir.path(),
        "0190f0e0-0000-7000-8000-000000000003.fcs#1",
        Duration::ZERO,
    );
    let app = TestApp::builder().on(db).spawn().await;
    let pat = pat_of(&app, "alice").await;
    // An upload waits for the store to open (and so for the sweep).
    let uploaded = app.upload_fcs(&pat, "x.fcs", synthetic_bytes()).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{:?}", uploaded.body);
    for path in &old {
        assert!(!path.exists(), "{} was swept", path.display());
    }
    assert!(young.exists());
    assert_eq!(staged(&app.db), vec![young]);
}

// ---- 5. the per-user quota ------------------------------------------------------------------

#[tokio::test]
async fn uploads_over_the_quota_are_refused_with_the_usage() {
    let (app, pat) = app_with(|c| c.fcs_quota_mb = 5).await;
    let bytes = synthetic_bytes(); // 3.4 MiB: one fits in 5 MiB, two do not
    let first = app.upload_fcs(&pat, "one.fcs", bytes.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);

    let refused = app.upload_fcs(&pat, "two.fcs", bytes.clone()).await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        refused.body
    );
    let message = refused.message();
    for part in [
        "quota of 5 MiB (FCS_QUOTA_MB=5)",
        "you store 3.4 MiB",
        "at most 1.6 MiB",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_eq!(app.db.stored_objects().len(), 1);

    // The quota is per user, and deleting frees it.
    let bob = pat_of(&app, "bob").await;
    assert_eq!(
        app.upload_fcs(&bob, "b.fcs", bytes.clone()).await.status,
        StatusCode::CREATED
    );
    let id = first.data()["file_id"].as_str().unwrap();
    let deleted = app
        .delete(&format!("/api/v1/fcs/files/{id}"), Some(&pat))
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        app.upload_fcs(&pat, "two.fcs", bytes).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_quota_of_zero_means_no_quota() {
    let (app, pat) = app_with(|c| c.fcs_quota_mb = 0).await;
    let bytes = fcs_file(&["A".to_owned()], 200_000); // 0.8 MB
    for name in ["1.fcs", "2.fcs"] {
        let reply = app.upload_fcs(&pat, name, bytes.clone()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
}

// ---- 6. the upload timeout ------------------------------------------------------------------

#[tokio::test]
async fn a_stalled_upload_times_out_after_fcs_upload_timeout_seconds_and_leaves_nothing() {
    let (app, pat) = app_with(|c| c.fcs_upload_timeout_seconds = Some(2)).await;
    let (boundary, body) = multipart_body(&vec![0u8; 16 * MIB]);
    // The client sends most of the body, then stalls (and waits for the answer).
    let stream = start_raw_upload(&app, &pat, &body, &boundary, 12 * MIB).await;
    let (status, reply) = raw_reply(stream).await;
    assert_eq!(status, 503, "{reply}");
    assert_eq!(
        reply["message"],
        "The upload took longer than FCS_UPLOAD_TIMEOUT_SECONDS=2 allows; nothing was kept"
    );
    // Cut off mid-body: the staging part file is gone by the time the answer is sent.
    assert_eq!(app.db.stored_objects(), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn an_upload_may_take_longer_than_request_timeout_seconds() {
    let (app, pat) = app_with(|c| {
        // Long enough for registration and login on a loaded machine.
        c.request_timeout_seconds = 3;
        c.fcs_upload_timeout_seconds = Some(60);
    })
    .await;
    let (boundary, body) = multipart_body(&synthetic_bytes());
    let half = body.len() / 2;
    let mut stream = start_raw_upload(&app, &pat, &body, &boundary, half).await;
    // A slow client (not synchronisation): the upload takes longer than REQUEST_TIMEOUT_SECONDS.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stream.write_all(&body[half..]).await.unwrap();
    let (status, reply) = raw_reply_keep_alive(stream).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["data"]["total_events"], 34_297);
}

/// Like [`raw_reply`] for an answer on a connection the server keeps open: reads the head, then
/// `Content-Length` bytes.
async fn raw_reply_keep_alive(mut stream: TcpStream) -> (u16, Value) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "connection closed early: {}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_owned())
            })
            .and_then(|v| v.parse().ok())
            .expect("a Content-Length");
        if body.len() >= length {
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            return (status, serde_json::from_str(&body[..length]).unwrap());
        }
    }
}

// ---- 5. stored files the engine now refuses -------------------------------------------------

/// `tessera fcs check` on the app's database and data directory: its JSON list.
fn fcs_check(db: &TestDb) -> Value {
    let output = db.tessera().args(["fcs", "check"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Plants an upload of `alice`'s as if stored before the engine's current limits: the object
/// and its row, without the validation an upload gets today. Returns its id.
async fn plant_stored_file(app: &TestApp, bytes: &[u8]) -> String {
    let id = uuid::Uuid::now_v7();
    let owner = app
        .state
        .store
        .find_user_by_login("alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    let key = format!("users/{owner}/{id}.fcs");
    let path = app.db.dir.path().join("uploads").join(&key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    app.db
        .exec(&format!(
            "INSERT INTO fcs_files (id, user_id, filename, object_key, size_bytes, total_events, \
             total_parameters, created_at) VALUES ({}, {}, 'old.fcs', '{key}', {}, 0, 1, \
             '2025-01-01T00:00:00.000000Z')",
            app.db.uuid_literal(&id.to_string()),
            app.db.uuid_literal(&owner.to_string()),
            bytes.len()
        ))
        .await;
    id.to_string()
}

/// A file stored before a limit tightened (here: datasets sharing one TEXT) answers 422 naming
/// the limit it breaks, not 500; it stays listed and deletable, and `tessera fcs check` lists it
/// (and nothing else) until it is deleted.
#[tokio::test]
async fn a_stored_file_the_engine_now_refuses_is_a_clear_422_listed_and_deletable() {
    let (app, pat) = app_with(|_| {}).await;
    let good = app.upload_fcs(&pat, "good.fcs", synthetic_bytes()).await;
    assert_eq!(good.status, StatusCode::CREATED, "{:?}", good.body);
    let good = good.data()["file_id"].as_str().unwrap().to_owned();
    let old = plant_stored_file(&app, &shared_text_file(2, 200)).await;

    let read = app
        .get(&format!("/api/v1/fcs/parameters?file_id={old}"), Some(&pat))
        .await;
    assert_eq!(
        read.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        read.body
    );
    let message = read.message();
    assert!(
        message.starts_with(&format!(
            "file_id: the stored file {old} no longer reads under the current limits: dataset 1"
        )),
        "{message}"
    );
    assert!(
        message.contains("datasets chained by $NEXTDATA may not share bytes"),
        "{message}"
    );
    let listed = app.get("/api/v1/fcs/files", Some(&pat)).await;
    let ids: Vec<&str> = listed.data()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&old.as_str()) && ids.contains(&good.as_str()),
        "{ids:?}"
    );

    let found = fcs_check(&app.db);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["id"], old.as_str());
    assert_eq!(found[0]["filename"], "old.fcs");
    assert_eq!(found[0]["problem"], message);

    let deleted = app
        .delete(&format!("/api/v1/fcs/files/{old}"), Some(&pat))
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(fcs_check(&app.db), json!([]));
    let still = app
        .get(
            &format!("/api/v1/fcs/parameters?file_id={good}"),
            Some(&pat),
        )
        .await;
    assert_eq!(still.status, StatusCode::OK);
}

// ---- 6. storage limits under concurrency, and the upload's deadline -------------------------

/// Uploads `count` copies of the synthetic file at once; their statuses.
async fn concurrent_uploads(app: &TestApp, pat: &str, count: usize) -> Vec<crate::support::Reply> {
    let bytes = synthetic_bytes();
    let names: Vec<String> = (0..count).map(|n| format!("c{n}.fcs")).collect();
    let uploads = names
        .iter()
        .map(|name| app.upload_fcs(pat, name, bytes.clone()));
    futures::future::join_all(uploads).await
}

fn count_status(replies: &[crate::support::Reply], status: StatusCode) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

/// Objects moved to their final keys (not staging).
fn kept_objects(db: &TestDb) -> usize {
    let staging = db.dir.path().join("uploads").join("staging");
    db.stored_objects()
        .into_iter()
        .filter(|p| !p.starts_with(&staging))
        .count()
}

/// Four uploads against a quota that fits one, all checked and moved to their final keys while
/// another client holds the upload bookkeeping, so each passed every check made before any was
/// recorded: still exactly one is kept; the others are told the quota and leave nothing.
#[tokio::test]
async fn the_quota_holds_under_concurrent_uploads() {
    let (app, pat) = app_with(|c| c.fcs_quota_mb = 5).await;
    let holder = hold_upload_bookkeeping(&app.db).await;
    let uploads = tokio::spawn({
        let app_url = app.url("/api/v1/fcs/upload");
        let client = app.client.clone();
        let pat = pat.clone();
        async move {
            let bytes = synthetic_bytes();
            let sends = (0..4).map(|n| {
                client
                    .post(&app_url)
                    .bearer_auth(&pat)
                    .multipart(fcs_form(&format!("c{n}.fcs"), bytes.clone()))
                    .send()
            });
            futures::future::join_all(sends).await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while kept_objects(&app.db) < 4 {
        assert!(
            Instant::now() < deadline,
            "the uploads never reached storing"
        );
        tokio::task::yield_now().await;
    }
    holder.release().await;
    let mut replies = Vec::new();
    for sent in uploads.await.unwrap() {
        replies.push(TestApp::reply(sent.unwrap()).await);
    }
    let bodies: Vec<_> = replies.iter().map(|r| &r.body).collect();
    assert_eq!(count_status(&replies, StatusCode::CREATED), 1, "{bodies:?}");
    assert_eq!(count_status(&replies, StatusCode::PAYLOAD_TOO_LARGE), 3);
    for refused in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert!(
            refused.message().contains("FCS_QUOTA_MB=5"),
            "{}",
            refused.message()
        );
    }
    assert_eq!(app.db.stored_objects().len(), 1);
}

/// Pretends `bytes` are stored by another user (a row only), to bring the shared storage near
/// its cap without writing a gigabyte.
async fn fill_shared_storage(app: &TestApp, bytes: u64) {
    app.user("filler").create().await;
    let owner = app
        .state
        .store
        .find_user_by_login("filler")
        .await
        .unwrap()
        .unwrap()
        .id;
    let id = uuid::Uuid::now_v7();
    app.db
        .exec(&format!(
            "INSERT INTO fcs_files (id, user_id, filename, object_key, size_bytes, total_events, \
             total_parameters, created_at) VALUES ({}, {}, 'big.fcs', 'users/x/big.fcs', {bytes}, \
             0, 1, '2025-01-01T00:00:00.000000Z')",
            app.db.uuid_literal(&id.to_string()),
            app.db.uuid_literal(&owner.to_string()),
        ))
        .await;
}

/// `FCS_MAX_TOTAL_GB` caps what all users store together: with room for one more file, three
/// uploads at once keep exactly one and the others get 507 saying how full it is; then even
/// the start of an upload is refused.
#[tokio::test]
async fn the_shared_storage_cap_answers_507_and_holds_under_concurrent_uploads() {
    let (app, pat) = app_with(|c| c.fcs_max_total_gb = 1).await;
    fill_shared_storage(&app, (1024 - 4) * MIB as u64).await;
    let replies = concurrent_uploads(&app, &pat, 3).await;
    assert_eq!(count_status(&replies, StatusCode::CREATED), 1);
    assert_eq!(count_status(&replies, StatusCode::INSUFFICIENT_STORAGE), 2);
    let full = replies
        .iter()
        .find(|r| r.status == StatusCode::INSUFFICIENT_STORAGE)
        .unwrap();
    assert!(
        full.message()
            .starts_with("file: the server's FCS storage is full: 1.0 of 1 GiB (FCS_MAX_TOTAL_GB)"),
        "{}",
        full.message()
    );
    let later = app.upload_fcs(&pat, "later.fcs", synthetic_bytes()).await;
    assert_eq!(
        later.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{:?}",
        later.body
    );
    assert_eq!(app.db.stored_objects().len(), 1);
}

/// A lock on the upload bookkeeping, held by another client's connection until released.
enum Holder {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Holder {
    /// Ends the other client's transaction, and with it the lock.
    async fn release(self) {
        match self {
            Holder::Sqlite(mut connection) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
            Holder::Postgres(mut connection) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
        }
    }
}

async fn hold_upload_bookkeeping(db: &TestDb) -> Holder {
    use sqlx::Connection;
    if db.is_postgres() {
        let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
        for statement in ["BEGIN", "SELECT admitted FROM fcs_admission FOR UPDATE"] {
            sqlx::query(statement).execute(&mut holder).await.unwrap();
        }
        Holder::Postgres(holder)
    } else {
        let mut holder = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        Holder::Sqlite(holder)
    }
}

/// `FCS_UPLOAD_TIMEOUT_SECONDS` covers storing too: an upload that cannot be recorded before
/// it passes is answered with the timeout, and nothing is kept.
#[tokio::test]
async fn the_upload_deadline_covers_storing_and_nothing_is_kept() {
    let (app, pat) = app_with(|c| c.fcs_upload_timeout_seconds = Some(2)).await;
    let holder = hold_upload_bookkeeping(&app.db).await;
    let refused = app.upload_fcs(&pat, "late.fcs", synthetic_bytes()).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        refused.body
    );
    assert_eq!(
        refused.message(),
        "The upload took longer than FCS_UPLOAD_TIMEOUT_SECONDS=2 allows; nothing was kept"
    );
    holder.release().await;
    assert_eq!(app.db.stored_objects(), Vec::<PathBuf>::new());
    let files = app.get("/api/v1/fcs/files", Some(&pat)).await;
    assert_eq!(
        files.data()["total"],
        1,
        "only the sample: {:?}",
        files.body
    );
}
