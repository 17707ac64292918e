//! How each table is written: a row as (column, value) pairs, the columns compared and
//! set on conflict, and the multi-row `INSERT` built from the pairs. One declaration per
//! table, so the column list and the values cannot fall out of order.

use chrono::{DateTime, Utc};
use entity::sea_orm_active_enums::TimeGrain;
use sea_orm::DbBackend;

use crate::ingest::rows::{BreakdownRow, DrilldownRow, SummaryRow, TrendRow};
use crate::store::sql::Sql;

/// One bound value of a row, in the form its column takes on each backend.
pub(super) enum Cell<'a> {
    Value(sea_orm::Value),
    Time(DateTime<Utc>),
    Json(&'a serde_json::Value),
    OptJson(Option<&'a serde_json::Value>),
    Grain(Option<TimeGrain>),
}

impl Cell<'_> {
    fn push(&self, sql: &mut Sql) {
        match self {
            Cell::Value(v) => {
                sql.bind(v.clone());
            }
            Cell::Time(t) => {
                sql.bind_time(*t);
            }
            Cell::Json(v) | Cell::OptJson(Some(v)) => {
                sql.bind_json(v);
            }
            Cell::OptJson(None) if sql.backend() == DbBackend::Postgres => {
                sql.push("CAST(NULL AS jsonb)");
            }
            Cell::Grain(Some(g)) => {
                sql.bind_grain(*g);
            }
            Cell::OptJson(None) | Cell::Grain(None) => {
                sql.push("NULL");
            }
        }
    }
}

pub(super) fn v<'a>(x: impl Into<sea_orm::Value>) -> Cell<'a> {
    Cell::Value(x.into())
}

/// A row as (column, value) pairs: the column list of the `INSERT` is read from the same
/// pairs as the values, so the two cannot fall out of order.
pub(super) type Cells<'a> = Vec<(&'static str, Cell<'a>)>;

/// How one table is written.
pub(super) struct Table<R> {
    pub(super) name: &'static str,
    /// Columns compared to decide whether a stored row changed.
    pub(super) compared: &'static [&'static str],
    /// Columns set when it did.
    pub(super) updated: &'static [&'static str],
    /// The compute time: a re-send with a newer one refreshes the stored row even when
    /// its value is unchanged (`None`: the table has none).
    pub(super) computed_at: Option<&'static str>,
    pub(super) cells: for<'a> fn(&'a R) -> Cells<'a>,
}

pub(super) const SUMMARY: Table<SummaryRow> = Table {
    name: "metrics_summary",
    compared: &["version", "payload"],
    updated: &["version", "payload"],
    computed_at: None,
    cells: |r| {
        vec![
            ("id", v(r.id)),
            ("project_id", v(r.project_id)),
            ("captured_at", Cell::Time(r.captured_at)),
            ("version", v(r.version.as_str())),
            ("scope", Cell::OptJson(r.scope.as_ref())),
            ("payload", Cell::Json(&r.payload)),
            ("created_at", Cell::Time(r.created_at)),
        ]
    },
};

pub(super) const TREND: Table<TrendRow> = Table {
    name: "metrics_trend_point",
    compared: &["value_numeric", "value_json"],
    updated: &["value_numeric", "value_json", "computed_at"],
    computed_at: Some("computed_at"),
    cells: |r| {
        vec![
            ("id", v(r.id)),
            ("project_id", v(r.project_id)),
            ("metric_key", v(r.metric_key.as_str())),
            ("time_grain", Cell::Grain(Some(r.grain))),
            ("time_bucket", Cell::Time(r.time_bucket)),
            ("dimensions", Cell::Json(&r.dimensions)),
            ("value_numeric", v(r.value_numeric)),
            ("value_json", Cell::OptJson(r.value_json.as_ref())),
            ("computed_at", Cell::Time(r.computed_at)),
        ]
    },
};

pub(super) const BREAKDOWN: Table<BreakdownRow> = Table {
    name: "metrics_breakdown_point",
    compared: &["value_numeric", "value_json"],
    updated: &["value_numeric", "value_json", "computed_at"],
    computed_at: Some("computed_at"),
    cells: |r| {
        vec![
            ("id", v(r.id)),
            ("project_id", v(r.project_id)),
            ("metric_key", v(r.metric_key.as_str())),
            ("time_grain", Cell::Grain(r.grain)),
            ("time_bucket", v(r.time_bucket)),
            ("dimension_key", v(r.dimension_key.as_str())),
            ("dimension_value", v(r.dimension_value.as_str())),
            ("value_numeric", v(r.value_numeric)),
            ("value_json", Cell::OptJson(r.value_json.as_ref())),
            ("computed_at", Cell::Time(r.computed_at)),
        ]
    },
};

pub(super) const DRILLDOWN: Table<DrilldownRow> = Table {
    name: "metrics_drilldown",
    compared: &["payload"],
    updated: &["payload", "computed_at"],
    computed_at: Some("computed_at"),
    cells: |r| {
        vec![
            ("id", v(r.id)),
            ("project_id", v(r.project_id)),
            ("metric_key", v(r.metric_key.as_str())),
            ("entity_type", v(r.entity_type.as_str())),
            ("entity_id", v(r.entity_id)),
            ("reference_id", v(r.reference_id.clone())),
            ("time_bucket", v(r.time_bucket)),
            ("payload", Cell::Json(&r.payload)),
            ("computed_at", Cell::Time(r.computed_at)),
        ]
    },
};

/// Bind parameters per statement: under PostgreSQL's 65,535 and SQLite's 32,766.
pub(super) fn max_params(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 60_000,
        _ => 30_000,
    }
}

/// `INSERT INTO table (columns) VALUES (...), (...)` for a chunk of rows; the columns are
/// those of the first row's cells (every row's cells come from the same function).
pub(super) fn insert_values<'r, R: 'r>(
    backend: DbBackend,
    table: &Table<R>,
    chunk: impl IntoIterator<Item = &'r R>,
) -> Sql {
    let mut sql = Sql::new(backend);
    for (i, r) in chunk.into_iter().enumerate() {
        let cells = (table.cells)(r);
        if i == 0 {
            let columns: Vec<&str> = cells.iter().map(|(c, _)| *c).collect();
            sql.push(&format!("INSERT INTO {} ({}) VALUES ", table.name, columns.join(", ")));
        } else {
            sql.push(", ");
        }
        sql.push("(");
        for (j, (_, cell)) in cells.iter().enumerate() {
            if j > 0 {
                sql.push(", ");
            }
            cell.push(&mut sql);
        }
        sql.push(")");
    }
    sql
}

/// Rows per statement: the backend's bind-parameter limit over the columns of a row.
pub(super) fn per_chunk<R>(backend: DbBackend, table: &Table<R>, rows: &[R]) -> usize {
    let columns = rows.first().map_or(1, |r| (table.cells)(r).len());
    (max_params(backend) / columns).max(1)
}
