//! The database boundary: one [`Store`] with SQLite and PostgreSQL behind it.
//!
//! sqlx's `Any` driver cannot decode every type on both backends, so the store holds a concrete
//! pool of either kind and every query is written once and compiled twice through `on_pool!`:
//! the SQL text is shared (numbered `$1` parameters work on both), the column types differ only in
//! the migrations (`migrations/sqlite`, `migrations/postgres`). Values that the two backends store
//! differently get a domain type with an implementation for each ([`crate::types::Timestamp`]).
//!
//! Nothing outside this module writes SQL.

mod account_links;
mod admin;
mod audit;
mod case_records;
mod change_feed;
mod connections;
mod fcs_files;
mod fcs_gates;
mod login_security;
mod login_sessions;
mod service_accounts;
mod signing_keys;
mod tokens;
mod tx;
mod users;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use account_links::{AccountLinkRecord, InvitedUser, LinkPurpose, NewAccountLink, Redemption};
pub use admin::{
    AccountFilter, AccountStatus, AdminAccountRecord, Disabling, EventFilter, SecurityEventRecord,
    TokenState,
};
pub use audit::{AuditEntry, AuditFilter, AuditPage};
pub use case_records::{
    AccessEntry, AccessLogRecord, Actor, BeneficiaryQuery, BeneficiaryRecord, BeneficiaryStatus,
    BeneficiaryValues, Gender, SessionQuery, SessionRecord, SessionStatus, SessionValues,
};
pub use change_feed::Feed;
pub use connections::{
    BranchRecord, ConnectLinkRecord, ConnectionLock, ConnectionRecord, ConnectionStatus,
    OAuthClientRecord, OAuthStateRecord, Provider, RefreshResult, SealedColumn, SealedTokens,
    SealedValue, TokenAuthMethod, TokenRow,
};
pub use fcs_files::{FcsFileRecord, FileAdmission, StorageLimits};
pub use fcs_gates::{FcsGateRecord, GateInsert};
pub use login_security::{
    Admission, FailureCount, FailurePolicy, SecurityEvent, SecurityEventKind, Subject,
};
pub use login_sessions::{
    EndReason, LoginSessionRecord, NewLoginSession, RefreshOutcome, SessionRole,
};
pub use service_accounts::{NewServiceAccount, ServiceAccountChanges, ServiceAccountRecord};
pub use signing_keys::SigningKeyRecord;
pub use tokens::{
    LastUse, NewSecret, NewToken, OwnedTokenRecord, SecretCandidate, TokenMilestone, TokenRecord,
};
pub use tx::Tx;
pub use users::{
    AccountKind, AccountOrigin, AccountSummary, NewUser, ProfileChanges, ProfileRecord, RoleChange,
    UserCredentials, UserRecord,
};
pub use webhooks::{
    AttemptOutcome, AttemptRecord, DeliveryRecord, DeliveryStatus, DueDelivery, EndpointDisabling,
    EndpointRecord, EventAudience, Listener, NewEvent, PendingEvent,
};

/// The database, on whichever backend the URL chose. Cheap to clone (pools are shared handles).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// SQLite's writers, queued in this process (see [`Store::write_turn`]).
    sqlite_writers: std::sync::Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Embedded SQLite (single process).
    Sqlite,
    /// PostgreSQL (shared by every instance).
    Postgres,
}

/// Runs `$body` with `$pool` bound to the concrete pool, once per backend. The body is written once
/// and type-checked for both, so a query cannot silently exist on one backend only.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`), creating a SQLite file if needed.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).context("parsing DATABASE_URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .context("connecting to PostgreSQL")?;
            Backend::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("parsing DATABASE_URL")?
                .create_if_missing(true)
                // WAL lets readers run while the audit writer commits. FULL syncs the WAL on every
                // commit, so an answered request's audit entry survives even a power cut; group
                // commit (see `tokens::audit`) keeps that affordable.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            if let Some(parent) = sqlite_parent_dir(url) {
                std::fs::create_dir_all(&parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .context("opening the SQLite database")?;
            Backend::Sqlite(pool)
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:");
        };
        Ok(Store {
            backend,
            sqlite_writers: Default::default(),
        })
    }

    /// On SQLite, a turn to write, in arrival order; `None` (no wait) on PostgreSQL.
    ///
    /// SQLite has one write lock per database. A writer that finds it taken does not queue: it
    /// sleeps in SQLite's busy handler (1, 2, 5, 10, … ms) and tries again, so under load a
    /// short commit can wait tens of milliseconds behind others. The writers that run on every
    /// request under load — the audit batch, the login bookkeeping and the case records'
    /// transactions (reads are logged) — take a turn here first
    /// and so wait in a fair queue only as long as the commits ahead of them take. (Measured: with
    /// 200 wrong-password logins in flight, p99 of a PAT route fell from 55 ms to the figure in
    /// BENCHMARKS.md.)
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite(_) => Some(self.sqlite_writers.lock().await),
            Backend::Postgres(_) => None,
        }
    }

    /// This instance's pool: connections open, and of those idle.
    pub fn pool_connections(&self) -> (u32, usize) {
        on_pool!(self, pool => (pool.size(), pool.num_idle()))
    }

    /// Which backend this store runs on.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// The PostgreSQL pool, for features that exist only there (LISTEN/NOTIFY).
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(pool) => Some(pool),
            Backend::Sqlite(_) => None,
        }
    }

    /// Applies the migrations that have not run yet. Safe to call from several instances at once:
    /// sqlx takes an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// One trivial round trip: does the database answer?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
    }

    /// Closes every connection, waiting for checked-out ones to come back.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// The directory a `sqlite://path/file.db` URL points into, so it can be created first.
fn sqlite_parent_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
}

/// What a unique-constraint violation clashed on: the constraint's name on PostgreSQL, the
/// database's message (which names the column) on SQLite. `None` for any other error.
pub fn unique_violation(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Some(db.constraint().unwrap_or_else(|| db.message()))
        }
        _ => None,
    }
}
