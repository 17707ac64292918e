//! The trend window: which buckets a trend field draws, which earlier window it compares
//! with, and where retention ends full resolution. Pure domain code (no GraphQL context):
//! its inputs are the grain, the range, the options and the retention horizon, so it is
//! unit-tested below without a server or a database.

use async_graphql::Enum;
use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;

use crate::buckets;
use crate::error::{ApiError, Result};
use crate::graphql::args;
use crate::series::Fill;

/// An earlier window to compare a series with, bucket by bucket.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ComparePeriod {
    /// The window of the same number of buckets just before this one.
    PreviousPeriod,
    /// The same window one year earlier (52 weeks earlier for `WEEK`).
    PreviousYear,
}

/// What a trend field asked for beyond its range.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub fill: Fill,
    pub compare: Option<ComparePeriod>,
    pub include_downsampled: bool,
}

/// The earlier window of a comparison: `buckets[i]` lines up with the main window's
/// bucket `i`; `[from, to)` holds them all.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlierWindow {
    pub period: ComparePeriod,
    pub buckets: Vec<DateTime<Utc>>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// With `includeDownsampled`: the week range `[from, to)` read as week points, and the
/// buckets the series is drawn over (weeks, then the grain's buckets).
#[derive(Debug, Clone, PartialEq)]
pub struct DownsampledPart {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub drawn: Vec<DateTime<Utc>>,
}

/// The validated range of a trend field and everything derived from it.
#[derive(Debug, Clone)]
pub struct Window {
    pub grain: TimeGrain,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub fill: Fill,
    /// Every bucket start of `[from, to)`.
    pub buckets: Vec<DateTime<Utc>>,
    /// The comparison window asked for with `compareTo`.
    pub earlier: Option<EarlierWindow>,
    /// Where full resolution starts, when the range reaches past the retention horizon.
    pub full_resolution_from: Option<DateTime<Utc>>,
    /// With `includeDownsampled`: the older part read as week points.
    pub downsampled: Option<DownsampledPart>,
}

impl Window {
    /// Validates `[from, to)` for `grain` (aligned, ordered, at most `MAX_BUCKETS`) and
    /// derives the window. `horizon` is the first bucket kept at full resolution by the
    /// retention policy at the request's time.
    pub fn new(
        grain: TimeGrain,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        opts: Options,
        horizon: DateTime<Utc>,
    ) -> Result<Self> {
        let (from, to) = args::bucket_range(grain, from, to)?;
        let fine = matches!(grain, TimeGrain::Hour | TimeGrain::Day);
        let full_resolution_from = (fine && from < horizon).then_some(horizon);
        let downsampled = match full_resolution_from {
            Some(h) if opts.include_downsampled => {
                let week_from = buckets::truncate(TimeGrain::Week, from);
                let week_to = h.min(buckets::ceil(TimeGrain::Week, to).unwrap_or(h));
                let mut drawn = buckets::walk(TimeGrain::Week, week_from, week_to);
                drawn.extend(buckets::walk(grain, h.max(from), to));
                Some(DownsampledPart { from: week_from, to: week_to, drawn })
            }
            _ => None,
        };
        let mut w = Window {
            grain,
            from,
            to,
            fill: opts.fill,
            buckets: buckets::walk(grain, from, to),
            earlier: None,
            full_resolution_from,
            downsampled,
        };
        if let Some(period) = opts.compare {
            let earlier = w
                .earlier(period)
                .ok_or_else(|| ApiError::bad_input("argument `compareTo`: the earlier window is out of range"))?;
            w.earlier = Some(earlier);
        }
        Ok(w)
    }

    /// The earlier bucket each bucket of the window lines up with, and the earlier
    /// window `[from, to)` that holds them.
    fn earlier(&self, period: ComparePeriod) -> Option<EarlierWindow> {
        let n = self.buckets.len() as i64;
        let earlier: Option<Vec<_>> = self
            .buckets
            .iter()
            .map(|b| match period {
                ComparePeriod::PreviousPeriod => buckets::shift(self.grain, *b, -n),
                ComparePeriod::PreviousYear => buckets::year_earlier(self.grain, *b),
            })
            .collect();
        let earlier = earlier?;
        let (from, to) = match (earlier.first(), earlier.last()) {
            (Some(f), Some(l)) => (*f, buckets::next(self.grain, *l)?),
            // An empty window compares with an empty window just before it.
            _ => (self.from, self.from),
        };
        Some(EarlierWindow { period, buckets: earlier, from, to })
    }

    /// The buckets a series is drawn over: the window's, or with `includeDownsampled`
    /// the weeks of the older part followed by the grain's buckets.
    pub fn drawn(&self) -> &[DateTime<Utc>] {
        match (&self.downsampled, self.full_resolution_from) {
            (Some(part), Some(_)) => &part.drawn,
            _ => &self.buckets,
        }
    }

    /// Whether `bucket` is drawn from a week point (the older part of a series read with
    /// `includeDownsampled`).
    pub fn is_week_bucket(&self, bucket: DateTime<Utc>) -> bool {
        self.downsampled.is_some() && self.full_resolution_from.is_some_and(|h| bucket < h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    /// A horizon far in the past: the whole range is at full resolution.
    fn no_retention() -> DateTime<Utc> {
        at(2000, 1, 3, 0)
    }

    fn compare(period: ComparePeriod) -> Options {
        Options { compare: Some(period), ..Options::default() }
    }

    #[test]
    fn previous_period_is_the_same_number_of_buckets_just_before() {
        let w = Window::new(
            TimeGrain::Day,
            at(2026, 3, 10, 0),
            at(2026, 3, 17, 0),
            compare(ComparePeriod::PreviousPeriod),
            no_retention(),
        )
        .unwrap();
        assert_eq!(w.buckets.len(), 7);
        let e = w.earlier.unwrap();
        assert_eq!((e.from, e.to), (at(2026, 3, 3, 0), at(2026, 3, 10, 0)));
        assert_eq!(e.buckets.first(), Some(&at(2026, 3, 3, 0)));
        assert_eq!(e.buckets.len(), 7);
    }

    #[test]
    fn previous_year_lines_up_calendar_buckets_and_weeks_by_52() {
        let w = Window::new(
            TimeGrain::Month,
            at(2026, 1, 1, 0),
            at(2026, 4, 1, 0),
            compare(ComparePeriod::PreviousYear),
            no_retention(),
        )
        .unwrap();
        let e = w.earlier.unwrap();
        assert_eq!(e.buckets, vec![at(2025, 1, 1, 0), at(2025, 2, 1, 0), at(2025, 3, 1, 0)]);
        assert_eq!(e.to, at(2025, 4, 1, 0));

        // 2026-03-02 is a Monday; 52 weeks earlier is Monday 2025-03-03.
        let w = Window::new(
            TimeGrain::Week,
            at(2026, 3, 2, 0),
            at(2026, 3, 16, 0),
            compare(ComparePeriod::PreviousYear),
            no_retention(),
        )
        .unwrap();
        assert_eq!(w.earlier.unwrap().buckets, vec![at(2025, 3, 3, 0), at(2025, 3, 10, 0)]);
    }

    #[test]
    fn an_empty_range_compares_with_an_empty_window() {
        let t = at(2026, 3, 10, 0);
        let w = Window::new(TimeGrain::Day, t, t, compare(ComparePeriod::PreviousPeriod), no_retention()).unwrap();
        let e = w.earlier.unwrap();
        assert!(e.buckets.is_empty());
        assert_eq!((e.from, e.to), (t, t));
    }

    #[test]
    fn full_resolution_is_reported_only_for_fine_grains_past_the_horizon() {
        let horizon = at(2026, 3, 2, 0);
        let day = Window::new(TimeGrain::Day, at(2026, 2, 20, 0), at(2026, 3, 5, 0), Options::default(), horizon);
        assert_eq!(day.unwrap().full_resolution_from, Some(horizon));
        let within = Window::new(TimeGrain::Day, horizon, at(2026, 3, 5, 0), Options::default(), horizon);
        assert_eq!(within.unwrap().full_resolution_from, None);
        let week = Window::new(TimeGrain::Week, at(2026, 2, 2, 0), at(2026, 3, 9, 0), Options::default(), horizon);
        assert_eq!(week.unwrap().full_resolution_from, None);
    }

    #[test]
    fn downsampled_weeks_then_the_grain_are_drawn() {
        // Horizon Monday 2026-03-02; the range starts mid-week on Wednesday 2026-02-18.
        let horizon = at(2026, 3, 2, 0);
        let opts = Options { include_downsampled: true, ..Options::default() };
        let w = Window::new(TimeGrain::Day, at(2026, 2, 18, 0), at(2026, 3, 4, 0), opts, horizon).unwrap();
        let part = w.downsampled.clone().unwrap();
        // Weeks from the Monday of `from` up to the horizon.
        assert_eq!((part.from, part.to), (at(2026, 2, 16, 0), horizon));
        assert_eq!(w.drawn(), &[at(2026, 2, 16, 0), at(2026, 2, 23, 0), at(2026, 3, 2, 0), at(2026, 3, 3, 0)][..]);
        assert!(w.is_week_bucket(at(2026, 2, 23, 0)));
        assert!(!w.is_week_bucket(horizon));
        // Without the option, the grain's buckets only.
        let plain = Window::new(TimeGrain::Day, at(2026, 2, 18, 0), at(2026, 3, 4, 0), Options::default(), horizon);
        let plain = plain.unwrap();
        assert_eq!(plain.drawn().len(), 14);
        assert!(!plain.is_week_bucket(at(2026, 2, 23, 0)));
    }

    #[test]
    fn a_bad_range_names_its_argument() {
        let err = Window::new(TimeGrain::Day, at(2026, 3, 5, 0), at(2026, 3, 1, 0), Options::default(), no_retention())
            .unwrap_err();
        assert!(err.message().contains("`from`") || err.message().contains("`to`"), "{}", err.message());
        let err =
            Window::new(TimeGrain::Hour, at(2026, 1, 1, 0), at(2028, 1, 1, 0), Options::default(), no_retention())
                .unwrap_err();
        assert!(err.message().contains("10000"), "{}", err.message());
    }
}
