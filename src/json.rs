//! JSON helpers shared by the store and the API: PostgreSQL's containment (`@>`) as a
//! pure function, so SQLite answers exactly as PostgreSQL does.

use serde_json::Value;

/// Whether `outer` contains `inner` in the sense of PostgreSQL's `jsonb @> jsonb`: every
/// key of an inner object is in the outer object with a contained value, every element of
/// an inner array is contained in some element of the outer array, scalars are equal.
pub fn contains(outer: &Value, inner: &Value) -> bool {
    match (outer, inner) {
        (Value::Object(o), Value::Object(i)) => i.iter().all(|(k, iv)| o.get(k).is_some_and(|ov| contains(ov, iv))),
        (Value::Array(o), Value::Array(i)) => i.iter().all(|iv| o.iter().any(|ov| contains(ov, iv))),
        // PostgreSQL: a top-level array contains a bare scalar it holds.
        (Value::Array(o), scalar) if !scalar.is_object() && !scalar.is_array() => o.iter().any(|ov| ov == scalar),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_follows_postgres() {
        let d = json!({"team": "a", "gate": "lint", "tags": ["x", "y"], "n": {"k": 1}});
        assert!(contains(&d, &json!({})));
        assert!(contains(&d, &json!({"team": "a"})));
        assert!(contains(&d, &json!({"team": "a", "tags": ["y"]})));
        assert!(contains(&d, &json!({"n": {}})));
        assert!(!contains(&d, &json!({"team": "b"})));
        assert!(!contains(&d, &json!({"owner": "a"})));
        assert!(!contains(&d, &json!({"tags": ["z"]})));
        assert!(contains(&json!({"v": 1.0}), &json!({"v": 1})));
    }
}
