//! The partitioned layout (PostgreSQL): trend, breakdown and drilldown range-partitioned
//! by the calendar month (UTC) of `time_bucket`.
//!
//! Why: these tables grow with time and age by time. A month partition holds one month of
//! buckets, so a range read plans over the months it covers (partition pruning) and
//! retention drops a whole expired month with `DROP TABLE` instead of deleting its rows
//! one index entry at a time.
//!
//! Shape of each table:
//! - `<table>_YYYY_MM`: one partition per month, created for every month that holds rows
//!   and for the current month and [`MONTHS_AHEAD`] months ahead; the API creates the
//!   next ones as time passes ([`ensure_months`], run by retention).
//! - `metrics_trend_point_YYYY_MM` is itself list-partitioned by grain: `_fine` holds
//!   hour and day points, `_coarse` (the month's default) week and month points. Retention
//!   folds the fine points of an expired month into week points and drops `_fine`; the
//!   week points stay. A late fine point for a dropped month lands in `_coarse` and is
//!   folded row by row at the next run.
//! - `<table>_default`: rows without a bucket (breakdown and drilldown snapshots) and
//!   buckets in a month without a partition (far future, or a month already dropped).
//!   [`ensure_months`] moves rows out of it when their month gets a partition.
//!
//! Keys: PostgreSQL requires a partitioned table's unique constraints to contain the
//! partition key. The row-id constraint is therefore `PRIMARY KEY (id, time_bucket,
//! time_grain)` on trend and `UNIQUE NULLS NOT DISTINCT (id, time_bucket)` on breakdown
//! and drilldown (their bucket may be null, which a primary key forbids). Because the id
//! is a hash of the natural key, which contains the bucket and grain, these are exactly as
//! strict as a key on `id`. The natural-key unique indexes already contain `time_bucket`
//! and `time_grain` and stay as they are, so the natural-key guarantee holds unchanged.
//! Every index of the plain table is re-created on the partitioned one (and so on each
//! partition, named `<index>_<partition suffix>`), so each partition has the spec's
//! indexes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionTrait,
};

/// Months created ahead of the current one, so writes for the near future never land in
/// the default partition even when retention has not run for a while.
pub const MONTHS_AHEAD: u32 = 3;

/// How one table is partitioned.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub table: &'static str,
    /// Months are list-partitioned by grain into `_fine` (hour, day) and `_coarse`.
    pub grain_split: bool,
    /// The row-id constraint's name and definition.
    pub row_id: (&'static str, &'static str),
}

pub const TREND: Spec = Spec {
    table: "metrics_trend_point",
    grain_split: true,
    row_id: ("metrics_trend_point_pkey", "PRIMARY KEY (id, time_bucket, time_grain)"),
};
pub const BREAKDOWN: Spec = Spec {
    table: "metrics_breakdown_point",
    grain_split: false,
    row_id: ("metrics_breakdown_point_row_id", "UNIQUE NULLS NOT DISTINCT (id, time_bucket)"),
};
pub const DRILLDOWN: Spec = Spec {
    table: "metrics_drilldown",
    grain_split: false,
    row_id: ("metrics_drilldown_row_id", "UNIQUE NULLS NOT DISTINCT (id, time_bucket)"),
};

/// The partitioned tables (`metrics_summary` is one row per snapshot and stays plain).
pub const SPECS: [Spec; 3] = [TREND, BREAKDOWN, DRILLDOWN];

/// A calendar month in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    pub fn next(self) -> Month {
        match self.month {
            12 => Month { year: self.year + 1, month: 1 },
            m => Month { year: self.year, month: m + 1 },
        }
    }

    /// `YYYY-MM`, as `to_char(.., 'YYYY-MM')` writes it.
    pub fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.get(..7)?.split_once('-')?;
        let month: u32 = m.parse().ok()?;
        (1..=12).contains(&month).then_some(Month { year: y.parse().ok()?, month })
    }

    /// The first instant of the month, as an SQL timestamptz literal.
    pub fn start(self) -> String {
        format!("'{:04}-{:02}-01 00:00:00+00'", self.year, self.month)
    }

    /// The partition name suffix, `YYYY_MM`.
    pub fn suffix(self) -> String {
        format!("{:04}_{:02}", self.year, self.month)
    }
}

/// The partition of `table` for `month`.
pub fn partition_name(table: &str, month: Month) -> String {
    format!("{table}_{}", month.suffix())
}

/// The hour-and-day sub-partition of a trend month.
pub fn fine_name(table: &str, month: Month) -> String {
    format!("{}_fine", partition_name(table, month))
}

async fn exec(db: &impl ConnectionTrait, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

async fn strings(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<Vec<String>, DbErr> {
    let rows = db.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    rows.iter().map(|r| r.try_get::<String>("", "s")).collect()
}

/// Converts the plain tables, rows included, in one transaction.
pub async fn up(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    exec(&txn, "SET LOCAL TIME ZONE 'UTC'").await?;
    for spec in SPECS {
        to_partitioned(&txn, spec).await?;
    }
    txn.commit().await
}

/// Converts back to the plain tables, rows included, in one transaction.
pub async fn down(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    for spec in SPECS {
        to_plain(&txn, spec).await?;
    }
    txn.commit().await
}

/// The months that get a partition: those holding rows of `from` (a table or a default
/// partition), plus `current` and [`MONTHS_AHEAD`] after it; months past that stay in the
/// default partition (a far-future bucket would otherwise create a partition per stray
/// row).
pub async fn wanted_months(db: &impl ConnectionTrait, from: &str, current: Month) -> Result<Vec<Month>, DbErr> {
    let mut last = current;
    let mut months = vec![current];
    for _ in 0..MONTHS_AHEAD {
        last = last.next();
        months.push(last);
    }
    let sql = format!(
        "SELECT DISTINCT to_char(time_bucket AT TIME ZONE 'UTC', 'YYYY-MM') AS s FROM {from} WHERE time_bucket IS NOT NULL"
    );
    months.extend(strings(db, &sql, vec![]).await?.iter().filter_map(|s| Month::parse(s)).filter(|m| *m <= last));
    months.sort();
    months.dedup();
    Ok(months)
}

/// Plain table → partitioned table with the same columns, rows, foreign keys and indexes.
async fn to_partitioned(txn: &DatabaseTransaction, spec: Spec) -> Result<(), DbErr> {
    let t = spec.table;
    let now = strings(txn, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM') AS s", vec![]).await?;
    let current = now.first().and_then(|s| Month::parse(s)).ok_or_else(|| DbErr::Custom("no current month".into()))?;
    let months = wanted_months(txn, t, current).await?;
    let saved = Saved::read(txn, t).await?;
    let new = format!("{t}__new");
    exec(
        txn,
        &format!(
            "CREATE TABLE {new} (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS) \
             PARTITION BY RANGE (time_bucket); \
             CREATE TABLE {t}_default PARTITION OF {new} DEFAULT"
        ),
    )
    .await?;
    // Partitions before the rows, so each row is written once, into its month.
    for m in months {
        create_month(txn, spec, &new, m).await?;
    }
    let (name, def) = spec.row_id;
    saved.swap_in(txn, t, &format!("ADD CONSTRAINT {name} {def}")).await?;
    name_indexes(txn, t).await
}

/// Partitioned table → plain table with the same columns, rows, foreign keys and indexes.
async fn to_plain(txn: &DatabaseTransaction, spec: Spec) -> Result<(), DbErr> {
    let t = spec.table;
    let saved = Saved::read(txn, t).await?;
    exec(txn, &format!("CREATE TABLE {t}__new (LIKE {t} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS)"))
        .await?;
    saved.swap_in(txn, t, &format!("ADD CONSTRAINT {t}_pkey PRIMARY KEY (id)")).await
}

/// What a table rebuild carries over beyond `LIKE`: foreign keys and indexes (all but the
/// row-id constraint's, which each layout defines in its own form).
struct Saved {
    indexes: Vec<String>,
    foreign_keys: Vec<String>,
}

impl Saved {
    async fn read(txn: &DatabaseTransaction, t: &str) -> Result<Saved, DbErr> {
        let indexes = strings(
            txn,
            "SELECT replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') AS s FROM pg_index i \
             WHERE i.indrelid = to_regclass($1) \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) \
             ORDER BY i.indexrelid",
            vec![t.into()],
        )
        .await?;
        let foreign_keys = strings(
            txn,
            "SELECT format('ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid)) AS s FROM pg_constraint \
             WHERE conrelid = to_regclass($1) AND contype = 'f' ORDER BY conname",
            vec![t.into()],
        )
        .await?;
        Ok(Saved { indexes, foreign_keys })
    }

    /// Copies the rows of `t` into `t__new`, replaces `t` with it and re-creates the key,
    /// the foreign keys and the indexes (after the rows: one index build instead of an
    /// update per row).
    async fn swap_in(self, txn: &DatabaseTransaction, t: &str, key: &str) -> Result<(), DbErr> {
        exec(txn, &format!("INSERT INTO {t}__new SELECT * FROM {t}")).await?;
        exec(txn, &format!("DROP TABLE {t}")).await?;
        exec(txn, &format!("ALTER TABLE {t}__new RENAME TO {t}")).await?;
        exec(txn, &format!("ALTER TABLE {t} {key}")).await?;
        for fk in self.foreign_keys {
            exec(txn, &format!("ALTER TABLE {t} {fk}")).await?;
        }
        for index in self.indexes {
            exec(txn, &index).await?;
        }
        Ok(())
    }
}

/// Creates the partition of `month` under `parent` (for trend, with its `_fine` and
/// `_coarse` sub-partitions), attached after moving the month's rows out of the default
/// partition: attaching fails while the default holds rows of its range.
async fn create_month(txn: &impl ConnectionTrait, spec: Spec, parent: &str, month: Month) -> Result<(), DbErr> {
    let t = spec.table;
    let name = partition_name(t, month);
    let (from, to) = (month.start(), month.next().start());
    let sub = match spec.grain_split {
        true => format!(
            " PARTITION BY LIST (time_grain); \
             CREATE TABLE {name}_fine PARTITION OF {name} FOR VALUES IN ('hour', 'day'); \
             CREATE TABLE {name}_coarse PARTITION OF {name} DEFAULT"
        ),
        false => String::new(),
    };
    exec(
        txn,
        &format!(
            "CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){sub}; \
             WITH moved AS (DELETE FROM {t}_default WHERE time_bucket >= {from} AND time_bucket < {to} RETURNING *) \
             INSERT INTO {name} SELECT * FROM moved; \
             ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to})"
        ),
    )
    .await
}

/// Creates the partition of `month` unless it exists (see [`create_month`]), in the
/// caller's transaction; returns whether it created one.
pub async fn ensure_month(txn: &impl ConnectionTrait, spec: Spec, month: Month) -> Result<bool, DbErr> {
    if exists(txn, &partition_name(spec.table, month)).await? {
        return Ok(false);
    }
    create_month(txn, spec, spec.table, month).await?;
    name_indexes(txn, spec.table).await?;
    Ok(true)
}

/// Whether the table or index `name` exists.
pub async fn exists(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let found = strings(db, "SELECT 'y' AS s FROM pg_class WHERE oid = to_regclass($1)", vec![name.into()]).await?;
    Ok(!found.is_empty())
}

/// Names every partition's copy of an index of `table` `<index>_<partition suffix>`
/// (PostgreSQL would name them after their columns): an operator reading a plan or a
/// unique violation sees which index of the spec it is, and
/// `metrics_api::error::upstream::is_natural_key_race` recognises the natural-key one.
async fn name_indexes(db: &impl ConnectionTrait, table: &str) -> Result<(), DbErr> {
    let renames = strings(
        db,
        "WITH RECURSIVE tree AS ( \
             SELECT i.indexrelid AS idx, i.indexrelid AS root FROM pg_index i WHERE i.indrelid = to_regclass($1) \
             UNION ALL \
             SELECT inh.inhrelid, tree.root FROM pg_inherits inh JOIN tree ON inh.inhparent = tree.idx) \
         SELECT format('ALTER INDEX %s RENAME TO %I', tree.idx::regclass, \
                       left(r.relname || substr(c.relname, length($1) + 1), 63)) AS s \
         FROM tree \
         JOIN pg_class r ON r.oid = tree.root \
         JOIN pg_index i ON i.indexrelid = tree.idx \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_class x ON x.oid = tree.idx \
         WHERE tree.idx <> tree.root AND x.relname <> left(r.relname || substr(c.relname, length($1) + 1), 63)",
        vec![table.into()],
    )
    .await?;
    for sql in renames {
        exec(db, &sql).await?;
    }
    Ok(())
}

/// One month partition of a table, as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthPartition {
    pub month: Month,
    /// The partition (for trend, the month's list-partitioned table).
    pub name: String,
}

/// The month partitions of `spec`'s table, oldest first (only those named as this module
/// names them; a partition attached by hand under another name is left alone).
pub async fn month_partitions(db: &impl ConnectionTrait, spec: Spec) -> Result<Vec<MonthPartition>, DbErr> {
    let names = strings(
        db,
        "SELECT c.relname::text AS s FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = to_regclass($1) ORDER BY c.relname",
        vec![spec.table.into()],
    )
    .await?;
    let prefix = format!("{}_", spec.table);
    let mut out: Vec<MonthPartition> = names
        .into_iter()
        .filter_map(|name| {
            let rest = name.strip_prefix(&prefix)?;
            let (y, m) = rest.split_once('_')?;
            let month = Month::parse(&format!("{y}-{m}"))?;
            (rest.len() == 7).then_some(MonthPartition { month, name })
        })
        .collect();
    out.sort_by_key(|p| p.month);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_the_year_and_parse_back() {
        let dec = Month { year: 2025, month: 12 };
        assert_eq!(dec.next(), Month { year: 2026, month: 1 });
        assert_eq!(dec.start(), "'2025-12-01 00:00:00+00'");
        assert_eq!(dec.suffix(), "2025_12");
        assert_eq!(Month::parse("2025-12"), Some(dec));
        assert_eq!(Month::parse("2025-13"), None);
        assert_eq!(partition_name("metrics_drilldown", dec), "metrics_drilldown_2025_12");
        assert_eq!(fine_name("metrics_trend_point", dec), "metrics_trend_point_2025_12_fine");
    }
}
