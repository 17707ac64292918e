//! `schema.graphql` is a contract: it must equal what the server serves, and every type,
//! field, argument and enum value in it must be documented.

use crate::common::TestApp;
use serde_json::{json, Value};

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");

#[test]
fn schema_graphql_is_current() {
    let sdl = metrics_api::graphql::sdl();
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    if committed != sdl {
        std::fs::write(SCHEMA_FILE, &sdl).expect("rewrite schema.graphql");
        panic!("schema.graphql was out of date and has been rewritten: review the diff and commit it");
    }
}

#[test]
fn schema_command_prints_the_committed_sdl() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api")).arg("schema").output().expect("run binary");
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), metrics_api::graphql::sdl());
}

const INTROSPECTION: &str = r#"{ __schema { types { name kind description
    fields(includeDeprecated: true) { name description args { name description } }
    inputFields { name description }
    enumValues(includeDeprecated: true) { name description } } } }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_field_and_argument_is_documented() {
    let app = TestApp::sqlite().await;
    let data = app.data(INTROSPECTION, json!({})).await;
    let builtin = ["String", "Int", "Float", "Boolean", "ID"];
    let mut missing = Vec::new();
    let blank = |v: &Value| v.as_str().is_none_or(|s| s.trim().is_empty());
    for ty in data["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || builtin.contains(&name) {
            continue;
        }
        if blank(&ty["description"]) {
            missing.push(name.to_owned());
        }
        for f in ty["fields"].as_array().into_iter().flatten() {
            let field = format!("{name}.{}", f["name"].as_str().unwrap());
            if blank(&f["description"]) {
                missing.push(field.clone());
            }
            for a in f["args"].as_array().into_iter().flatten() {
                if blank(&a["description"]) {
                    missing.push(format!("{field}({})", a["name"].as_str().unwrap()));
                }
            }
        }
        for key in ["inputFields", "enumValues"] {
            for v in ty[key].as_array().into_iter().flatten() {
                if blank(&v["description"]) {
                    missing.push(format!("{name}.{}", v["name"].as_str().unwrap()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
    app.finish().await;
}
