//! Every setting of the service, read from flags, the environment and an optional `.env` file.
//!
//! Flags mirror the environment variables one to one (`--rate-limit-per-minute` ↔
//! `RATE_LIMIT_PER_MINUTE`), so an operator can use whichever their platform prefers. Defaults are
//! chosen so that `cargo run` on a laptop works with nothing installed: SQLite in `./data`, a
//! generated secret key, loopback only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use ipnet::IpNet;

/// How log lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when attached to a terminal.
    Pretty,
    /// One JSON object per line, for log shippers in production.
    Json,
}

/// A secret setting. Its `Debug` prints `<redacted>`, so logging a whole [`Config`] (or an error
/// that carries one) can never leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        SecretString(secret)
    }
}

impl std::str::FromStr for SecretString {
    type Err = std::convert::Infallible;
    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Ok(SecretString(secret.to_owned()))
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Whether `POST /api/v1/auth/register` makes accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    /// Anyone may register; new accounts are `member`s.
    Open,
    /// Registration answers 403; operators make accounts (`tessera users create`).
    Closed,
    /// Registration answers 403; an admin's invitation link (or an operator) makes accounts.
    Invite,
}

/// `DATABASE_URL`. Its `Debug` hides the password (`postgres://app:***@db/tessera`), so neither
/// `--help` nor a logged [`Config`] prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        DatabaseUrl(url)
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(url.to_owned()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                write!(f, "{:?}", url.as_str())
            }
            Ok(url) if !url.query().unwrap_or("").contains("password") => {
                write!(f, "{:?}", url.as_str())
            }
            _ => f.write_str("<redacted>"),
        }
    }
}

/// The service's configuration. See the README for a table of every setting.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "TESSERA_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,

    /// `postgres://…` for PostgreSQL, or `sqlite://…`; unset means a SQLite file in the data dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Directory for the SQLite file, the generated secret key and uploaded files.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Secret that JWT signing keys are derived from. Generated once into the data dir when unset.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretString>,

    /// Verbose logs. Never changes security behaviour.
    #[arg(long, env = "DEBUG", default_value_t = false, action = clap::ArgAction::Set)]
    pub debug: bool,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// Who may make an account: `open` lets anyone register (as a least-privileged `member`);
    /// `closed` refuses `POST /api/v1/auth/register` and leaves accounts to operators; `invite`
    /// refuses it too, and an admin's invitation link is the way in.
    #[arg(long, env = "REGISTRATION", value_enum, default_value = "open")]
    pub registration: Registration,

    /// The address people reach this service at (`https://tessera.example.org`), for the links
    /// it hands out (password resets, invitations). Unset: the address the admin's own request
    /// came to.
    #[arg(long, env = "PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Requests per minute per client IP on every `/api/` route.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_minute: u32,

    /// IPv6 clients are counted (rate limit, login IP lock) by this many leading bits of their
    /// address; IPv4 clients by the whole address.
    #[arg(long, env = "RATE_LIMIT_IPV6_PREFIX", default_value_t = 64, value_parser = clap::value_parser!(u8).range(16..=128))]
    pub rate_limit_ipv6_prefix: u8,

    /// Comma-separated CIDRs whose `X-Forwarded-For` header is believed.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<IpNet>,

    /// Largest accepted JSON request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Lifetime of an access JWT, in seconds.
    #[arg(long, env = "JWT_TTL_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub jwt_ttl_seconds: u64,

    /// The `iss` claim of access JWTs; other services verifying them should expect this value.
    #[arg(long, env = "JWT_ISSUER", default_value = "tessera")]
    pub jwt_issuer: String,

    /// Lifetime of a login session, in seconds: its refresh tokens rotate but never outlive it.
    #[arg(long, env = "REFRESH_TTL_SECONDS", default_value_t = 30 * 86_400, value_parser = clap::value_parser!(u64).range(60..=365 * 86_400))]
    pub refresh_ttl_seconds: u64,

    /// Failed logins for one account (as typed) before it is locked.
    #[arg(long, env = "LOGIN_LOCK_THRESHOLD", default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub login_lock_threshold: i32,

    /// Failed logins from one client IP before it is locked.
    #[arg(long, env = "LOGIN_IP_LOCK_THRESHOLD", default_value_t = 50, value_parser = clap::value_parser!(i32).range(1..=1_000_000))]
    pub login_ip_lock_threshold: i32,

    /// How long a login lock lasts, in seconds; a quiet period this long also clears the counts.
    #[arg(long, env = "LOGIN_LOCK_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub login_lock_seconds: u64,

    /// The longest delay, in milliseconds, put before a login attempt after repeated failures
    /// (delays start at 200 ms and double per failure); also the delay while locked.
    #[arg(long, env = "LOGIN_MAX_DELAY_MS", default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(0..=30_000))]
    pub login_max_delay_ms: u64,

    /// How long, in seconds, a login may wait for its turn when as many attempts on its account
    /// or address are being checked as could still lock it; then it is answered 503 with
    /// `Retry-After` (never "Invalid credentials": its password was not checked).
    #[arg(long, env = "LOGIN_WAIT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub login_wait_seconds: u64,

    /// How many password hashes may run at once (each takes 19 MiB and one core for tens of ms).
    /// Defaults to the number of cores.
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,

    /// How many password checks may wait for a hashing thread; more at once are answered 503
    /// with `Retry-After` at once (a flood must not push real logins past the request timeout).
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub password_hash_queue: u32,

    /// Connections served at once; further ones wait in the listen backlog until one closes.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// A client must send its first request head within this many seconds of connecting (on
    /// HTTP/1.1 also each later one within this long of the previous answer), or it is
    /// disconnected.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_read_timeout_seconds: u64,

    /// A connection with no request in flight for this many seconds is closed (HTTP/1.1 and
    /// HTTP/2 alike), so idle clients cannot keep connection slots.
    #[arg(long, env = "IDLE_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_seconds: u64,

    /// HTTP/2 connections are pinged after this many seconds of silence and closed when the
    /// answer takes longer than this again (a peer that vanished frees its slot).
    #[arg(long, env = "HTTP2_KEEPALIVE_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub http2_keepalive_seconds: u64,

    /// On shutdown, in-flight requests get this many seconds to finish before their
    /// connections are closed.
    #[arg(long, env = "SHUTDOWN_DEADLINE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_deadline_seconds: u64,

    /// A request that takes longer than this many seconds is answered 503 and dropped.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_seconds: u64,

    /// Audit batches committing at once. Default: 2 on PostgreSQL (which merges concurrent
    /// commits into one WAL flush), 1 on SQLite (one writer at a time).
    #[arg(long, env = "AUDIT_COMMITS_IN_FLIGHT", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub audit_commits_in_flight: Option<u16>,

    /// Largest number of connections in the database pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// The FCS file served when a request names no `file_id`. Unset: a synthetic DxFLEX-like
    /// sample, generated once into `<data dir>/sample/`.
    #[arg(long, env = "FCS_SAMPLE_PATH")]
    pub fcs_sample_path: Option<PathBuf>,

    /// Largest accepted FCS upload, in MiB.
    #[arg(long, env = "FCS_MAX_UPLOAD_MB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub fcs_max_upload_mb: u64,

    /// Memory budget, in MiB, for decoded FCS columns kept between requests (least recently
    /// used files are dropped first).
    #[arg(long, env = "FCS_CACHE_MB", default_value_t = 512)]
    pub fcs_cache_mb: u64,

    /// Memory budget, in MiB, for gate populations kept between requests (one byte per event
    /// per gate; least recently used first out). 0 keeps none: every view recomputes them.
    #[arg(long, env = "FCS_GATE_CACHE_MB", default_value_t = 64)]
    pub fcs_gate_cache_mb: u64,

    /// Largest `GET /api/v1/fcs/events` page, in MiB of JSON (estimated before it is built);
    /// a larger page answers 422 and says how to ask for a smaller one.
    #[arg(long, env = "FCS_MAX_RESPONSE_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub fcs_max_response_mb: u64,

    /// Most bins a `GET /api/v1/fcs/histogram` may ask for.
    #[arg(long, env = "FCS_MAX_BINS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub fcs_max_bins: u64,

    /// Most bins per axis a `GET /api/v1/fcs/density` may ask for (its answer holds the square
    /// of this many counts).
    #[arg(long, env = "FCS_MAX_DENSITY_BINS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub fcs_max_density_bins: u64,

    /// Largest side, in pixels, of a `GET /api/v1/fcs/plot` image (a dot plot of a million
    /// events costs more the more pixels it covers); the smallest is 160, below which labels
    /// no longer fit.
    #[arg(long, env = "FCS_MAX_PLOT_PIXELS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(160..=16_384))]
    pub fcs_max_plot_pixels: u32,

    /// Most statistics one `GET /api/v1/fcs/statistics?stats=` may ask for (each quantile is
    /// a selection over every value of every channel asked for).
    #[arg(long, env = "FCS_MAX_STATISTICS", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub fcs_max_statistics: u64,

    /// Most gates one user may save on one file (each list of them computes every one).
    #[arg(long, env = "FCS_MAX_GATES_PER_FILE", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub fcs_max_gates_per_file: u64,

    /// Memory, in MiB, that FCS files being decoded may take at once (each decode reserves its
    /// decoded size first). A file that decodes to more than this or FCS_CACHE_MB is refused.
    #[arg(long, env = "FCS_DECODE_MEMORY_MB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=4_194_303))]
    pub fcs_decode_memory_mb: u64,

    /// Bytes of FCS uploads each user may keep, in MiB; 0 means no quota.
    #[arg(long, env = "FCS_QUOTA_MB", default_value_t = 1024)]
    pub fcs_quota_mb: u64,

    /// Bytes of FCS uploads all users together may keep, in GiB; 0 means no cap. Uploads past it
    /// are answered 507.
    #[arg(long, env = "FCS_MAX_TOTAL_GB", default_value_t = 100)]
    pub fcs_max_total_gb: u64,

    /// Time an FCS upload may take from arrival to answer, in seconds: receiving, checking,
    /// storing and auditing. Unset: REQUEST_TIMEOUT_SECONDS plus the time FCS_MAX_UPLOAD_MB
    /// takes at 2 MiB/s.
    #[arg(long, env = "FCS_UPLOAD_TIMEOUT_SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub fcs_upload_timeout_seconds: Option<u64>,

    /// Sealing keys for third-party tokens and client secrets, `id:base64key,…` (32-byte keys,
    /// standard base64), the active one first. Unset: one key derived from `SECRET_KEY`.
    #[arg(long, env = "TOKEN_ENCRYPTION_KEYS", hide_env_values = true)]
    pub token_encryption_keys: Option<SecretString>,

    /// Google's authorization endpoint (override to point the `google` preset elsewhere).
    #[arg(
        long,
        env = "GOOGLE_AUTH_URL",
        default_value = "https://accounts.google.com/o/oauth2/v2/auth"
    )]
    pub google_auth_url: String,

    /// Google's token endpoint.
    #[arg(
        long,
        env = "GOOGLE_TOKEN_URL",
        default_value = "https://oauth2.googleapis.com/token"
    )]
    pub google_token_url: String,

    /// Google's revocation endpoint (RFC 7009).
    #[arg(
        long,
        env = "GOOGLE_REVOKE_URL",
        default_value = "https://oauth2.googleapis.com/revoke"
    )]
    pub google_revoke_url: String,

    /// Mark the console's cookies `Secure` (sent over https only). Turn on wherever the console
    /// is served over https (directly or behind a proxy that terminates TLS).
    #[arg(long, env = "CONSOLE_SECURE_COOKIES", default_value_t = false, action = clap::ArgAction::Set)]
    pub console_secure_cookies: bool,

    /// Seconds after a console refresh during which the same refresh token, presented by
    /// another tab of the same browser, gets a new access token instead of ending the session
    /// as a replay. 0 turns the grace off (the API never has one).
    #[arg(long, env = "CONSOLE_REFRESH_GRACE_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=60))]
    pub console_refresh_grace_seconds: u64,

    /// Let OAuth clients name `http` and loopback, private or link-local endpoints (local
    /// development only: Tessera sends client secrets and refresh tokens to those endpoints).
    #[arg(long, env = "OAUTH_ALLOW_PRIVATE_ENDPOINTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub oauth_allow_private_endpoints: bool,

    /// A stored access token is handed out only while it is valid for longer than this; closer
    /// to its expiry it is refreshed first.
    #[arg(long, env = "TOKEN_REFRESH_BUFFER_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub token_refresh_buffer_seconds: u64,

    /// Lifetime given to a provider token whose response has no `expires_in`.
    #[arg(long, env = "OAUTH_DEFAULT_TOKEN_LIFETIME_SECONDS", default_value_t = 3_600, value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    pub oauth_default_token_lifetime_seconds: u64,

    /// Timeout of one call to a provider, in seconds.
    #[arg(long, env = "OAUTH_HTTP_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub oauth_http_timeout_seconds: u64,

    /// Extra attempts of a refresh after a passing fault (5xx, timeout, network).
    #[arg(long, env = "OAUTH_REFRESH_RETRIES", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=5))]
    pub oauth_refresh_retries: u32,

    /// Pause before the first retry, in milliseconds; it doubles for each further one.
    #[arg(long, env = "OAUTH_RETRY_BACKOFF_MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub oauth_retry_backoff_ms: u64,

    /// After a failed refresh, no new attempt for this connection for this many seconds.
    #[arg(long, env = "OAUTH_FAILURE_COOLDOWN_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub oauth_failure_cooldown_seconds: u64,

    /// Where `/metrics` (Prometheus text format) is served, on a listener of its own and never
    /// on the public port, e.g. `127.0.0.1:9464`. Unset: no metrics listener.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Security events older than this many days are deleted (by a background task, in small
    /// batches).
    #[arg(long, env = "SECURITY_EVENTS_RETENTION_DAYS", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub security_events_retention_days: u32,

    /// PAT audit-log entries older than this many days are deleted the same way. Unset: kept
    /// for ever.
    #[arg(long, env = "AUDIT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub audit_retention_days: Option<u32>,

    /// How often the retention task runs, in seconds (at most a week); 0 turns it off.
    #[arg(long, env = "RETENTION_INTERVAL_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(0..=604_800))]
    pub retention_interval_seconds: u64,

    /// How often the keep-alive task looks for tokens to refresh, in seconds; 0 turns it off.
    #[arg(long, env = "OAUTH_KEEPALIVE_INTERVAL_SECONDS", default_value_t = 60)]
    pub oauth_keepalive_interval_seconds: u64,

    /// Refreshes the keep-alive task runs at once.
    #[arg(long, env = "OAUTH_KEEPALIVE_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub oauth_keepalive_concurrency: u64,

    /// A grant nobody refreshed for this many days is refreshed by the keep-alive task, so the
    /// provider does not retire it for disuse.
    #[arg(long, env = "OAUTH_IDLE_REFRESH_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=365))]
    pub oauth_idle_refresh_days: u64,

    /// How often owners are told of tokens about to expire or expired (`token.expiring`,
    /// `token.expired` webhook events), in seconds; 0 turns it off.
    #[arg(long, env = "TOKEN_EXPIRY_NOTICE_INTERVAL_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub token_expiry_notice_interval_seconds: u64,

    /// Let webhook endpoints be `http` and loopback, private or link-local addresses (local
    /// development only: Tessera would otherwise post events into the network it runs in).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_ENDPOINTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private_endpoints: bool,

    /// Whether this instance delivers webhook events. Turn off on instances that should only
    /// answer requests; at least one instance must deliver.
    #[arg(long, env = "WEBHOOK_DELIVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_delivery: bool,

    /// Timeout of one delivery attempt, in seconds.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_seconds: u64,

    /// Seconds to wait before each retry of a failed delivery, comma-separated; after the last
    /// the delivery is marked failed. The default is Standard Webhooks' schedule: 5 s, 5 min,
    /// 30 min, 2 h, 5 h, 10 h, 10 h.
    #[arg(long, env = "WEBHOOK_RETRY_SCHEDULE", default_value = "5,300,1800,7200,18000,36000,36000", value_parser = parse_retry_schedule)]
    pub webhook_retry_schedule: RetrySchedule,

    /// An endpoint whose deliveries have all failed for this many hours is disabled (its owner
    /// hears of it by a `webhook.disabled` event to their other endpoints).
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER_HOURS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=8_760))]
    pub webhook_disable_after_hours: u64,

    /// How often the delivery worker looks for events and due deliveries, in milliseconds.
    #[arg(long, env = "WEBHOOK_POLL_INTERVAL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_interval_ms: u64,

    /// Deliveries one instance attempts at once.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub webhook_concurrency: u64,

    /// Endpoints one account may register.
    #[arg(long, env = "WEBHOOK_MAX_ENDPOINTS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub webhook_max_endpoints: u64,
}

/// The pauses before each retry of a failed webhook delivery (`WEBHOOK_RETRY_SCHEDULE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<std::time::Duration>);

fn parse_retry_schedule(raw: &str) -> Result<RetrySchedule, String> {
    if raw.trim().is_empty() {
        return Ok(RetrySchedule(Vec::new()));
    }
    let pauses = raw
        .split(',')
        .map(|part| {
            let seconds: u64 = part
                .trim()
                .parse()
                .map_err(|_| format!("`{}` is not a whole number of seconds", part.trim()))?;
            if seconds > 604_800 {
                return Err(format!("{seconds} s is longer than a week"));
            }
            Ok(std::time::Duration::from_secs(seconds))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if pauses.len() > 20 {
        return Err("at most 20 retries".to_owned());
    }
    Ok(RetrySchedule(pauses))
}

fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("`{raw}` must start with https:// or http://"))?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "`{raw}` must be a base address such as https://tessera.example.org"
        ));
    }
    Ok(url.to_owned())
}

fn parse_cidr(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    IpNet::from_str(raw)
        .or_else(|_| std::net::IpAddr::from_str(raw).map(IpNet::from))
        .map_err(|_| format!("`{raw}` is not an IP address or CIDR block"))
}

impl Config {
    /// A configuration with every default, for tests and tools that build one in code.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        // Parse from an empty argument list so that the defaults live in one place: the attributes
        // above. Environment variables still apply, which is what a test run wants.
        let mut config = Wrapper::parse_from(["tessera"]).config;
        config.data_dir = data_dir.to_path_buf();
        config
    }

    /// The database URL to connect to: the configured one, or a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("tessera.db").display()),
        }
    }

    /// The secret key: the configured one, else the one kept in the data dir, else a new one
    /// written there with mode 0600.
    pub fn resolve_secret_key(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(key) = self.secret_key.as_ref().map(SecretString::expose) {
            anyhow::ensure!(
                key.len() >= 32,
                "SECRET_KEY must be at least 32 characters long"
            );
            return Ok(key.as_bytes().to_vec());
        }
        let path = self.data_dir.join("secret_key");
        if path.exists() {
            let key = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return Ok(key.trim().as_bytes().to_vec());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let key = crate::crypto::random_base62(64);
        write_private_file(&path, &key)?;
        tracing::warn!(
            path = %path.display(),
            "SECRET_KEY is not set: generated one and stored it in the data directory; set SECRET_KEY in production"
        );
        Ok(key.into_bytes())
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("creating {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret_key() {
        let mut config = Config::for_data_dir(Path::new("/tmp/none"));
        config.secret_key = Some(SecretString::from(
            "super-secret-value-0123456789abcdef".to_owned(),
        ));
        let printed = format!("{config:?}");
        assert!(!printed.contains("super-secret-value"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn debug_output_never_shows_the_database_password() {
        let mut config = Config::for_data_dir(Path::new("/tmp/none"));
        for (url, shown) in [
            (
                "postgres://app:hunter2-db@db:5432/tessera",
                "postgres://app:***@db:5432/tessera",
            ),
            ("postgres://db/tessera?password=hunter2-db", "<redacted>"),
            (
                "sqlite:///var/lib/tessera.db",
                "sqlite:///var/lib/tessera.db",
            ),
        ] {
            config.database_url = Some(DatabaseUrl::from(url.to_owned()));
            let printed = format!("{config:?}");
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(printed.contains(shown), "{printed}");
        }
    }
}
