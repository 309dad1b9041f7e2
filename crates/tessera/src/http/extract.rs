//! Drop-in replacements for axum's `Json`, `Query` and `Path` whose rejections are [`ApiError`]s,
//! so a malformed body or parameter is answered in the envelope like every other failure.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;

/// A JSON body (in) or a JSON response (out). Rejections: 400 syntax, 415 content type, 413 size,
/// 422 wrong types or missing fields.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// An optional JSON body: none at all (no bytes) is `T::default()`, anything else is read as
/// [`Json`] is, with the same rejections. For requests whose every field is optional, so
/// `curl -X POST` without `-d` works.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOrEmpty<T>(pub T);

impl<T, S> FromRequest<S> for JsonOrEmpty<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(bytes_rejection)?;
        if bytes.is_empty() {
            return Ok(JsonOrEmpty(T::default()));
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(JsonOrEmpty(value))
    }
}

/// Query-string parameters; a value that does not parse (wrong type, out of range, unknown
/// variant) answers 422 naming the parameter, like every other bad value.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters; an id of the wrong shape answers 400 naming what was expected.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::Validation(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "Expected a JSON body with `Content-Type: application/json`".to_owned(),
            ),
            JsonRejection::BytesRejection(e) => bytes_rejection(e),
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("The request body is larger than the server accepts".to_owned())
    } else {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Validation(query_message(&rejection.body_text()))
    }
}

/// axum says `Failed to deserialize query string: limit: number too large to fit in target type`;
/// the person needs `Invalid query parameter limit: number too large to fit in target type`. The
/// reason may quote the value (an unknown variant), so the message is cut to a readable length.
fn query_message(text: &str) -> String {
    const MAX_BYTES: usize = 300;
    let detail = text
        .strip_prefix("Failed to deserialize query string")
        .map(|rest| rest.trim_start_matches(':').trim())
        .unwrap_or(text);
    let message = match detail.split_once(": ") {
        Some((parameter, reason))
            if !parameter.is_empty()
                && parameter
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)) =>
        {
            format!("Invalid query parameter {parameter}: {reason}")
        }
        _ => format!("Invalid query string: {detail}"),
    };
    if message.len() <= MAX_BYTES {
        message
    } else {
        format!("{}…", super::truncate(&message, MAX_BYTES))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        let text = rejection.body_text();
        if text.contains("UUID") || text.contains("uuid") {
            ApiError::BadRequest("The id in the path is not a valid UUID".to_owned())
        } else {
            ApiError::BadRequest(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::query_message;

    #[test]
    fn query_messages_name_the_parameter() {
        assert_eq!(
            query_message("Failed to deserialize query string: per_page: number too large to fit in target type"),
            "Invalid query parameter per_page: number too large to fit in target type"
        );
        assert_eq!(
            query_message("Failed to deserialize query string: missing field `code`"),
            "Invalid query string: missing field `code`"
        );
        let long = format!(
            "Failed to deserialize query string: sort_by: unknown variant `{}`",
            "x".repeat(5000)
        );
        assert!(query_message(&long).len() < 310);
    }
}
