//! Telling a script when its token expires, on every answer to it.
//!
//! A token that expires silently breaks the job that holds it weeks later. Every response to a
//! request whose PAT was authenticated carries `Tessera-Token-Expiration` in the format GitHub
//! uses for `GitHub-Authentication-Token-Expiration` (`2027-03-01 10:30:00 UTC`), which public
//! clients already parse, and `Tessera-Token-Expires-Soon: true` within [`SOON`] of it. Bodies
//! do not change: the contract fixes them.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use time::format_description::FormatItem;
use time::macros::format_description;

use crate::types::Timestamp;

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
