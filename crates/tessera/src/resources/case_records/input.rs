//! Reading request bodies and query strings of the case records: a field that may be absent,
//! null or set ([`Field`]), validators whose errors name the field, and pagination.
//!
//! Bodies refuse unknown fields (a typo like `dob` must not be silently ignored). Text is trimmed;
//! an optional text that is empty after trimming is stored as null. Every 422 message starts with
//! the field's name.

use serde::{Deserialize, Deserializer, Serialize};
use sqlx::types::Json;
use utoipa::ToSchema;

use crate::http::error::echo;
use crate::http::ApiError;
use crate::store::{ClockTime, Day};

/// A field of a body where absent (leave unchanged), `null` (clear) and a value differ, as PATCH
/// needs. Use with `#[serde(default)]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    /// Not in the body.
    #[default]
    Absent,
    /// Explicitly `null`.
    Null,
    /// A value.
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Field::Value(value),
            None => Field::Null,
        })
    }
}

// For the OpenAPI document, which renders a body's defaults: absent and null both show as null.
impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(value) => value.serialize(serializer),
            Field::Absent | Field::Null => serializer.serialize_none(),
        }
    }
}

/// Longest accepted short text (names, phone numbers, codes).
pub const SHORT_TEXT: usize = 200;
/// Longest accepted long text (notes, diagnosis, addresses).
pub const LONG_TEXT: usize = 10_000;
/// Most entries in a list field.
const MAX_LIST_ITEMS: usize = 100;

fn checked_text(name: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let text = raw.trim();
    if text.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "{name} must be at most {max} characters"
        )));
    }
    Ok(text.to_owned())
}

/// Applies a required text field: absent keeps `current`; null or empty is refused.
pub fn required_text(
    name: &str,
    field: Field<String>,
    current: Option<String>,
    max: usize,
) -> Result<String, ApiError> {
    required(name, field, current, |raw| {
        let text = checked_text(name, &raw, max)?;
        if text.is_empty() {
            return Err(ApiError::invalid(format!("{name} must not be empty")));
        }
        Ok(text)
    })
}

/// Applies an optional text field: absent keeps `current`, null or empty clears it.
pub fn optional_text(
    name: &str,
    field: Field<String>,
    current: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let text = optional(field, current, |raw| checked_text(name, &raw, max))?;
    Ok(text.filter(|t| !t.is_empty()))
}

/// Applies a required field with a parser: absent keeps `current` (refused if there is none, as on
/// create), null is refused.
pub fn required<T, R>(
    name: &str,
    field: Field<R>,
    current: Option<T>,
    parse: impl FnOnce(R) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    match field {
        Field::Value(raw) => parse(raw),
        Field::Null => Err(ApiError::invalid(format!(
            "{name} is required and cannot be null"
        ))),
        Field::Absent => current.ok_or_else(|| ApiError::invalid(format!("{name} is required"))),
    }
}

/// Applies an optional field with a parser: absent keeps `current`, null clears it.
pub fn optional<T, R>(
    field: Field<R>,
    current: Option<T>,
    parse: impl FnOnce(R) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    match field {
        Field::Value(raw) => parse(raw).map(Some),
        Field::Null => Ok(None),
        Field::Absent => Ok(current),
    }
}

/// Checks that `raw` is one of `allowed`; the error lists them.
pub fn one_of(name: &str, raw: &str, allowed: &[&str]) -> Result<String, ApiError> {
    if allowed.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::invalid(format!(
            "{name} must be one of {} (got \"{}\")",
            allowed.join(", "),
            echo(raw)
        )))
    }
}

/// Parses a `YYYY-MM-DD` date.
pub fn date(name: &str, raw: &str) -> Result<Day, ApiError> {
    Day::parse(raw.trim()).ok_or_else(|| {
        ApiError::invalid(format!(
            "{name} must be a date like 2015-04-30 (got \"{}\")",
            echo(raw)
        ))
    })
}

/// Parses an `HH:MM` time.
pub fn clock_time(name: &str, raw: &str) -> Result<ClockTime, ApiError> {
    ClockTime::parse(raw.trim()).ok_or_else(|| {
        ApiError::invalid(format!(
            "{name} must be a 24-hour time like 14:30 (got \"{}\")",
            echo(raw)
        ))
    })
}

/// Checks a phone number: digits with optional `+`, spaces, dashes, dots and parentheses, 5 to 20
/// digits.
pub fn phone(name: &str, raw: String) -> Result<String, ApiError> {
    let text = checked_text(name, &raw, SHORT_TEXT)?;
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let allowed = text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(5..=20).contains(&digits) {
        return Err(ApiError::invalid(format!(
            "{name} must be a phone number of 5 to 20 digits, e.g. +44 20 7946 0958"
        )));
    }
    Ok(text)
}

/// Checks an email address.
pub fn email(name: &str, raw: String) -> Result<String, ApiError> {
    let text = checked_text(name, &raw, SHORT_TEXT)?;
    if !email_address::EmailAddress::is_valid(&text) {
        return Err(ApiError::invalid(format!(
            "{name} must be an email address like name@example.com"
        )));
    }
    Ok(text)
}

/// Applies a list-of-strings field: absent keeps `current`, null clears it to `[]`; entries are
/// trimmed, empty ones refused.
pub fn list(
    name: &str,
    field: Field<Vec<String>>,
    current: Option<Json<Vec<String>>>,
) -> Result<Json<Vec<String>>, ApiError> {
    let items = optional(field, current.map(|c| c.0), |items| {
        if items.len() > MAX_LIST_ITEMS {
            return Err(ApiError::invalid(format!(
                "{name} may hold at most {MAX_LIST_ITEMS} entries"
            )));
        }
        items
            .iter()
            .map(|item| {
                let text = checked_text(name, item, 1_000)?;
                if text.is_empty() {
                    return Err(ApiError::invalid(format!(
                        "{name} entries must not be empty"
                    )));
                }
                Ok(text)
            })
            .collect()
    })?;
    Ok(Json(items.unwrap_or_default()))
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// 1-based page.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

/// Rows per page when `per_page` is not given.
pub const DEFAULT_PER_PAGE: i64 = 20;
/// Largest `per_page` accepted.
pub const MAX_PER_PAGE: i64 = 100;

impl PageRequest {
    /// Validates `page` (≥ 1, default 1) and `per_page` (1–100, default 20); out of range is 422,
    /// never silently clamped.
    pub fn new(page: Option<i64>, per_page: Option<i64>) -> Result<PageRequest, ApiError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page < 1 {
            return Err(ApiError::invalid("page must be at least 1"));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::invalid(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        if (page - 1).checked_mul(per_page).is_none() {
            return Err(ApiError::invalid("page is too large"));
        }
        Ok(PageRequest { page, per_page })
    }

    /// Rows to skip.
    pub fn offset(self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// The response's `pagination` object for `total` matching rows.
    pub fn pagination(self, total: i64) -> Pagination {
        Pagination {
            page: self.page,
            per_page: self.per_page,
            total,
            pages: (total + self.per_page - 1) / self.per_page,
        }
    }
}

/// `pagination` of a list response. A page past the end is empty, not an error.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Pagination {
    /// The page returned (1-based).
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
    /// Rows matching the filters.
    pub total: i64,
    /// Number of pages (0 when nothing matches).
    pub pages: i64,
}

/// A list response: `{"success":true,"data":[…],"pagination":{…}}`.
#[derive(Debug, Serialize)]
pub struct Paged<T> {
    /// Always true.
    pub success: bool,
    /// The page's rows.
    pub data: Vec<T>,
    /// Where the page is.
    pub pagination: Pagination,
}

impl<T: Serialize> axum::response::IntoResponse for Paged<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self).into_response()
    }
}

/// Maps a database error to 422 naming `therapist_id` when the therapist does not exist.
pub fn unknown_therapist(error: sqlx::Error) -> ApiError {
    match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            ApiError::invalid("therapist_id must be the id of an existing user")
        }
        _ => ApiError::from(error),
    }
}
