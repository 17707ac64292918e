//! `Project.summary` and `Project.summaries`: contract-aligned summary snapshots.

use async_graphql::{Context, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::metrics_summary::Model as Summary;
use serde_json::Value;
use uuid::Uuid;

pub mod loader;

use self::loader::{SummaryKey, SummaryPageKey};
use super::args;
use super::connection::SummaryConnection;
use super::cursor;
use super::dataloader;
use super::loaders::CanonicalJson;
use super::request_time;
use crate::error::Result;
use crate::identity::normalize_time;
use crate::store::summary::SummaryCursor;
use crate::store::TimeRange;

/// One summary snapshot: the full contract payload computed at `capturedAt`.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Summary", cache_control(max_age = 300))]
pub struct SummaryNode {
    /// Deterministic id of the snapshot (UUIDv5 of project, capture time and scope).
    pub id: Uuid,
    /// The project the snapshot belongs to.
    pub project_id: Uuid,
    /// When the snapshot was taken.
    pub captured_at: DateTime<Utc>,
    /// Version of the summary contract the payload follows (`"1.0"`).
    pub version: String,
    /// The phase/milestone filters the snapshot was computed for; null for the
    /// project-wide snapshot.
    pub scope: Option<Json<Value>>,
    /// The full summary payload, as computed.
    pub payload: Json<Value>,
    /// When the row was first stored.
    pub created_at: DateTime<Utc>,
}

impl From<Summary> for SummaryNode {
    fn from(m: Summary) -> Self {
        SummaryNode {
            id: m.id,
            project_id: m.project_id,
            captured_at: m.captured_at,
            version: m.version,
            scope: m.scope.map(Json),
            payload: Json(m.payload),
            created_at: m.created_at,
        }
    }
}

/// The summary fields of `Project`.
pub struct ProjectSummaries(pub Uuid);

#[Object]
impl ProjectSummaries {
    /// The latest snapshot captured at or before `at` whose scope equals `scope`; null
    /// when there is none.
    async fn summary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Read the snapshot as of this instant (default: now).")] at: Option<DateTime<Utc>>,
        #[graphql(
            desc = "A JSON object of phase/milestone filters; absent or null: the project-wide snapshot (no scope)."
        )]
        scope: Option<Json<Value>>,
    ) -> Result<Option<SummaryNode>> {
        let scope = args::json_object("scope", scope)?;
        let key = SummaryKey {
            project_id: self.0,
            at: normalize_time(at.unwrap_or_else(|| request_time(ctx))),
            scope: scope.as_ref().map(CanonicalJson::new),
        };
        let row = dataloader(ctx).load_one(key).await?;
        Ok(row.map(SummaryNode::from))
    }

    /// Snapshot history, newest first (`capturedAt` descending), a page at a time.
    #[graphql(complexity = "super::limits::page_cost(first) * child_complexity")]
    async fn summaries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only snapshots captured at or after this instant.")] from: Option<DateTime<Utc>>,
        #[graphql(desc = "Only snapshots captured before this instant.")] to: Option<DateTime<Utc>>,
        #[graphql(desc = "A JSON object of phase/milestone filters; absent or null: the project-wide snapshots.")]
        scope: Option<Json<Value>>,
        #[graphql(desc = "Page size, 0 to 500.", default = 50)] first: i32,
        #[graphql(desc = "Cursor of the last edge of the previous page (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<SummaryConnection> {
        let limit = args::page_size("first", first)?;
        if let (Some(f), Some(t)) = (from, to) {
            args::ordered(f, t)?;
        }
        let scope = args::json_object("scope", scope)?;
        let after = after.as_deref().map(|c| cursor::decode_summary("after", c)).transpose()?;
        let key = SummaryPageKey {
            project_id: self.0,
            after,
            range: TimeRange { from: from.map(normalize_time), to: to.map(normalize_time) },
            scope: scope.as_ref().map(CanonicalJson::new),
            limit: limit as u64 + 1,
        };
        let rows = dataloader(ctx).load_one(key).await?.unwrap_or_default();
        Ok(SummaryConnection::from_rows(
            rows,
            limit,
            after.is_some(),
            |r| cursor::encode_summary(SummaryCursor { captured_at: r.captured_at, id: r.id }),
            SummaryNode::from,
        ))
    }
}
