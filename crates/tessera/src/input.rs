//! Reading what people send, whatever it came through (a JSON body, a console form, the CLI): a
//! field that may be absent, null or set ([`Field`]), and validators whose [`InvalidField`]
//! starts with the field's name. Shared by every capability whose bodies are partial updates
//! (case records, OAuth clients, branches) and by the profile.
//!
//! Text is trimmed; an optional text that is empty after trimming is stored as null. Nothing here
//! knows HTTP: over HTTP an [`InvalidField`] is a 422 (`http::error`).

use serde::{Deserialize, Deserializer, Serialize};
use sqlx::types::Json;

use crate::types::TextEnum;

/// A value that breaks its field's rule. The message starts with the field's name and says what
/// would be accepted, so a person can correct it without reading documentation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidField(pub String);

impl InvalidField {
    /// An invalid field, described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        InvalidField(message.into())
    }
}

/// A client-supplied value, cut to a readable length, for echoing in an error message: the person
/// needs to see which value was wrong, not 60 KB of it.
pub fn echo(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    match value.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

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

pub(crate) fn checked_text(name: &str, raw: &str, max: usize) -> Result<String, InvalidField> {
    let text = raw.trim();
    if text.contains('\0') {
        // PostgreSQL cannot store NUL in text; refuse it on both backends alike.
        return Err(InvalidField::new(format!(
            "{name} must not contain NUL characters"
        )));
    }
    if text.chars().count() > max {
        return Err(InvalidField::new(format!(
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
) -> Result<String, InvalidField> {
    required(name, field, current, |raw| {
        let text = checked_text(name, &raw, max)?;
        if text.is_empty() {
            return Err(InvalidField::new(format!("{name} must not be empty")));
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
) -> Result<Option<String>, InvalidField> {
    let text = optional(field, current, |raw| checked_text(name, &raw, max))?;
    Ok(text.filter(|t| !t.is_empty()))
}

/// Applies a required field with a parser: absent keeps `current` (refused if there is none, as on
/// create), null is refused.
pub fn required<T, R>(
    name: &str,
    field: Field<R>,
    current: Option<T>,
    parse: impl FnOnce(R) -> Result<T, InvalidField>,
) -> Result<T, InvalidField> {
    match field {
        Field::Value(raw) => parse(raw),
        Field::Null => Err(InvalidField::new(format!(
            "{name} is required and cannot be null"
        ))),
        Field::Absent => current.ok_or_else(|| InvalidField::new(format!("{name} is required"))),
    }
}

/// Applies an optional field with a parser: absent keeps `current`, null clears it.
pub fn optional<T, R>(
    field: Field<R>,
    current: Option<T>,
    parse: impl FnOnce(R) -> Result<T, InvalidField>,
) -> Result<Option<T>, InvalidField> {
    match field {
        Field::Value(raw) => parse(raw).map(Some),
        Field::Null => Ok(None),
        Field::Absent => Ok(current),
    }
}

/// Checks that `raw` is one of `allowed`; the error lists them.
pub fn one_of(name: &str, raw: &str, allowed: &[&str]) -> Result<String, InvalidField> {
    if allowed.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(not_one_of(name, raw, allowed))
    }
}

/// Reads one of a closed set of names (a `text_enum!`); the error lists them.
pub fn named<T: TextEnum>(name: &str, raw: &str) -> Result<T, InvalidField> {
    T::parse(raw).ok_or_else(|| not_one_of(name, raw, T::NAMES))
}

/// The refusal of `raw` for `name`, listing what `allowed` holds.
pub fn not_one_of(name: &str, raw: &str, allowed: &[&str]) -> InvalidField {
    InvalidField::new(format!(
        "{name} must be one of {} (got \"{}\")",
        allowed.join(", "),
        echo(raw)
    ))
}

/// Checks an email address.
pub fn email(name: &str, raw: String) -> Result<String, InvalidField> {
    let text = checked_text(name, &raw, SHORT_TEXT)?;
    if !email_address::EmailAddress::is_valid(&text) {
        return Err(InvalidField::new(format!(
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
) -> Result<Json<Vec<String>>, InvalidField> {
    let items = optional(field, current.map(|c| c.0), |items| {
        if items.len() > MAX_LIST_ITEMS {
            return Err(InvalidField::new(format!(
                "{name} may hold at most {MAX_LIST_ITEMS} entries"
            )));
        }
        items
            .iter()
            .map(|item| {
                let text = checked_text(name, item, 1_000)?;
                if text.is_empty() {
                    return Err(InvalidField::new(format!(
                        "{name} entries must not be empty"
                    )));
                }
                Ok(text)
            })
            .collect()
    })?;
    Ok(Json(items.unwrap_or_default()))
}

/// A page of a listing: how many entries, after skipping how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Entries in the page, 1 to the listing's maximum.
    pub limit: i64,
    /// Entries skipped, 0 or more.
    pub offset: i64,
}

impl Paging {
    /// Reads `limit` (1–`max`, default `default`) and `offset` (0 or more, default 0).
    pub fn read(
        limit: Option<i64>,
        offset: Option<i64>,
        default: i64,
        max: i64,
    ) -> Result<Paging, InvalidField> {
        let limit = limit.unwrap_or(default);
        if !(1..=max).contains(&limit) {
            return Err(InvalidField::new(format!(
                "limit must be between 1 and {max}"
            )));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(InvalidField::new("offset must be 0 or more"));
        }
        Ok(Paging { limit, offset })
    }
}
