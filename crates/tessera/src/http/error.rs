//! The one error type of the HTTP layer, and the envelope every failure is rendered in.
//!
//! Handlers, extractors and middleware all return [`ApiError`]; its `IntoResponse` is the only place
//! that turns a failure into bytes, so the contract's envelope
//! (`{"success":false,"error":"<reason phrase>","message":"…"}`) cannot be forgotten on some path.
//! Axum's own rejections (bad JSON, wrong content type, oversized body, bad path or query) are mapped
//! in [`super::extract`]; unknown routes and methods in [`super::fallback`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// Why a bearer token was refused, with the contract's exact messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header at all.
    MissingToken,
    /// The token exists but was revoked (wins over expired).
    TokenRevoked,
    /// The token exists but its lifetime is over.
    TokenExpired,
    /// Anything else: unknown, malformed, bad checksum, wrong kind of token.
    InvalidToken,
    /// Login with a wrong password or an unknown user.
    InvalidCredentials,
    /// A refresh token that is unknown, spent, expired or from an ended session.
    InvalidRefreshToken,
    /// The account (a JWT's, or a PAT's owner) was disabled by an admin.
    AccountDisabled,
}

impl AuthFailure {
    /// The message the contract prescribes, which is also the audit log's `reason`.
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "Missing token",
            AuthFailure::TokenRevoked => "Token revoked",
            AuthFailure::TokenExpired => "Token expired",
            AuthFailure::InvalidToken => "Invalid token",
            AuthFailure::InvalidCredentials => "Invalid credentials",
            AuthFailure::InvalidRefreshToken => "Invalid refresh token",
            AuthFailure::AccountDisabled => "Account disabled",
        }
    }
}

/// Every way a request can fail, each mapped to one status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be understood (malformed JSON, unparsable parameters).
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer`.
    #[error("{}", .0.message())]
    Unauthorized(AuthFailure),
    /// 403 for a scope too low: the body carries `data` instead of `message`, as the contract shows.
    #[error("insufficient scope: {required_scope} required")]
    InsufficientScope {
        /// The scope the route requires, e.g. `workspaces:read`.
        required_scope: String,
        /// The token's scopes in the order they were granted.
        your_scopes: Vec<String>,
    },
    /// 403 with a message, e.g. `IP not allowed`.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such route or record (or one the caller may not know exists).
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not with this method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with stored data (a taken username, say).
    #[error("{0}")]
    Conflict(String),
    /// 410: what the request names existed but is spent for good (a used or expired one-time link).
    #[error("{0}")]
    Gone(String),
    /// 413: the body is over the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 507: storage shared by all users is full (`FCS_MAX_TOTAL_GB`); the message says how full.
    #[error("{0}")]
    InsufficientStorage(String),
    /// 415: the body is not of a content type the route accepts.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid input; the message names the field.
    #[error("{0}")]
    Validation(String),
    /// 429: over the rate limit; `retry_after` is whole seconds.
    #[error("rate limited for {retry_after} s")]
    TooManyRequests {
        /// Whole seconds until a request would be allowed.
        retry_after: u64,
    },
    /// 502: an upstream service (an OAuth provider) failed; the message says what it answered.
    #[error("{0}")]
    BadGateway(String),
    /// 504: an upstream service (an OAuth provider) did not answer in time.
    #[error("{0}")]
    GatewayTimeout(String),
    /// 503: a dependency (the database) is not answering. The message is safe to show.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a fault of ours. The cause is logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope { .. } | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A validation error (422) whose message names the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Validation(message.into())
    }
}

impl From<crate::input::InvalidField> for ApiError {
    fn from(invalid: crate::input::InvalidField) -> Self {
        ApiError::Validation(invalid.0)
    }
}

/// The error half of the envelope. `data` replaces `message` where the contract says so.
#[derive(Serialize)]
struct ErrorBody<'a> {
    success: bool,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

/// Renders an error envelope for any status, e.g. from a fallback or a middleware.
pub fn envelope(
    status: StatusCode,
    message: Option<String>,
    data: Option<serde_json::Value>,
) -> Response {
    let body = ErrorBody {
        success: false,
        error: status.canonical_reason().unwrap_or("Error"),
        message,
        data,
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = match &self {
            ApiError::InsufficientScope {
                required_scope,
                your_scopes,
            } => envelope(
                status,
                None,
                Some(json!({"required_scope": required_scope, "your_scopes": your_scopes})),
            ),
            ApiError::TooManyRequests { retry_after } => {
                envelope(status, None, Some(json!({"retry_after": retry_after})))
            }
            ApiError::Internal(cause) => {
                // The cause may hold SQL or paths; it goes to the log, never to the client.
                tracing::error!(error = ?cause, "internal error");
                envelope(status, Some("Internal server error".to_owned()), None)
            }
            other => envelope(status, Some(other.to_string()), None),
        };
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            // Every 503 is a passing condition (a busy or absent dependency): say when to retry.
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        response
    }
}

/// Whether `db` is SQLite's "database is busy/locked" (primary codes 5 and 6, any extended code):
/// another writer held the lock past the busy timeout, a passing condition.
fn is_sqlite_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
        && db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            // Pool exhaustion or a dead server is a passing condition, not a bug: say so with 503.
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::error!(error = %error, "database unavailable");
                ApiError::Unavailable("The database is not available; try again shortly".to_owned())
            }
            // PostgreSQL refuses NUL in text (22021) and `\u0000` in JSON (22P05): the client's
            // input, wherever a field's validator let it through.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("22021") | Some("22P05")) =>
            {
                ApiError::Validation("Text must not contain NUL (\\u0000) characters".to_owned())
            }
            sqlx::Error::Database(db) if is_sqlite_busy(db.as_ref()) => {
                tracing::warn!(error = %db, "database busy");
                ApiError::Unavailable("The database is busy; try again shortly".to_owned())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}
