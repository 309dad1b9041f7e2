//! The bottom layer: domain values that read and write the same way on both backends and on
//! the wire. Every other module may use these; they use nothing of the crate.
//!
//! * [`Timestamp`] — a UTC instant (`TIMESTAMPTZ` on PostgreSQL, fixed-width text on SQLite).
//! * [`Day`], [`ClockTime`] — a calendar date and a time of day (case-record sessions).
//! * [`Role`] — what a person may do.
//! * `text_backed!` — stores a type with `Display` and `parse` as TEXT on both backends.
//! * `text_enum!` — declares a closed set of names (a status, a gender) as an enum stored and
//!   shown as its name.

mod calendar;
mod role;
mod timestamp;

pub use calendar::{ClockTime, Day};
pub use role::{Role, UnknownRole};
pub use timestamp::Timestamp;

/// Stores a domain type as TEXT on both backends and serialises it as its `Display` form. The
/// type needs `Display` and `fn parse(&str) -> Option<Self>`; `$what` names it in decode errors.
macro_rules! text_backed {
    ($type:ident, $what:literal) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        // Stored as TEXT on both backends.
        impl<DB: sqlx::Database> sqlx::Type<DB> for $type
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $type
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let raw = <&str as sqlx::Decode<DB>>::decode(value)?;
                $type::parse(raw)
                    .ok_or_else(|| format!("stored {} {raw:?} is malformed", $what).into())
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $type
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<DB>>::encode(self.to_string(), buf)
            }
        }
    };
}
pub(crate) use text_backed;

/// Declares an enum whose variants are written as fixed names: `as_str`, `parse`, `NAMES` (in
/// declaration order, for messages that list what is accepted), `Display`, and [`text_backed!`]
/// storage. A closed set of names is then checked once, where text comes in, and a typo in code
/// does not compile.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $type:ident ($what:literal) {
            $($(#[$variant_meta:meta])* $variant:ident = $name:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $type {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $type {
            /// Every value, in declaration order.
            pub const ALL: &'static [$type] = &[$($type::$variant),+];
            /// Every name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The stored and shown name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name,)+
                }
            }

            /// The value named `raw` exactly, if any.
            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($name => Some($type::$variant),)+
                    _ => None,
                }
            }
        }

        impl $crate::types::TextEnum for $type {
            const NAMES: &'static [&'static str] = $type::NAMES;

            fn parse(raw: &str) -> Option<Self> {
                $type::parse(raw)
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $crate::types::text_backed!($type, $what);
    };
}
pub(crate) use text_enum;

/// What `text_enum!` declares, for code that reads any of them (`input::named`).
pub trait TextEnum: Sized {
    /// Every name, in declaration order.
    const NAMES: &'static [&'static str];
    /// The value named `raw` exactly, if any.
    fn parse(raw: &str) -> Option<Self>;
}
