//! The change feeds the caches listen to: triggers announce every change of the rows a cache
//! holds, by `NOTIFY` on PostgreSQL and by a counter on SQLite (migrations 0002 and 0006).
//! `crate::cache` empties its caches from them.

use super::{on_pool, Store};

/// Which rows a cache holds, and so which changes empty it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `personal_access_tokens` (migration 0002).
    Tokens,
    /// `oauth_connections` and `branches` (migration 0006).
    Connections,
}

impl Feed {
    /// The PostgreSQL `NOTIFY` channel its triggers announce changes on.
    pub fn channel(self) -> &'static str {
        match self {
            Feed::Tokens => "tessera_token_changed",
            Feed::Connections => "tessera_connection_changed",
        }
    }
}

impl Store {
    /// SQLite only: the trigger-maintained count of changes on a cache's feed (migrations 0002
    /// and 0006).
    pub async fn change_count(&self, feed: Feed) -> Result<i64, sqlx::Error> {
        let sql = match feed {
            Feed::Tokens => "SELECT changes FROM token_change_counter WHERE id = 1",
            Feed::Connections => "SELECT changes FROM connection_change_counter WHERE id = 1",
        };
        on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await)
    }
}
