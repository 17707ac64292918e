//! The `Subscription` root: `metricsUpdated`, which tells a dashboard what each committed
//! write batch changed (project, shape, metric, grain, buckets, `computedAt`) so it
//! refetches exactly the affected tiles through the ordinary queries.
//!
//! Why a notice and not the new points: the tiles' queries already shape, fill and
//! authorise the data, and a refetch goes through the same cache and limits; a notice
//! stays small enough for PostgreSQL's `NOTIFY`, whatever the batch. The first event is
//! `SUBSCRIBED` (from then on no update is missed: load the tiles now), `RESYNC` follows
//! an outage of the instance's database listener (refetch everything).

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::{Context, Enum, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::args::{MAX_METRIC_KEYS, MAX_PROJECT_IDS};
use super::grain::GrainArg;
use super::require_read;
use crate::error::{ApiError, ErrorCode};
use crate::live::{self, connection::SubscriptionSlot, Connection, Event, Hub};

/// The read shape a change concerns: which tiles to refetch.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "MetricShape", remote = "crate::live::Shape")]
pub enum ShapeArg {
    /// `summary`: a snapshot was recorded.
    Summary,
    /// `trends`: trend points were written.
    Trend,
    /// `breakdown`: breakdown points were written.
    Breakdown,
    /// `drilldown`: drilldown rows were written.
    Drilldown,
}

/// What an event of `metricsUpdated` says.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MetricsUpdateKind {
    /// The first event: the subscription is live and no later update will be missed;
    /// load (or reload) the tiles now.
    Subscribed,
    /// A committed write batch changed the listed rows; refetch the affected tiles.
    Updated,
    /// The server lost its database listener and is back: updates may have been missed;
    /// refetch every tile.
    Resync,
}

/// The rows of one project, shape, metric and grain that a batch wrote.
#[derive(SimpleObject, Debug, Clone)]
pub struct MetricChange {
    /// The project.
    pub project_id: Uuid,
    /// The read shape to refetch.
    pub shape: ShapeArg,
    /// The metric; null for summaries.
    pub metric_key: Option<String>,
    /// The grain of the buckets; null for summaries, drilldowns and snapshot-only
    /// breakdown rows.
    pub grain: Option<GrainArg>,
    /// Starts of the buckets written, ascending (summaries: their `capturedAt`).
    pub buckets: Vec<DateTime<Utc>>,
    /// The latest `computedAt` of the rows written (summaries: when recorded).
    pub computed_at: DateTime<Utc>,
}

impl From<&live::Change> for MetricChange {
    fn from(c: &live::Change) -> Self {
        MetricChange {
            project_id: c.project_id,
            shape: c.shape.into(),
            metric_key: c.metric_key.clone(),
            grain: c.grain.map(Into::into),
            buckets: c.buckets.clone(),
            computed_at: c.computed_at,
        }
    }
}

/// One event of `metricsUpdated`.
#[derive(SimpleObject, Debug, Clone)]
pub struct MetricsUpdate {
    /// What happened.
    pub kind: MetricsUpdateKind,
    /// For `UPDATED`: the changes matching the subscription; empty otherwise. A large
    /// batch may arrive as several `UPDATED` events.
    pub changes: Vec<MetricChange>,
}

impl MetricsUpdate {
    fn notice(kind: MetricsUpdateKind) -> Self {
        MetricsUpdate { kind, changes: Vec::new() }
    }
}

/// Which changes a subscription wants.
struct Filter {
    projects: HashSet<Uuid>,
    metrics: Option<HashSet<String>>,
    shapes: Option<HashSet<live::Shape>>,
}

impl Filter {
    fn pick(&self, changes: &[live::Change]) -> Vec<MetricChange> {
        changes
            .iter()
            .filter(|c| self.projects.contains(&c.project_id))
            .filter(|c| self.shapes.as_ref().is_none_or(|s| s.contains(&c.shape)))
            .filter(|c| match (&self.metrics, &c.metric_key) {
                (None, _) => true,
                // Summaries have no metric key: a metric filter leaves them out unless
                // the shapes ask for them by name.
                (Some(_), None) => self.shapes.as_ref().is_some_and(|s| s.contains(&live::Shape::Summary)),
                (Some(m), Some(k)) => m.contains(k),
            })
            .map(MetricChange::from)
            .collect()
    }
}

/// What a running subscription holds.
struct Running {
    hub: Hub,
    events: tokio::sync::broadcast::Receiver<Event>,
    filter: Filter,
    slot: SubscriptionSlot,
    started: bool,
}

impl Running {
    async fn next(mut self) -> Option<(MetricsUpdate, Self)> {
        if !self.started {
            self.started = true;
            self.hub.ready().await;
            return Some((MetricsUpdate::notice(MetricsUpdateKind::Subscribed), self));
        }
        loop {
            match self.events.recv().await {
                Ok(Event::Updated(changes)) => {
                    let changes = self.filter.pick(&changes);
                    if !changes.is_empty() {
                        return Some((MetricsUpdate { kind: MetricsUpdateKind::Updated, changes }, self));
                    }
                }
                Ok(Event::Resync) => return Some((MetricsUpdate::notice(MetricsUpdateKind::Resync), self)),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "live updates: a subscriber fell behind; closing its connection");
                    self.slot.connection().fell_behind();
                    return None;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Checks the arguments and rights of a subscription.
fn filter(
    ctx: &Context<'_>,
    project_ids: Vec<Uuid>,
    metric_keys: Option<Vec<String>>,
    shapes: Option<Vec<ShapeArg>>,
) -> crate::error::Result<Filter> {
    let who = require_read(ctx)?;
    if project_ids.is_empty() || project_ids.len() > MAX_PROJECT_IDS {
        return Err(ApiError::bad_input(format!(
            "argument `projectIds` must list 1 to {MAX_PROJECT_IDS} project ids, got {}",
            project_ids.len()
        )));
    }
    if let Some(p) = project_ids.iter().find(|p| !who.can_access(**p)) {
        return Err(ApiError::forbidden(format!(
            "argument `projectIds`: the token does not allow project {p}; nothing was subscribed"
        )));
    }
    if let Some(keys) = &metric_keys {
        if keys.is_empty() || keys.len() > MAX_METRIC_KEYS {
            return Err(ApiError::bad_input(format!(
                "argument `metricKeys` must list 1 to {MAX_METRIC_KEYS} metric keys when given, got {}",
                keys.len()
            )));
        }
    }
    if shapes.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::bad_input("argument `shapes` must list at least one shape when given"));
    }
    Ok(Filter {
        projects: project_ids.into_iter().collect(),
        metrics: metric_keys.map(|k| k.into_iter().collect()),
        shapes: shapes.map(|s| s.into_iter().map(Into::into).collect()),
    })
}

/// Live updates over WebSocket (`/graphql`, graphql-ws protocol).
pub struct SubscriptionRoot;

/// Live updates, over WebSocket at `/graphql` (the graphql-ws protocol, with the bearer
/// token in `connection_init`'s payload).
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// What each committed write batch changed in the given projects: subscribe, load the
    /// tiles at `SUBSCRIBED`, refetch the affected ones at each `UPDATED`, all of them at
    /// `RESYNC`. A batch that changed nothing (every row sent again unchanged) and a
    /// rejected batch send nothing.
    async fn metrics_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The projects to watch: 1 to 500, each allowed by the token.")] project_ids: Vec<Uuid>,
        #[graphql(desc = "Only these metrics (1 to 50); all when absent. Summaries have no metric \
                          key: with this filter they come only when `shapes` names `SUMMARY`.")]
        metric_keys: Option<Vec<String>>,
        #[graphql(desc = "Only these shapes; all when absent.")] shapes: Option<Vec<ShapeArg>>,
    ) -> async_graphql::Result<impl Stream<Item = MetricsUpdate>> {
        let filter = filter(ctx, project_ids, metric_keys, shapes)?;
        let (Some(hub), Some(connection)) = (ctx.data_opt::<Hub>(), ctx.data_opt::<Arc<Connection>>()) else {
            return Err(ErrorCode::BadRequest.error("subscriptions are served over WebSocket at `/graphql` only"));
        };
        let Some(slot) = connection.start_subscription() else {
            let max = connection.max_subscriptions();
            return Err(ErrorCode::LimitExceeded.error(format!(
                "this connection already runs {max} subscriptions, the limit (max_subscriptions); \
                 complete one or widen one subscription's `projectIds`"
            )));
        };
        let running = Running { hub: hub.clone(), events: hub.subscribe(), filter, slot, started: false };
        Ok(futures_util::stream::unfold(running, Running::next))
    }
}
