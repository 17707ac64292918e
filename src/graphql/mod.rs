//! The GraphQL schema: types, resolvers and dataloaders. Resolvers validate and translate
//! arguments, then load through [`loaders`]; they never run SQL themselves.
//!
//! # Layout
//! - [`project`]: `Query` and `Project` (merged from the per-shape modules below).
//! - [`summary`], [`trend`], [`breakdown`], [`drilldown`]: one folder per query shape:
//!   its resolvers and output types in `mod.rs`, its keys and `Loader` impls in
//!   `loader.rs` (each calls one function of [`crate::store`]).
//! - [`loaders`]: what the loaders share (the per-request `StoreLoader`, key grouping).
//! - [`exec`]: executes a request so loaders batch per resolver pass.
//! - [`mutation`]: the write API over [`crate::ingest`]; [`catalog`]: `metricCatalog`.
//! - [`subscription`]: `metricsUpdated`, live notices of committed writes ([`crate::live`]).
//! - [`connection`], [`cursor`]: Relay pages and their opaque keyset cursors.
//! - [`args`]: argument validation and the bounds that keep latency predictable;
//!   [`grain`]: the `TimeGrain` argument.
//! - [`limits`]: query limits; [`codes`]: codes for errors raised before execution.

pub mod args;
pub mod breakdown;
pub mod catalog;
pub mod codes;
pub mod connection;
pub mod cursor;
pub mod documents;
pub mod drilldown;
pub mod exec;
pub mod flat;
pub mod grain;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod project;
pub mod subscription;
pub mod summary;
pub mod trend;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, SDLExportOptions, Schema};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use self::limits::QueryLimits;
use self::loaders::StoreLoader;
use self::mutation::MutationRoot;
use self::project::QueryRoot;
use self::subscription::SubscriptionRoot;
use crate::catalog::Catalog;
use crate::ingest::BatchLimits;
use crate::retention::Policy;

pub use self::exec::execute;

/// The executable schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema's own settings: what resolvers and extensions read, whatever the transport.
#[derive(Debug, Clone)]
pub struct SchemaConfig {
    /// Depth, complexity, aliases, batch size, timeout, introspection.
    pub query_limits: QueryLimits,
    /// Rows per mutation call.
    pub batch_limits: BatchLimits,
    /// The metric catalog served as `metricCatalog`.
    pub catalog: std::sync::Arc<Catalog>,
    /// The retention policy, so reads can tell where full resolution starts.
    pub policy: Policy,
    /// Entries of the automatic persisted query cache (LRU, per instance).
    pub apq_capacity: usize,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        SchemaConfig {
            query_limits: QueryLimits::default(),
            batch_limits: BatchLimits::default(),
            catalog: Default::default(),
            policy: Policy::default(),
            apq_capacity: 4096,
        }
    }
}

/// Builds the schema. The connection, write limits, catalog and retention policy are
/// schema data (shared); loaders are per request (see [`execute`]). `apq_capacity` sizes
/// the instance's [`documents::Documents`], built beside the schema by the HTTP layer.
pub fn build_schema(db: DatabaseConnection, config: &SchemaConfig) -> AppSchema {
    let limits = config.query_limits;
    // No `.extension(...)`: any extension slows every field down; persisted queries and
    // document limits run per request instead (see `documents` and `http::pipeline`, and
    // `http::live` for subscriptions).
    let builder = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(db)
        .data(config.batch_limits)
        .data(config.catalog.clone())
        .data(config.policy)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if limits.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The SDL as committed in `schema.graphql`: fields, arguments and enum values sorted, so
/// diffs show real changes only.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .finish()
        .sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}

/// The instant a request is served at: "now" for every default in the request, so that
/// fifty `summary` fields without `at` share one key and one statement.
#[derive(Debug, Clone, Copy)]
pub struct RequestTime(pub DateTime<Utc>);

pub(crate) fn dataloader<'a>(ctx: &'a Context<'_>) -> &'a DataLoader<StoreLoader> {
    ctx.data_unchecked::<DataLoader<StoreLoader>>()
}

/// The primary: writes, and reads that must see them.
pub(crate) fn db<'a>(ctx: &'a Context<'_>) -> &'a DatabaseConnection {
    ctx.data_unchecked::<DatabaseConnection>()
}

/// The connection this request reads from: a replica for a read-only request when
/// replicas are configured, else the primary (see [`crate::replicas`]).
pub(crate) fn read_db<'a>(ctx: &'a Context<'_>) -> &'a DatabaseConnection {
    ctx.data_opt::<ReadConnection>().map_or_else(|| db(ctx), |r| &r.0)
}

/// The connection a request reads from, set per request by [`execute`].
pub(crate) struct ReadConnection(pub DatabaseConnection);

pub(crate) fn request_time(ctx: &Context<'_>) -> DateTime<Utc> {
    ctx.data_opt::<RequestTime>().map_or_else(Utc::now, |t| t.0)
}

/// What the request's token allows (full rights when auth is off).
pub(crate) fn principal(ctx: &Context<'_>) -> crate::auth::Principal {
    ctx.data_opt::<crate::auth::Principal>().cloned().unwrap_or_else(crate::auth::Principal::unrestricted)
}

/// Refuses a request whose token cannot read metrics.
pub(crate) fn require_read(ctx: &Context<'_>) -> crate::error::Result<crate::auth::Principal> {
    let p = principal(ctx);
    if !p.read {
        return Err(crate::error::ApiError::forbidden("the token's scope lacks `metrics:read`"));
    }
    Ok(p)
}
