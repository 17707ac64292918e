//! Bad argument and variable values, said one way: `BAD_USER_INPUT`, naming the argument,
//! the variable it came from, the value and the expected format.
//!
//! Why: async-graphql reports a bad input value in three shapes, depending on which of its
//! phases notices it: validation (`Invalid value for argument "first", expected type
//! "Int"`, at the argument), a complexity function parsing the arguments it weighs
//! (`Failed to parse "DateTime": ...`, at the field) or a resolver parsing its own
//! (`Failed to parse "UUID": ...`, at the value). The first two came out as codeless
//! validation errors, the last as a field error, and none named the variable or the
//! format. The message shapes are the dependency's: they are matched here and nowhere
//! else, one test each, so an upgrade that changes one fails loudly.

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{Name, Pos, Positioned, ServerError, Variables};
use async_graphql_value::{ConstValue, Value};

use crate::error::{upstream, ErrorCode};

/// Where an error about an input value points: the argument (its name or its value), the
/// field whose complexity parsed it, or a variable's definition.
enum Place<'d> {
    Argument(&'d Positioned<Field>, &'d Name, &'d Value),
    Field(&'d Positioned<Field>),
    Variable(&'d Name),
}

fn place(doc: &ExecutableDocument, pos: Pos) -> Option<Place<'_>> {
    let mut sets: Vec<&Positioned<SelectionSet>> =
        doc.operations.iter().map(|(_, op)| &op.node.selection_set).collect();
    sets.extend(doc.fragments.values().map(|f| &f.node.selection_set));
    while let Some(set) = sets.pop() {
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    if field.pos == pos {
                        return Some(Place::Field(field));
                    }
                    if let Some((name, value)) = field.node.arguments.iter().find(|(n, v)| n.pos == pos || v.pos == pos)
                    {
                        return Some(Place::Argument(field, &name.node, &value.node));
                    }
                    sets.push(&field.node.selection_set);
                }
                Selection::InlineFragment(f) => sets.push(&f.node.selection_set),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    doc.operations
        .iter()
        .flat_map(|(_, op)| op.node.variable_definitions.iter())
        .find(|d| d.pos == pos || d.node.name.pos == pos)
        .map(|d| Place::Variable(&d.node.name.node))
}

/// How a value of `type_name` is written, for the message.
pub fn format_of(type_name: &str, registry: &Registry) -> String {
    match type_name {
        "DateTime" => "an RFC 3339 date-time with an offset, e.g. \"2026-01-01T00:00:00Z\"".into(),
        "UUID" => "a UUID, e.g. \"01950000-0000-7000-8000-000000000001\"".into(),
        "Int" => "an integer from -2147483648 to 2147483647".into(),
        "Float" => "a number".into(),
        "String" => "a string".into(),
        "Boolean" => "true or false".into(),
        "JSON" => "a JSON value".into(),
        other => match registry.types.get(other) {
            Some(MetaType::Enum { enum_values, .. }) => {
                format!("one of {}", enum_values.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
            }
            Some(MetaType::InputObject { input_fields, .. }) => format!(
                "an object with the fields {}",
                input_fields.values().map(|f| format!("{}: {}", f.name, f.ty)).collect::<Vec<_>>().join(", ")
            ),
            _ => format!("a value of type {other}"),
        },
    }
}

/// Whether `value` is a valid `type_name` (`None`: cannot tell here).
fn valid(type_name: &str, value: &ConstValue, registry: &Registry) -> Option<bool> {
    let ok = match (type_name, value) {
        (_, ConstValue::Null) => return None,
        (_, ConstValue::List(items)) => {
            return items
                .iter()
                .map(|v| valid(type_name, v, registry))
                .find(|v| *v == Some(false))
                .unwrap_or(Some(true))
        }
        ("DateTime", ConstValue::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        ("UUID", ConstValue::String(s)) => uuid::Uuid::parse_str(s).is_ok(),
        ("DateTime" | "UUID", _) => false,
        ("Int", ConstValue::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        ("Int", _) => false,
        (other, v) => match registry.types.get(other) {
            Some(MetaType::Enum { enum_values, .. }) => match v {
                ConstValue::Enum(n) => enum_values.contains_key(n.as_str()),
                ConstValue::String(s) => enum_values.contains_key(s.as_str()),
                _ => false,
            },
            _ => return None,
        },
    };
    Some(ok)
}

/// A written value with its variables replaced by what the request gave.
fn resolved(value: &Value, variables: &Variables) -> Option<ConstValue> {
    value.clone().into_const_with(|name| variables.get(&name).cloned().ok_or(())).ok()
}

/// Whether some field named `field` takes an argument `arg` of the named type `expected`
/// (a complexity error names the field, not its parent type).
fn declared_as(registry: &Registry, field: &str, arg: &str, expected: &str) -> bool {
    registry
        .types
        .values()
        .filter_map(|t| t.field_by_name(field))
        .any(|f| f.args.get(arg).is_some_and(|a| a.ty.trim_matches(|c| c == '[' || c == ']' || c == '!') == expected))
}

/// The argument a complexity-phase error is about: the first of the field's arguments
/// declared as `expected` whose value is not a valid one.
fn invalid_argument<'d>(
    field: &'d Positioned<Field>,
    expected: &str,
    variables: &Variables,
    registry: &Registry,
) -> Option<(&'d Name, &'d Value)> {
    field
        .node
        .arguments
        .iter()
        .filter(|(n, _)| declared_as(registry, field.node.name.node.as_str(), n.node.as_str(), expected))
        .find(|(_, v)| resolved(&v.node, variables).is_some_and(|c| valid(expected, &c, registry) == Some(false)))
        .map(|(n, v)| (&n.node, &v.node))
}

/// The message for a bad value of `arg` on `field`.
fn argument_message(field: &str, arg: &str, value: &Value, variables: &Variables, format: &str) -> String {
    match value {
        Value::Variable(var) => format!(
            "variable `${var}` (argument `{arg}` of `{field}`) is {}: expected {format}",
            shown(variables.get(var))
        ),
        literal => format!("argument `{arg}` of `{field}` is {literal}: expected {format}"),
    }
}

/// Rewrites every bad-input-value error of `errors` into a `BAD_USER_INPUT` error that
/// names the argument, the variable, the value and the format, then drops the duplicates
/// (validation and a complexity function may both report one value). Other errors are
/// left as they are.
pub fn explain(errors: &mut Vec<ServerError>, doc: &ExecutableDocument, variables: &Variables, registry: &Registry) {
    let mut explained = Vec::new();
    for e in errors.iter_mut() {
        let Some(expected) = upstream::bad_input_type(&e.message).map(str::to_owned) else { continue };
        let Some(pos) = e.locations.first().copied() else { continue };
        let format = format_of(&expected, registry);
        let message = match place(doc, pos) {
            Some(Place::Argument(field, arg, value)) => {
                argument_message(field.node.name.node.as_str(), arg, value, variables, &format)
            }
            Some(Place::Field(field)) => match invalid_argument(field, &expected, variables, registry) {
                Some((arg, value)) => argument_message(field.node.name.node.as_str(), arg, value, variables, &format),
                None => {
                    format!("an argument of `{}` is not a valid {expected}: expected {format}", field.node.name.node)
                }
            },
            Some(Place::Variable(var)) => {
                format!("variable `${var}` is {}: expected {format}", shown(variables.get(var)))
            }
            None => continue,
        };
        e.message = message;
        ErrorCode::BadUserInput.set_on(e);
        explained.push(e.message.clone());
    }
    // The same value reported twice (validation, then a complexity function) is said once.
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| !explained.contains(&e.message) || seen.insert(e.message.clone()));
}

fn shown(value: Option<&ConstValue>) -> String {
    match value {
        None => "not provided".into(),
        Some(v) => v.to_string(),
    }
}
