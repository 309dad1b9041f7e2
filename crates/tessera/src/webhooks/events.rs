//! The events Tessera tells webhooks about, and the patterns endpoints subscribe with.
//!
//! A capability raises an event by building an [`Event`] and writing it with
//! `Tx::enqueue_event` in the transaction of the change that caused it (the outbox), so an event
//! exists exactly when its change committed. `data` names objects by id and name, never a secret.

use serde_json::Value;
use uuid::Uuid;

use crate::input::{echo, InvalidField};
use crate::store::{EventAudience, NewEvent};
use crate::types::{text_enum, Timestamp};

text_enum! {
    /// What happened.
    pub enum EventKind("event type") {
        /// A branch completed the provider's consent.
        ConnectionConnected = "connection.connected",
        /// A refresh failed after its retries (`data.error`: the provider's error code).
        ConnectionRefreshFailed = "connection.refresh_failed",
        /// The grant is dead or lacks a scope: the branch must consent again.
        ConnectionNeedsReauth = "connection.needs_reauth",
        /// The first successful refresh after a failure.
        ConnectionRecovered = "connection.recovered",
        /// A person disconnected the branch.
        ConnectionDisconnected = "connection.disconnected",
        /// A PAT expires in 30, 7 or 1 days (`data.days_left`).
        TokenExpiring = "token.expiring",
        /// A PAT expired.
        TokenExpired = "token.expired",
        /// A PAT was revoked (by its owner or an admin).
        TokenRevoked = "token.revoked",
        /// A PAT got a new secret.
        TokenRegenerated = "token.regenerated",
        /// An account was locked after failed logins.
        AccountLocked = "account.locked",
        /// A spent refresh token was presented again: the account's sessions were ended.
        AccountRefreshTokenReused = "account.refresh_token_reused",
        /// An admin disabled an account.
        AccountDisabled = "account.disabled",
        /// Sent by `POST /api/v1/webhooks/{id}/test`, to that endpoint only.
        WebhookTest = "webhook.test",
        /// An endpoint was disabled after failing for days.
        WebhookDisabled = "webhook.disabled",
    }
}

impl EventKind {
    /// Account and security events reach admins' endpoints too; the rest only the endpoints of
    /// the person whose object it is.
    pub fn audience(self) -> EventAudience {
        if self.as_str().starts_with("account.") {
            EventAudience::OwnerAndAdmins
        } else {
            EventAudience::Owner
        }
    }

    fn family(self) -> &'static str {
        let name = self.as_str();
        &name[..name.find('.').unwrap_or(name.len())]
    }
}

/// An event about to be written to the outbox.
#[derive(Debug, Clone)]
pub struct Event {
    id: Uuid,
    kind: EventKind,
    owner_id: Uuid,
    endpoint_id: Option<Uuid>,
    data: String,
    at: Timestamp,
}

impl Event {
    /// `kind` happened at `at` to an object of `owner_id`'s, described by `data`.
    pub fn new(kind: EventKind, owner_id: Uuid, data: Value, at: Timestamp) -> Event {
        Event {
            id: Uuid::now_v7(),
            kind,
            owner_id,
            endpoint_id: None,
            data: data.to_string(),
            at,
        }
    }

    /// The same, for one endpoint only.
    pub fn for_endpoint(mut self, endpoint_id: Uuid) -> Event {
        self.endpoint_id = Some(endpoint_id);
        self
    }

    /// The row to write.
    pub fn row(&self) -> NewEvent<'_> {
        NewEvent {
            id: self.id,
            kind: self.kind.as_str(),
            owner_id: Some(self.owner_id),
            audience: self.kind.audience(),
            endpoint_id: self.endpoint_id,
            data: &self.data,
            created_at: self.at,
        }
    }
}

/// What an endpoint subscribes to: `*`, a family (`connection.*`) or one event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPattern(String);

impl EventPattern {
    /// Reads one pattern, refusing anything that matches no event type.
    pub fn parse(raw: &str) -> Result<EventPattern, InvalidField> {
        let raw = raw.trim();
        let known = raw == "*"
            || EventKind::parse(raw).is_some()
            || raw
                .strip_suffix(".*")
                .is_some_and(|family| EventKind::ALL.iter().any(|kind| kind.family() == family));
        if !known {
            return Err(InvalidField::new(format!(
                "events: `{}` is not an event type; use `*`, a family such as `connection.*` or one of: {}",
                echo(raw),
                EventKind::NAMES.join(", ")
            )));
        }
        Ok(EventPattern(raw.to_owned()))
    }

    /// Whether an event of type `kind` matches.
    pub fn matches(&self, kind: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some("") => true,
            Some(family_dot) => kind.starts_with(family_dot),
            None => self.0 == kind,
        }
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads a stored pattern list (space-separated); unknown ones (from a newer version) are
/// skipped rather than failing the delivery of every other event.
pub fn stored_patterns(stored: &str) -> Vec<EventPattern> {
    stored
        .split_whitespace()
        .filter_map(|raw| EventPattern::parse(raw).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_their_family_and_nothing_else() {
        let family = EventPattern::parse("connection.*").unwrap();
        assert!(family.matches("connection.needs_reauth"));
        assert!(!family.matches("token.revoked"));
        assert!(!family.matches("connections.x"));
        let exact = EventPattern::parse("token.expiring").unwrap();
        assert!(exact.matches("token.expiring"));
        assert!(!exact.matches("token.expired"));
        assert!(EventPattern::parse("*").unwrap().matches("account.locked"));
    }

    #[test]
    fn unknown_patterns_are_refused_with_the_list() {
        for raw in [
            "token",
            "tokens.*",
            "token.revoke",
            "",
            "*.*",
            "connection.**",
        ] {
            let error = EventPattern::parse(raw).unwrap_err();
            assert!(error.0.contains("token.revoked"), "{raw}: {error}");
        }
    }

    #[test]
    fn only_account_events_reach_admins() {
        for kind in EventKind::ALL {
            let expected = if kind.as_str().starts_with("account.") {
                EventAudience::OwnerAndAdmins
            } else {
                EventAudience::Owner
            };
            assert_eq!(kind.audience(), expected, "{}", kind.as_str());
        }
    }
}
