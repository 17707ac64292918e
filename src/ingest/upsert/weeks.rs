//! The retention job's week points: folded ones written and rewritten, a compute job's
//! left alone.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use uuid::Uuid;

use super::counting::stored_ids;
use super::tables::{insert_values, per_chunk, TREND};
use crate::ingest::rows::TrendRow;
use crate::store::layout::conflict_targets;

/// What [`write_folded_weeks`] did: the ids of the week points it created and updated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WeekWrites {
    pub created: HashSet<Uuid>,
    pub updated: HashSet<Uuid>,
}

/// Writes the retention job's folded week points: new ones are inserted, stored folded
/// ones replaced. A stored week point a compute job wrote (its `value_json` has no
/// `contributions`) is never overwritten, even if it appeared since the job read it.
pub async fn write_folded_weeks(db: &impl ConnectionTrait, rows: &[TrendRow]) -> Result<WeekWrites, DbErr> {
    let backend = db.get_database_backend();
    let is_fold = match backend {
        DbBackend::Postgres => "(metrics_trend_point.value_json -> 'contributions') IS NOT NULL",
        _ => "json_extract(metrics_trend_point.value_json, '$.contributions') IS NOT NULL",
    };
    let target = conflict_targets(db).await?;
    let target = target.of(TREND.name);
    let mut out = WeekWrites::default();
    for chunk in rows.chunks(per_chunk(backend, &TREND, rows)) {
        let existing = stored_ids(db, TREND.name, chunk).await?;
        let mut sql = insert_values(backend, &TREND, chunk);
        sql.push(&format!(
            " ON CONFLICT ({target}) DO UPDATE SET value_numeric = excluded.value_numeric, value_json = excluded.value_json, \
             computed_at = excluded.computed_at WHERE {is_fold} RETURNING id"
        ));
        let written = db.query_all_raw(sql.build()).await?;
        for r in written {
            let id: Uuid = r.try_get("", "id")?;
            if existing.contains(&id) {
                out.updated.insert(id);
            } else {
                out.created.insert(id);
            }
        }
    }
    Ok(out)
}
