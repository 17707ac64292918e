//! Dataloaders: every nested field of `Project` loads through here, so a request costs one
//! statement per field shape, whatever the number of projects or aliases.
//!
//! Each key type carries the arguments that shape its SQL. `load` groups the keys of one
//! batch by everything but the project (and its cursor), and runs one store statement per
//! group. A [`StoreLoader`] is created per request, so nothing is cached across requests.
//!
//! This module holds what every shape shares (the loader, grouping, canonical JSON keys,
//! the project key); each shape's key types and `Loader` impls live in its own folder
//! (`trend/loader.rs`, `summary/loader.rs`, ...).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::project::Model as Project;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use uuid::Uuid;

use crate::identity::canonical_json;
use crate::store::{self, ReadShape};

/// Loads every key type from the store.
pub struct StoreLoader {
    pub(crate) db: DatabaseConnection,
    /// The statement shape of per-project reads, for the database's layout.
    pub(crate) shape: ReadShape,
}

impl StoreLoader {
    pub fn new(db: DatabaseConnection, shape: ReadShape) -> Self {
        Self { db, shape }
    }
}

pub(crate) type LoadResult<K, V> = Result<HashMap<K, V>, Arc<DbErr>>;

/// A JSON object in canonical text, usable in a key (JSON values are not `Hash`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalJson(String);

impl CanonicalJson {
    pub fn new(v: &Value) -> Self {
        CanonicalJson(canonical_json(v))
    }

    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// Groups keys by the arguments that shape the statement, keeping first-seen order.
pub(crate) fn group<K, G: Hash + Eq + Clone>(keys: &[K], by: impl Fn(&K) -> G) -> Vec<(G, Vec<&K>)> {
    let mut order: Vec<(G, Vec<&K>)> = Vec::new();
    let mut index: HashMap<G, usize> = HashMap::new();
    for k in keys {
        let g = by(k);
        let i = *index.entry(g.clone()).or_insert_with(|| {
            order.push((g, Vec::new()));
            order.len() - 1
        });
        order[i].1.push(k);
    }
    order
}

pub(crate) fn distinct<T: Hash + Eq + Clone>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().filter(|i| seen.insert(i.clone())).collect()
}

/// A project by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProjectKey(pub Uuid);

impl Loader<ProjectKey> for StoreLoader {
    type Value = Project;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[ProjectKey]) -> LoadResult<ProjectKey, Project> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = store::project::by_ids(&self.db, &ids).await?;
        Ok(rows.into_iter().map(|p| (ProjectKey(p.id), p)).collect())
    }
}
