//! `TestApp`: the real application, spawned per test on a fresh database and a random port.
//!
//! The backend comes from `TEST_DATABASE_URL`: unset means a temporary SQLite file; a
//! `postgres://…` URL means a fresh schema in that database per test, so tests run in parallel
//! without seeing each other's rows.

use std::net::SocketAddr;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::config::Config;
use tessera::http::rate_limit::LimiterClock;
use tessera::server::Server;
use tokio::sync::oneshot;

/// Changes any setting of the app's configuration.
pub type ConfigHook = std::sync::Arc<dyn Fn(&mut Config) + Send + Sync>;

/// Settings a test may change before the app starts.
pub struct TestOptions {
    pub rate_limit_per_minute: u32,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub max_body_bytes: Option<usize>,
    /// `FCS_SAMPLE_PATH`; `None` means the synthetic sample (whatever the environment says).
    pub fcs_sample_path: Option<std::path::PathBuf>,
    /// `FCS_MAX_UPLOAD_MB`, when a test needs a small limit.
    pub fcs_max_upload_mb: Option<u64>,
    /// `LOGIN_LOCK_THRESHOLD`, `LOGIN_IP_LOCK_THRESHOLD` and `LOGIN_MAX_DELAY_MS`.
    pub login_lock_threshold: i32,
    pub login_ip_lock_threshold: i32,
    pub login_max_delay_ms: u64,
    /// Any other setting (e.g. the OAuth provider endpoints of a mock provider).
    pub configure: Option<ConfigHook>,
    /// Let the app generate the synthetic sample itself (the tests about that); otherwise the
    /// bytes generated once per test process are placed where the app would write them.
    pub generate_sample: bool,
}

impl Default for TestOptions {
    fn default() -> Self {
        // High enough that only the rate-limit tests meet the limit.
        TestOptions {
            rate_limit_per_minute: 100_000,
            trusted_proxies: Vec::new(),
            max_body_bytes: None,
            fcs_sample_path: None,
            fcs_max_upload_mb: None,
            // Out of the way unless a test is about brute force: tests log in a lot.
            login_lock_threshold: 1_000,
            login_ip_lock_threshold: 100_000,
            login_max_delay_ms: 50,
            configure: None,
            generate_sample: false,
        }
    }
}

/// The synthetic DxFLEX-like sample (34,297 × 26 events, a fixed seed), generated once per test
/// process: every app would otherwise generate it at start.
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
    pub clock: LimiterClock,
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

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(TestOptions::default()).await
    }

    pub async fn spawn_with(options: TestOptions) -> TestApp {
        let db = TestDb::new().await;
        Self::start(db, &options).await
    }

    pub fn config(db: &TestDb, options: &TestOptions) -> Config {
        let mut config = Config::for_data_dir(db.dir.path());
        config.database_url = Some(db.url.clone().into());
        config.secret_key = Some(
            "test-secret-key-test-secret-key-0123456789"
                .to_owned()
                .into(),
        );
        config.rate_limit_per_minute = options.rate_limit_per_minute;
        config.trusted_proxies = options.trusted_proxies.clone();
        config.database_max_connections = 8;
        config.password_hash_concurrency = Some(2);
        if let Some(limit) = options.max_body_bytes {
            config.max_body_bytes = limit;
        }
        config.fcs_sample_path = options.fcs_sample_path.clone();
        config.login_lock_threshold = options.login_lock_threshold;
        config.login_ip_lock_threshold = options.login_ip_lock_threshold;
        config.login_max_delay_ms = options.login_max_delay_ms;
        if let Some(limit) = options.fcs_max_upload_mb {
            config.fcs_max_upload_mb = limit;
        }
        // Tests drive the keep-alive task themselves.
        config.oauth_keepalive_interval_seconds = 0;
        if let Some(configure) = &options.configure {
            configure(&mut config);
        }
        config
    }

    /// Starts an app on an existing database (e.g. a second instance, or a restart).
    pub async fn start(db: TestDb, options: &TestOptions) -> TestApp {
        if options.fcs_sample_path.is_none() && !options.generate_sample {
            place_synthetic_sample(db.dir.path());
        }
        let app = Server::build(Self::config(&db, options))
            .await
            .expect("app builds");
        let clock = app.limiter_clock.clone();
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

    /// Registers `username` and logs in; returns the JWT.
    pub async fn user(&self, username: &str) -> String {
        let registered = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"username": username, "email": format!("{username}@example.com"), "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{:?}",
            registered.body
        );
        self.user_login(username).await
    }

    /// Registers `username`, gives them `role` (as an operator would), and logs in; returns the
    /// JWT.
    pub async fn user_with_role(&self, username: &str, role: &str) -> String {
        self.user(username).await;
        self.db
            .exec(&format!(
                "UPDATE users SET role = '{role}' WHERE username = '{username}'"
            ))
            .await;
        self.user_login(username).await
    }

    /// Logs an existing user in (password `correct horse battery`); returns the JWT.
    pub async fn user_login(&self, username: &str) -> String {
        let login = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": username, "password": "correct horse battery"}),
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

    pub async fn logs(&self, jwt: &str, token_id: &str, query: &str) -> Reply {
        self.get(&format!("/api/v1/tokens/{token_id}/logs{query}"), Some(jwt))
            .await
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
pub struct Binary {
    pub child: tokio::process::Child,
    pub base: String,
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    drains: Vec<tokio::task::JoinHandle<()>>,
}

impl Binary {
    /// Starts the binary on `db` with extra environment variables; returns once it listens.
    pub async fn start(db: &TestDb, env: &[(&str, String)]) -> Binary {
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
            .env("DATABASE_URL", &db.url)
            .env("TESSERA_DATA_DIR", db.dir.path())
            .env("SECRET_KEY", "durability-test-secret-0123456789abcdef")
            .env("RATE_LIMIT_PER_MINUTE", "100000")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        for (name, value) in env {
            command.env(name, value);
        }
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
            drains,
        }
    }

    /// Stops the binary gracefully (SIGTERM) and waits for it, so every log line is in.
    pub async fn stop(mut self) -> Vec<String> {
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
        lines
    }
}
