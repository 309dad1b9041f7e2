//! `TestApp`: the real application, spawned per test on a fresh database and a random port.
//!
//! The backend comes from `TEST_DATABASE_URL`: unset means a temporary SQLite file; a
//! `postgres://…` URL means a fresh schema in that database per test, so tests run in parallel
//! without seeing each other's rows.

pub mod receiver;

use std::net::SocketAddr;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::clock::Clock;
use tessera::config::Config;
use tessera::server::Server;
use tessera::store::RoleChange;
use tessera::types::Role;
use tokio::sync::oneshot;

/// The synthetic DxFLEX-like sample (34,297 × 26 events, a fixed seed), generated once per test
/// process: every app would otherwise generate it at start.
/// `TESSERA_TEST_PYTHON` (scripts/test.sh points it at a venv holding every Python reference),
/// else `python3`, when it imports `modules` (`"jwt, cryptography"`). Without them a test
/// skips with a notice, except in CI or with `TESSERA_REQUIRE_FLOWKIT` (set by
/// scripts/test.sh), where it fails: the references are installed there.
pub fn python_with(modules: &str) -> Option<String> {
    let python = std::env::var("TESSERA_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(python);
    }
    assert!(
        std::env::var("CI").is_err() && std::env::var("TESSERA_REQUIRE_FLOWKIT").is_err(),
        "{python} cannot import {modules}: run scripts/test.sh, which installs them"
    );
    eprintln!("SKIPPED: {python} cannot import {modules} (scripts/test.sh installs them)");
    None
}

pub fn synthetic_bytes() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| tessera_fcs::synth::dxflex_like_sample().unwrap())
        .clone()
}

/// Puts the synthetic sample where an app on `data_dir` generates it (`<data dir>/sample/`), so
/// the app finds it instead of generating it; the bytes are the same.
fn place_synthetic_sample(data_dir: &std::path::Path) {
    let path = data_dir.join("sample").join("synthetic_dxflex.fcs");
    if path.exists() {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, synthetic_bytes()).unwrap();
}

/// A fresh database for one test: its URL, and the directory that holds its files.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(&base)
                    .await
                    .expect("TEST_DATABASE_URL must be reachable");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                let separator = if base.contains('?') { '&' } else { '?' };
                format!("{base}{separator}options=-c%20search_path%3D{schema}")
            }
            _ => format!("sqlite://{}", dir.path().join("tessera.db").display()),
        };
        TestDb { url, dir }
    }

    /// Another handle on the same database (for a second instance); keep `self` alive meanwhile.
    pub fn share(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// `id` as an SQL literal of the backend's UUID column type (a 16-byte BLOB on SQLite).
    pub fn uuid_literal(&self, id: &str) -> String {
        if self.is_postgres() {
            format!("'{id}'::uuid")
        } else {
            format!("X'{}'", id.replace('-', ""))
        }
    }

    /// The `tessera` command line on this database, with the test apps' secret key; add the
    /// arguments (and any other environment) and run it.
    pub fn tessera(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .env("DATABASE_URL", &self.url)
            .env("TESSERA_DATA_DIR", self.dir.path())
            .env("SECRET_KEY", TEST_SECRET)
            .env("RUST_LOG", "warn");
        command
    }

    /// Every file under `<data dir>/uploads`, staging and unfinished part files included.
    pub fn stored_objects(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.dir.path().join("uploads"), &mut found);
        found
    }

    /// Runs a statement with literal values on a connection of its own.
    pub async fn exec(&self, sql: &str) {
        if self.is_postgres() {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// Runs a query returning one text column per row.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        if self.is_postgres() {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub state: tessera::state::AppState,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The one secret every test app and binary signs with, so that an instance started on another's
/// database opens its keys.
pub const TEST_SECRET: &str = "test-secret-key-test-secret-key-0123456789";

/// How a test app comes by the FCS sample it serves as `file_id=sample`.
enum Sample {
    /// The bytes generated once per test process, placed where the app would write them.
    Shared,
    /// The app generates it itself (the tests about that).
    Generated,
    /// The app reads this file (`FCS_SAMPLE_PATH`).
    File(std::path::PathBuf),
}

/// Builds a test app: `TestApp::builder().rate_limit(5).spawn().await`.
///
/// Starts from the production defaults (the `Config` attributes) with the few changes every test
/// wants, which `new` lists. A setting used by several tests has a method; any other is set with
/// `with_config`. The same builder starts the real binary (`spawn_binary`).
pub struct TestAppBuilder {
    config: Config,
    db: Option<TestDb>,
    sample: Sample,
}

impl TestAppBuilder {
    fn new() -> TestAppBuilder {
        // The data directory and database come from the test database at spawn.
        let mut config = Config::for_data_dir(std::path::Path::new(""));
        config.secret_key = Some(TEST_SECRET.to_owned().into());
        // High enough that only the rate-limit tests meet the limit.
        config.rate_limit_per_minute = 100_000;
        config.trusted_proxies = Vec::new();
        config.database_max_connections = 8;
        config.password_hash_concurrency = Some(2);
        // Out of the way unless a test is about brute force: tests log in a lot.
        config.login_lock_threshold = 1_000;
        config.login_ip_lock_threshold = 100_000;
        config.login_max_delay_ms = 50;
        // Tests drive the keep-alive task themselves.
        config.oauth_keepalive_interval_seconds = 0;
        // And the retention sweep.
        config.retention_interval_seconds = 0;
        // Webhook receivers listen on loopback, and deliveries should not wait a second.
        config.webhook_allow_private_endpoints = true;
        // Tests deliver webhook events themselves (`TestApp::deliver_webhooks`), except those
        // about the worker.
        config.webhook_delivery = false;
        TestAppBuilder {
            config,
            db: None,
            sample: Sample::Shared,
        }
    }

    /// `RATE_LIMIT_PER_MINUTE`.
    pub fn rate_limit(mut self, per_minute: u32) -> Self {
        self.config.rate_limit_per_minute = per_minute;
        self
    }

    /// `TRUSTED_PROXIES`: the test client (loopback) becomes a proxy whose `X-Forwarded-For` counts.
    pub fn trust_loopback_proxy(mut self) -> Self {
        self.config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        self
    }

    /// `LOGIN_LOCK_THRESHOLD`, `LOGIN_IP_LOCK_THRESHOLD` and `LOGIN_MAX_DELAY_MS`.
    pub fn login_lockout(mut self, account: i32, address: i32, max_delay_ms: u64) -> Self {
        self.config.login_lock_threshold = account;
        self.config.login_ip_lock_threshold = address;
        self.config.login_max_delay_ms = max_delay_ms;
        self
    }

    /// The Google endpoints (`GOOGLE_AUTH_URL`, `…_TOKEN_URL`, `…_REVOKE_URL`) at a mock
    /// provider's `/authorize`, `/token` and `/revoke`.
    pub fn oauth_provider(mut self, base: &str) -> Self {
        self.config.google_auth_url = format!("{base}/authorize");
        self.config.google_token_url = format!("{base}/token");
        self.config.google_revoke_url = format!("{base}/revoke");
        self
    }

    /// `FCS_SAMPLE_PATH`: the app serves this file as the sample.
    pub fn fcs_sample(mut self, path: std::path::PathBuf) -> Self {
        self.sample = Sample::File(path);
        self
    }

    /// The app generates the synthetic sample itself instead of finding the shared bytes.
    pub fn generate_sample(mut self) -> Self {
        self.sample = Sample::Generated;
        self
    }

    /// Any other setting.
    pub fn with_config(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Starts on an existing database (a second instance, or a restart) instead of a fresh one.
    pub fn on(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }

    /// The configuration the app runs with, its database in place.
    fn resolve(mut self) -> (Config, TestDb, Sample) {
        let db = self
            .db
            .take()
            .expect("the database is set before resolving");
        self.config.data_dir = db.dir.path().to_path_buf();
        self.config.database_url = Some(db.url.clone().into());
        self.config.fcs_sample_path = match &self.sample {
            Sample::File(path) => Some(path.clone()),
            Sample::Shared | Sample::Generated => None,
        };
        (self.config, db, self.sample)
    }

    async fn with_database(mut self) -> Self {
        if self.db.is_none() {
            self.db = Some(TestDb::new().await);
        }
        self
    }

    /// Starts the app in this process on a random port.
    pub async fn spawn(self) -> TestApp {
        let (config, db, sample) = self.with_database().await.resolve();
        if let Sample::Shared = sample {
            place_synthetic_sample(db.dir.path());
        }
        let app = Server::build(config).await.expect("app builds");
        let clock = app.state.clock.clone();
        let state = app.state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            addr,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            clock,
            state,
            db,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Starts the real `tessera` binary; returns once it listens.
    pub async fn spawn_binary(self) -> Binary {
        let (config, db, sample) = self.with_database().await.resolve();
        if let Sample::Shared = sample {
            place_synthetic_sample(db.dir.path());
        }
        Binary::start(db, &config).await
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::new()
    }

    /// An app with the test defaults on a fresh database.
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    /// One round of the webhook worker: every event fanned out, every due delivery attempted
    /// and its outcome written. Returns the number of attempts.
    pub async fn deliver_webhooks(&self) -> usize {
        tessera::webhooks::worker::run_once(&self.state.webhooks, &self.clock)
            .await
            .expect("a delivery round runs")
    }

    /// Graceful shutdown (in-flight requests finish, audit writer flushes); returns the database.
    pub async fn shutdown(mut self) -> TestDb {
        self.stop.take().unwrap().send(()).ok();
        self.server.take().unwrap().await.unwrap();
        std::mem::replace(
            &mut self.db,
            TestDb {
                url: String::new(),
                dir: tempfile::tempdir().unwrap(),
            },
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request.send().await.expect("request sent")).await
    }

    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("body is not JSON ({status}): {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.request(Method::GET, path, bearer, None).await
    }

    /// GET with one extra request header.
    pub async fn get_with_header(&self, path: &str, bearer: &str, header: (&str, &str)) -> Reply {
        let request = self
            .client
            .get(self.url(path))
            .bearer_auth(bearer)
            .header(header.0, header.1);
        Self::reply(request.send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, bearer, Some(body)).await
    }

    pub async fn patch(&self, path: &str, bearer: Option<&str>, body: Value) -> Reply {
        self.request(Method::PATCH, path, bearer, Some(body)).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, bearer, None).await
    }

    /// A new user named `username` (email `<username>@example.com`):
    /// `app.user("alice").role(Role::Admin).create().await`.
    pub fn user(&self, username: &str) -> UserBuilder<'_> {
        UserBuilder {
            app: self,
            username: username.to_owned(),
            role: None,
        }
    }

    /// Gives the user `role` as an operator does (the store's role change, no HTTP); their tokens
    /// feel it at once, the role being read per request.
    pub async fn assign_role(&self, user_id: &str, role: Role) {
        let changed = self
            .state
            .store
            .change_role(user_id.parse().unwrap(), role)
            .await
            .unwrap();
        assert!(matches!(changed, RoleChange::Changed { .. }), "{changed:?}");
    }

    /// Logs an existing user in (password [`PASSWORD`]); returns the JWT.
    pub async fn login(&self, username: &str) -> String {
        let login = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
        login.data()["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a PAT; returns (id, secret).
    pub async fn pat(&self, jwt: &str, scopes: &[&str]) -> (String, String) {
        self.pat_with(jwt, json!({"name": "test token", "scopes": scopes}))
            .await
    }

    pub async fn pat_with(&self, jwt: &str, body: Value) -> (String, String) {
        let created = self.post("/api/v1/tokens", Some(jwt), body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        (
            created.data()["id"].as_str().unwrap().to_owned(),
            created.data()["token"].as_str().unwrap().to_owned(),
        )
    }

    /// `POST /api/v1/fcs/upload` of `bytes` as the multipart part `file` named `name`.
    pub async fn upload_fcs(&self, pat: &str, name: &str, bytes: Vec<u8>) -> Reply {
        let response = self
            .client
            .post(self.url("/api/v1/fcs/upload"))
            .bearer_auth(pat)
            .multipart(fcs_form(name, bytes))
            .send()
            .await
            .expect("upload sent");
        Self::reply(response).await
    }

    pub async fn logs(&self, jwt: &str, token_id: &str, query: &str) -> Reply {
        self.get(&format!("/api/v1/tokens/{token_id}/logs{query}"), Some(jwt))
            .await
    }
}

/// The multipart body of an FCS upload: `bytes` as the part `file`, named `name`.
pub fn fcs_form(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    reqwest::multipart::Form::new().part("file", part)
}

/// The password of every user a test creates.
pub const PASSWORD: &str = "correct horse battery";

/// A user a test created and logged in.
pub struct TestUser {
    pub id: String,
    pub username: String,
    /// An access token of a session of theirs.
    pub jwt: String,
}

/// Creates a user through the API, as someone signing up does; an operator then gives the role.
pub struct UserBuilder<'a> {
    app: &'a TestApp,
    username: String,
    role: Option<Role>,
}

impl UserBuilder<'_> {
    /// A role other than self-registration's `member`.
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    /// Registers and, given a role, sets it; no session yet (the tests about sessions and
    /// logins count them). Returns the user's id.
    pub async fn register(self) -> String {
        let username = &self.username;
        let registered = self
            .app
            .post(
                "/api/v1/auth/register",
                None,
                json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{:?}",
            registered.body
        );
        let id = registered.data()["id"].as_str().unwrap().to_owned();
        if let Some(role) = self.role {
            self.app.assign_role(&id, role).await;
        }
        id
    }

    /// Registers, sets the role and logs in.
    pub async fn create(self) -> TestUser {
        let (app, username) = (self.app, self.username.clone());
        let id = self.register().await;
        let jwt = app.login(&username).await;
        TestUser { id, username, jwt }
    }
}

/// Every PAT-protected route: method, path, required scope.
pub const PROTECTED: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/workspaces", "workspaces:read"),
    ("POST", "/api/v1/workspaces", "workspaces:write"),
    ("DELETE", "/api/v1/workspaces/5", "workspaces:delete"),
    ("PUT", "/api/v1/workspaces/5/settings", "workspaces:admin"),
    ("GET", "/api/v1/workspacess", "workspaces:read"),
    ("POST", "/api/v1/workspacess", "workspaces:write"),
    ("DELETE", "/api/v1/workspacess/5", "workspaces:delete"),
    ("PUT", "/api/v1/workspacess/5/settings", "workspaces:admin"),
    ("GET", "/api/v1/users/me", "users:read"),
    ("PUT", "/api/v1/users/me", "users:write"),
    ("GET", "/api/v1/fcs/parameters", "fcs:read"),
    ("GET", "/api/v1/fcs/events", "fcs:read"),
    ("POST", "/api/v1/fcs/upload", "fcs:write"),
    ("GET", "/api/v1/fcs/statistics", "fcs:analyze"),
];

pub const ALL_SCOPES: &[&str] = &[
    "workspaces:admin",
    "workspaces:delete",
    "workspaces:write",
    "workspaces:read",
    "users:write",
    "users:read",
    "fcs:analyze",
    "fcs:write",
    "fcs:read",
    "beneficiaries:delete",
    "beneficiaries:write",
    "beneficiaries:read",
    "connections:admin",
    "connections:write",
    "connections:read",
];

/// Whether `held` satisfies `required`, by the contract's table (written out independently of
/// the service's own implementation).
pub fn satisfies(held: &str, required: &str) -> bool {
    let order: &[&[&str]] = &[
        &[
            "workspaces:read",
            "workspaces:write",
            "workspaces:delete",
            "workspaces:admin",
        ],
        &["users:read", "users:write"],
        &["fcs:read", "fcs:write", "fcs:analyze"],
        &[
            "beneficiaries:read",
            "beneficiaries:write",
            "beneficiaries:delete",
        ],
        &["connections:read", "connections:write", "connections:admin"],
    ];
    order.iter().any(|levels| {
        let h = levels.iter().position(|l| *l == held);
        let r = levels.iter().position(|l| *l == required);
        matches!((h, r), (Some(h), Some(r)) if h >= r)
    })
}

pub fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// The real `tessera` binary, serving on a free port, with every log line it prints kept.
/// Started by `TestApp::builder().spawn_binary()`.
pub struct Binary {
    pub child: tokio::process::Child,
    pub base: String,
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The database it serves; it outlives the process, for what a test reads afterwards.
    pub db: TestDb,
    drains: Vec<tokio::task::JoinHandle<()>>,
}

/// The builder's settings the binary is given, as the environment variables it reads; the rest
/// are the production defaults.
fn binary_environment(config: &Config) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DATABASE_URL", config.database_url()),
        ("TESSERA_DATA_DIR", config.data_dir.display().to_string()),
        (
            "RATE_LIMIT_PER_MINUTE",
            config.rate_limit_per_minute.to_string(),
        ),
        ("GOOGLE_AUTH_URL", config.google_auth_url.clone()),
        ("GOOGLE_TOKEN_URL", config.google_token_url.clone()),
        ("GOOGLE_REVOKE_URL", config.google_revoke_url.clone()),
        ("DEBUG", config.debug.to_string()),
        // Debug means every crate's debug lines (sqlx's queries among them), not only ours.
        (
            "RUST_LOG",
            if config.debug { "debug" } else { "info" }.to_owned(),
        ),
        ("LOG_FORMAT", "json".to_owned()),
        ("WEBHOOK_DELIVERY", config.webhook_delivery.to_string()),
        (
            "WEBHOOK_ALLOW_PRIVATE_ENDPOINTS",
            config.webhook_allow_private_endpoints.to_string(),
        ),
        (
            "WEBHOOK_POLL_INTERVAL_MS",
            config.webhook_poll_interval_ms.to_string(),
        ),
    ];
    if let Some(secret) = &config.secret_key {
        env.push(("SECRET_KEY", secret.expose().to_owned()));
    }
    if let Some(addr) = config.metrics_addr {
        env.push(("METRICS_ADDR", addr.to_string()));
    }
    env
}

impl Binary {
    async fn start(db: TestDb, config: &Config) -> Binary {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .arg("serve")
            .env("TESSERA_ADDR", format!("127.0.0.1:{port}"))
            .envs(binary_environment(config));
        let mut child = command
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = stderr
                .next_line()
                .await
                .unwrap()
                .expect("server exited before listening");
            let listening = line.contains("listening");
            logs.lock().unwrap().push(line);
            if listening {
                break;
            }
        }
        // Keep draining both streams so the server never blocks on a full pipe.
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let (err_logs, out_logs) = (logs.clone(), logs.clone());
        let drains = vec![
            tokio::spawn(async move {
                while let Ok(Some(line)) = stderr.next_line().await {
                    err_logs.lock().unwrap().push(line);
                }
            }),
            tokio::spawn(async move {
                while let Ok(Some(line)) = stdout.next_line().await {
                    out_logs.lock().unwrap().push(line);
                }
            }),
        ];
        Binary {
            child,
            base: format!("http://127.0.0.1:{port}"),
            logs,
            db,
            drains,
        }
    }

    /// Stops the binary gracefully (SIGTERM) and waits for it, so every log line is in; returns
    /// the lines and the database.
    pub async fn stop(mut self) -> (Vec<String>, TestDb) {
        if let Some(pid) = self.child.id() {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .unwrap();
        }
        self.child.wait().await.unwrap();
        // Both streams end when the process does: then every line has been read.
        for drain in self.drains.drain(..) {
            drain.await.unwrap();
        }
        let lines = self.logs.lock().unwrap().clone();
        (lines, self.db)
    }
}
