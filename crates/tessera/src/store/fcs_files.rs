//! Queries on `fcs_files`: the metadata of uploaded FCS files. Every query is filtered by the
//! owner, so another user's file id behaves exactly like a missing one.

use crate::types::Timestamp;
use uuid::Uuid;

use super::{on_pool, Store};

/// One uploaded file, as the row holds it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct FcsFileRecord {
    /// File id (UUIDv7): the API's `file_id`.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The client's file name, sanitised.
    pub filename: String,
    /// Where the bytes are in object storage.
    pub object_key: String,
    /// Size of the stored object.
    pub size_bytes: i64,
    /// Events in the first dataset.
    pub total_events: i64,
    /// Parameters in the first dataset.
    pub total_parameters: i64,
    /// Upload time.
    pub created_at: Timestamp,
}

/// The storage limits a new file must fit, in bytes; `None` is no limit.
#[derive(Debug, Clone, Copy)]
pub struct StorageLimits {
    /// `FCS_QUOTA_MB`: one user's files.
    pub user_quota: Option<i64>,
    /// `FCS_MAX_TOTAL_GB`: every user's files.
    pub total: Option<i64>,
}

/// Whether a file was recorded, and if not which limit it would break and what was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAdmission {
    /// Recorded.
    Stored,
    /// Over the user's quota, who stored `used` bytes.
    OverQuota { used: i64 },
    /// Over the shared cap, with `used` bytes stored by everyone.
    StorageFull { used: i64 },
}

impl StorageLimits {
    fn admit(self, size: i64, user_used: i64, total_used: i64) -> FileAdmission {
        let over =
            |limit: Option<i64>, used: i64| limit.is_some_and(|l| used.saturating_add(size) > l);
        if over(self.total, total_used) {
            FileAdmission::StorageFull { used: total_used }
        } else if over(self.user_quota, user_used) {
            FileAdmission::OverQuota { used: user_used }
        } else {
            FileAdmission::Stored
        }
    }
}

// SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so both backends answer an i64.
const SUM_OF_USER: &str =
    "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM fcs_files WHERE user_id = $1";
const SUM_OF_ALL: &str = "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM fcs_files";
const INSERT_FILE: &str =
    "INSERT INTO fcs_files (id, user_id, filename, object_key, size_bytes, total_events, total_parameters, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const COLUMNS: &str =
    "id, user_id, filename, object_key, size_bytes, total_events, total_parameters, created_at";

impl Store {
    /// Records an uploaded file (after its object has been written and validated) if it fits
    /// `limits` once every file recorded before it is counted, in one transaction serialised
    /// with every other (see the `fcs_admission` migration). Waiting for that turn and checking
    /// end at `deadline` (`None` then, and nothing is recorded); the commit itself is not cut
    /// off, so a row is never left half-known.
    pub async fn insert_fcs_file_within(
        &self,
        file: &FcsFileRecord,
        limits: StorageLimits,
        deadline: tokio::time::Instant,
    ) -> Result<Option<FileAdmission>, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let checked = tokio::time::timeout_at(deadline, async {
                sqlx::query("UPDATE fcs_admission SET admitted = admitted + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                let user: i64 = sqlx::query_scalar(SUM_OF_USER).bind(file.user_id).fetch_one(&mut *tx).await?;
                let total: i64 = sqlx::query_scalar(SUM_OF_ALL).fetch_one(&mut *tx).await?;
                let admission = limits.admit(file.size_bytes, user, total);
                if admission == FileAdmission::Stored {
                    sqlx::query(INSERT_FILE)
                        .bind(file.id)
                        .bind(file.user_id)
                        .bind(&file.filename)
                        .bind(&file.object_key)
                        .bind(file.size_bytes)
                        .bind(file.total_events)
                        .bind(file.total_parameters)
                        .bind(file.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                Ok::<_, sqlx::Error>(admission)
            })
            .await;
            match checked {
                Ok(Ok(FileAdmission::Stored)) => {
                    tx.commit().await?;
                    Ok(Some(FileAdmission::Stored))
                }
                Ok(Ok(refused)) => Ok(Some(refused)),
                Ok(Err(error)) => Err(error),
                Err(_) => Ok(None),
            }
        })
    }

    /// Bytes of every user's stored files (what `FCS_MAX_TOTAL_GB` counts).
    pub async fn fcs_bytes_stored_by_all(&self) -> Result<i64, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(SUM_OF_ALL).fetch_one(pool).await)
    }

    /// The user's files, newest first (UUIDv7 ids break creation-time ties).
    pub async fn list_fcs_files(&self, user_id: Uuid) -> Result<Vec<FcsFileRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM fcs_files WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        );
        on_pool!(self, pool => sqlx::query_as::<_, FcsFileRecord>(&sql).bind(user_id).fetch_all(pool).await)
    }

    /// Every stored file of every user, oldest first: for operators' checks.
    pub async fn all_fcs_files(&self) -> Result<Vec<FcsFileRecord>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM fcs_files ORDER BY created_at, id");
        on_pool!(self, pool => sqlx::query_as::<_, FcsFileRecord>(&sql).fetch_all(pool).await)
    }

    /// Bytes of the user's stored files (what `FCS_QUOTA_MB` counts).
    pub async fn fcs_bytes_stored(&self, user_id: Uuid) -> Result<i64, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(SUM_OF_USER).bind(user_id).fetch_one(pool).await)
    }

    /// One of the user's files; another user's id gives `None`.
    pub async fn find_fcs_file(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<FcsFileRecord>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM fcs_files WHERE id = $1 AND user_id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, FcsFileRecord>(&sql).bind(id).bind(user_id).fetch_optional(pool).await)
    }

    /// Deletes one of the user's files; returns the deleted row so the caller can remove its
    /// object. `None` if the user has no such file.
    pub async fn delete_fcs_file(
        &self,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<FcsFileRecord>, sqlx::Error> {
        let sql =
            format!("DELETE FROM fcs_files WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}");
        on_pool!(self, pool => sqlx::query_as::<_, FcsFileRecord>(&sql).bind(id).bind(user_id).fetch_optional(pool).await)
    }
}
