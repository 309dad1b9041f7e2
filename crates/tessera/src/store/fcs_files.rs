//! Queries on `fcs_files`: the metadata of uploaded FCS files. Every query is filtered by the
//! owner, so another user's file id behaves exactly like a missing one.

use uuid::Uuid;

use super::{on_pool, Store, Timestamp};

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

const COLUMNS: &str =
    "id, user_id, filename, object_key, size_bytes, total_events, total_parameters, created_at";

impl Store {
    /// Records an uploaded file (after its object has been written and validated).
    pub async fn insert_fcs_file(&self, file: &FcsFileRecord) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO fcs_files (id, user_id, filename, object_key, size_bytes, total_events, total_parameters, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(file.id)
        .bind(file.user_id)
        .bind(&file.filename)
        .bind(&file.object_key)
        .bind(file.size_bytes)
        .bind(file.total_events)
        .bind(file.total_parameters)
        .bind(file.created_at)
        .execute(pool)
        .await
        .map(drop))
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
        // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so both backends answer an i64.
        let sql =
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM fcs_files WHERE user_id = $1";
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql).bind(user_id).fetch_one(pool).await)
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
