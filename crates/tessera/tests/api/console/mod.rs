//! The console over HTTP: the cookies' attributes, the session shared with the API, CSRF, the
//! pages' headers, and each page's rules (who sees what, paging, bad input). The same pages in a
//! real browser: `tests/browser/` (scripts/browser.sh).

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};
use tessera::types::Role;

use crate::support::{TestApp, PASSWORD};

mod accounts;
mod branches;
mod case_records;
mod errors;
mod fcs;
mod webhooks;

/// A browser without redirects or a cookie store: the test carries the cookies itself. A clone
/// is another tab with the same cookies (until either is answered).
#[derive(Clone)]
struct Browser {
    client: reqwest::Client,
    origin: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                // What a browser asks for when it loads a page.
                .default_headers(reqwest::header::HeaderMap::from_iter([(
                    reqwest::header::ACCEPT,
                    "text/html,application/xhtml+xml,*/*;q=0.8".parse().unwrap(),
                )]))
                .build()
                .unwrap(),
            origin: app.url(""),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps what the server set, forgets what it expired.
    fn remember(&mut self, response: &Response) {
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(kept, _)| kept != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> Response {
        let response = self
            .client
            .get(format!("{}{path}", self.origin))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.remember(&response);
        response
    }

    async fn post(&mut self, path: &str, origin: &str, form: &[(&str, &str)]) -> Response {
        let response = self
            .client
            .post(format!("{}{path}", self.origin))
            .header("cookie", self.cookie_header())
            .header(ORIGIN, origin.trim_end_matches('/'))
            .form(form)
            .send()
            .await
            .unwrap();
        self.remember(&response);
        response
    }

    /// Posts a multipart form (the console's upload) from `origin`.
    async fn post_multipart(
        &mut self,
        path: &str,
        origin: &str,
        form: reqwest::multipart::Form,
    ) -> Response {
        let response = self
            .client
            .post(format!("{}{path}", self.origin))
            .header("cookie", self.cookie_header())
            .header(ORIGIN, origin.trim_end_matches('/'))
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.remember(&response);
        response
    }

    async fn sign_in(&mut self, login: &str, password: &str) -> Response {
        let origin = self.origin.clone();
        self.post(
            "/sign-in",
            &origin,
            &[("login", login), ("password", password)],
        )
        .await
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(kept, _)| kept == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The value of the sign-out form's hidden CSRF field in `html`.
fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..][..html[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn signed_out_visitors_get_the_sign_in_form_with_the_consoles_headers() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(
        page.headers()[CONTENT_SECURITY_POLICY],
        "default-src 'self'; frame-ancestors 'none'"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    // The API's `no-referrer` would make browsers send `Origin: null` with the console's forms.
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    let html = page.text().await.unwrap();
    for label in ["Username or email", "Password", "Sign in"] {
        assert!(html.contains(label), "{label} missing from {html}");
    }
    // Nothing inline (the CSP would block it): the one script and the stylesheet are files.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(html.contains("<script src=\"/console.js\" defer></script>"));
    assert!(
        !html.contains("<style") && !html.contains(" style="),
        "{html}"
    );
    let script = browser.get("/console.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let css = browser.get("/console.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_login_apis_message_and_sets_no_cookie() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    let refused = browser.sign_in("alice", "not the password").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get(SET_COOKIE).is_none());
    let html = refused.text().await.unwrap();
    assert!(html.contains("Invalid credentials"), "{html}");
    assert!(
        html.contains("value=\"alice\""),
        "the login is kept: {html}"
    );
    assert!(!html.contains("not the password"));
}

#[tokio::test]
async fn signing_in_sets_strict_http_only_cookies_and_shows_the_navigation() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    let signed_in = browser.sign_in("alice", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "/");
    let set: Vec<&str> = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set.len(), 3, "{set:?}");
    for cookie in &set {
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert!(!cookie.contains("Secure"), "not over plain http: {cookie}");
    }
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("Welcome, alice"), "{home}");
    for link in [
        "Tokens",
        "FCS files",
        "Branches",
        "Beneficiaries",
        "Sessions",
        "Profile",
        "Sign out",
    ] {
        assert!(home.contains(link), "{link} missing");
    }
    assert!(!home.contains(">Users<"), "members see no Users page");
}

#[tokio::test]
async fn admins_see_the_users_page_in_the_navigation() {
    let app = TestApp::spawn().await;
    app.user("root").role(Role::Admin).create().await;
    let mut browser = Browser::new(&app);
    browser.sign_in("root", PASSWORD).await;
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains(">Users<"), "{home}");
}

#[tokio::test]
async fn signing_out_ends_the_session_everywhere() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let access = browser.cookie("tessera_access").unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&access)).await.status,
        StatusCode::OK,
        "the console's session is an API session"
    );
    let home = browser.get("/").await.text().await.unwrap();
    let origin = browser.origin.clone();
    let out = browser
        .post("/sign-out", &origin, &[("csrf", &csrf_field(&home))])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        browser.cookie("tessera_access").is_none(),
        "cookies cleared"
    );
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&access)).await.status,
        StatusCode::UNAUTHORIZED,
        "the session's tokens stop working"
    );
    let page = browser.get("/").await.text().await.unwrap();
    assert!(page.contains("Username or email"));
}

#[tokio::test]
async fn forms_from_another_site_or_without_the_sessions_token_are_refused() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    let elsewhere = browser
        .post(
            "/sign-in",
            "https://evil.example",
            &[("login", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
    assert!(elsewhere.headers().get(SET_COOKIE).is_none());
    assert!(elsewhere
        .text()
        .await
        .unwrap()
        .contains("did not come from a Tessera page"));

    browser.sign_in("alice", PASSWORD).await;
    let access = browser.cookie("tessera_access").unwrap().to_owned();
    let home = browser.get("/").await.text().await.unwrap();
    let csrf = csrf_field(&home);
    let origin = browser.origin.clone();
    let forged = browser
        .post("/sign-out", &origin, &[("csrf", "not-the-token")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross = browser
        .post("/sign-out", "https://evil.example", &[("csrf", &csrf)])
        .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&access)).await.status,
        StatusCode::OK,
        "neither forged form ended the session"
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_console_is_served_over_https() {
    let app = TestApp::builder()
        .with_config(|config| config.console_secure_cookies = true)
        .spawn()
        .await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    let signed_in = browser.sign_in("alice", PASSWORD).await;
    let set: Vec<&str> = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set.len(), 3, "{set:?}");
    assert!(
        set.iter().all(|cookie| cookie.contains("Secure")),
        "{set:?}"
    );
}

/// Without a usable access token the page is served after a refresh, which rotates the refresh
/// token like the API's: the old one is spent.
#[tokio::test]
async fn a_page_without_a_usable_access_token_refreshes_the_session_and_rotates_its_token() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let old_refresh = browser.cookie("tessera_refresh").unwrap().to_owned();
    browser.cookies.retain(|(name, _)| name != "tessera_access");
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("Welcome, alice"), "{home}");
    let new_refresh = browser.cookie("tessera_refresh").unwrap().to_owned();
    assert_ne!(new_refresh, old_refresh);
    assert!(browser.cookie("tessera_access").is_some());
    let replayed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            serde_json::json!({ "refresh_token": old_refresh }),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
}

/// Browsers get the console's 404 page; API clients keep the contract's envelope.
#[tokio::test]
async fn unknown_pages_are_a_console_page_for_browsers_and_the_envelope_for_the_rest() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let page = client
        .get(app.url("/no-such-page"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        page.headers()[CONTENT_SECURITY_POLICY],
        "default-src 'self'; frame-ancestors 'none'"
    );
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    let html = page.text().await.unwrap();
    assert!(html.contains("There is no page at this address"), "{html}");
    let api = app.get("/no-such-page", None).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.body["message"], "No route for GET /no-such-page");
}

/// Signs `username` in and answers the browser with the home page's CSRF token.
async fn signed_in(app: &TestApp, username: &str) -> (Browser, String) {
    let mut browser = Browser::new(app);
    browser.sign_in(username, PASSWORD).await;
    let home = browser.get("/").await.text().await.unwrap();
    let csrf = csrf_field(&home);
    (browser, csrf)
}

#[tokio::test]
async fn token_pages_need_a_signed_in_person() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    for (path, back) in [("/tokens", "%2Ftokens"), ("/tokens/new", "%2Ftokens%2Fnew")] {
        let page = browser.get(path).await;
        assert_eq!(page.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.headers()[LOCATION], format!("/?next={back}"), "{path}");
    }
}

/// A signed-out visit goes to sign-in and, after it, back to the page; never to another site.
#[tokio::test]
async fn signing_in_leads_back_to_the_page_asked_for_and_only_to_this_site() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    let form = browser.get("/?next=%2Ftokens").await.text().await.unwrap();
    assert!(form.contains("name=\"next\" value=\"/tokens\""), "{form}");
    let origin = browser.origin.clone();
    for (next, lands) in [
        ("/tokens", "/tokens"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let signed_in = browser
            .post(
                "/sign-in",
                &origin,
                &[("login", "alice"), ("password", PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(signed_in.headers()[LOCATION], lands, "{next}");
    }
}

/// The new-token form offers exactly the scopes the role may hold, each labelled with itself.
#[tokio::test]
async fn the_new_token_form_offers_only_the_scopes_of_the_role() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (mut browser, _) = signed_in(&app, "alice").await;
    let form = browser.get("/tokens/new").await.text().await.unwrap();
    for label in [
        "Name",
        "workspaces:admin",
        "fcs:analyze",
        "7 days",
        "90 days",
        "Generate token",
    ] {
        assert!(form.contains(label), "{label} missing");
    }
    for beyond in ["beneficiaries:read", "connections:read"] {
        assert!(!form.contains(beyond), "a member is offered {beyond}");
    }
    assert!(
        form.contains("includes fcs:write, fcs:read"),
        "levels say what they include"
    );
}

/// Mint a PAT, see it once, use it on the API, see it listed without its secret, revoke it after
/// confirming, and see the API refuse it.
#[tokio::test]
async fn a_token_made_in_the_console_works_on_the_api_until_revoked_there() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let created = browser
        .post(
            "/tokens",
            &origin,
            &[
                ("csrf", &csrf),
                ("name", "backup script"),
                ("scopes", "workspaces:read"),
                ("scopes", "fcs:read"),
                ("expiry", "30"),
                ("allowed_ips", ""),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let html = created.text().await.unwrap();
    assert!(html.contains("only time it is shown"), "{html}");
    let start = html.find("pat_").expect("the secret is shown");
    let secret: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&secret)).await.status,
        StatusCode::OK
    );
    let list = browser.get("/tokens").await.text().await.unwrap();
    assert!(list.contains("backup script"));
    assert!(list.contains("workspaces:read, fcs:read"), "{list}");
    assert!(!list.contains(&secret), "the secret is never shown again");
    let tokens = app
        .get("/api/v1/tokens", Some(&app.login("alice").await))
        .await;
    let id = tokens.data()["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirm = browser.get(&format!("/tokens/{id}/revoke")).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    assert!(confirm
        .text()
        .await
        .unwrap()
        .contains("Revoke “backup script”?"));
    let revoked = browser
        .post(&format!("/tokens/{id}/revoke"), &origin, &[("csrf", &csrf)])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let refused = app.get("/api/v1/workspaces", Some(&secret)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.message(), "Token revoked");
}

#[tokio::test]
async fn a_refused_token_keeps_the_form_and_says_why() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let beyond = browser
        .post(
            "/tokens",
            &origin,
            &[
                ("csrf", &csrf),
                ("name", "too much"),
                ("scopes", "beneficiaries:read"),
                ("expiry", "7"),
            ],
        )
        .await;
    assert_eq!(beyond.status(), StatusCode::FORBIDDEN);
    let html = beyond.text().await.unwrap();
    assert!(html.contains("may not hold beneficiaries:read"), "{html}");
    assert!(html.contains("value=\"too much\""), "the name is kept");
    let forged = browser
        .post(
            "/tokens",
            &origin,
            &[
                ("name", "x"),
                ("scopes", "workspaces:read"),
                ("expiry", "7"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let list = app
        .get("/api/v1/tokens", Some(&app.login("alice").await))
        .await;
    assert_eq!(list.data()["total"], 0, "nothing was minted");
}

/// An access cookie that no longer verifies (garbage, or signed with a retired key) is not a
/// sign-out: the refresh token decides.
#[tokio::test]
async fn an_access_token_that_does_not_verify_is_replaced_by_a_refresh() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    for (name, value) in browser.cookies.iter_mut() {
        if name == "tessera_access" {
            *value = "not-a-jwt".to_owned();
        }
    }
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("Welcome, alice"), "{home}");
}

/// A refused form still answers with the rotated refresh token: keeping the spent one would
/// read as a replay on the next page and end the session.
#[tokio::test]
async fn a_refused_form_after_a_refresh_keeps_the_session() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    browser.cookies.retain(|(name, _)| name != "tessera_access");
    let origin = browser.origin.clone();
    let refused = browser
        .post(
            "/tokens",
            &origin,
            &[("name", "x"), ("scopes", "workspaces:read")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let home = browser.get("/").await.text().await.unwrap();
    assert!(
        home.contains("Welcome, alice"),
        "the session lives on: {home}"
    );
}

/// `(id, secret)` of a new `workspaces:read` token of `username`'s, made over the API.
async fn api_token(app: &TestApp, username: &str) -> (String, String) {
    let jwt = app.login(username).await;
    app.pat(&jwt, &["workspaces:read"]).await
}

/// The token's page lists every request that presented it, newest first, 25 a page, and shows
/// all of them or only the allowed or the refused ones.
#[tokio::test]
async fn a_tokens_page_shows_its_audit_log_paged_and_filtered() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (id, secret) = api_token(&app, "alice").await;
    for _ in 0..27 {
        app.get("/api/v1/workspaces", Some(&secret)).await;
    }
    for _ in 0..3 {
        let refused = app.get("/api/v1/beneficiaries", Some(&secret)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
    let (mut browser, _) = signed_in(&app, "alice").await;
    let rows = |html: &str| html.matches("<td><code>GET ").count();

    let first = browser
        .get(&format!("/tokens/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(first.contains("30 requests; page 1 of 2"), "{first}");
    assert_eq!(rows(&first), 25);
    assert!(
        first.find("/api/v1/beneficiaries") < first.find("/api/v1/workspaces"),
        "newest first"
    );
    assert!(first.contains(&format!(
        "/tokens/{id}?result=all&amp;page=2\" rel=\"next\">Older"
    )));
    assert!(!first.contains("rel=\"prev\""));

    let second = browser
        .get(&format!("/tokens/{id}?page=2"))
        .await
        .text()
        .await
        .unwrap();
    assert!(second.contains("30 requests; page 2 of 2"), "{second}");
    assert_eq!(rows(&second), 5);
    assert!(second.contains("rel=\"prev\">Newer"));

    let refused = browser
        .get(&format!("/tokens/{id}?result=refused"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        refused.contains("3 refused requests; page 1 of 1"),
        "{refused}"
    );
    assert_eq!(rows(&refused), 3);
    assert!(!refused.contains("<code>GET /api/v1/workspaces"));
    assert!(refused.contains("Insufficient permissions"));
    let allowed = browser
        .get(&format!("/tokens/{id}?result=allowed&page=2"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        allowed.contains("27 allowed requests; page 2 of 2"),
        "{allowed}"
    );
    assert_eq!(rows(&allowed), 2);

    for query in ["result=bogus", "page=0", "page=-1", "page=x"] {
        let bad = browser.get(&format!("/tokens/{id}?{query}")).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(bad.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
}

/// Another user's token is not there: its page, and regenerating or revoking it, answer 404
/// and change nothing.
#[tokio::test]
async fn another_users_token_is_not_found_in_the_console() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    app.user("bob").create().await;
    let (id, secret) = api_token(&app, "bob").await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    for path in ["", "/regenerate", "/revoke"] {
        let page = browser.get(&format!("/tokens/{id}{path}")).await;
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "GET {path}");
        let posted = browser
            .post(&format!("/tokens/{id}{path}"), &origin, &[("csrf", &csrf)])
            .await;
        let expected = if path.is_empty() {
            StatusCode::METHOD_NOT_ALLOWED
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(posted.status(), expected, "POST {path}");
    }
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&secret)).await.status,
        StatusCode::OK,
        "bob's token is untouched"
    );
    let page = browser.get("/tokens/not-a-token").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
}

/// Regenerating shows a new secret once; the old one stops working at once. Without the
/// session's CSRF token nothing happens.
#[tokio::test]
async fn regenerating_in_the_console_replaces_the_secret() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (id, old) = api_token(&app, "alice").await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let path = format!("/tokens/{id}/regenerate");
    let confirm = browser.get(&path).await.text().await.unwrap();
    assert!(
        confirm.contains("stops working") && confirm.contains(">at once<"),
        "{confirm}"
    );

    let forged = browser.post(&path, &origin, &[("csrf", "wrong")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let still = app.get("/api/v1/workspaces", Some(&old)).await;
    assert_eq!(
        still.status,
        StatusCode::OK,
        "a refused form changes nothing"
    );

    let done = browser.post(&path, &origin, &[("csrf", &csrf)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    let html = done.text().await.unwrap();
    let start = html.find("value=\"pat_").expect("the new secret is shown") + 7;
    let new = &html[start..][..html[start..].find('"').unwrap()];
    assert_ne!(new, old);
    let refused = app.get("/api/v1/workspaces", Some(&old)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/v1/workspaces", Some(new)).await.status,
        StatusCode::OK
    );
    let page = browser
        .get(&format!("/tokens/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(new), "shown once");
}

/// Regenerating with a grace keeps the current secret working for that long.
#[tokio::test]
async fn regenerating_in_the_console_with_a_grace_keeps_the_old_secret_a_while() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let (id, old) = api_token(&app, "alice").await;
    let (mut browser, csrf) = signed_in(&app, "alice").await;
    let origin = browser.origin.clone();
    let path = format!("/tokens/{id}/regenerate");
    let confirm = browser.get(&path).await.text().await.unwrap();
    assert!(confirm.contains("after 5 minutes"), "{confirm}");
    let done = browser
        .post(&path, &origin, &[("csrf", &csrf), ("grace_seconds", "300")])
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&old)).await.status,
        StatusCode::OK
    );
    app.clock.advance(std::time::Duration::from_secs(301));
    assert_eq!(
        app.get("/api/v1/workspaces", Some(&old)).await.message(),
        "Invalid token"
    );
}

/// Whether `response` sets the refresh cookie.
fn sets_refresh_cookie(response: &Response) -> bool {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|set| set.to_str().unwrap().starts_with("tessera_refresh="))
}

/// Two tabs whose access token expired together present the same refresh token. The slower
/// one, within the grace period, gets a new access token (and no refresh token) and the session
/// goes on; without a grace period the same race is a replay that ends the session.
#[tokio::test]
async fn two_tabs_refreshing_at_once_keep_the_session() {
    for (grace, survives) in [(10, true), (0, false)] {
        let app = TestApp::builder()
            .with_config(|config| config.console_refresh_grace_seconds = grace)
            .spawn()
            .await;
        app.user("alice").create().await;
        let mut first = Browser::new(&app);
        first.sign_in("alice", PASSWORD).await;
        first.cookies.retain(|(name, _)| name != "tessera_access");
        let mut second = first.clone();

        let rotated = first.get("/").await;
        assert!(sets_refresh_cookie(&rotated));
        assert!(rotated.text().await.unwrap().contains("Welcome, alice"));
        let raced = second.get("/").await;
        assert!(!sets_refresh_cookie(&raced) || !survives, "grace {grace}");
        let raced = raced.text().await.unwrap();
        assert_eq!(
            raced.contains("Welcome, alice"),
            survives,
            "grace {grace}: {raced}"
        );

        // The first tab's next refresh tells whether the session lives.
        first.cookies.retain(|(name, _)| name != "tessera_access");
        let next = first.get("/").await.text().await.unwrap();
        assert_eq!(
            next.contains("Welcome, alice"),
            survives,
            "grace {grace}: {next}"
        );
    }
}

/// The grace is the console's: the API's refresh endpoint treats a token the console just spent
/// as the replay it is, and ends the session.
#[tokio::test]
async fn the_api_has_no_grace_for_a_token_the_console_spent() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;
    let spent = browser.cookie("tessera_refresh").unwrap().to_owned();
    browser.cookies.retain(|(name, _)| name != "tessera_access");
    assert!(browser
        .get("/")
        .await
        .text()
        .await
        .unwrap()
        .contains("Welcome"));
    let replayed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            serde_json::json!({ "refresh_token": spent }),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    browser.cookies.retain(|(name, _)| name != "tessera_access");
    let after = browser.get("/").await.text().await.unwrap();
    assert!(after.contains("Sign in"), "the session ended: {after}");
}

/// Issue 14: a token in its last seven days says so on the tokens page and its own page (as the
/// API's `Tessera-Token-Expires-Soon` does); one with a month left does not.
#[tokio::test]
async fn a_token_about_to_expire_says_so_in_the_console() {
    let app = TestApp::spawn().await;
    app.user("alice").create().await;
    let jwt = app.login("alice").await;
    let body = |name: &str, days: u32| serde_json::json!({"name": name, "scopes": ["workspaces:read"], "expires_in_days": days});
    let (soon, _) = app.pat_with(&jwt, body("nightly export", 3)).await;
    let (later, _) = app.pat_with(&jwt, body("sorter", 30)).await;
    let (mut browser, _) = signed_in(&app, "alice").await;

    let list = browser.get("/tokens").await.text().await.unwrap();
    let row = |name: &str| {
        let at = list.find(&format!(">{name}</a>")).unwrap();
        list[at..at + list[at..].find("</tr>").unwrap()].to_owned()
    };
    // Three days less the seconds since it was made: still counted as 3.
    assert!(row("nightly export").contains("<strong class=\"soon\">expires in 3 days</strong>"));
    assert!(!row("sorter").contains("class=\"soon\""));

    let page = browser
        .get(&format!("/tokens/{soon}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<p class=\"warning\" role=\"status\">This token expires in 3 days."));
    let page = browser
        .get(&format!("/tokens/{later}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("class=\"warning\""));
}
