//! Queries on `pat_audit_log`.

use crate::types::Timestamp;
use uuid::Uuid;

use super::{on_pool, Backend, Store};

/// One use of a PAT, as stored and as the logs API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    /// The token that was presented.
    pub token_id: Uuid,
    /// When the request arrived.
    pub occurred_at: Timestamp,
    /// The client IP (after trusted-proxy resolution).
    pub ip: String,
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub endpoint: String,
    /// The status the client received.
    pub status_code: i32,
    /// Whether the token was allowed through to the handler.
    pub authorized: bool,
    /// Why it was refused, if it was.
    pub reason: Option<String>,
}

/// One page of a token's audit log, newest first, and the total count.
#[derive(Debug)]
pub struct AuditPage {
    /// Entries of the page.
    pub entries: Vec<AuditEntry>,
    /// Number of the token's entries that pass the filter, overall.
    pub total: i64,
}

/// Which of a token's audit entries to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditFilter {
    /// Every entry.
    #[default]
    All,
    /// Requests the token was allowed through for.
    Allowed,
    /// Requests refused before the handler (scope, network, expiry, rate limit…).
    Refused,
}

impl AuditFilter {
    /// The `authorized` value the entries must have; `None` for every entry.
    fn authorized(self) -> Option<bool> {
        match self {
            AuditFilter::All => None,
            AuditFilter::Allowed => Some(true),
            AuditFilter::Refused => Some(false),
        }
    }
}

impl Store {
    /// Writes entries in one statement: one commit (one fsync) for the whole batch.
    ///
    /// The statement text never changes with the batch size, so it is prepared once per
    /// connection; the rows travel as a few array parameters (PostgreSQL, `UNNEST`, binary) or as
    /// one JSON parameter (SQLite, `json_each`). Profiling showed per-row binds and re-prepares
    /// dominating the audit writer with a multi-row `VALUES` list.
    pub async fn insert_audit_entries(&self, entries: &[AuditEntry]) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::query(
                "INSERT INTO pat_audit_log (token_id, occurred_at, ip, method, endpoint, status_code, authorized, reason) \
                 SELECT unhex(value ->> 0), value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7 \
                 FROM json_each($1) ORDER BY key",
            )
            .bind(sqlite_batch(entries))
            .execute(pool)
            .await
            .map(drop),
            Backend::Postgres(pool) => {
                let column = |f: fn(&AuditEntry) -> String| entries.iter().map(f).collect::<Vec<_>>();
                sqlx::query(
                    "INSERT INTO pat_audit_log (token_id, occurred_at, ip, method, endpoint, status_code, authorized, reason) \
                     SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::boolean[], $8::text[])",
                )
                .bind(entries.iter().map(|e| e.token_id).collect::<Vec<_>>())
                .bind(entries.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
                .bind(column(|e| e.ip.clone()))
                .bind(column(|e| e.method.clone()))
                .bind(column(|e| e.endpoint.clone()))
                .bind(entries.iter().map(|e| e.status_code).collect::<Vec<_>>())
                .bind(entries.iter().map(|e| e.authorized).collect::<Vec<_>>())
                .bind(entries.iter().map(|e| e.reason.clone()).collect::<Vec<_>>())
                .execute(pool)
                .await
                .map(drop)
            }
        }
    }

    /// A page of a token's audit log, newest first.
    pub async fn audit_page(
        &self,
        token_id: Uuid,
        filter: AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<AuditPage, sqlx::Error> {
        let authorized = filter.authorized();
        on_pool!(self, pool => {
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pat_audit_log WHERE token_id = $1 AND ($2 IS NULL OR authorized = $2)",
            )
            .bind(token_id)
            .bind(authorized)
            .fetch_one(pool)
            .await?;
            let entries = sqlx::query_as::<_, AuditEntry>(
                "SELECT token_id, occurred_at, ip, method, endpoint, status_code, authorized, reason \
                 FROM pat_audit_log WHERE token_id = $1 AND ($4 IS NULL OR authorized = $4) \
                 ORDER BY occurred_at DESC, id DESC LIMIT $2 OFFSET $3",
            )
            .bind(token_id)
            .bind(limit)
            .bind(offset)
            .bind(authorized)
            .fetch_all(pool)
            .await?;
            Ok(AuditPage { entries, total })
        })
    }
}

/// The batch as one JSON array of rows, for SQLite's `json_each`.
fn sqlite_batch(entries: &[AuditEntry]) -> String {
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!([
                e.token_id.simple().to_string(),
                e.occurred_at.to_storage(),
                e.ip,
                e.method,
                e.endpoint,
                e.status_code,
                e.authorized,
                e.reason,
            ])
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}
