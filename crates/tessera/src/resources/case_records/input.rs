//! Reading what the case records are sent: a field that may be absent, null or set ([`Field`]),
//! validators whose [`InvalidField`] names the field, and pagination.
//!
//! Bodies refuse unknown fields (a typo like `dob` must not be silently ignored). Text is trimmed;
//! an optional text that is empty after trimming is stored as null.

use serde::Serialize;
use utoipa::ToSchema;

use crate::input::checked_text;
use crate::input::echo;
pub use crate::input::{
    email, list, named, not_one_of, one_of, optional, optional_text, required, required_text,
    Field, InvalidField, LONG_TEXT, SHORT_TEXT,
};
use crate::types::{ClockTime, Day};

/// Parses a `YYYY-MM-DD` date.
pub fn date(name: &str, raw: &str) -> Result<Day, InvalidField> {
    Day::parse(raw.trim()).ok_or_else(|| {
        InvalidField::new(format!(
            "{name} must be a date like 2015-04-30 (got \"{}\")",
            echo(raw)
        ))
    })
}

/// Parses an `HH:MM` time.
pub fn clock_time(name: &str, raw: &str) -> Result<ClockTime, InvalidField> {
    ClockTime::parse(raw.trim()).ok_or_else(|| {
        InvalidField::new(format!(
            "{name} must be a 24-hour time like 14:30 (got \"{}\")",
            echo(raw)
        ))
    })
}

/// Checks a phone number: digits with optional `+`, spaces, dashes, dots and parentheses, 5 to 20
/// digits.
pub fn phone(name: &str, raw: String) -> Result<String, InvalidField> {
    let text = checked_text(name, &raw, SHORT_TEXT)?;
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let allowed = text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(5..=20).contains(&digits) {
        return Err(InvalidField::new(format!(
            "{name} must be a phone number of 5 to 20 digits, e.g. +44 20 7946 0958"
        )));
    }
    Ok(text)
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
    /// Validates `page` (≥ 1, default 1) and `per_page` (1–100, default 20); out of range is refused,
    /// never silently clamped.
    pub fn new(page: Option<i64>, per_page: Option<i64>) -> Result<PageRequest, InvalidField> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page < 1 {
            return Err(InvalidField::new("page must be at least 1"));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(InvalidField::new(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        if (page - 1).checked_mul(per_page).is_none() {
            return Err(InvalidField::new("page is too large"));
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

/// One page of rows and where it is; `P` is how the list pages ([`Pagination`] by page number).
#[derive(Debug)]
pub struct Page<T, P = Pagination> {
    /// The page's rows.
    pub rows: Vec<T>,
    /// Where the page is.
    pub pagination: P,
}

/// A list response: `{"success":true,"data":[…],"pagination":{…}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    /// Always true.
    pub success: bool,
    /// The page's rows.
    pub data: Vec<T>,
    /// Where the page is.
    pub pagination: Pagination,
}
