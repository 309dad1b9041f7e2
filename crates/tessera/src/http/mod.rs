//! The HTTP layer shared by every capability: the envelope, the one error type, extractors,
//! client-IP resolution, the rate limit, fallbacks and the OpenAPI document.
//!
//! Capabilities (`accounts`, `tokens`, `resources`) own their handlers; this module owns what
//! every handler relies on, so the contract's conventions are written down once.

pub mod client_ip;
pub mod deadline;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod openapi;
pub mod rate_limit;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use error::{ApiError, ApiResult, AuthFailure};

/// Whether the request's `Accept` names `media_type` (e.g. `text/html` from a browser): for the
/// few routes that answer a person and a program differently.
/// The address people reach this service at, for links it hands out: `PUBLIC_URL`, or else
/// `http://` and the `Host` this request came to (behind a TLS proxy, set `PUBLIC_URL`).
pub fn public_base(public_url: Option<&str>, headers: &HeaderMap) -> String {
    public_url.map_or_else(
        || {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        },
        str::to_owned,
    )
}

pub fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains(media_type))
}

/// `text` cut to at most `max` bytes at a character boundary: for client-supplied values that are
/// stored or echoed (paths, user agents, logins), which must not grow without bound.
pub fn truncate(text: &str, max: usize) -> &str {
    let mut cut = text.len().min(max);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// The success envelope: `{"success": true, "data": …}`.
#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    success: bool,
    data: T,
}

/// A success response: status plus enveloped data.
pub struct Success<T>(pub StatusCode, pub T);

/// `200 {"success": true, "data": data}`.
pub fn ok<T: Serialize>(data: T) -> Success<T> {
    Success(StatusCode::OK, data)
}

/// `201 {"success": true, "data": data}`.
pub fn created<T: Serialize>(data: T) -> Success<T> {
    Success(StatusCode::CREATED, data)
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        (
            self.0,
            axum::Json(Envelope {
                success: true,
                data: self.1,
            }),
        )
            .into_response()
    }
}

/// What the `Authorization` header holds, for both JWT and PAT authentication.
pub enum Bearer<'a> {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <token>` (or not text).
    Malformed,
    /// The token after `Bearer `.
    Token(&'a str),
}

/// Reads `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 7235).
pub fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Bearer::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Bearer::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Bearer::Token(token.trim())
        }
        _ => Bearer::Malformed,
    }
}
