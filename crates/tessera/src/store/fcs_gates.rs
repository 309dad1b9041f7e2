//! Queries on `fcs_gates`: gates saved on FCS files. Every query is filtered by the owner and
//! the file (`None`: the built-in sample), so another user's gate id behaves like a missing one.

use crate::types::Timestamp;
use uuid::Uuid;

use super::{on_pool, Store};

/// One saved gate, as the row holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FcsGateRecord {
    /// Gate id (UUIDv7).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// The file; `None` for the built-in sample.
    pub file_id: Option<Uuid>,
    /// The dataset of the file it was drawn on.
    pub dataset: i64,
    /// The gate it sits inside, if any.
    pub parent_id: Option<Uuid>,
    /// Its population's name, unique in the dataset.
    pub name: String,
    /// Region, channels and pipeline, as validated JSON.
    pub definition: String,
    /// When it was saved.
    pub created_at: Timestamp,
}

/// What became of a gate to save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateInsert {
    /// Saved.
    Saved,
    /// The dataset already has a gate of that name.
    NameTaken,
    /// The file already has `FCS_MAX_GATES_PER_FILE` gates.
    TooMany,
}

const COLUMNS: &str = "id, user_id, file_id, dataset, parent_id, name, definition, created_at";

// The count and the insert are one statement: a file over its limit gets no row. Two saves
// racing on PostgreSQL may each see one place left; the limit is a bound on work, not a quota.
const INSERT_GATE: &str = "INSERT INTO fcs_gates (id, user_id, file_id, dataset, parent_id, name, definition, created_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
     WHERE (SELECT COUNT(*) FROM fcs_gates WHERE user_id = $2 AND file_id IS NOT DISTINCT FROM $3) < $9";

impl Store {
    /// Saves `gate` unless its dataset has a gate of the same name or its file already has
    /// `max_per_file` gates.
    pub async fn insert_fcs_gate(
        &self,
        gate: &FcsGateRecord,
        max_per_file: i64,
    ) -> Result<GateInsert, sqlx::Error> {
        let inserted = on_pool!(self, pool => sqlx::query(INSERT_GATE)
            .bind(gate.id)
            .bind(gate.user_id)
            .bind(gate.file_id)
            .bind(gate.dataset)
            .bind(gate.parent_id)
            .bind(&gate.name)
            .bind(&gate.definition)
            .bind(gate.created_at)
            .bind(max_per_file)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()));
        match inserted {
            Ok(0) => Ok(GateInsert::TooMany),
            Ok(_) => Ok(GateInsert::Saved),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Ok(GateInsert::NameTaken)
            }
            Err(error) => Err(error),
        }
    }

    /// The user's gates on a file, oldest first: a parent always comes before its children.
    pub async fn list_fcs_gates(
        &self,
        user_id: Uuid,
        file_id: Option<Uuid>,
    ) -> Result<Vec<FcsGateRecord>, sqlx::Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM fcs_gates WHERE user_id = $1 AND file_id IS NOT DISTINCT FROM $2 \
             ORDER BY created_at, id"
        );
        on_pool!(self, pool => sqlx::query_as::<_, FcsGateRecord>(&sql)
            .bind(user_id)
            .bind(file_id)
            .fetch_all(pool)
            .await)
    }

    /// Deletes one of the user's gates on a file and every gate inside it; `false` if there is
    /// no such gate.
    pub async fn delete_fcs_gate(
        &self,
        user_id: Uuid,
        file_id: Option<Uuid>,
        id: Uuid,
    ) -> Result<bool, sqlx::Error> {
        const SQL: &str =
            "DELETE FROM fcs_gates WHERE id = $1 AND user_id = $2 AND file_id IS NOT DISTINCT FROM $3";
        let deleted = on_pool!(self, pool => sqlx::query(SQL)
            .bind(id)
            .bind(user_id)
            .bind(file_id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(deleted > 0)
    }
}
