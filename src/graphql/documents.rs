//! Parsed documents, once per distinct query text, and Apollo's automatic persisted
//! queries (APQ) over the same cache: both at request level, before execution.
//!
//! Why not async-graphql extensions (its APQ extension, a `parse_query` hook): a schema
//! with any extension registered sends every field of every answer through async-graphql's
//! slow resolution path (a registry lookup by type name and an extension chain per field,
//! `resolver_utils/container.rs`), whatever the extension does. A dashboard answer has
//! thousands of fields; the document checks need the document once. So the schema has no
//! extension, and this module gives each request its parsed document instead: from the
//! cache when the same text was seen (a dashboard sends the same few queries with other
//! variables), else parsed and cached. Both caches are bounded LRUs, per instance.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError};
use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::error::ErrorCode;

/// The message the Apollo protocol fixes for an unknown hash: clients resend the text.
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PersistedQueryNotFound";

/// The document cache and the persisted-query table of one instance.
pub struct Documents {
    /// Query text → its parsed document.
    parsed: Mutex<LruCache<Arc<str>, Arc<ExecutableDocument>>>,
    /// SHA-256 (hex) of a registered persisted query → its text.
    persisted: Mutex<LruCache<String, Arc<str>>>,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents").finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersistedQuery {
    version: i32,
    sha256_hash: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Documents {
    /// Caches of `capacity` entries each (at least one).
    pub fn new(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Documents { parsed: Mutex::new(LruCache::new(cap)), persisted: Mutex::new(LruCache::new(cap)) }
    }

    /// Resolves a persisted query (`extensions.persistedQuery`) into its text, registers a
    /// new one, and gives the request its parsed document. `Err` is this request's answer
    /// (an unknown hash, a hash that does not match the text). A text that does not parse
    /// is left to the executor, which reports it as before.
    pub fn prepare(&self, request: &mut Request) -> Result<(), ServerError> {
        if let Some(value) = request.extensions.remove("persistedQuery") {
            self.persisted_query(request, value)?;
        }
        if request.query.is_empty() {
            return Ok(());
        }
        let cached = lock(&self.parsed).get(request.query.as_str()).cloned();
        let doc = match cached {
            Some(doc) => doc,
            None => match async_graphql::parser::parse_query(&request.query) {
                Ok(doc) => {
                    let doc = Arc::new(doc);
                    lock(&self.parsed).put(Arc::from(request.query.as_str()), doc.clone());
                    doc
                }
                Err(_) => return Ok(()),
            },
        };
        // The executor takes the document by value (it prunes `@skip`ped selections).
        request.set_parsed_query(ExecutableDocument::clone(&doc));
        Ok(())
    }

    fn persisted_query(&self, request: &mut Request, value: async_graphql::Value) -> Result<(), ServerError> {
        let invalid = || {
            ErrorCode::BadRequest.server_error("invalid `extensions.persistedQuery`: expected {version: 1, sha256Hash}")
        };
        let pq: PersistedQuery = async_graphql::from_value(value).map_err(|_| invalid())?;
        if pq.version != 1 {
            return Err(ErrorCode::BadRequest.server_error(format!(
                "`extensions.persistedQuery.version` {} is not supported; only version 1 is",
                pq.version
            )));
        }
        if request.query.is_empty() {
            let text = lock(&self.persisted).get(&pq.sha256_hash).cloned();
            match text {
                Some(text) => request.query = text.to_string(),
                None => return Err(ErrorCode::PersistedQueryNotFound.server_error(PERSISTED_QUERY_NOT_FOUND)),
            }
        } else {
            let hash = format!("{:x}", Sha256::digest(request.query.as_bytes()));
            if hash != pq.sha256_hash {
                return Err(ErrorCode::BadRequest
                    .server_error("`extensions.persistedQuery.sha256Hash` is not the SHA-256 of `query`"));
            }
            lock(&self.persisted).put(hash, Arc::from(request.query.as_str()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut r = Request::new(query);
        let ext = async_graphql::Value::from_json(json!({ "version": 1, "sha256Hash": hash })).unwrap();
        r.extensions.insert("persistedQuery".into(), ext);
        r
    }

    #[test]
    fn a_registered_hash_stands_for_its_text() {
        let docs = Documents::new(8);
        let q = "{ __typename }";
        let hash = format!("{:x}", Sha256::digest(q.as_bytes()));
        let err = docs.prepare(&mut with_hash("", &hash)).unwrap_err();
        assert_eq!(err.message, PERSISTED_QUERY_NOT_FOUND);
        docs.prepare(&mut with_hash(q, &hash)).unwrap();
        let mut by_hash = with_hash("", &hash);
        docs.prepare(&mut by_hash).unwrap();
        assert_eq!(by_hash.query, q);
        assert!(by_hash.parsed_query().is_ok());
        let err = docs.prepare(&mut with_hash(q, "00")).unwrap_err();
        assert!(err.message.contains("sha256Hash"), "{}", err.message);
    }

    #[test]
    fn the_same_text_is_parsed_once_and_the_cache_is_bounded() {
        let docs = Documents::new(2);
        for q in ["{ a }", "{ b }", "{ a }", "{ c }"] {
            docs.prepare(&mut Request::new(q)).unwrap();
        }
        let parsed = lock(&docs.parsed);
        assert_eq!(parsed.len(), 2);
        assert!(parsed.contains("{ a }") && parsed.contains("{ c }"), "least recently used goes first");
    }

    #[test]
    fn a_text_that_does_not_parse_is_left_to_the_executor() {
        let docs = Documents::new(2);
        let mut r = Request::new("{ nope");
        docs.prepare(&mut r).unwrap();
        assert!(r.parsed_query().is_err());
        assert_eq!(lock(&docs.parsed).len(), 0);
    }
}
