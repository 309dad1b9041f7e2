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

/// The body of an API answer that is not JSON.
async fn api_bytes(app: &TestApp, path: &str, pat: &str) -> Vec<u8> {
    let answer = app
        .client
        .get(app.url(path))
        .bearer_auth(pat)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "{path}");
    answer.bytes().await.unwrap().to_vec()
}

/// An attribute's value as the browser reads it (the escapes askama writes in URLs).
fn unescape(attribute: &str) -> String {
    attribute.replace("&#38;", "&").replace("&amp;", "&")
}

/// The `src` of the page's analysis plot, unescaped.
fn plot_src(html: &str) -> Option<String> {
    let start = html.find("<img src=\"")? + "<img src=\"".len();
    let end = start + html[start..].find('"')?;
    Some(unescape(&html[start..end]))
}

/// The `href`s of the page's export links, unescaped.
fn export_links(html: &str) -> Vec<String> {
    html.match_indices("href=\"/fcs/sample/export?")
        .map(|(at, _)| {
            let start = at + "href=\"".len();
            let end = start + html[start..].find('"').unwrap();
            unescape(&html[start..end])
        })
        .collect()
}

#[tokio::test]
async fn the_file_page_plots_the_chosen_view_and_exports_and_downloads_as_the_api_does() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    let jwt = app.login("lab").await;
    let (_, pat) = app.pat(&jwt, &["fcs:analyze"]).await;
    let (mut browser, _) = signed_in(&app, "lab").await;

    // By default: a histogram of the first fluorescence channel, every step off.
    let page = browser.get("/fcs/sample").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert_eq!(
        plot_src(&html).as_deref(),
        Some("/fcs/sample/plot?kind=histogram&x=FL1-H")
    );

    let chosen =
        "kind=density&x=FSC-A&y=FL1-A&scale=scaled&compensation=none&transform=logicle&gate=";
    let page = browser.get(&format!("/fcs/sample?{chosen}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let src = plot_src(&html).expect("a plot");
    let api_query = "kind=density&x=FSC-A&y=FL1-A&scale=scaled&compensation=none&transform=logicle";
    assert_eq!(src, format!("/fcs/sample/plot?{api_query}"));
    assert!(
        html.contains("<option value=\"logicle\" selected>"),
        "the form keeps the choice"
    );

    let image = browser.get(&src).await;
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(
        image.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    let image = image.text().await.unwrap();
    let api = api_bytes(
        &app,
        &format!("/api/v1/fcs/plot?file_id=sample&{api_query}"),
        &pat,
    )
    .await;
    assert_eq!(image.as_bytes(), api, "the console's plot is the API's");
    let png_href = format!("{src}&format=png");
    let png_link = html
        .split("<a ")
        .find(|link| link.contains("download=\"plot.png\""))
        .expect("a PNG link");
    assert!(
        png_link.starts_with("class=\"button\" href=\""),
        "{png_link}"
    );
    assert_eq!(unescape(png_link.split('"').nth(3).unwrap()), png_href);
    let png = browser.get(&png_href).await;
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(png.headers()["content-type"], "image/png");
    let api = api_bytes(
        &app,
        &format!("/api/v1/fcs/plot?file_id=sample&{api_query}&format=png"),
        &pat,
    )
    .await;
    assert_eq!(png.bytes().await.unwrap(), api, "the same PNG as the API's");

    let exports = export_links(&html);
    assert_eq!(exports.len(), 2, "{html}");
    let csv = browser.get(&exports[1]).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("FSC-H,FSC-A,"), "{}", &csv[..80]);
    let fcs = browser.get(&exports[0]).await;
    assert_eq!(fcs.status(), StatusCode::OK);
    assert!(fcs.bytes().await.unwrap().starts_with(b"FCS3.1"));

    let original = browser.get("/fcs/sample/download").await;
    assert_eq!(original.status(), StatusCode::OK);
    let original = original.bytes().await.unwrap();
    let api = api_bytes(&app, "/api/v1/fcs/files/sample/download", &pat).await;
    assert_eq!(original, api, "the original, byte for byte");
}

#[tokio::test]
async fn a_view_that_cannot_be_shown_says_why_and_plots_nothing() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    let (mut browser, _) = signed_in(&app, "lab").await;
    let gate = uuid::Uuid::now_v7();
    for (query, reason) in [
        ("x=Nope", "unknown channel `Nope`"),
        ("kind=scatter&x=FSC-A&y=Nope", "unknown channel `Nope`"),
        ("kind=pie", "kind"),
        ("transform=logicle&w=9", "w: must be between 0 and M/2"),
        (&*format!("gate={gate}"), "gate: no such gate on this file"),
    ] {
        let page = browser.get(&format!("/fcs/sample?{query}")).await;
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let html = page.text().await.unwrap();
        assert!(html.contains(reason), "{query}: {html}");
        assert!(plot_src(&html).is_none(), "{query}: no plot");
        assert!(
            html.contains("<form method=\"get\""),
            "{query}: the form stays"
        );
    }
}

#[tokio::test]
async fn plots_exports_and_downloads_are_the_owners_only() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    app.user("other").create().await;
    let jwt = app.login("other").await;
    let (_, pat) = app.pat(&jwt, &["fcs:write"]).await;
    let theirs = app.upload_fcs(&pat, "theirs.fcs", synthetic_bytes()).await;
    let id = theirs.data()["file_id"].as_str().unwrap().to_owned();

    let (mut browser, _) = signed_in(&app, "lab").await;
    for path in [
        format!("/fcs/{id}/plot?x=FSC-A"),
        format!("/fcs/{id}/export?format=csv"),
        format!("/fcs/{id}/download"),
    ] {
        assert_eq!(
            browser.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let mut stranger = Browser::new(&app);
    for path in [
        "/fcs/sample/plot?x=FSC-A",
        "/fcs/sample/export",
        "/fcs/sample/download",
    ] {
        assert_eq!(
            stranger.get(path).await.status(),
            StatusCode::SEE_OTHER,
            "{path}"
        );
    }
}

/// The API's gates of the sample for `username`: (id, name, count).
async fn api_gates(app: &TestApp, username: &str) -> Vec<(String, String, u64)> {
    let jwt = app.login(username).await;
    let (_, pat) = app.pat(&jwt, &["fcs:read"]).await;
    let list = app.get("/api/v1/fcs/files/sample/gates", Some(&pat)).await;
    list.data()["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["id"].as_str().unwrap().to_owned(),
                g["name"].as_str().unwrap().to_owned(),
                g["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_gate_entered_by_numbers_is_saved_on_the_view_and_shows_its_statistics() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    let (mut browser, csrf) = signed_in(&app, "lab").await;
    let origin = browser.origin.clone();
    let view = [
        ("kind", "scatter"),
        ("x", "FSC-A"),
        ("y", "SSC-A"),
        ("scale", "scaled"),
    ];
    let gate = |name: &'static str, x_min: &'static str| {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("name", name),
            ("type", "rectangle"),
            ("x_min", x_min),
            ("x_max", "3000000"),
            ("y_min", ""),
            ("y_max", "2000000"),
        ];
        form.extend(view);
        form
    };

    // A bound that is not a number, and min ≥ max, are refused with the form kept; nothing saved.
    let refused = browser
        .post("/fcs/sample/gates", &origin, &gate("cells", "lots"))
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("x min: “lots” is not a number"), "{html}");
    assert!(html.contains("value=\"cells\""), "the name is kept");
    let refused = browser
        .post("/fcs/sample/gates", &origin, &gate("cells", "5000000"))
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("min"));
    assert!(api_gates(&app, "lab").await.is_empty());

    // Forged: nothing saved.
    let mut forged = gate("cells", "1000000");
    forged[0] = ("csrf", "not-the-token");
    let answer = browser.post("/fcs/sample/gates", &origin, &forged).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(api_gates(&app, "lab").await.is_empty());

    let saved = browser
        .post("/fcs/sample/gates", &origin, &gate("cells", "1000000"))
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let gates = api_gates(&app, "lab").await;
    assert_eq!(gates.len(), 1);
    let (id, name, count) = &gates[0];
    assert_eq!(name, "cells");
    assert!(*count > 1000, "a real population: {count}");
    let location = saved.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.contains(&format!("gate={id}")), "{location}");
    assert!(
        location.contains("scale=scaled"),
        "the view is kept: {location}"
    );

    let page = browser.get(&location).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Statistics of cells"), "{html}");
    assert!(
        html.contains(&format!("<td>{count}</td>")),
        "the gate's count: {count}"
    );
    assert!(
        html.contains("FSC-A in [1.000e6, 3.000e6) × SSC-A in [−∞, 2.000e6), scaled"),
        "{html}"
    );
    let src = plot_src(&html).expect("a plot of the gate's events");
    assert!(src.contains(&format!("gate={id}")), "{src}");

    // Deleting asks for the session's token too.
    let delete = format!("/fcs/sample/gates/{id}/delete");
    let forged = browser.post(&delete, &origin, &[("csrf", "nope")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(api_gates(&app, "lab").await.len(), 1);
    let deleted = browser.post(&delete, &origin, &[("csrf", &csrf)]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(api_gates(&app, "lab").await.is_empty());
    let again = browser.post(&delete, &origin, &[("csrf", &csrf)]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn transform_parameters_from_the_form_reach_the_plot_and_the_gate() {
    let app = TestApp::builder().generate_sample().spawn().await;
    app.user("lab").create().await;
    let (mut browser, csrf) = signed_in(&app, "lab").await;
    let origin = browser.origin.clone();

    // Blank parameters are the defaults; those the transform does not take are left out.
    let page = browser
        .get("/fcs/sample?x=FL1-A&transform=logicle&param_t=&param_w=1&param_m=&param_a=&param_cofactor=5")
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert_eq!(
        plot_src(&html).as_deref(),
        Some("/fcs/sample/plot?kind=histogram&x=FL1-A&transform=logicle&w=1")
    );
    assert!(
        html.contains("name=\"param_w\" type=\"text\" inputmode=\"decimal\" value=\"1\""),
        "kept"
    );

    for (query, reason) in [
        (
            "transform=logicle&param_w=wide",
            "w: “wide” is not a number",
        ),
        (
            "transform=logicle&param_w=9",
            "w: must be between 0 and M/2",
        ),
    ] {
        let page = browser.get(&format!("/fcs/sample?x=FL1-A&{query}")).await;
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(page.text().await.unwrap().contains(reason), "{query}");
    }

    // A gate drawn on that view is judged on the same logicle.
    let saved = browser
        .post(
            "/fcs/sample/gates",
            &origin,
            &[
                ("csrf", csrf.as_str()),
                ("name", "bright"),
                ("type", "range"),
                ("x_min", "0.5"),
                ("x_max", ""),
                ("kind", "histogram"),
                ("x", "FL1-A"),
                ("y", "FSC-A"),
                ("transform", "logicle"),
                ("w", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let location = saved.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.contains("w=1"), "{location}");
    let jwt = app.login("lab").await;
    let (_, pat) = app.pat(&jwt, &["fcs:read"]).await;
    let list = app.get("/api/v1/fcs/files/sample/gates", Some(&pat)).await;
    let gate = &list.data()["gates"][0];
    assert_eq!(gate["transform"]["type"], "logicle");
    assert_eq!(gate["transform"]["w"], 1.0);
}
