//! Retention: security events older than `SECURITY_EVENTS_RETENTION_DAYS` (default 365) and,
//! when `AUDIT_RETENTION_DAYS` is set, PAT audit entries older than that, are deleted by a
//! background task every `RETENTION_INTERVAL_SECONDS`.
//!
//! It deletes [`BATCH`] rows per statement and yields between statements, each taking its turn
//! with the other writers: the audit writer, which must commit every answered request's entry,
//! waits for at most one small batch, never for the whole backlog. Several instances may sweep at
//! once; they only delete the same old rows, so the outcome is the same.

use std::time::Duration;

use crate::store::Store;
use crate::types::Timestamp;

/// Rows per delete statement.
pub const BATCH: i64 = 500;

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub security_events: time::Duration,
    /// `None`: kept for ever.
    pub audit: Option<time::Duration>,
}

impl Retention {
    /// The settings' retention.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Retention {
            security_events: time::Duration::days(config.security_events_retention_days.into()),
            audit: config
                .audit_retention_days
                .map(|days| time::Duration::days(days.into())),
        }
    }
}

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub security_events: u64,
    pub audit_entries: u64,
}

/// Deletes everything older than the retention at `now`, batch by batch.
pub async fn sweep(
    store: &Store,
    retention: Retention,
    now: Timestamp,
) -> Result<Swept, sqlx::Error> {
    let mut swept = Swept::default();
    let cutoff = now - retention.security_events;
    loop {
        let deleted = store.delete_security_events_before(cutoff, BATCH).await?;
        swept.security_events += deleted;
        if deleted < BATCH as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    if let Some(audit) = retention.audit {
        let cutoff = now - audit;
        loop {
            let deleted = store.delete_audit_entries_before(cutoff, BATCH).await?;
            swept.audit_entries += deleted;
            if deleted < BATCH as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    Ok(swept)
}

/// The background task, when its interval is not 0.
pub fn spawn(state: &crate::state::AppState) -> Option<tokio::task::JoinHandle<()>> {
    let interval = state.config.retention_interval_seconds;
    if interval == 0 {
        return None;
    }
    let store = state.store.clone();
    let clock = state.clock.clone();
    let retention = Retention::from_config(&state.config);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(interval));
        loop {
            tick.tick().await;
            match sweep(&store, retention, clock.now()).await {
                Ok(swept) if swept != Swept::default() => {
                    tracing::info!(
                        security_events = swept.security_events,
                        audit_entries = swept.audit_entries,
                        "retention: old records deleted"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "retention sweep failed; trying again next time")
                }
            }
        }
    }))
}
