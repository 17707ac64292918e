//! The `extensions.code` values: a contract with clients, who switch on them, so they are
//! a type. Every path that sets a code goes through [`ErrorCode`]; adding a variant is a
//! change to the contract (document it in `docs/FRONTEND.md`).

use async_graphql::ErrorExtensions;

/// A stable error code, as it appears in `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An argument or input value the API cannot serve; the message names it.
    BadUserInput,
    /// The token does not allow this (another project, or a missing scope).
    Forbidden,
    /// No valid bearer token where one is required.
    Unauthenticated,
    /// The database cannot be reached; retry later.
    ServiceUnavailable,
    /// Anything else that went wrong inside: logged, never shown.
    InternalServerError,
    /// A query limit (depth, complexity, aliases, root fields, batch size) was exceeded.
    LimitExceeded,
    /// The request took longer than the request timeout.
    Timeout,
    /// Not a GraphQL request (bad JSON, a mutation over GET, ...).
    BadRequest,
    /// The request body is over the size limit.
    PayloadTooLarge,
    /// The document does not parse.
    GraphqlParseFailed,
    /// The document parses but is not valid against the schema.
    GraphqlValidationFailed,
    /// The Apollo persisted-query protocol: resend the query with its hash.
    PersistedQueryNotFound,
}

impl ErrorCode {
    /// Every code, for documentation tests.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::BadUserInput,
        ErrorCode::Forbidden,
        ErrorCode::Unauthenticated,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalServerError,
        ErrorCode::LimitExceeded,
        ErrorCode::Timeout,
        ErrorCode::BadRequest,
        ErrorCode::PayloadTooLarge,
        ErrorCode::GraphqlParseFailed,
        ErrorCode::GraphqlValidationFailed,
        ErrorCode::PersistedQueryNotFound,
    ];

    /// The string clients see.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalServerError => "INTERNAL_SERVER_ERROR",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
        }
    }

    /// A GraphQL error with this code, for errors raised inside execution.
    pub fn error(self, message: impl Into<String>) -> async_graphql::Error {
        async_graphql::Error::new(message).extend_with(|_, e| e.set("code", self.as_str()))
    }

    /// A request-level error with this code (outside execution: auth, limits, timeout).
    pub fn server_error(self, message: impl Into<String>) -> async_graphql::ServerError {
        self.error(message).into_server_error(async_graphql::Pos::default())
    }

    /// Sets this code on an error's extensions.
    pub fn set_on(self, e: &mut async_graphql::ServerError) {
        e.extensions.get_or_insert_with(Default::default).set("code", self.as_str());
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_screaming_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'), "{s}");
        }
    }

    #[test]
    fn error_carries_the_code() {
        let e = ErrorCode::Timeout.server_error("slow");
        let ext = e.extensions.expect("extensions");
        assert_eq!(ext.get("code"), Some(&async_graphql::Value::from("TIMEOUT")));
    }
}
