//! Query limits: what one request may ask for, checked before any SQL runs.
//!
//! Depth and complexity are async-graphql's own checks (complexity weights each list and
//! connection by its page size or bucket count, see the `complexity` of each field);
//! aliases and root fields are counted here on the parsed document, which the HTTP
//! pipeline checks for every request after persisted queries are resolved (so a query
//! sent by hash meets the same limits); batch size in the HTTP layer too. Each
//! refusal names the limit and its value, with `extensions.code = "LIMIT_EXCEEDED"`.

use std::time::Duration;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, Positioned, ServerError};
use chrono::{DateTime, Utc};

use super::grain::GrainArg;
use crate::buckets;
use crate::error::{upstream, ErrorCode};

/// The limits of one request; every one configurable, with a default that serves real
/// dashboards with room to spare.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Nesting depth (a dashboard is about 7 deep; GraphiQL's introspection query 13).
    pub max_depth: usize,
    /// Complexity: fields, with lists weighted by page size and trends by bucket count.
    /// A 50-project dashboard of 30-day trends is about 12,000.
    pub max_complexity: usize,
    /// Aliased fields in a document: an alias bomb asks for the same field thousands of
    /// times.
    pub max_aliases: usize,
    /// Fields at the root of an operation.
    pub max_root_fields: usize,
    /// Requests in one batched (JSON array) request.
    pub max_batch: usize,
    /// Time a request may take; past it the answer is `TIMEOUT`.
    pub timeout: Duration,
    /// Whether `__schema`/`__type` may be queried (turn off in production if wanted).
    pub introspection: bool,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_depth: 20,
            max_complexity: 50_000,
            max_aliases: 256,
            max_root_fields: 50,
            max_batch: 10,
            timeout: Duration::from_secs(10),
            introspection: true,
        }
    }
}

/// A `LIMIT_EXCEEDED` error naming the limit.
pub fn exceeded(limit: &str, value: usize, message: String) -> ServerError {
    ErrorCode::LimitExceeded
        .error(message)
        .extend_with(|_, ext| {
            ext.set("limit", limit);
            ext.set("max", value as u64);
        })
        .into_server_error(Default::default())
}

fn count_selections(set: &Positioned<SelectionSet>, doc: &ExecutableDocument, depth: usize, aliases: &mut usize) {
    // Fragments are counted where they are spread; cycles are refused by validation, and
    // the depth guard keeps this walk finite whatever the input.
    if depth > 64 {
        return;
    }
    for sel in &set.node.items {
        match &sel.node {
            Selection::Field(f) => {
                if f.node.alias.is_some() {
                    *aliases += 1;
                }
                count_selections(&f.node.selection_set, doc, depth + 1, aliases);
            }
            Selection::InlineFragment(i) => count_selections(&i.node.selection_set, doc, depth + 1, aliases),
            Selection::FragmentSpread(s) => {
                if let Some(frag) = doc.fragments.get(&s.node.fragment_name.node) {
                    count_selections(&frag.node.selection_set, doc, depth + 1, aliases);
                }
            }
        }
    }
}

/// Checks aliases and root fields of a parsed query document.
pub fn check_document(doc: &ExecutableDocument, limits: &QueryLimits) -> Result<(), ServerError> {
    for (_, op) in doc.operations.iter() {
        let roots = op.node.selection_set.node.items.len();
        if roots > limits.max_root_fields {
            return Err(exceeded(
                "max_root_fields",
                limits.max_root_fields,
                format!(
                    "the operation has {roots} root fields; the limit (max_root_fields) is {}",
                    limits.max_root_fields
                ),
            ));
        }
        let mut aliases = 0;
        count_selections(&op.node.selection_set, doc, 0, &mut aliases);
        if aliases > limits.max_aliases {
            return Err(exceeded(
                "max_aliases",
                limits.max_aliases,
                format!(
                    "the operation has {aliases} aliased fields; the limit (max_aliases) is {}",
                    limits.max_aliases
                ),
            ));
        }
    }
    Ok(())
}

/// Rewrites async-graphql's depth and complexity refusals so they name the limit.
pub fn name_limit_errors(errors: &mut [ServerError], limits: &QueryLimits) {
    for e in errors.iter_mut() {
        let named = if upstream::is_depth_limit(&e.message) {
            Some(exceeded(
                "max_depth",
                limits.max_depth,
                format!("the query is nested deeper than the limit (max_depth) of {}", limits.max_depth),
            ))
        } else if upstream::is_complexity_limit(&e.message) {
            Some(exceeded(
                "max_complexity",
                limits.max_complexity,
                format!(
                    "the query's complexity is over the limit (max_complexity) of {}: lists count by page size and trends by buckets; ask for fewer items",
                    limits.max_complexity
                ),
            ))
        } else {
            None
        };
        if let Some(n) = named {
            *e = n;
        }
    }
}

/// The complexity weight of a bucketed field: its bucket count (at least 1), so a
/// 90-day hourly trend weighs 2,160 times its points' fields. Capped at the bucket limit:
/// a longer range is refused by the field itself, with `BAD_USER_INPUT` naming `from`/`to`.
pub fn buckets_cost(grain: &GrainArg, from: &DateTime<Utc>, to: &DateTime<Utc>) -> usize {
    let n = buckets::count((*grain).into(), *from, *to).unwrap_or(i64::MAX).clamp(1, super::args::MAX_BUCKETS);
    n as usize
}

/// The complexity weight of a page: its size (at least 1).
pub fn page_cost(first: i32) -> usize {
    first.clamp(1, 10_000) as usize
}
