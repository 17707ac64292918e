//! The response as the GraphQL spec shapes it, on top of async-graphql's executor.
//!
//! Why: async-graphql 7.2.1 resolves an object's fields concurrently and inserts each one
//! into the response as it completes (`resolver_utils::container`), so key order follows
//! completion, not the request (spec 6.3, CollectFields): identical requests give
//! different bytes, ETags and snapshots. And a resolver error drops the field's key
//! instead of setting it to null and propagating that null up to the nearest nullable
//! field (spec 6.4.4, "Handling Field Errors"): a client holding partial data finds the
//! key missing although its generated types say it is there.
//!
//! [`shape`] runs after execution, on the parsed document the HTTP pipeline kept for
//! the request (not as an async-graphql extension: any extension slows every field, see
//! `documents`). It rebuilds `data` walking the operation's selection sets with the
//! schema's types: keys in request order, a failed field `null`, a `null` in a non-null
//! position propagated to the nearest nullable parent (or to `data` itself), and errors
//! ordered by where they occur in the document; bad input values are said one way first
//! ([`super::inputs`]). Values get their wire form on the way: `DateTime` in UTC with `Z`
//! (what JavaScript's `toISOString()` writes; inputs still take any offset) and no
//! negative zero (`-0.0` sums of nothing print as `-0`, which no client expects).

use std::sync::OnceLock;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, OutputType, PathSegment, Positioned, Response, SubscriptionType, Value, Variables};

use super::mutation::MutationRoot;
use super::project::QueryRoot;
use super::subscription::SubscriptionRoot;

/// The schema's types, built once: async-graphql keeps its own registry private, and the
/// types are the same for every instance.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::default();
        // `create_type_info` registers a type and everything it reaches, and returns its
        // name as a field type (`Query!`); the roots are named by `type_name`.
        QueryRoot::create_type_info(&mut r);
        MutationRoot::create_type_info(&mut r);
        r.query_type = QueryRoot::type_name().into_owned();
        r.mutation_type = Some(MutationRoot::type_name().into_owned());
        <SubscriptionRoot as SubscriptionType>::create_type_info(&mut r);
        r.subscription_type = Some(<SubscriptionRoot as SubscriptionType>::type_name().into_owned());
        r
    })
}

/// A request as it was executed: what [`shape`] needs of it.
pub struct Executed {
    pub document: std::sync::Arc<ExecutableDocument>,
    pub variables: Variables,
    pub operation_name: Option<String>,
}

/// Shapes one executed request's response (see the module doc).
pub fn shape_response(response: &mut Response, executed: &Executed) {
    let registry = registry();
    super::inputs::explain(&mut response.errors, &executed.document, &executed.variables, registry);
    shape(response, &executed.document, &executed.variables, executed.operation_name.as_deref(), registry);
}

/// Rebuilds `response.data` in request order with spec null propagation, and orders its
/// errors by their place in the document.
pub fn shape(
    response: &mut Response,
    doc: &ExecutableDocument,
    variables: &Variables,
    operation_name: Option<&str>,
    registry: &Registry,
) {
    response.errors.sort_by(|a, b| {
        let at = |e: &async_graphql::ServerError| e.locations.first().map(|p| (p.line, p.column));
        at(a).cmp(&at(b)).then_with(|| format!("{:?}", a.path).cmp(&format!("{:?}", b.path)))
    });
    let Some(operation) = operation(doc, operation_name) else { return };
    let root = match operation.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        OperationType::Subscription => registry.subscription_type.as_deref(),
    };
    let Some(root) = root else { return };
    let data = std::mem::take(&mut response.data);
    let Value::Object(map) = data else {
        // A request that failed before execution: nothing to shape.
        response.data = data;
        return;
    };
    let failed: Vec<&[PathSegment]> = response.errors.iter().map(|e| e.path.as_slice()).collect();
    let walk = Walk { doc, variables, registry, defaults: operation, failed: &failed, memo: Default::default() };
    let sets = [&operation.selection_set];
    response.data = walk.object(root, map, &sets, &mut Vec::new()).unwrap_or(Value::Null);
}

fn operation<'d>(doc: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    }
}

/// The state of one walk over a response.
struct Walk<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    registry: &'a Registry,
    /// The operation, for its variables' default values.
    defaults: &'a OperationDefinition,
    /// The paths of the field errors.
    failed: &'a [&'a [PathSegment]],
    /// Collected fields by object type and selection sets (see [`Walk::collected`]).
    memo: std::cell::RefCell<Vec<Memo<'a>>>,
}

/// One entry of [`Walk::memo`]: the type, the selection sets' addresses, their fields.
type Memo<'a> = (String, Vec<usize>, std::rc::Rc<Collected<'a>>);

/// The fields of one response key, from every selection set that selected it.
type Collected<'a> = IndexMap<Name, Vec<&'a Positioned<Field>>>;

impl<'a> Walk<'a> {
    /// [`Self::collect`] for an object type, computed once per type and selection sets:
    /// every item of a list has the same ones.
    fn collected(&self, type_name: &str, sets: &[&'a Positioned<SelectionSet>]) -> std::rc::Rc<Collected<'a>> {
        let ids: Vec<usize> = sets.iter().map(|s| *s as *const _ as usize).collect();
        let mut memo = self.memo.borrow_mut();
        if let Some((_, _, c)) = memo.iter().find(|(t, i, _)| t == type_name && *i == ids) {
            return c.clone();
        }
        let c = std::rc::Rc::new(self.collect(Some(type_name), sets));
        memo.push((type_name.to_owned(), ids, c.clone()));
        c
    }

    /// Spec CollectFields: the fields of `sets` that apply to `type_name`, grouped by
    /// response key in the order the request first names each key.
    /// `type_name` `None`: the type is unknown, every fragment applies.
    fn collect(&self, type_name: Option<&str>, sets: &[&'a Positioned<SelectionSet>]) -> Collected<'a> {
        let mut out = Collected::new();
        for set in sets {
            self.collect_into(type_name, set, &mut out, 0);
        }
        out
    }

    fn collect_into(
        &self,
        type_name: Option<&str>,
        set: &'a Positioned<SelectionSet>,
        out: &mut Collected<'a>,
        depth: usize,
    ) {
        // Fragment cycles are refused by validation; the bound keeps the walk finite anyway.
        if depth > 64 {
            return;
        }
        for selection in &set.node.items {
            if self.skipped(selection.node.directives()) {
                continue;
            }
            match &selection.node {
                Selection::Field(field) => {
                    out.entry(field.node.response_key().node.clone()).or_default().push(field);
                }
                Selection::InlineFragment(fragment) => {
                    let condition = fragment.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                    if self.applies(condition, type_name) {
                        self.collect_into(type_name, &fragment.node.selection_set, out, depth + 1);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let Some(fragment) = self.doc.fragments.get(&spread.node.fragment_name.node) else { continue };
                    if self.applies(Some(fragment.node.type_condition.node.on.node.as_str()), type_name) {
                        self.collect_into(type_name, &fragment.node.selection_set, out, depth + 1);
                    }
                }
            }
        }
    }

    /// Whether a fragment with this type condition applies to an object of `type_name`
    /// (every fragment applies to an object of unknown type).
    fn applies(&self, condition: Option<&str>, type_name: Option<&str>) -> bool {
        match (condition, type_name) {
            (None, _) | (_, None) => true,
            (Some(c), Some(t)) => c == t || self.registry.implements.get(t).is_some_and(|set| set.contains(c)),
        }
    }

    /// `@skip(if: true)` or `@include(if: false)`, with variables and their defaults.
    fn skipped(&self, directives: &[Positioned<async_graphql::parser::types::Directive>]) -> bool {
        directives.iter().any(|d| {
            let name = d.node.name.node.as_str();
            if name != "skip" && name != "include" {
                return false;
            }
            let value = d
                .node
                .get_argument("if")
                .and_then(|v| v.node.clone().into_const_with(|var| self.variable(&var).ok_or(())).ok());
            matches!((name, value), ("skip", Some(Value::Boolean(true))) | ("include", Some(Value::Boolean(false))))
        })
    }

    fn variable(&self, name: &Name) -> Option<Value> {
        self.variables.get(name).cloned().or_else(|| {
            self.defaults
                .variable_definitions
                .iter()
                .find(|d| &d.node.name.node == name)
                .and_then(|d| d.node.default_value().cloned())
        })
    }

    /// An object value of type `type_name` selected by `sets`; `None`: a non-null field
    /// inside it is null, so the object itself is null (and its parent decides further).
    fn object(
        &self,
        type_name: &str,
        mut resolved: IndexMap<Name, Value>,
        sets: &[&'a Positioned<SelectionSet>],
        path: &mut Vec<PathSegment>,
    ) -> Option<Value> {
        let meta = self.registry.types.get(type_name);
        let mut out = IndexMap::with_capacity(resolved.len());
        let collected = self.collected(type_name, sets);
        for (key, fields) in collected.iter() {
            let key = key.clone();
            let value = resolved.shift_remove(&key);
            let field_name = fields[0].node.name.node.as_str();
            let ty = field_type(meta, field_name);
            let child_sets: Vec<_> = fields.iter().map(|f| &f.node.selection_set).collect();
            // Paths only serve to find field errors: none, no path (a String per field).
            let tracked = !self.failed.is_empty();
            if tracked {
                path.push(PathSegment::Field(key.to_string()));
            }
            let completed = match ty {
                Some(ty) => self.value(ty, value, &child_sets, path),
                // Not in the registry (cannot happen for a validated document): keep the
                // value as resolved, in request order below it.
                None => Some(value.map(|v| self.untyped(v, &child_sets)).unwrap_or(Value::Null)),
            };
            if tracked {
                path.pop();
            }
            out.insert(key, completed?);
        }
        // Anything resolved but not selected (cannot happen either) is kept, not lost.
        out.extend(resolved);
        Some(Value::Object(out))
    }

    /// A value at a position of type `ty` (`None`: a resolver error left it absent).
    /// `None` back: a null in a non-null position, to propagate to the parent.
    fn value(
        &self,
        ty: &str,
        value: Option<Value>,
        sets: &[&'a Positioned<SelectionSet>],
        path: &mut Vec<PathSegment>,
    ) -> Option<Value> {
        match MetaTypeName::create(ty) {
            MetaTypeName::NonNull(inner) => match self.value(inner, value, sets, path)? {
                Value::Null => None,
                v => Some(v),
            },
            MetaTypeName::List(inner) => match value {
                Some(Value::List(items)) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.into_iter().enumerate() {
                        let tracked = !self.failed.is_empty();
                        if tracked {
                            path.push(PathSegment::Index(i));
                        }
                        let v = self.value(inner, Some(item), sets, path);
                        if tracked {
                            path.pop();
                        }
                        match v {
                            Some(v) => out.push(v),
                            // A null non-null item nulls the list (and its own type says
                            // whether that null goes further up).
                            None => return Some(Value::Null),
                        }
                    }
                    Some(Value::List(out))
                }
                Some(other) => Some(other),
                None => Some(Value::Null),
            },
            MetaTypeName::Named(name) if self.is_composite(name) => match value {
                Some(Value::Object(map)) => self.object(name, map, sets, path).or(Some(Value::Null)),
                // async-graphql answers null for an object all of whose selected fields
                // failed: it is an object, with those fields null.
                Some(Value::Null) if self.failed_below(path) => {
                    self.object(name, IndexMap::new(), sets, path).or(Some(Value::Null))
                }
                None | Some(Value::Null) => Some(Value::Null),
                Some(v) => Some(v),
            },
            MetaTypeName::Named(name) => match value {
                None | Some(Value::Null) => Some(Value::Null),
                Some(v) => Some(leaf(name, v)),
            },
        }
    }

    /// Whether a field error lies strictly below `path`.
    fn failed_below(&self, path: &[PathSegment]) -> bool {
        self.failed.iter().any(|p| p.len() > path.len() && p.starts_with(path))
    }

    fn is_composite(&self, name: &str) -> bool {
        self.registry.types.get(name).is_some_and(MetaType::is_composite)
    }

    /// A value whose type is unknown: objects keep the request's key order.
    fn untyped(&self, value: Value, sets: &[&'a Positioned<SelectionSet>]) -> Value {
        match value {
            Value::Object(mut map) => {
                let mut out = IndexMap::with_capacity(map.len());
                for (key, fields) in self.collect(None, sets) {
                    if let Some(v) = map.shift_remove(&key) {
                        let child: Vec<_> = fields.iter().map(|f| &f.node.selection_set).collect();
                        out.insert(key, self.untyped(v, &child));
                    }
                }
                out.extend(map);
                Value::Object(out)
            }
            Value::List(items) => Value::List(items.into_iter().map(|v| self.untyped(v, sets)).collect()),
            v => v,
        }
    }
}

/// The declared type of `field` on `parent` (the introspection roots are not in the
/// registry's fields).
fn field_type<'r>(parent: Option<&'r MetaType>, field: &str) -> Option<&'r str> {
    match field {
        "__typename" => Some("String!"),
        "__schema" => Some("__Schema!"),
        "__type" => Some("__Type"),
        _ => parent.and_then(|t| t.field_by_name(field)).map(|f| f.ty.as_str()),
    }
}

/// A leaf's wire form: `DateTime` in UTC with `Z`, floats without negative zero.
fn leaf(type_name: &str, value: Value) -> Value {
    match (type_name, value) {
        ("DateTime", Value::String(s)) => Value::String(utc_z(&s).unwrap_or(s)),
        (_, Value::Number(n)) => match n.as_f64() {
            Some(f) if f == 0.0 && f.is_sign_negative() => {
                serde_json::Number::from_f64(0.0).map_or(Value::Number(n), Value::Number)
            }
            _ => Value::Number(n),
        },
        (_, v) => v,
    }
}

/// RFC 3339 in UTC with `Z` (`2026-01-01T00:00:00Z`), keeping sub-second digits.
pub fn utc_z(text: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};
    use chrono::{DateTime, FixedOffset, Utc};
    use serde_json::{json, Value};

    struct Query;
    struct Node;

    #[Object]
    impl Node {
        async fn fast(&self) -> i32 {
            1
        }
        /// Completes after `fast`: without shaping it would come first.
        async fn slow(&self) -> i32 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            2
        }
        async fn fails(&self) -> async_graphql::Result<Option<i32>> {
            Err("boom".into())
        }
        async fn fails_non_null(&self) -> async_graphql::Result<i32> {
            Err("boom".into())
        }
        async fn when(&self) -> DateTime<Utc> {
            let t: DateTime<FixedOffset> = "2026-01-01T02:00:00.250+02:00".parse().expect("time");
            t.with_timezone(&Utc)
        }
        async fn nothing(&self) -> f64 {
            [0.0f64; 0].iter().sum()
        }
    }

    #[Object]
    impl Query {
        async fn node(&self) -> Option<Node> {
            Some(Node)
        }
        async fn strict(&self) -> Node {
            Node
        }
        async fn list(&self) -> Option<Vec<Node>> {
            Some(vec![Node, Node])
        }
    }

    async fn response(shaped: bool, query: &str) -> async_graphql::Response {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription).finish();
        let mut resp = schema.execute(Request::new(query)).await;
        if shaped {
            let doc = async_graphql::parser::parse_query(query).expect("parses");
            let mut registry = async_graphql::registry::Registry::default();
            <Query as async_graphql::OutputType>::create_type_info(&mut registry);
            registry.query_type = "Query".into();
            super::shape(&mut resp, &doc, &Default::default(), None, &registry);
        }
        resp
    }

    async fn run(shaped: bool, query: &str) -> Value {
        serde_json::to_value(response(shaped, query).await).expect("json")
    }

    /// The keys of the object at `path` in `data`, in response order (serde_json's own
    /// map would sort them).
    async fn keys(shaped: bool, query: &str, path: &[&str]) -> Vec<String> {
        let mut v = response(shaped, query).await.data;
        for p in path {
            let async_graphql::Value::Object(mut o) = v else { panic!("no object at {p}") };
            v = o.shift_remove(*p).expect("key");
        }
        let async_graphql::Value::Object(o) = v else { panic!("not an object") };
        o.keys().map(|k| k.to_string()).collect()
    }

    #[tokio::test]
    async fn fields_come_in_request_order() {
        let q = "{ node { slow fast } }";
        // async-graphql alone inserts by completion: `fast` first.
        assert_eq!(keys(false, q, &["node"]).await, ["fast", "slow"]);
        assert_eq!(keys(true, q, &["node"]).await, ["slow", "fast"]);
    }

    #[tokio::test]
    async fn aliases_fragments_and_skips_follow_collect_fields() {
        let q = "{ node { b: slow ... on Node { a: slow fast } ...F } } \
                 fragment F on Node { fast @skip(if: true) c: slow b: slow @include(if: false) }";
        assert_eq!(keys(true, q, &["node"]).await, ["b", "a", "fast", "c"]);
    }

    #[tokio::test]
    async fn a_failed_nullable_field_is_null_not_missing() {
        let q = "{ node { fast fails } }";
        let raw = run(false, q).await;
        assert!(raw["data"]["node"].get("fails").is_none(), "async-graphql alone drops the key: {raw}");
        let out = run(true, q).await;
        assert_eq!(out["data"], json!({"node": {"fast": 1, "fails": null}}));
        assert_eq!(out["errors"][0]["path"], json!(["node", "fails"]));
    }

    #[tokio::test]
    async fn a_failed_non_null_field_nulls_its_nearest_nullable_parent() {
        let out = run(true, "{ node { fast failsNonNull } }").await;
        assert_eq!(out["data"], json!({"node": null}), "{out}");
        assert_eq!(out["errors"][0]["path"], json!(["node", "failsNonNull"]));
        // Through a non-null parent to `data` itself.
        let out = run(true, "{ node { fast } strict { failsNonNull } }").await;
        assert_eq!(out["data"], Value::Null, "{out}");
        assert_eq!(out["errors"].as_array().map(Vec::len), Some(1));
        // A non-null list item nulls the (nullable) list.
        let out = run(true, "{ list { failsNonNull } node { fast } }").await;
        assert_eq!(out["data"], json!({"list": null, "node": {"fast": 1}}), "{out}");
    }

    #[tokio::test]
    async fn leaves_get_their_wire_form() {
        let out = run(true, "{ node { when nothing } }").await;
        assert_eq!(out["data"]["node"]["when"], "2026-01-01T00:00:00.250Z");
        let text = serde_json::to_string(&out).expect("json");
        assert!(text.contains(r#""nothing":0.0"#), "no negative zero: {text}");
    }

    #[tokio::test]
    async fn errors_are_ordered_by_place_in_the_document() {
        let q = "{ node { slowFail: fails } strict { fast } other: node { fails fast } }";
        let out = run(true, q).await;
        // An object whose only selected field failed is an object with that field null
        // (async-graphql alone answers `null` for it).
        assert_eq!(out["data"]["node"], json!({"slowFail": null}), "{out}");
        assert_eq!(out["data"]["other"], json!({"fails": null, "fast": 1}), "{out}");
        let paths: Vec<&Value> = out["errors"].as_array().expect("errors").iter().map(|e| &e["path"]).collect();
        assert_eq!(paths, [&json!(["node", "slowFail"]), &json!(["other", "fails"])], "{out}");
    }
}

#[cfg(test)]
mod registry_tests {
    #[test]
    fn the_registry_knows_the_roots_and_their_field_types() {
        let r = super::registry();
        assert_eq!(r.query_type, "Query");
        assert_eq!(r.mutation_type.as_deref(), Some("Mutation"));
        let trend = r.types.get("Project").and_then(|t| t.field_by_name("trend")).map(|f| f.ty.as_str());
        assert_eq!(trend, Some("TrendSeries"), "the per-project analytic fields are nullable");
    }
}
