//! Queries on `pat_audit_log`.

use uuid::Uuid;

use super::{on_pool, Store, Timestamp};

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
    /// Number of entries of the token overall.
    pub total: i64,
}

/// Rows per INSERT statement: well under both backends' bound-parameter limits (8 per row).
const ROWS_PER_STATEMENT: usize = 500;

impl Store {
    /// Writes entries in one transaction: one commit (one fsync) for the whole batch.
    pub async fn insert_audit_entries(&self, entries: &[AuditEntry]) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in entries.chunks(ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO pat_audit_log (token_id, occurred_at, ip, method, endpoint, status_code, authorized, reason) ",
                );
                insert.push_values(chunk, |mut row, e| {
                    row.push_bind(e.token_id)
                        .push_bind(e.occurred_at)
                        .push_bind(&e.ip)
                        .push_bind(&e.method)
                        .push_bind(&e.endpoint)
                        .push_bind(e.status_code)
                        .push_bind(e.authorized)
                        .push_bind(&e.reason);
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        })
    }

    /// A page of a token's audit log, newest first.
    pub async fn audit_page(
        &self,
        token_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<AuditPage, sqlx::Error> {
        on_pool!(self, pool => {
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pat_audit_log WHERE token_id = $1")
                .bind(token_id)
                .fetch_one(pool)
                .await?;
            let entries = sqlx::query_as::<_, AuditEntry>(
                "SELECT token_id, occurred_at, ip, method, endpoint, status_code, authorized, reason \
                 FROM pat_audit_log WHERE token_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2 OFFSET $3",
            )
            .bind(token_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            Ok(AuditPage { entries, total })
        })
    }
}
