//! Retention on the partitioned layout (`migration::layout::partitioned`): months are
//! created ahead, and expired months are dropped whole.
//!
//! Why drop: deleting a month of hourly points row by row writes a WAL record and an
//! entry in every index per row, and leaves the dead rows to vacuum; `DROP TABLE` of the
//! month's partition is one catalog change whatever its size.
//!
//! Each expired partition is one transaction: the partition is locked (`ACCESS
//! EXCLUSIVE`: a write into that month waits, reads of other months do not), then
//! - trend: every project's hour and day points in the month's `_fine` partition are
//!   folded into week points by the same code as the per-project step
//!   ([`downsample::Source::Partition`]), and the partition is dropped only if every one
//!   of its rows was folded or superseded;
//! - breakdown and drilldown: the partition is dropped only if the row rules
//!   ([`super::expire`]) would delete every row of it, checked by a count with the same
//!   predicate; otherwise the rows are left to those rules.
//!
//! What a drop removes is reported exactly as the row-by-row steps would report it, so a
//! run gives the same report and leaves the same rows on both layouts. A late write into
//! a dropped month lands in the default partition (trend: the month's `_coarse`), where
//! the per-project steps find it. Runs only when retention covers every project.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use migration::layout::partitioned::{self, Month, Spec, BREAKDOWN, DRILLDOWN, SPECS, TREND};
use sea_orm::{ConnectionTrait, DbErr, TransactionSession, TransactionTrait};
use uuid::Uuid;

use super::downsample::{self, Source};
use super::{expire, Folds, Policy, Report};
use crate::catalog::Catalog;
use crate::store::sql::Sql;

/// Creates the months ahead, then drops the expired ones.
pub(crate) async fn run<C>(
    db: &C,
    now: DateTime<Utc>,
    policy: &Policy,
    catalog: &Catalog,
    report: &mut Report,
    folds: &mut Folds,
) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    ensure_months(&txn, now).await?;
    txn.commit().await?;

    let cut = policy.full_resolution_from(now);
    for p in expired(db, TREND, cut, Duration::zero()).await? {
        let leaf = partitioned::fine_name(TREND.table, p);
        if partitioned::exists(db, &leaf).await? {
            drop_folded(db, &leaf, now, policy, catalog, folds).await?;
        }
    }
    // A week bucket that starts in a month ends up to six days after it.
    let cut = now - policy.breakdown_keep;
    for p in expired(db, BREAKDOWN, cut, Duration::days(7)).await? {
        report.breakdown.deleted += drop_if_all(db, BREAKDOWN, p, |sql| expire::push_expired_bucket(sql, cut)).await?;
    }
    let cut = now - policy.drilldown_keep;
    for p in expired(db, DRILLDOWN, cut, Duration::zero()).await? {
        let predicate = |sql: &mut Sql| {
            sql.push("time_bucket < ").bind_time(cut);
        };
        report.drilldown.deleted += drop_if_all(db, DRILLDOWN, p, predicate).await?;
    }
    Ok(())
}

/// The partitions of the month of `now` and [`partitioned::MONTHS_AHEAD`] after it, and of
/// every month up to then that has rows waiting in the default partition. Returns how
/// many it created.
pub async fn ensure_months(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut created = 0;
    let current = Month { year: now.year(), month: now.month() };
    for spec in SPECS {
        let months = partitioned::wanted_months(db, &format!("{}_default", spec.table), current).await?;
        for m in months {
            created += u64::from(partitioned::ensure_month(db, spec, m).await?);
        }
    }
    Ok(created)
}

fn start(m: Month) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(m.year, m.month, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Months of `spec` whose end plus `slack` is not after `cut`.
async fn expired(
    db: &impl ConnectionTrait,
    spec: Spec,
    cut: DateTime<Utc>,
    slack: Duration,
) -> Result<Vec<Month>, DbErr> {
    let parts = partitioned::month_partitions(db, spec).await?;
    Ok(parts.into_iter().map(|p| p.month).filter(|m| start(m.next()) + slack <= cut).collect())
}

/// Locks `table` and counts its rows, and those for which `predicate` holds.
async fn lock_and_count(
    db: &impl ConnectionTrait,
    table: &str,
    predicate: impl Fn(&mut Sql),
) -> Result<(u64, u64), DbErr> {
    db.execute_unprepared(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")).await?;
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT count(*) AS n, count(*) FILTER (WHERE ");
    predicate(&mut sql);
    sql.push(&format!(") AS matching FROM {table}"));
    let row = db.query_one_raw(sql.build()).await?.ok_or_else(|| DbErr::Custom("count returned no row".into()))?;
    Ok((row.try_get::<i64>("", "n")? as u64, row.try_get::<i64>("", "matching")? as u64))
}

/// Drops month `m` of `spec` if `predicate` (the row rule) holds for every row of it;
/// returns the rows dropped.
async fn drop_if_all<C>(db: &C, spec: Spec, m: Month, predicate: impl Fn(&mut Sql)) -> Result<u64, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let name = partitioned::partition_name(spec.table, m);
    let txn = db.begin().await?;
    let (n, expired) = lock_and_count(&txn, &name, predicate).await?;
    if n != expired {
        tracing::info!(partition = %name, rows = n, kept = n - expired, "partition not dropped: some rows are kept");
        txn.rollback().await?;
        return Ok(0);
    }
    txn.execute_unprepared(&format!("DROP TABLE {name}")).await?;
    txn.commit().await?;
    tracing::info!(partition = %name, rows = n, "expired partition dropped");
    Ok(n)
}

/// Folds every project's points of the expired `_fine` partition `leaf`, then drops it.
async fn drop_folded<C>(
    db: &C,
    leaf: &str,
    now: DateTime<Utc>,
    policy: &Policy,
    catalog: &Catalog,
    folds: &mut Folds,
) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    let (n, _) = lock_and_count(&txn, leaf, |sql| {
        sql.push("true");
    })
    .await?;
    let rows = txn
        .query_all_raw(sea_orm::Statement::from_string(
            txn.get_database_backend(),
            format!("SELECT DISTINCT project_id FROM {leaf}"),
        ))
        .await?;
    let mut reports = Vec::new();
    for r in rows {
        let project: Uuid = r.try_get("", "project_id")?;
        reports.push(downsample::downsample(&txn, project, now, policy, catalog, Source::Partition(leaf)).await?);
    }
    let handled: u64 = reports.iter().map(|f| f.folded + f.deleted).sum();
    if handled != n {
        tracing::warn!(partition = %leaf, rows = n, handled, "partition not dropped: not every row was folded");
        txn.rollback().await?;
        return Ok(());
    }
    txn.execute_unprepared(&format!("DROP TABLE {leaf}")).await?;
    txn.commit().await?;
    tracing::info!(partition = %leaf, rows = n, "expired partition folded and dropped");
    for f in reports {
        folds.add(f);
    }
    Ok(())
}
