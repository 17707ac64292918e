//! One error type at the edge of the API, with stable `extensions.code` values.
//!
//! Internal failures (database errors) are logged where they are converted and reach the
//! client only as a code and a generic message: a raw `DbErr` message could leak table
//! names, SQL or connection details. Resolvers never `?` a `DbErr` directly (async-graphql
//! would turn its `Display` into the client message); they go through [`ApiError`].
//!
//! - [`codes`]: the `extensions.code` values as a type ([`ErrorCode`]).
//! - [`upstream`]: every match on a dependency's message text, each with a test.

pub mod codes;
pub mod upstream;

use sea_orm::DbErr;

pub use self::codes::ErrorCode;
pub use self::upstream::is_unavailable;

/// An error the API reports to a client.
///
/// Deliberately not `Display`: async-graphql converts any `Display` type into an error
/// without a code, so a `?` on it would drop `extensions.code`. The only way out is the
/// `From<ApiError>` below, which always sets it.
#[derive(Debug)]
pub enum ApiError {
    /// The client sent an argument the API cannot serve; the message names it.
    BadUserInput(String),
    /// The token does not allow this (another project, or a missing scope).
    Forbidden(String),
    /// The database cannot be reached (pool exhausted or connection refused).
    Unavailable,
    /// Anything else that went wrong inside: logged, never shown.
    Internal,
    /// A refusal about one row of a write batch: `code` is `BAD_USER_INPUT` or
    /// `FORBIDDEN`, and `extensions` also carry the row index (and the field, when one
    /// field is at fault), so a compute job can point at the line to fix.
    Row { code: ErrorCode, message: String, row: usize, field: Option<String> },
}

impl ApiError {
    /// A bad argument: the message must name the argument.
    pub fn bad_input(message: impl Into<String>) -> Self {
        ApiError::BadUserInput(message.into())
    }

    /// The message shown to the client.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadUserInput(m) | ApiError::Forbidden(m) | ApiError::Row { message: m, .. } => m.clone(),
            ApiError::Unavailable => "the metrics database is unavailable; retry later".into(),
            ApiError::Internal => "internal error".into(),
        }
    }

    /// The stable code clients can switch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadUserInput(_) => ErrorCode::BadUserInput,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::Unavailable => ErrorCode::ServiceUnavailable,
            ApiError::Internal => ErrorCode::InternalServerError,
            ApiError::Row { code, .. } => *code,
        }
    }

    /// A refusal by the token's rights.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden(message.into())
    }

    /// Converts a database error, logging it: the client sees only the code.
    pub fn from_db(err: &DbErr) -> Self {
        if is_unavailable(err) {
            tracing::warn!(error = %err, "database unavailable");
            ApiError::Unavailable
        } else {
            tracing::error!(error = %err, "database error");
            ApiError::Internal
        }
    }
}

impl From<&DbErr> for ApiError {
    fn from(err: &DbErr) -> Self {
        ApiError::from_db(err)
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        ApiError::from_db(&err)
    }
}

impl From<std::sync::Arc<DbErr>> for ApiError {
    fn from(err: std::sync::Arc<DbErr>) -> Self {
        ApiError::from_db(&err)
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        use async_graphql::ErrorExtensions;
        let e = err.code().error(err.message());
        match err {
            ApiError::Row { row, field, .. } => e.extend_with(|_, ext| {
                ext.set("row", row as u64);
                if let Some(f) = &field {
                    ext.set("field", f.as_str());
                }
            }),
            _ => e,
        }
    }
}

/// Result of resolvers and API helpers.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;
