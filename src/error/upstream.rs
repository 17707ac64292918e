//! Every place where behaviour depends on a dependency's message text, in one module.
//!
//! Why: async-graphql, axum and sqlx report some conditions only as text (async-graphql's
//! depth and complexity refusals, the body-limit rejection, sqlx's pool timeout and URL errors). The API turns them into stable codes,
//! so a dependency upgrade that rewords one would silently change what clients see. Each
//! match below has a test that provokes the real condition through the real dependency
//! and checks the match still recognises it: an upgrade that changes a text fails a test.

use sea_orm::DbErr;

/// async-graphql's refusal of a query deeper than `limit_depth` (and of a document that
/// exhausts its recursion guard).
pub fn is_depth_limit(message: &str) -> bool {
    matches!(message, "Query is nested too deep." | "recursion limit exceeded.")
}

/// async-graphql's refusal of a query over `limit_complexity`.
pub fn is_complexity_limit(message: &str) -> bool {
    message == "Query is too complex."
}

/// async-graphql's three reports of a bad input value, by the phase that noticed it:
/// validation (`Invalid value for argument "first", expected type "Int"`, or `...,
/// enumeration type "TimeGrain" does not contain the value "DAYS"`), and a complexity
/// function or a resolver parsing the argument (`Failed to parse "DateTime": ...`,
/// `Expected input type "Int", found "x".`). Returns the type the value should have had.
pub fn bad_input_type(message: &str) -> Option<&str> {
    let quoted_after = |prefix: &str| -> Option<&str> { message.split_once(prefix)?.1.split('"').next() };
    if message.starts_with("Invalid value for argument ") {
        return quoted_after("expected type \"")
            .or_else(|| quoted_after("enumeration type \""))
            .or_else(|| quoted_after("of type \""));
    }
    if message.starts_with("Failed to parse \"") {
        return quoted_after("Failed to parse \"");
    }
    if message.starts_with("Expected input type \"") {
        return quoted_after("Expected input type \"");
    }
    None
}

/// A request body cut off by `RequestBodyLimitLayer`, as the GraphQL extractor reports it.
pub fn is_body_too_large(rejection: &str) -> bool {
    rejection.contains("length limit")
}

/// A database error that means "cannot reach the database" rather than a bad query: no
/// connection could be had, or the connection broke under the statement (the pool does
/// not ping before handing a connection out, so a dead one shows here, as I/O).
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::RuntimeErr;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(**e, Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed)
        }
        _ => err.to_string().contains("pool timed out"),
    }
}

/// A NOT NULL violation (PostgreSQL SQLSTATE 23502, SQLite extended code 1299): the
/// host's `project` table has a NOT NULL column without a default, so registering a
/// project by id alone fails. Provoked on both backends by
/// `tests/it/ingest.rs::auto_registration_into_a_host_table_without_defaults`.
pub fn is_not_null_violation(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match &**e {
            sea_orm::sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("23502" | "1299")),
            _ => false,
        },
        _ => false,
    }
}

/// A unique violation of one of the natural-key indexes (`uq_metrics_*_natural_key`,
/// named in the database's message): on PostgreSQL, two writers inserting the same new
/// row at once, the loser refused by the index that is not `ON CONFLICT (id)`'s arbiter.
/// Provoked by `tests/it/ingest.rs::concurrent_writers_converge` (eight writers over
/// overlapping keys) and by `natural_keys_are_unique_in_the_database`.
pub fn is_natural_key_race(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(m)) if m.contains("_natural_key"))
}

/// A connection error caused by the URL itself, not by the server behind it.
pub fn is_malformed_url(reason: &str) -> bool {
    reason.contains("invalid") && reason.contains("URL") || reason.contains("parse") || reason.contains("UrlParse")
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};

    struct Query;

    #[Object]
    impl Query {
        async fn node(&self) -> Query {
            Query
        }
        async fn value(&self) -> i32 {
            1
        }
    }

    fn schema() -> async_graphql::SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
        Schema::build(Query, EmptyMutation, EmptySubscription)
    }

    async fn first_error(schema: Schema<Query, EmptyMutation, EmptySubscription>, req: Request) -> String {
        let resp = schema.execute(req).await;
        resp.errors.first().map(|e| e.message.clone()).expect("an error")
    }

    #[tokio::test]
    async fn async_graphql_depth_refusal_is_recognised() {
        let m =
            first_error(schema().limit_depth(2).finish(), Request::new("{ node { node { node { value } } } }")).await;
        assert!(is_depth_limit(&m), "async-graphql now says {m:?}");
    }

    #[tokio::test]
    async fn async_graphql_complexity_refusal_is_recognised() {
        let m = first_error(schema().limit_complexity(2).finish(), Request::new("{ node { node { value } } }")).await;
        assert!(is_complexity_limit(&m), "async-graphql now says {m:?}");
    }

    /// A query whose arguments are weighed by a complexity function (as `trend` is) and
    /// parsed by a resolver, to provoke each of async-graphql's bad-input reports.
    struct Inputs;

    #[Object]
    impl Inputs {
        #[graphql(complexity = "usize::try_from(n).unwrap_or(1) * child_complexity")]
        async fn weighed(&self, n: i32) -> i32 {
            n
        }
        async fn parsed(&self, id: uuid::Uuid) -> String {
            id.to_string()
        }
        async fn grain(&self, g: crate::graphql::grain::GrainArg) -> bool {
            let _ = g;
            true
        }
    }

    async fn input_errors(query: &str, variables: serde_json::Value) -> Vec<String> {
        let schema = Schema::build(Inputs, EmptyMutation, EmptySubscription).limit_complexity(1000).finish();
        let req = Request::new(query).variables(async_graphql::Variables::from_json(variables));
        schema.execute(req).await.errors.into_iter().map(|e| e.message).collect()
    }

    #[tokio::test]
    async fn async_graphql_bad_literal_is_recognised() {
        let errors = input_errors(r#"{ parsed(id: 5) }"#, serde_json::json!({})).await;
        let m = errors.first().expect("an error");
        assert_eq!(bad_input_type(m), Some("UUID"), "async-graphql now says {m:?}");
        let errors = input_errors(r#"{ grain(g: DAYS) }"#, serde_json::json!({})).await;
        let m = errors.first().expect("an error");
        assert_eq!(bad_input_type(m), Some("TimeGrain"), "async-graphql now says {m:?}");
    }

    #[tokio::test]
    async fn async_graphql_complexity_parse_failure_is_recognised() {
        // Validation reports the value, and the complexity function's parse reports it
        // again: both reports must be recognised.
        let errors = input_errors("query($n: Int!) { weighed(n: $n) }", serde_json::json!({"n": "x"})).await;
        assert!(!errors.is_empty());
        for m in &errors {
            assert_eq!(bad_input_type(m), Some("Int"), "async-graphql now says {m:?}");
        }
    }

    #[tokio::test]
    async fn async_graphql_resolver_parse_failure_is_recognised() {
        let errors = input_errors("query($id: UUID!) { parsed(id: $id) }", serde_json::json!({"id": "nope"})).await;
        let m = errors.first().expect("an error");
        assert_eq!(bad_input_type(m), Some("UUID"), "async-graphql now says {m:?}");
    }

    #[test]
    fn other_messages_are_not_bad_input() {
        assert_eq!(bad_input_type("Unknown field \"x\" on type \"Query\"."), None);
        assert_eq!(bad_input_type("Query is too complex."), None);
    }

    #[tokio::test]
    async fn axum_body_limit_rejection_is_recognised() {
        use async_graphql_axum::{rejection::GraphQLRejection, GraphQLRequest};
        use axum::routing::post;
        async fn handler(req: Result<GraphQLRequest, GraphQLRejection>) -> String {
            match req {
                Ok(_) => "accepted".into(),
                Err(r) => r.0.to_string(),
            }
        }
        let router =
            axum::Router::new().route("/", post(handler)).layer(tower_http::limit::RequestBodyLimitLayer::new(1024));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        let body = format!("{{\"query\": \"{{ {} }}\"}}", "a ".repeat(4096));
        let text = reqwest::Client::new()
            .post(format!("http://{addr}/"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text");
        assert!(is_body_too_large(&text), "the body-limit rejection now says {text:?}");
    }

    #[tokio::test]
    async fn sqlx_pool_timeout_is_unavailable() {
        use sea_orm::{ConnectOptions, ConnectionTrait, Database, TransactionTrait};
        let mut opts = ConnectOptions::new("sqlite::memory:");
        opts.max_connections(1).min_connections(0).acquire_timeout(std::time::Duration::from_millis(50));
        let db = Database::connect(opts).await.expect("sqlite");
        // Hold the only connection, then ask for another.
        let _held = db.begin().await.expect("begin");
        let err = db.execute_unprepared("SELECT 1").await.expect_err("the pool is empty");
        assert!(is_unavailable(&err), "a pool timeout is now reported as {err:?}");
    }

    #[tokio::test]
    async fn sqlx_malformed_url_is_recognised() {
        let err = sea_orm::Database::connect("postgres://u@h:notaport/db").await.expect_err("bad port");
        assert!(is_malformed_url(&err.to_string()), "a malformed URL is now reported as {err}");
    }
}
