//! Answers for requests no route takes, and a last line of defence for error bodies.

use axum::extract::{OriginalUri, Request};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::{envelope, ApiError};

/// Unknown path → 404 in the envelope.
pub async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(format!("No route for {method} {}", uri.path()))
}

/// Known path, wrong method → 405 in the envelope.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Middleware: any error response that did not come from [`ApiError`] (a timeout layer, a panic
/// catcher, a library default) is replaced by the envelope for its status, so no client ever sees
/// a bare text body.
pub async fn ensure_error_envelope(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    // JSON is the envelope; HTML is a console error page, in the console's own look.
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => {
            "The request took too long; try again"
        }
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than the server accepts",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        s if s.is_server_error() => "Internal server error",
        _ => "The request could not be processed",
    };
    let mut replaced = envelope(status, Some(message.to_owned()), None);
    // Keep headers that carry meaning (Retry-After, WWW-Authenticate, Allow, rate-limit state).
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replaced.headers_mut().insert(name.clone(), value.clone());
        }
    }
    replaced
}

/// The answer to a panic anywhere in the stack: the 500 envelope, never a dropped connection.
/// The panic itself was printed by the panic hook; its payload may hold anything, so it is not
/// repeated here.
pub fn panic_response() -> Response {
    tracing::error!("a request panicked");
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        Some("Internal server error".to_owned()),
        None,
    )
}

/// Runs `answer`, turning a panic into [`panic_response`].
pub async fn catching_panics(answer: impl std::future::Future<Output = Response>) -> Response {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(answer)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| panic_response())
}
