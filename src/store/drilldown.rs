//! Keyset pages of drilldown rows, a per-project read ([`per_project`]) per page size.
//!
//! Two orders, each an index range scan:
//! - [`DrilldownOrder::Entity`]: `entity_id ASC NULLS LAST, id` on the spec's
//!   `idx_metrics_drilldown_entity (project_id, metric_key, entity_type, entity_id)`;
//! - [`DrilldownOrder::TimeBucketDesc`]: `time_bucket DESC NULLS LAST, id` on
//!   `idx_metrics_drilldown_recent (project_id, metric_key, entity_type,
//!   time_bucket DESC NULLS LAST, id)`, added for this order.
//!
//! NULLS LAST is spelled out so both backends agree (SQLite sorts NULL first in ASC).

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use entity::metrics_drilldown::{self, Model as Drilldown};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::per_project::{self, Conditions, Key, PerProject, ReadShape, Take};
use super::sql::Sql;
use super::TimeRange;

/// The order of a drilldown page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrilldownOrder {
    /// By entity id (rows keyed by reference come last), then row id.
    Entity,
    /// Newest bucket first (rows without a bucket come last), then row id.
    TimeBucketDesc,
}

/// The position after which a page starts: the sort key of the previous page's last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrilldownCursor {
    Entity { entity_id: Option<Uuid>, id: Uuid },
    TimeBucket { time_bucket: Option<DateTime<Utc>>, id: Uuid },
}

impl DrilldownCursor {
    /// The cursor of a row in the given order.
    pub fn of(order: DrilldownOrder, row: &Drilldown) -> Self {
        match order {
            DrilldownOrder::Entity => DrilldownCursor::Entity { entity_id: row.entity_id, id: row.id },
            DrilldownOrder::TimeBucketDesc => DrilldownCursor::TimeBucket { time_bucket: row.time_bucket, id: row.id },
        }
    }
}

/// What a drilldown page reads, apart from the project and the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DrilldownFilter {
    pub metric_key: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub reference_id: Option<String>,
    pub range: TimeRange,
    pub order: DrilldownOrder,
}

/// One page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub project_id: Uuid,
    pub after: Option<DrilldownCursor>,
}

/// Appends the keyset condition "strictly after `c`" for the cursor's order.
fn push_after(sql: &mut Sql, c: DrilldownCursor) {
    match c {
        DrilldownCursor::Entity { entity_id: Some(e), id } => {
            sql.push(" AND (entity_id > ")
                .bind(e)
                .push(" OR (entity_id = ")
                .bind(e)
                .push(" AND id > ")
                .bind(id)
                .push(") OR entity_id IS NULL)");
        }
        DrilldownCursor::Entity { entity_id: None, id } => {
            sql.push(" AND entity_id IS NULL AND id > ").bind(id);
        }
        DrilldownCursor::TimeBucket { time_bucket: Some(t), id } => {
            sql.push(" AND (time_bucket < ")
                .bind_time(t)
                .push(" OR (time_bucket = ")
                .bind_time(t)
                .push(" AND id > ")
                .bind(id)
                .push(") OR time_bucket IS NULL)");
        }
        DrilldownCursor::TimeBucket { time_bucket: None, id } => {
            sql.push(" AND time_bucket IS NULL AND id > ").bind(id);
        }
    }
}

/// For each request, up to `limit` rows in the filter's order after the request's cursor.
pub async fn pages(
    db: &impl ConnectionTrait,
    shape: ReadShape,
    requests: &[PageRequest],
    filter: &DrilldownFilter,
    limit: u64,
) -> Result<Vec<Vec<Drilldown>>, DbErr> {
    let after = |c: DrilldownCursor| -> Conditions<'_> { Box::new(move |sql| push_after(sql, c)) };
    let read = PerProject::<metrics_drilldown::Entity> {
        keys: requests.iter().map(|r| Key { project_id: r.project_id, after: r.after.map(after) }).collect(),
        filter: Box::new(move |sql| {
            sql.push(" AND metric_key = ")
                .bind(filter.metric_key.as_str())
                .push(" AND entity_type = ")
                .bind(filter.entity_type.as_str());
            if let Some(e) = filter.entity_id {
                sql.push(" AND entity_id = ").bind(e);
            }
            if let Some(r) = &filter.reference_id {
                sql.push(" AND reference_id = ").bind(r.as_str());
            }
            filter.range.push_filter(sql, "time_bucket");
        }),
        order: match filter.order {
            DrilldownOrder::Entity => "entity_id ASC NULLS LAST, id ASC",
            DrilldownOrder::TimeBucketDesc => "time_bucket DESC NULLS LAST, id ASC",
        },
        take: Take::First(limit),
        entity: PhantomData,
    };
    per_project::read(db, shape, &read).await
}
