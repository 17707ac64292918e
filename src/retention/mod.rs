//! Retention and compaction (spec section 5) as an idempotent job.
//!
//! Rules, for a run at `now`:
//! - summary snapshots: deleted after 180 days; older than 30 days, one per project, scope
//!   and UTC day is kept (the latest of that day);
//! - trend points: hour and day points are folded into week points once their whole ISO
//!   week is older than 90 days, and then removed. Folding is exact whenever the points
//!   arrive: a week point keeps every value it was folded from, and a late or corrected
//!   point is merged into it at the next run (see [`fold`]). A week point a compute job
//!   wrote is authoritative: kept as it is, the fine points of its week deleted. Week
//!   and month points stay;
//! - breakdown points: deleted once their bucket's end is older than 90 days; drilldown
//!   rows once their bucket is older than 30 days. Rows without a bucket age by
//!   `computed_at`, except the most recent run of their series (its latest
//!   `computed_at`), which stays as long as it is the most recent: a current snapshot is
//!   never deleted. A compute job's re-send with a newer `computed_at` refreshes it.
//!
//! Why whole weeks: a week that straddles the horizon still has points inside the full-
//! resolution window; folding half of it would show a week point from half the data. So
//! full resolution is kept for at least 90 days, folding happens by whole weeks.
//!
//! The report tells folded rows (their values live on in a week point) from deleted ones.
//!
//! Safety: each project and table is one transaction, so a crash leaves every project
//! before or after a step and a re-run finishes the job; a second run finds nothing to
//! do. Projects share no rows, so on Citus several run at once, each on its own shard
//! ([`width`]). The fold deletes exactly the fine rows it read (locked on PostgreSQL; SQLite's
//! write lock is taken first), so a point written during a run is folded by the next.
//! Only rows past the horizons are touched. `--dry-run` runs the same steps as savepoints of
//! one transaction and rolls it back, so it reports exactly what a run would do.
//!
//! On the partitioned layout (`migration::layout::partitioned`), whole expired months are
//! handled first by [`partitions`]: folded where trend points need it, then dropped.

pub mod downsample;
pub mod expire;
pub mod fold;
pub mod partitions;
pub mod schedule;
pub mod width;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use futures_util::stream::{self, StreamExt};
use migration::layout::Layout;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionSession, TransactionTrait};
use uuid::Uuid;

use crate::buckets;
use crate::catalog::Catalog;
use crate::identity::normalize_time;
use crate::store::sql::Sql;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub summary_keep: Duration,
    pub summary_daily_after: Duration,
    pub trend_full_resolution: Duration,
    pub breakdown_keep: Duration,
    pub drilldown_keep: Duration,
}

impl Default for Policy {
    /// The spec's section 5.
    fn default() -> Self {
        Policy {
            summary_keep: Duration::days(180),
            summary_daily_after: Duration::days(30),
            trend_full_resolution: Duration::days(90),
            breakdown_keep: Duration::days(90),
            drilldown_keep: Duration::days(30),
        }
    }
}

impl Policy {
    /// The first bucket of hour and day points that is never folded at `now`: the start of
    /// the ISO week holding `now - 90 days`.
    pub fn full_resolution_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        buckets::truncate(TimeGrain::Week, now - self.trend_full_resolution)
    }
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub now: DateTime<Utc>,
    /// Only this project.
    pub project: Option<Uuid>,
    /// Report, then roll every change back.
    pub dry_run: bool,
}

/// What a run did to one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableReport {
    /// Rows deleted without being kept anywhere: expired, or (trend) hour and day points
    /// of a week whose week point a compute job wrote.
    pub deleted: u64,
    /// Hour and day rows folded into week points: their values live on in the week
    /// point's contributions; the rows themselves are removed.
    pub folded: u64,
    /// Week points written by folding for the first time.
    pub created: u64,
    /// Week points folded again with late or corrected points.
    pub updated: u64,
}

/// The trend side of a run, gathered over its steps: a week point created by one step and
/// folded again by a later one (a week straddling two months of the partitioned layout,
/// folded from each month's partition) counts once, as created, as a single fold would.
#[derive(Default)]
pub(crate) struct Folds {
    folded: u64,
    deleted: u64,
    created: BTreeSet<Uuid>,
    updated: BTreeSet<Uuid>,
    unknown: BTreeSet<String>,
}

impl Folds {
    pub(crate) fn add(&mut self, f: downsample::FoldReport) {
        self.folded += f.folded;
        self.deleted += f.deleted;
        self.created.extend(f.weeks.created);
        self.updated.extend(f.weeks.updated);
        self.unknown.extend(f.unknown);
    }

    fn into_report(self, report: &mut Report) {
        report.trend.folded = self.folded;
        report.trend.deleted = self.deleted;
        report.trend.created = self.created.len() as u64;
        report.trend.updated = self.updated.difference(&self.created).count() as u64;
        report.unknown_metrics = self.unknown;
    }
}

impl Report {
    /// Rows folded, over every table.
    pub fn folded(&self) -> u64 {
        self.trend.folded
    }

    /// Rows deleted, over every table.
    pub fn deleted(&self) -> u64 {
        self.summary.deleted + self.trend.deleted + self.breakdown.deleted + self.drilldown.deleted
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub projects: u64,
    pub summary: TableReport,
    pub trend: TableReport,
    pub breakdown: TableReport,
    pub drilldown: TableReport,
    /// Metric keys folded with the default `avg` because the catalog does not know them.
    pub unknown_metrics: BTreeSet<String>,
}

/// Runs the rules over every project (or one).
///
/// A dry run is one transaction rolled back at the end, each step a savepoint in it: the
/// steps see each other's changes as in a real run, so the report is what a run would do.
pub async fn run(db: &DatabaseConnection, catalog: &Catalog, policy: &Policy, opts: Options) -> Result<Report, DbErr> {
    let layout = migration::layout::current(db).await?;
    if opts.dry_run {
        let outer = db.begin().await?;
        // One transaction: one project at a time.
        let report = run_steps(&outer, catalog, policy, opts, layout, 1).await;
        outer.rollback().await?;
        report
    } else {
        run_steps(db, catalog, policy, opts, layout, width::of(db, layout).await?).await
    }
}

async fn run_steps<C>(
    db: &C,
    catalog: &Catalog,
    policy: &Policy,
    opts: Options,
    layout: Layout,
    width: usize,
) -> Result<Report, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let now = normalize_time(opts.now);
    let mut report = Report::default();
    let mut folds = Folds::default();
    // Whole months first (partitioned layout, every project at once): what they drop, the
    // per-project steps below no longer see.
    let partitioned = layout == Layout::Partitioned;
    if opts.project.is_none() && partitioned {
        partitions::run(db, now, policy, catalog, &mut report, &mut folds).await?;
    }
    let projects = match opts.project {
        Some(p) => vec![p],
        None => crate::store::project::list(db, None, u64::MAX >> 1, None).await?.into_iter().map(|p| p.id).collect(),
    };
    report.projects = projects.len() as u64;
    // Projects are independent: on Citus each one's statements reach only its shard, so
    // several run at once (`width`); elsewhere, and in a dry run's one transaction, one
    // at a time.
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let mut steps = stream::iter(projects)
        .map(|p| async move {
            if stop.load(Ordering::Relaxed) {
                return (p, Ok(None));
            }
            (p, project_steps(db, p, now, policy, catalog, partitioned).await.map(Some))
        })
        .buffer_unordered(width);
    // After a failure no project starts, and those under way finish (each step is its own
    // transaction: done or rolled back whole); the run then fails with the first error,
    // its project logged.
    let mut failed: Option<DbErr> = None;
    while let Some((p, done)) = steps.next().await {
        match done {
            Ok(None) => {}
            Ok(Some(done)) => {
                report.summary.deleted += done.summaries;
                folds.add(done.folds);
                report.breakdown.deleted += done.breakdowns;
                report.drilldown.deleted += done.drilldowns;
            }
            Err(e) => {
                tracing::warn!(project = %p, error = %e, "retention failed for a project");
                stop.store(true, Ordering::Relaxed);
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    folds.into_report(&mut report);
    Ok(report)
}

/// What the steps did to one project.
struct ProjectSteps {
    summaries: u64,
    folds: downsample::FoldReport,
    breakdowns: u64,
    drilldowns: u64,
}

/// The rules for one project, each table its own transaction.
async fn project_steps<C>(
    db: &C,
    p: Uuid,
    now: DateTime<Utc>,
    policy: &Policy,
    catalog: &Catalog,
    partitioned: bool,
) -> Result<ProjectSteps, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    let summaries = expire::summaries(&txn, p, now, policy).await?;
    txn.commit().await?;

    let txn = db.begin().await?;
    let source = downsample::Source::Table { partitioned };
    let folds = downsample::downsample(&txn, p, now, policy, catalog, source).await?;
    txn.commit().await?;

    let txn = db.begin().await?;
    let breakdowns = expire::expire_breakdowns(&txn, p, now - policy.breakdown_keep).await?;
    txn.commit().await?;

    let txn = db.begin().await?;
    let drilldowns = expire::expire_drilldowns(&txn, p, now - policy.drilldown_keep).await?;
    txn.commit().await?;
    Ok(ProjectSteps { summaries, folds, breakdowns, drilldowns })
}

async fn exec(db: &impl ConnectionTrait, sql: Sql) -> Result<u64, DbErr> {
    Ok(db.execute_raw(sql.build()).await?.rows_affected())
}
