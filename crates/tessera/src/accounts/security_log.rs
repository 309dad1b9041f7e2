//! The security log, and the webhook events some of its entries raise.
//!
//! Every security event is written here. Three of them concern the account's owner and its
//! admins at once — `login_locked` on an account, `refresh_token_reused` and `account_disabled` —
//! and raise `account.locked`, `account.refresh_token_reused` and `account.disabled` webhook
//! events, written in the same transaction as the log entry: one is never without the other.

use serde_json::json;

use crate::store::{SecurityEvent, SecurityEventKind, Store};
use crate::types::Timestamp;
use crate::webhooks::events::{Event, EventKind};

/// Records `event`, with the webhook event it raises, if any.
pub async fn record(
    store: &Store,
    event: SecurityEvent<'_>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let mut tx = store.begin().await?;
    tx.record_security_event(&event, now).await?;
    if let (Some(kind), Some(user_id)) = (webhook_kind(event.kind), event.user_id) {
        let username = tx.username(user_id).await?;
        let data = json!({
            "account": { "id": user_id, "username": username },
            "session_id": event.session_id,
            "detail": event.detail,
        });
        let webhook = Event::new(kind, user_id, data, now);
        tx.enqueue_event(&webhook.row()).await?;
    }
    tx.commit().await
}

/// The webhook event a security event about an account raises.
fn webhook_kind(kind: SecurityEventKind) -> Option<EventKind> {
    match kind {
        SecurityEventKind::LoginLocked => Some(EventKind::AccountLocked),
        SecurityEventKind::RefreshTokenReused => Some(EventKind::AccountRefreshTokenReused),
        SecurityEventKind::AccountDisabled => Some(EventKind::AccountDisabled),
        _ => None,
    }
}
