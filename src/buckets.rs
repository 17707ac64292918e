//! UTC bucket arithmetic for the four grains: hour, day, ISO week starting Monday,
//! calendar month. Every range is half-open `[from, to)`.
//!
//! Pure functions, used by validation (a bucket must be a bucket start), gap filling (walk
//! every bucket of a range) and period comparison (shift a window by whole buckets). UTC
//! has no DST, so a walk never repeats or skips an hour.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Timelike, Utc};
use entity::sea_orm_active_enums::TimeGrain;

/// The start of the bucket of `grain` that contains `t`.
pub fn truncate(grain: TimeGrain, t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.date_naive();
    let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"));
    match grain {
        TimeGrain::Hour => Utc.from_utc_datetime(&day.and_hms_opt(t.hour(), 0, 0).expect("hour")),
        TimeGrain::Day => midnight(day),
        TimeGrain::Week => midnight(day - Duration::days(i64::from(day.weekday().num_days_from_monday()))),
        TimeGrain::Month => midnight(day.with_day(1).expect("first of month")),
    }
}

/// Whether `t` is the start of a bucket of `grain`.
pub fn is_bucket_start(grain: TimeGrain, t: DateTime<Utc>) -> bool {
    truncate(grain, t) == t
}

/// The start of the bucket `n` buckets after the bucket starting at `start` (`n` may be
/// negative). `None` past chrono's range.
pub fn shift(grain: TimeGrain, start: DateTime<Utc>, n: i64) -> Option<DateTime<Utc>> {
    match grain {
        TimeGrain::Hour => start.checked_add_signed(Duration::try_hours(n)?),
        TimeGrain::Day => start.checked_add_signed(Duration::try_days(n)?),
        TimeGrain::Week => start.checked_add_signed(Duration::try_weeks(n)?),
        TimeGrain::Month => {
            let months = Months::new(u32::try_from(n.unsigned_abs()).ok()?);
            if n >= 0 {
                start.checked_add_months(months)
            } else {
                start.checked_sub_months(months)
            }
        }
    }
}

/// The start of the next bucket.
pub fn next(grain: TimeGrain, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
    shift(grain, start, 1)
}

/// The first bucket start at or after `t`.
pub fn ceil(grain: TimeGrain, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let start = truncate(grain, t);
    if start == t {
        Some(t)
    } else {
        next(grain, start)
    }
}

/// How many bucket starts fall in `[from, to)`, computed without walking them so a huge
/// range can be rejected cheaply. `None` when the count does not fit the arithmetic.
pub fn count(grain: TimeGrain, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<i64> {
    let first = ceil(grain, from)?;
    if first >= to {
        return Some(0);
    }
    let span = to - first;
    let n = match grain {
        TimeGrain::Hour => ceil_div(span.num_seconds(), 3600),
        TimeGrain::Day => ceil_div(span.num_seconds(), 86_400),
        TimeGrain::Week => ceil_div(span.num_seconds(), 7 * 86_400),
        TimeGrain::Month => {
            let months = (to.year() - first.year()) * 12 + to.month() as i32 - first.month() as i32;
            let months = i64::from(months);
            // `to` inside a month still counts that month's start if it is before `to`.
            if shift(grain, first, months)? < to {
                months + 1
            } else {
                months
            }
        }
    };
    Some(n)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1).div_euclid(b)
}

/// Every bucket start in `[from, to)`, in order. Callers bound the range with [`count`]
/// first.
pub fn walk(grain: TimeGrain, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut cur = ceil(grain, from);
    while let Some(t) = cur {
        if t >= to {
            break;
        }
        out.push(t);
        cur = next(grain, t);
    }
    out
}

/// The same instant one calendar year earlier, kept on a bucket start of `grain`: weeks
/// shift by 52 weeks so a Monday stays a Monday; other grains by 12 months (29 February
/// becomes 28 February).
pub fn year_earlier(grain: TimeGrain, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match grain {
        TimeGrain::Week => t.checked_sub_signed(Duration::weeks(52)),
        _ => t.checked_sub_months(Months::new(12)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn truncates_to_each_grain_in_utc() {
        let x = t("2026-03-18T13:45:12.5+02:00"); // 11:45:12.5 UTC, a Wednesday
        assert_eq!(truncate(TimeGrain::Hour, x), t("2026-03-18T11:00:00Z"));
        assert_eq!(truncate(TimeGrain::Day, x), t("2026-03-18T00:00:00Z"));
        assert_eq!(truncate(TimeGrain::Week, x), t("2026-03-16T00:00:00Z"));
        assert_eq!(truncate(TimeGrain::Month, x), t("2026-03-01T00:00:00Z"));
        // A Monday and a Sunday: ISO weeks start on Monday.
        assert_eq!(truncate(TimeGrain::Week, t("2026-03-16T00:00:00Z")), t("2026-03-16T00:00:00Z"));
        assert_eq!(truncate(TimeGrain::Week, t("2026-03-22T23:59:59Z")), t("2026-03-16T00:00:00Z"));
    }

    #[test]
    fn bucket_start_checks() {
        assert!(is_bucket_start(TimeGrain::Hour, t("2026-03-18T11:00:00Z")));
        assert!(!is_bucket_start(TimeGrain::Hour, t("2026-03-18T11:00:01Z")));
        assert!(!is_bucket_start(TimeGrain::Week, t("2026-03-18T00:00:00Z")));
        assert!(is_bucket_start(TimeGrain::Month, t("2024-02-01T00:00:00Z")));
    }

    #[test]
    fn month_walk_follows_calendar_lengths() {
        let b = walk(TimeGrain::Month, t("2024-01-15T00:00:00Z"), t("2024-05-01T00:00:00Z"));
        let got: Vec<String> = b.iter().map(|d| d.format("%F").to_string()).collect();
        assert_eq!(got, ["2024-02-01", "2024-03-01", "2024-04-01"]);
        assert_eq!(count(TimeGrain::Month, t("2024-01-15T00:00:00Z"), t("2024-05-01T00:00:00Z")), Some(3));
        assert_eq!(count(TimeGrain::Month, t("2024-01-01T00:00:00Z"), t("2024-05-01T00:00:01Z")), Some(5));
    }

    #[test]
    fn hour_walk_over_a_european_dst_change_has_24_hours_a_day() {
        // 2026-03-29 is a 23-hour day in Europe; in UTC every day has 24 buckets.
        let b = walk(TimeGrain::Hour, t("2026-03-29T00:00:00Z"), t("2026-03-30T00:00:00Z"));
        assert_eq!(b.len(), 24);
        assert!(b.windows(2).all(|w| w[1] - w[0] == Duration::hours(1)));
    }

    #[test]
    fn count_matches_walk_for_every_grain() {
        let ranges = [
            ("2026-01-01T00:30:00Z", "2026-01-03T05:00:00Z"),
            ("2025-12-29T00:00:00Z", "2026-03-02T00:00:00Z"),
            ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            ("2023-11-05T07:00:00Z", "2026-02-28T23:59:59Z"),
        ];
        for grain in [TimeGrain::Hour, TimeGrain::Day, TimeGrain::Week, TimeGrain::Month] {
            for (a, b) in ranges {
                assert_eq!(count(grain, t(a), t(b)), Some(walk(grain, t(a), t(b)).len() as i64), "{grain:?} {a} {b}");
            }
        }
    }

    #[test]
    fn shifts_by_whole_buckets() {
        assert_eq!(shift(TimeGrain::Month, t("2024-03-01T00:00:00Z"), -13), Some(t("2023-02-01T00:00:00Z")));
        assert_eq!(shift(TimeGrain::Week, t("2026-03-16T00:00:00Z"), -2), Some(t("2026-03-02T00:00:00Z")));
        assert_eq!(year_earlier(TimeGrain::Week, t("2026-03-16T00:00:00Z")), Some(t("2025-03-17T00:00:00Z")));
        assert_eq!(year_earlier(TimeGrain::Day, t("2024-02-29T00:00:00Z")), Some(t("2023-02-28T00:00:00Z")));
    }
}
