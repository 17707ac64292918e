//! metrics-api: a GraphQL API that serves a metrics read model to dashboards.
//!
//! The read model (`docs`/the spec: summary snapshots, trend points, breakdown points,
//! drilldown rows) lives in PostgreSQL or an embedded SQLite file. Requests flow
//! HTTP → [`http`] → [`graphql`] resolvers → dataloaders → [`store`] (one batched,
//! indexed statement per field shape) → post-processing in Rust ([`series`]).
//!
//! From a GraphQL field to its SQL in two hops: `graphql/<shape>/mod.rs` (the resolver)
//! builds a key of `graphql/<shape>/loader.rs`, whose loader calls `store/<shape>.rs`.
//!
//! # Layout
//! - [`cli`]: the command line (`cli::args`, clap, defaults read from the domain types)
//!   and what each subcommand does (`serve`, `migrate`, `schema`, `seed-demo`, `ingest`).
//! - [`http`]: the thin HTTP layer: router, handlers, the request pipeline, caching,
//!   health and metrics endpoints.
//! - [`web`]: what a browser sees: the dashboard at `/`, GraphiQL, their embedded assets.
//! - [`graphql`]: schema and its settings, one folder per shape (resolvers, types,
//!   loader), the batching driver, cursors, argument checks, limits.
//! - [`auth`]: JWT bearer tokens scoped to projects, and what they allow.
//! - [`store`]: every SQL statement; no GraphQL types.
//! - [`db`]: opening either backend, pool settings, the statement counter.
//! - [`replicas`]: read replicas, their background health and lag checks, read routing.
//! - [`advisory`]: PostgreSQL advisory locks, so one instance at a time runs retention.
//! - [`ingest`]: the write side: validated, idempotent, all-or-nothing batch upserts.
//! - [`live`]: live updates: what each committed batch changed, delivered to
//!   subscriptions across instances (PostgreSQL `NOTIFY`/`LISTEN`, SQLite in-process).
//! - [`retention`]: the retention and downsampling job (spec section 5): exact folding of
//!   late and corrected points, and the schedule `serve` runs it on.
//! - [`catalog`]: the metric catalog (aggregation per metric key, unit, description).
//! - [`identity`]: deterministic UUIDv5 row ids and canonical JSON.
//! - [`buckets`]: UTC bucket arithmetic per grain.
//! - [`series`]: gap filling and shares, pure functions.
//! - [`json`]: PostgreSQL-compatible JSON containment.
//! - [`demo`]: the deterministic demo dataset.
//! - [`observe`]: Prometheus metrics, per-request statement counts.
//! - [`error`]: the API error type, its stable codes ([`error::ErrorCode`]) and every
//!   match on a dependency's message ([`error::upstream`]).

pub mod advisory;
pub mod auth;
pub mod buckets;
pub mod catalog;
pub mod cli;
pub mod db;
pub mod demo;
pub mod error;
pub mod graphql;
pub mod http;
pub mod identity;
pub mod ingest;
pub mod json;
pub mod live;
pub mod observe;
pub mod replicas;
pub mod retention;
pub mod series;
pub mod store;
pub mod web;
