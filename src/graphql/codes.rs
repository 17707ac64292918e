//! Stable `extensions.code` on every error, including the ones async-graphql raises
//! before execution (syntax, validation, input coercion), so clients can switch on codes
//! alone.

use async_graphql::ServerError;

use crate::error::ErrorCode;

/// Gives each error without a code one:
/// - `GRAPHQL_PARSE_FAILED`: the document does not parse;
/// - `GRAPHQL_VALIDATION_FAILED`: it parses but is not valid against the schema (unknown
///   fields, fragment cycles, wrong variable types, bad literal values);
/// - `BAD_USER_INPUT`: an error at a field path without a code (an input the field could
///   not accept).
pub fn assign(errors: &mut [ServerError], query: &str) {
    if errors.iter().all(has_code) {
        return;
    }
    let parses = async_graphql::parser::parse_query(query).is_ok();
    for e in errors.iter_mut().filter(|e| !has_code(e)) {
        let code = if !e.path.is_empty() {
            ErrorCode::BadUserInput
        } else if parses {
            ErrorCode::GraphqlValidationFailed
        } else {
            ErrorCode::GraphqlParseFailed
        };
        code.set_on(e);
    }
}

fn has_code(e: &ServerError) -> bool {
    e.extensions.as_ref().is_some_and(|x| x.get("code").is_some())
}
