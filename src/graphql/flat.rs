//! Lists of leaf-only objects (trend points, comparison points) resolved without a future
//! per item and per field.
//!
//! Why: async-graphql resolves every object of a list as its own future, and every field
//! of it through the generic container path (a context, a path node, a boxed future, an
//! `IndexMap` insert). A 90-day hourly trend is 2,160 objects; a 50-project dashboard
//! several thousand. For objects whose fields are all leaves (scalars and enums, no
//! arguments, nothing that can fail), the selection set is the same for every item: it is
//! collected once per list, then each item's selected fields are written directly.
//!
//! The list type registers exactly as `[T!]!`, so the schema does not change. What the
//! normal path honours is honoured here: aliases, repeated fields (merged, first position
//! kept), inline fragments and fragment spreads with their type conditions, `__typename`.
//! `@skip`/`@include` are applied by async-graphql to the document before execution. The
//! tests below run the same queries through this path and the normal `Vec<T>` path and
//! require identical answers.

use std::borrow::Cow;

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};

/// An object whose fields are all leaves, readable by name.
pub trait LeafObject: OutputType {
    /// The value of the field named `name` (its GraphQL name), as the normal path would
    /// write it; `None` for a name the type does not have.
    fn field(&self, name: &str) -> Option<Value>;
}

/// A list of leaf objects, served as `[T!]!`.
#[derive(Debug, Clone, Default)]
pub struct LeafList<T>(pub Vec<T>);

impl<T> From<Vec<T>> for LeafList<T> {
    fn from(v: Vec<T>) -> Self {
        LeafList(v)
    }
}

/// Fragments nest at most this deep in practice; deeper (cyclic ones are refused by
/// validation) stops the walk rather than recursing without bound.
const MAX_FRAGMENT_DEPTH: usize = 32;

/// The `(response key, field name)` pairs a selection set asks of type `type_name`, in
/// order, each key once.
fn collect(
    ctx: &ContextSelectionSet<'_>,
    set: &SelectionSet,
    type_name: &str,
    out: &mut Vec<(Name, Name)>,
    depth: usize,
) {
    if depth > MAX_FRAGMENT_DEPTH {
        return;
    }
    let applies = |cond: Option<&Name>| cond.is_none_or(|c| c.as_str() == type_name);
    for sel in &set.items {
        match &sel.node {
            Selection::Field(f) => {
                let key = f.node.response_key().node.clone();
                if !out.iter().any(|(k, _)| *k == key) {
                    out.push((key, f.node.name.node.clone()));
                }
            }
            Selection::InlineFragment(i) => {
                if applies(i.node.type_condition.as_ref().map(|c| &c.node.on.node)) {
                    collect(ctx, &i.node.selection_set.node, type_name, out, depth + 1);
                }
            }
            Selection::FragmentSpread(s) => {
                if let Some(frag) = ctx.query_env.fragments.get(&s.node.fragment_name.node) {
                    if applies(Some(&frag.node.type_condition.node.on.node)) {
                        collect(ctx, &frag.node.selection_set.node, type_name, out, depth + 1);
                    }
                }
            }
        }
    }
}

impl<T: LeafObject> OutputType for LeafList<T> {
    fn type_name() -> Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        let type_name = T::type_name();
        let mut selected = Vec::new();
        collect(ctx, &ctx.item.node, &type_name, &mut selected, 0);
        let items = self
            .0
            .iter()
            .map(|item| {
                let fields = selected.iter().map(|(key, name)| {
                    let v = match name.as_str() {
                        "__typename" => Value::String(type_name.to_string()),
                        n => item.field(n).unwrap_or(Value::Null),
                    };
                    (key.clone(), v)
                });
                Value::Object(fields.collect())
            })
            .collect();
        Ok(Value::List(items))
    }
}

/// The value of an optional leaf as the normal path writes it.
pub fn opt<T>(v: &Option<T>, f: impl Fn(&T) -> Value) -> Value {
    v.as_ref().map_or(Value::Null, f)
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, Variables};
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::LeafList;
    use crate::graphql::grain::GrainArg;
    use crate::graphql::trend::types::{ComparisonPoint, TrendPoint};

    fn points() -> Vec<TrendPoint> {
        (0..40)
            .map(|i| TrendPoint {
                bucket: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(i),
                value: match i % 4 {
                    0 => None,
                    1 => Some(f64::NAN),
                    _ => Some(i as f64 / 3.0),
                },
                value_json: (i % 3 == 0).then(|| async_graphql::Json(json!({"v": i, "s": "a\"b"}))),
                dimensions: async_graphql::Json(json!({"team": "web"})),
                computed_at: (i % 2 == 0).then(|| Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()),
                filled: i % 5 == 0,
                grain: if i % 7 == 0 { GrainArg::Week } else { GrainArg::Hour },
                downsampled_from: (i % 7 == 0).then_some(GrainArg::Day),
            })
            .collect()
    }

    fn comparison() -> Vec<ComparisonPoint> {
        points()
            .into_iter()
            .map(|p| ComparisonPoint {
                bucket: p.bucket,
                aligned_bucket: p.bucket + chrono::Duration::days(7),
                value: p.value,
                value_json: p.value_json,
                computed_at: p.computed_at,
                filled: p.filled,
            })
            .collect()
    }

    struct Query;

    #[Object]
    impl Query {
        async fn fast(&self) -> LeafList<TrendPoint> {
            LeafList(points())
        }
        async fn slow(&self) -> Vec<TrendPoint> {
            points()
        }
        async fn fast_cmp(&self) -> LeafList<ComparisonPoint> {
            LeafList(comparison())
        }
        async fn slow_cmp(&self) -> Vec<ComparisonPoint> {
            comparison()
        }
    }

    const TREND: (&str, &str) = ("fast", "slow");
    const CMP: (&str, &str) = ("fastCmp", "slowCmp");

    /// Runs `selection` on the leaf list and on the normal list of the same items, and
    /// requires the same bytes.
    async fn both((fast, slow): (&str, &str), selection: &str, fragments: &str, vars: serde_json::Value) {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let mut vars_decl: Vec<&str> = Vec::new();
        if selection.contains("$yes") {
            vars_decl.push("$yes: Boolean = true");
        }
        if selection.contains("$no") {
            vars_decl.push("$no: Boolean = false");
        }
        let header = if vars_decl.is_empty() { String::new() } else { format!("({})", vars_decl.join(", ")) };
        let run = |field: &str| {
            let q = format!("query{header} {{ {field} {selection} }} {fragments}");
            async_graphql::Request::new(q).variables(Variables::from_json(vars.clone()))
        };
        let f = schema.execute(run(fast)).await;
        let s = schema.execute(run(slow)).await;
        assert!(f.errors.is_empty() && s.errors.is_empty(), "{:?} {:?}", f.errors, s.errors);
        let f = serde_json::to_string(&f.data.into_json().unwrap()[fast]).unwrap();
        let s = serde_json::to_string(&s.data.into_json().unwrap()[slow]).unwrap();
        assert!(f.len() > 100, "a real answer: {f}");
        assert_eq!(f, s, "selection {selection} {fragments}");
    }

    #[tokio::test]
    async fn answers_like_the_normal_path() {
        let none = json!({});
        both(TREND, "{ bucket value filled }", "", none.clone()).await;
        both(TREND, "{ bucket value valueJson computedAt filled }", "", none.clone()).await;
        both(TREND, "{ dimensions grain downsampledFrom valueJson }", "", none.clone()).await;
        both(CMP, "{ bucket alignedBucket value valueJson computedAt filled }", "", none.clone()).await;
        // Aliases, repeats and __typename.
        let aliased = "{ b: bucket value v2: value bucket __typename t: __typename value }";
        both(TREND, aliased, "", none.clone()).await;
        both(CMP, aliased, "", none.clone()).await;
        // @skip / @include, literal and by variable.
        let directives =
            "{ bucket @skip(if: true) value @include(if: $yes) filled @include(if: $no) computedAt @skip(if: $no) }";
        both(TREND, directives, "", none.clone()).await;
        both(TREND, "{ bucket value @skip(if: $yes) }", "", json!({"yes": false})).await;
        both(TREND, "{ ...@include(if: $no) { bucket } value }", "", none.clone()).await;
        // Fragments: inline with and without a type condition, named and nested.
        let frags = "fragment P on TrendPoint { grain ...Q } fragment Q on TrendPoint { b: bucket dimensions }";
        both(TREND, "{ ... on TrendPoint { bucket } ... { value } ...P filled }", frags, none.clone()).await;
        both(
            CMP,
            "{ ... on ComparisonPoint { alignedBucket bucket } value ...C }",
            "fragment C on ComparisonPoint { filled }",
            none,
        )
        .await;
    }
}
