//! [`Tx`]: the one write transaction of the store, on either backend.
//!
//! A change that must land together with something else — a case record with its access-log
//! entry, a revocation with the webhook event it causes (`store::webhooks`, the transactional
//! outbox) — runs in one `Tx`: both are written or neither is. Accessors that take part in such
//! a change are methods of `Tx` (in the module of their domain); everything else stays on
//! [`Store`].
//!
//! On SQLite a `Tx` holds a turn to write for its whole life (see [`Store::write_turn`]): its
//! writers queue fairly instead of sleeping in SQLite's busy handler. Its first statement should
//! be a write, so that on SQLite it takes the database's write lock at once (like `BEGIN
//! IMMEDIATE`) and on PostgreSQL the row lock of what it changes.

use sqlx::{Postgres, Sqlite, Transaction};

use super::{Backend, Store};

/// A write transaction; dropped without [`Tx::commit`], it rolls back.
pub struct Tx(pub(super) TxInner);

pub(super) enum TxInner {
    Sqlite(
        Transaction<'static, Sqlite>,
        tokio::sync::OwnedMutexGuard<()>,
    ),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection, once per backend (the
/// transaction's `on_pool!`).
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut $tx.0 {
            $crate::store::tx::TxInner::Sqlite($conn, _) => $body,
            $crate::store::tx::TxInner::Postgres($conn) => $body,
        }
    };
}
pub(crate) use on_tx;

impl Store {
    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx(match &self.backend {
            Backend::Sqlite(pool) => {
                let turn = self.sqlite_writers.clone().lock_owned().await;
                TxInner::Sqlite(pool.begin().await?, turn)
            }
            Backend::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        }))
    }
}

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            // The turn ends with the commit, not before.
            TxInner::Sqlite(tx, _turn) => tx.commit().await,
            TxInner::Postgres(tx) => tx.commit().await,
        }
    }

    /// Rolls back now (dropping a `Tx` rolls back too, but only when its connection is next
    /// used: locks it holds would outlive it until then).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxInner::Sqlite(tx, _turn) => tx.rollback().await,
            TxInner::Postgres(tx) => tx.rollback().await,
        }
    }
}
