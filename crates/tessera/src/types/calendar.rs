//! [`Day`] and [`ClockTime`]: a calendar date and a wall-clock time of day, stored as ISO text
//! (`YYYY-MM-DD`, `HH:MM`) on both backends.
//!
//! Text in these fixed-width forms sorts and compares like the values themselves, so range
//! filters (`session_date >= $1`) and overlap checks (`start_time < $2`) are one SQL text for
//! SQLite and PostgreSQL, and there is no time-zone conversion to get wrong: a session on
//! 2024-05-01 at 09:00 is that, wherever the server runs.

use std::fmt;

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

const DAY_FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
const TIME_FORMAT: &[FormatItem<'static>] = format_description!("[hour]:[minute]");

/// A calendar date, e.g. `2015-04-30`. Years are limited to 1900–9999 so the text form is
/// always ten characters (and sorts as a date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(Date);

impl Day {
    /// Today in UTC.
    pub fn today() -> Day {
        Day(OffsetDateTime::now_utc().date())
    }

    /// Parses `YYYY-MM-DD` (a real date between 1900 and 9999); `None` otherwise.
    pub fn parse(text: &str) -> Option<Day> {
        let date = Date::parse(text, DAY_FORMAT).ok()?;
        (1900..=9999).contains(&date.year()).then_some(Day(date))
    }

    /// The underlying date.
    pub fn date(self) -> Date {
        self.0
    }

    /// This day plus `days` (saturating at the end of the calendar).
    pub fn plus_days(self, days: i64) -> Day {
        Day(self
            .0
            .checked_add(time::Duration::days(days))
            .unwrap_or(Date::MAX))
    }

    /// Whole years from `self` to `on` (an age): the birthday must have been reached.
    pub fn years_until(self, on: Day) -> i64 {
        let (born, today) = (self.0, on.0);
        let mut years = i64::from(today.year() - born.year());
        if (today.month() as u8, today.day()) < (born.month() as u8, born.day()) {
            years -= 1;
        }
        years.max(0)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.format(DAY_FORMAT).map_err(|_| fmt::Error)?)
    }
}

/// A time of day to the minute, e.g. `14:30` (24-hour clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(Time);

impl ClockTime {
    /// Parses `HH:MM` (00:00–23:59); `None` otherwise.
    pub fn parse(text: &str) -> Option<ClockTime> {
        Time::parse(text, TIME_FORMAT).ok().map(ClockTime)
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> i64 {
        i64::from(self.0.hour()) * 60 + i64::from(self.0.minute())
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.format(TIME_FORMAT).map_err(|_| fmt::Error)?)
    }
}

super::text_backed!(Day, "date");
super::text_backed!(ClockTime, "time");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly_and_round_trip() {
        let day = Day::parse("2015-04-30").unwrap();
        assert_eq!(day.to_string(), "2015-04-30");
        for bad in [
            "2015-02-30",
            "2015-4-30",
            "30/04/2015",
            "1899-12-31",
            "2015-04-30T00:00",
        ] {
            assert!(Day::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ages_count_whole_years() {
        let born = Day::parse("2010-06-15").unwrap();
        assert_eq!(born.years_until(Day::parse("2020-06-14").unwrap()), 9);
        assert_eq!(born.years_until(Day::parse("2020-06-15").unwrap()), 10);
        let leap = Day::parse("2012-02-29").unwrap();
        assert_eq!(leap.years_until(Day::parse("2013-02-28").unwrap()), 0);
        assert_eq!(leap.years_until(Day::parse("2013-03-01").unwrap()), 1);
    }

    #[test]
    fn times_are_hours_and_minutes() {
        let t = ClockTime::parse("09:05").unwrap();
        assert_eq!((t.to_string().as_str(), t.minutes()), ("09:05", 545));
        for bad in ["9:05", "24:00", "09:60", "09:05:00", "0905"] {
            assert!(ClockTime::parse(bad).is_none(), "{bad}");
        }
    }
}
