//! The GraphQL schema: types, resolvers and dataloaders. Resolvers validate and translate
//! arguments, then load through [`loaders`]; they never run SQL themselves.
//!
//! # Layout
//! - [`project`]: `Query` and `Project` (merged from the per-shape modules below).
//! - [`summary`], [`trend`], [`breakdown`], [`drilldown`]: one module per query shape.
//! - [`loaders`]: one `Loader` per key type, one statement per group of keys.
//! - [`connection`], [`cursor`]: Relay pages and their opaque keyset cursors.
//! - [`args`]: argument validation and the bounds that keep latency predictable.

pub mod args;
pub mod breakdown;
pub mod catalog;
pub mod codes;
pub mod connection;
pub mod cursor;
pub mod drilldown;
pub mod exec;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod project;
pub mod summary;
pub mod trend;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, EmptySubscription, SDLExportOptions, Schema};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use self::loaders::StoreLoader;
use self::mutation::MutationRoot;
use self::project::QueryRoot;
use crate::server::ServerConfig;

pub use self::exec::execute;

/// The executable schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema. The connection, write limits, catalog and retention policy are
/// schema data (shared); loaders are per request (see [`execute`]).
pub fn build_schema(db: DatabaseConnection, config: &ServerConfig) -> AppSchema {
    let limits = config.query_limits;
    let apq = async_graphql::extensions::apollo_persisted_queries::ApolloPersistedQueries::new(
        async_graphql::extensions::apollo_persisted_queries::LruCacheStorage::new(config.apq_capacity.max(1)),
    );
    let builder = Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .extension(apq)
        .extension(limits::DocumentLimits(config.query_limits))
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
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .finish()
        .sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}

/// The instant a request is served at: "now" for every default in the request, so that
/// fifty `summary` fields without `at` share one key and one statement.
#[derive(Debug, Clone, Copy)]
pub struct RequestTime(pub DateTime<Utc>);

pub(crate) fn loader<'a>(ctx: &'a Context<'_>) -> &'a DataLoader<StoreLoader> {
    ctx.data_unchecked::<DataLoader<StoreLoader>>()
}

pub(crate) fn db<'a>(ctx: &'a Context<'_>) -> &'a DatabaseConnection {
    ctx.data_unchecked::<DatabaseConnection>()
}

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
