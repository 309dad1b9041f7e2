//! `/fcs`: the files a user may see, uploading through the console (CSRF first, nothing stored
//! for a forged form), a file's page, and deleting.

use reqwest::header::LOCATION;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

use super::{signed_in, Browser};
use crate::support::{synthetic_bytes, TestApp};

/// The console's upload form: the CSRF token first, then the file.
fn upload_form(csrf: &str, name: &str, bytes: Vec<u8>) -> Form {
    Form::new()
        .text("csrf", csrf.to_owned())
        .part("file", Part::bytes(bytes).file_name(name.to_owned()))
}

/// The ids of `username`'s uploads, as the API lists them.
async fn uploads(app: &TestApp, username: &str) -> Vec<String> {
    let jwt = app.login(username).await;
    let (_, pat) = app.pat(&jwt, &["fcs:read"]).await;
    let list = app.get("/api/v1/fcs/files", Some(&pat)).await;
    list.data()["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|file| file["sample"] == false)
        .map(|file| file["file_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_upload_from_the_console_is_stored_and_opens_its_page() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    let (mut browser, csrf) = signed_in(&app, "lab").await;
    let origin = browser.origin.clone();
    let stored = browser
        .post_multipart(
            "/fcs",
            &origin,
            upload_form(&csrf, "run 1.fcs", synthetic_bytes()),
        )
        .await;
    assert_eq!(stored.status(), StatusCode::SEE_OTHER);
    let ids = uploads(&app, "lab").await;
    assert_eq!(ids.len(), 1);
    assert_eq!(stored.headers()[LOCATION], format!("/fcs/{}", ids[0]));

    let page = browser.get(&format!("/fcs/{}", ids[0])).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>run 1.fcs</h1>"), "{html}");
    assert!(html.contains("<svg"), "histograms are drawn");
    assert!(html.contains("Median"));
    let list = browser.get("/fcs").await.text().await.unwrap();
    assert!(
        list.contains("run 1.fcs") && list.contains("Delete"),
        "{list}"
    );
}

/// A forged upload (no or a wrong CSRF token, or from another site) stores nothing; a file the
/// engine refuses is refused on the list page with its reason and the API's status.
#[tokio::test]
async fn forged_or_unreadable_uploads_store_nothing() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    let (mut browser, csrf) = signed_in(&app, "lab").await;
    let origin = browser.origin.clone();
    let wrong = browser
        .post_multipart(
            "/fcs",
            &origin,
            upload_form("wrong", "a.fcs", synthetic_bytes()),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let file_first = Form::new()
        .part("file", Part::bytes(synthetic_bytes()).file_name("a.fcs"))
        .text("csrf", csrf.clone());
    let unordered = browser.post_multipart("/fcs", &origin, file_first).await;
    assert_eq!(unordered.status(), StatusCode::FORBIDDEN);
    let elsewhere = browser
        .post_multipart(
            "/fcs",
            "https://evil.example",
            upload_form(&csrf, "a.fcs", synthetic_bytes()),
        )
        .await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);

    let unreadable = browser
        .post_multipart(
            "/fcs",
            &origin,
            upload_form(&csrf, "b.fcs", b"not an FCS file".to_vec()),
        )
        .await;
    assert_eq!(unreadable.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unreadable.text().await.unwrap();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("too short for an FCS HEADER"), "{html}");
    assert!(uploads(&app, "lab").await.is_empty());
}

/// Another user's upload is not there: its page and deleting it answer 404 and change
/// nothing; the sample cannot be deleted.
#[tokio::test]
async fn another_users_upload_is_not_found_and_the_sample_stays() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    app.user("other").create().await;
    let jwt = app.login("other").await;
    let (_, pat) = app.pat(&jwt, &["fcs:write"]).await;
    let theirs = app.upload_fcs(&pat, "theirs.fcs", synthetic_bytes()).await;
    let id = theirs.data()["file_id"].as_str().unwrap().to_owned();

    let (mut browser, csrf) = signed_in(&app, "lab").await;
    let origin = browser.origin.clone();
    for path in [
        format!("/fcs/{id}"),
        format!("/fcs/{id}/delete"),
        "/fcs/not-an-id".to_owned(),
    ] {
        assert_eq!(
            browser.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let deleted = browser
        .post(&format!("/fcs/{id}/delete"), &origin, &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    assert_eq!(uploads(&app, "other").await, [id]);

    let sample = browser
        .post("/fcs/sample/delete", &origin, &[("csrf", &csrf)])
        .await;
    assert_eq!(sample.status(), StatusCode::NOT_FOUND);
    let page = browser.get("/fcs/sample").await.text().await.unwrap();
    assert!(!page.contains("/delete"), "the sample offers no delete");
}

#[tokio::test]
async fn deleting_an_upload_asks_first_and_needs_the_sessions_token() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    let (mut browser, csrf) = signed_in(&app, "lab").await;
    let origin = browser.origin.clone();
    browser
        .post_multipart(
            "/fcs",
            &origin,
            upload_form(&csrf, "gone.fcs", synthetic_bytes()),
        )
        .await;
    let id = uploads(&app, "lab").await.remove(0);
    let confirm = browser
        .get(&format!("/fcs/{id}/delete"))
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("Delete “gone.fcs”?"), "{confirm}");
    let forged = browser
        .post(&format!("/fcs/{id}/delete"), &origin, &[("csrf", "wrong")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(uploads(&app, "lab").await, std::slice::from_ref(&id));
    let deleted = browser
        .post(&format!("/fcs/{id}/delete"), &origin, &[("csrf", &csrf)])
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(uploads(&app, "lab").await.is_empty());
    assert_eq!(
        browser.get(&format!("/fcs/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn fcs_pages_need_a_signed_in_person() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    for path in ["/fcs", "/fcs/sample"] {
        let page = browser.get(path).await;
        assert_eq!(page.status(), StatusCode::SEE_OTHER, "{path}");
    }
}
