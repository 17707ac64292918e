//! `TimeGrain`, the bucket width every bucketed field takes (trend, breakdown, mutations,
//! complexity): its own module because four shapes share it.

use async_graphql::Enum;

/// The width of a time bucket. Buckets are aligned in UTC: an hour, a day, an ISO week
/// starting Monday 00:00, a calendar month starting on the 1st.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "TimeGrain", remote = "entity::sea_orm_active_enums::TimeGrain")]
pub enum GrainArg {
    /// One clock hour.
    Hour,
    /// One UTC day.
    Day,
    /// One ISO week, from Monday 00:00 UTC.
    Week,
    /// One calendar month, from the 1st 00:00 UTC.
    Month,
}
