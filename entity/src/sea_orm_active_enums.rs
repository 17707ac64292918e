//! The `metrics_time_grain` enum (spec 4.2): a native enum type on PostgreSQL, a `TEXT`
//! column with a `CHECK` on SQLite. SeaORM casts to the enum type only on PostgreSQL, so
//! the same entity code works on both backends.

use sea_orm::entity::prelude::*;

/// The width of a time bucket. Buckets are aligned in UTC: hour, day, ISO week starting
/// Monday, calendar month.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "metrics_time_grain")]
pub enum TimeGrain {
    /// One clock hour.
    #[sea_orm(string_value = "hour")]
    Hour,
    /// One UTC day.
    #[sea_orm(string_value = "day")]
    Day,
    /// One ISO week, Monday 00:00 UTC to the next Monday.
    #[sea_orm(string_value = "week")]
    Week,
    /// One calendar month, from the 1st 00:00 UTC.
    #[sea_orm(string_value = "month")]
    Month,
}

impl TimeGrain {
    /// The value stored in the database (`hour`, `day`, `week`, `month`).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeGrain::Hour => "hour",
            TimeGrain::Day => "day",
            TimeGrain::Week => "week",
            TimeGrain::Month => "month",
        }
    }

    /// Parses a stored value; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(TimeGrain::Hour),
            "day" => Some(TimeGrain::Day),
            "week" => Some(TimeGrain::Week),
            "month" => Some(TimeGrain::Month),
            _ => None,
        }
    }
}
