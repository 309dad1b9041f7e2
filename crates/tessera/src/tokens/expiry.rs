//! Telling a script when its token expires, on every answer to it.
//!
//! A token that expires silently breaks the job that holds it weeks later. Every response to a
//! request whose PAT was authenticated carries `Tessera-Token-Expiration` in the format GitHub
//! uses for `GitHub-Authentication-Token-Expiration` (`2027-03-01 10:30:00 UTC`), which public
//! clients already parse, and `Tessera-Token-Expires-Soon: true` within [`SOON`] of it. Bodies
//! do not change: the contract fixes them.
//!
//! Owners are told by webhook too: `token.expiring` once at each of [`NOTICE_DAYS`] before
//! `expires_at`, and `token.expired` after ([`tell_owners`], run every minute by the server). A
//! token born or renewed inside a threshold starts past it ([`threshold_inside`]), so its owner
//! hears only of the thresholds it crosses afterwards.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use time::format_description::FormatItem;
use time::macros::format_description;

use serde_json::json;

use crate::store::{Store, TokenMilestone};
use crate::types::Timestamp;
use crate::webhooks::events::{Event, EventKind};

/// Days before expiry at which `token.expiring` is sent, nearest last.
pub const NOTICE_DAYS: [i32; 3] = [30, 7, 1];

/// The nearest threshold a token with `left` to live is already inside, if any.
pub fn threshold_inside(left: time::Duration) -> Option<i32> {
    NOTICE_DAYS
        .into_iter()
        .rev()
        .find(|days| left <= time::Duration::days((*days).into()))
}

/// Writes the `token.expiring` and `token.expired` events due at `now`, each token's in one
/// transaction with the mark that it was told. Nearest thresholds first, so a token that
/// crossed two since the last run is told of the nearer only. Returns how many were written.
pub async fn tell_owners(store: &Store, now: Timestamp) -> Result<usize, sqlx::Error> {
    let mut told = 0;
    for days in NOTICE_DAYS.into_iter().rev().chain([0]) {
        let mut tx = store.begin().await?;
        let tokens = tx.mark_expiry_notices(days, now).await?;
        for token in &tokens {
            tx.enqueue_event(&notice(token, days, now).row()).await?;
        }
        tx.commit().await?;
        told += tokens.len();
    }
    Ok(told)
}

/// Runs [`tell_owners`] every `interval_seconds` (`TOKEN_EXPIRY_NOTICE_INTERVAL_SECONDS`; 0: never).
pub fn spawn_notices(
    store: Store,
    clock: crate::clock::Clock,
    interval_seconds: u64,
) -> Option<tokio::task::JoinHandle<()>> {
    if interval_seconds == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(interval_seconds));
        loop {
            tick.tick().await;
            if let Err(error) = tell_owners(&store, clock.now()).await {
                tracing::warn!(%error, "token expiry notices failed; trying again in a minute");
            }
        }
    }))
}

fn notice(token: &TokenMilestone, days: i32, now: Timestamp) -> Event {
    let subject = json!({ "id": token.id, "name": token.name });
    let (kind, data) = match days {
        0 => (
            EventKind::TokenExpired,
            json!({ "token": subject, "expired_at": token.at.to_rfc3339() }),
        ),
        days => (
            EventKind::TokenExpiring,
            json!({ "token": subject, "expires_at": token.at.to_rfc3339(), "days_left": days }),
        ),
    };
    let to_tell = super::service::person_to_tell(token.user_id, token.created_by);
    Event::new(kind, to_tell, data, now)
}

/// The expiry header.
pub const EXPIRATION: HeaderName = HeaderName::from_static("tessera-token-expiration");
/// Present, `true`, in the last [`SOON`] before expiry.
pub const EXPIRES_SOON: HeaderName = HeaderName::from_static("tessera-token-expires-soon");
/// How long before expiry a token is said to expire soon.
pub const SOON: time::Duration = time::Duration::days(7);

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// `expires_at` as the header writes it.
pub fn header_value(expires_at: Timestamp) -> String {
    let utc = expires_at.datetime().to_offset(time::UtcOffset::UTC);
    // The format has only numeric parts; it cannot fail on a valid date.
    utc.format(FORMAT).unwrap_or_default()
}

/// Adds the expiry headers of a token expiring at `expires_at` to `response`, as of `now`.
pub fn add_headers(response: &mut Response, expires_at: Timestamp, now: Timestamp) {
    let Ok(value) = HeaderValue::from_str(&header_value(expires_at)) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(EXPIRATION, value);
    if expires_at.datetime() - now.datetime() <= SOON {
        headers.insert(EXPIRES_SOON, HeaderValue::from_static("true"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn the_expiry_is_written_as_github_writes_it() {
        assert_eq!(
            header_value(at("2027-03-01T10:30:00.123456Z")),
            "2027-03-01 10:30:00 UTC"
        );
        assert_eq!(
            header_value(at("2027-03-01T12:30:00+02:00")),
            "2027-03-01 10:30:00 UTC"
        );
    }

    #[test]
    fn a_token_expires_soon_in_its_last_seven_days_only() {
        let expires = at("2027-03-08T10:30:00Z");
        let soon = |now: &str| {
            let mut response = Response::new(axum::body::Body::empty());
            add_headers(&mut response, expires, at(now));
            (
                response.headers()[EXPIRATION].to_str().unwrap().to_owned(),
                response.headers().get(EXPIRES_SOON).is_some(),
            )
        };
        assert_eq!(
            soon("2027-03-01T10:29:59Z"),
            ("2027-03-08 10:30:00 UTC".to_owned(), false)
        );
        assert!(soon("2027-03-01T10:30:00Z").1);
        assert!(soon("2027-03-08T10:29:59Z").1);
    }
}
