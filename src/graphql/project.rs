//! The `Query` root and the `Project` type, whose metric fields are merged in from one
//! module per shape (summary, trend, breakdown, drilldown).

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, MergedObject, Object};
use chrono::{DateTime, Utc};
use entity::project::Model as Project;
use uuid::Uuid;

use super::args;
use super::breakdown::ProjectBreakdowns;
use super::connection::ProjectConnection;
use super::cursor;
use super::drilldown::ProjectDrilldowns;
use super::loaders::{ProjectKey, StoreLoader};
use super::summary::ProjectSummaries;
use super::trend::ProjectTrends;
use super::{dataloader, read_db, require_read};
use crate::error::{ApiError, Result};

/// A project: the owner of every metric row. Its fields read the project's summary
/// snapshots, trend series, breakdowns and drilldowns; asking for them on many projects
/// at once (`projects(ids:)` or aliases) costs the same number of database statements as
/// for one.
#[derive(MergedObject)]
#[graphql(name = "Project")]
pub struct ProjectNode(ProjectCore, ProjectSummaries, ProjectTrends, ProjectBreakdowns, ProjectDrilldowns);

impl ProjectNode {
    pub fn new(model: Project) -> Self {
        let id = model.id;
        ProjectNode(
            ProjectCore(model),
            ProjectSummaries(id),
            ProjectTrends(id),
            ProjectBreakdowns(id),
            ProjectDrilldowns(id),
        )
    }
}

/// The project's own columns.
pub struct ProjectCore(Project);

#[Object]
impl ProjectCore {
    /// The project's id.
    async fn id(&self) -> Uuid {
        self.0.id
    }

    /// Display name, when one was set.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// When the project was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The `Query` root.
pub struct QueryRoot;

/// The entry points of the read API: look projects up by id, or list them.
#[Object(name = "Query")]
impl QueryRoot {
    /// One project by id; null when no such project exists.
    async fn project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's id.")] id: Uuid,
    ) -> Result<Option<ProjectNode>> {
        // Outside the token's projects: FORBIDDEN whether or not the project exists.
        if !require_read(ctx)?.can_access(id) {
            return Err(ApiError::forbidden("the token does not allow this project"));
        }
        let p = dataloader(ctx).load_one(ProjectKey(id)).await?;
        Ok(p.map(ProjectNode::new))
    }

    /// Several projects by id, in the order of `ids`; null for an unknown id (and for a
    /// project the token does not allow). At most 500 ids.
    #[graphql(complexity = "ids.len().max(1) * child_complexity")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The projects' ids (at most 500); the answer keeps their order.")] ids: Vec<Uuid>,
    ) -> Result<Vec<Option<ProjectNode>>> {
        if ids.len() > args::MAX_PROJECT_IDS {
            return Err(ApiError::bad_input(format!(
                "argument `ids` holds {} ids; at most {} are allowed",
                ids.len(),
                args::MAX_PROJECT_IDS
            )));
        }
        let who = require_read(ctx)?;
        let loader: &DataLoader<StoreLoader> = dataloader(ctx);
        let allowed = ids.iter().filter(|id| who.can_access(**id)).map(|id| ProjectKey(*id));
        let found = loader.load_many(allowed).await?;
        // A project the token does not allow is absent, like an unknown one.
        Ok(ids.iter().map(|id| found.get(&ProjectKey(*id)).cloned().map(ProjectNode::new)).collect())
    }

    /// The metric catalog: every metric key the API knows, with its unit, description and
    /// how its points fold when downsampled. Keys outside it still work (they fold with
    /// `AVG`).
    async fn metric_catalog(&self, ctx: &Context<'_>) -> Vec<super::catalog::MetricDefinition> {
        super::catalog::definitions(ctx)
    }

    /// Every known project the token allows, ordered by id, a page at a time: for
    /// discovery in a GraphQL IDE.
    #[graphql(complexity = "super::limits::page_cost(first) * child_complexity")]
    async fn project_list(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 500.", default = 50)] first: i32,
        #[graphql(desc = "Cursor of the last project of the previous page (`pageInfo.endCursor`).")] after: Option<
            String,
        >,
    ) -> Result<ProjectConnection> {
        let who = require_read(ctx)?;
        let limit = args::page_size("first", first)?;
        let after_id = after.as_deref().map(|c| cursor::decode_project("after", c)).transpose()?;
        let allowed = who.allowed();
        let rows = crate::store::project::list(read_db(ctx), after_id, limit as u64 + 1, allowed.as_deref()).await?;
        Ok(ProjectConnection::from_rows(
            rows,
            limit,
            after_id.is_some(),
            |p| cursor::encode_project(p.id),
            ProjectNode::new,
        ))
    }
}
