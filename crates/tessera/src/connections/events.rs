//! The webhook events of a branch's connection, for the branch's owner:
//! `connection.connected` when a consent completes, `connection.refresh_failed` when a refresh
//! fails after its retries (once per run of failures, and whenever the grant dies),
//! `connection.needs_reauth` when the grant is dead, `connection.recovered` at the first success
//! after a failure, and `connection.disconnected`. Each is written in the transaction of the
//! change it reports.

use serde_json::{json, Value};

use super::oauth::ProviderError;
use crate::store::{BranchRecord, ConnectionRecord, RefreshResult};
use crate::types::Timestamp;
use crate::webhooks::events::{Event, EventKind};

/// `kind` about `branch`, with `details` beside the branch in `data`.
pub fn about(branch: &BranchRecord, kind: EventKind, details: Value, now: Timestamp) -> Event {
    let mut data = json!({
        "branch": { "id": branch.id, "branch_id": branch.branch_id, "name": branch.name },
    });
    if let (Some(data), Value::Object(details)) = (data.as_object_mut(), details) {
        data.extend(details);
    }
    Event::new(kind, branch.owner_id, data, now)
}

/// The events a refresh's outcome raises, given the connection as it was before.
pub fn of_refresh(
    branch: &BranchRecord,
    before: &ConnectionRecord,
    result: &RefreshResult,
    error: Option<&ProviderError>,
    now: Timestamp,
) -> Vec<Event> {
    let failed = || {
        let (code, description) = match error {
            Some(ProviderError::Refused { code, description }) => {
                (code.clone(), description.clone())
            }
            Some(other) => (passing_code(other).to_owned(), Some(other.to_string())),
            None => ("unknown".to_owned(), None),
        };
        let details = json!({ "error": code, "error_description": description });
        about(branch, EventKind::ConnectionRefreshFailed, details, now)
    };
    match result {
        RefreshResult::Refreshed(_) if before.consecutive_failures > 0 => {
            let details = json!({ "failures": before.consecutive_failures });
            vec![about(branch, EventKind::ConnectionRecovered, details, now)]
        }
        RefreshResult::Refreshed(_) => Vec::new(),
        RefreshResult::GrantDead { .. } => vec![
            failed(),
            about(
                branch,
                EventKind::ConnectionNeedsReauth,
                json!({ "reason": "invalid_grant" }),
                now,
            ),
        ],
        RefreshResult::Failed { .. } if before.consecutive_failures == 0 => vec![failed()],
        RefreshResult::Failed { .. } => Vec::new(),
    }
}

/// A code for a fault with no OAuth error code, in the style of one.
fn passing_code(error: &ProviderError) -> &'static str {
    match error {
        ProviderError::Refused { .. } => "refused",
        ProviderError::Unavailable(_) => "temporarily_unavailable",
        ProviderError::Timeout(_) => "timeout",
        ProviderError::Unreachable(_) => "unreachable",
    }
}
