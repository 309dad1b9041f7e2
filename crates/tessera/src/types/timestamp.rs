//! [`Timestamp`]: a UTC instant that reads and writes the same way on both backends.
//!
//! PostgreSQL stores it as `TIMESTAMPTZ`. SQLite has no time type, and sqlx's default text form
//! varies in the number of fractional digits, which breaks `ORDER BY` and `<` on the text; here
//! SQLite gets a fixed-width `YYYY-MM-DDTHH:MM:SS.ffffffZ`, so text order is time order.
//! On the wire (JSON) it is RFC 3339 in UTC with a `Z` and whole seconds, as the contract shows.

use serde::{Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

const STORAGE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
/// What SQLite's date and time functions write, and what this code writes (`T` and a `Z` aside):
/// `YYYY-MM-DD HH:MM[:SS[.fraction]]`, with a space or a `T`, in UTC.
const SQLITE_FORMS: &[FormatItem<'static>] = format_description!(
    "[year]-[month]-[day][first [ ] [T]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
);
const WIRE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// A UTC instant with microsecond precision (what PostgreSQL keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current instant, truncated to microseconds so that a stored and re-read value compares
    /// equal to the original.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Converts any instant to UTC, truncated to microseconds.
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        let micros = at.microsecond();
        Timestamp(
            at.replace_nanosecond(micros * 1_000)
                .expect("micros*1000 < 1e9"),
        )
    }

    /// The underlying instant.
    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    /// RFC 3339 with whole seconds and `Z`, e.g. `2024-01-15T10:30:00Z`.
    pub fn to_rfc3339(self) -> String {
        self.0
            .format(WIRE_FORMAT)
            .expect("UTC timestamps always format")
    }

    /// The fixed-width SQLite form, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (PostgreSQL reads it too).
    pub(crate) fn to_storage(self) -> String {
        self.0
            .format(STORAGE_FORMAT)
            .expect("UTC timestamps always format")
    }

    /// Reads what SQLite holds: the fixed-width form this code writes or, for a value an operator
    /// edited by hand, any RFC 3339 text (`2020-01-01T00:00:00Z`, `…+02:00`) or SQLite's own
    /// forms (`datetime('now')` gives `2020-01-01 00:00:00`, in UTC; `HH:MM` and `.SSS` too), so
    /// that one edited row cannot make every request that touches it fail. (Such a row compares
    /// as text a little off in SQL until it is written again in the fixed form.)
    fn from_storage(text: &str) -> Result<Self, BoxDynError> {
        let utc_text = text.strip_suffix('Z').unwrap_or(text);
        if let Ok(parsed) = PrimitiveDateTime::parse(utc_text, SQLITE_FORMS) {
            if (1..=9999).contains(&parsed.year()) {
                return Ok(Timestamp::from_datetime(parsed.assume_utc()));
            }
        }
        Timestamp::parse_rfc3339(text).ok_or_else(|| {
            format!("stored time {text:?} is neither RFC 3339 nor SQLite's date-time form").into()
        })
    }

    /// Parses client (or hand-edited) RFC 3339 text. `None` for malformed text and for instants
    /// whose UTC form is outside years 1–9999 (`9999-12-31T23:59:59-01:00` is in year 10000):
    /// every later step — arithmetic, formatting, storing — may then assume a representable time.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let at =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        let utc = at.checked_to_offset(UtcOffset::UTC)?;
        (1..=9999)
            .contains(&utc.year())
            .then(|| Timestamp::from_datetime(utc))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0 + rhs)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0 - rhs)
    }
}

impl std::ops::Sub<Timestamp> for Timestamp {
    type Output = Duration;
    fn sub(self, rhs: Timestamp) -> Duration {
        self.0 - rhs.0
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.to_storage(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        Timestamp::from_storage(text)
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl sqlx::postgres::PgHasArrayType for Timestamp {
    fn array_type_info() -> PgTypeInfo {
        <OffsetDateTime as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Timestamp::from_datetime(<OffsetDateTime as Decode<
            'r,
            Postgres,
        >>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_text_round_trips_and_sorts_as_time() {
        let a = Timestamp::from_datetime(time::macros::datetime!(2024-01-15 10:30:00.5 UTC));
        let b = a + Duration::microseconds(1);
        assert_eq!(Timestamp::from_storage(&a.to_storage()).unwrap(), a);
        assert!(a.to_storage() < b.to_storage());
        assert_eq!(a.to_storage().len(), b.to_storage().len());
    }

    #[test]
    fn any_rfc3339_text_is_read_from_storage() {
        let expected = Timestamp::from_datetime(time::macros::datetime!(2020-01-01 00:00:00 UTC));
        for text in [
            "2020-01-01T00:00:00Z",
            "2020-01-01T00:00:00.000000Z",
            "2020-01-01T02:00:00+02:00",
            "2019-12-31T23:00:00.0-01:00",
        ] {
            assert_eq!(Timestamp::from_storage(text).unwrap(), expected, "{text}");
        }
        assert!(Timestamp::from_storage("2020-01-01").is_err());
        assert!(Timestamp::from_storage("yesterday").is_err());
    }

    #[test]
    fn sqlites_own_date_time_forms_are_read_as_utc() {
        let read = |text: &str| Timestamp::from_storage(text).unwrap().to_rfc3339();
        assert_eq!(read("2024-01-15 10:30:00"), "2024-01-15T10:30:00Z");
        assert_eq!(read("2024-01-15 10:30"), "2024-01-15T10:30:00Z");
        assert_eq!(read("2024-01-15 10:30:05.123"), "2024-01-15T10:30:05Z");
        assert_eq!(read("2024-01-15T10:30:05"), "2024-01-15T10:30:05Z");
        assert!(Timestamp::from_storage("2024-01-15").is_err());
        assert!(Timestamp::from_storage("yesterday").is_err());
    }

    #[test]
    fn input_outside_the_representable_years_is_refused_not_a_panic() {
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(Timestamp::parse_rfc3339("0000-01-01T00:30:00+01:00"), None);
        assert!(Timestamp::parse_rfc3339("9999-12-31T22:59:59-01:00").is_some());
    }

    #[test]
    fn wire_form_is_whole_seconds_with_z() {
        let a = Timestamp::from_datetime(time::macros::datetime!(2024-01-15 12:30:00.123 +02:00));
        assert_eq!(a.to_rfc3339(), "2024-01-15T10:30:00Z");
    }
}
