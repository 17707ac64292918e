//! Live updates: what a committed write batch changed, delivered to the `metricsUpdated`
//! subscriptions of every instance serving the database.
//!
//! - The write path ([`crate::ingest::upsert::write`], which every batch goes through:
//!   mutations and the NDJSON command) computes a [`Pending`] set of changes. On
//!   PostgreSQL it queues one `NOTIFY` per part inside the write transaction, so a batch
//!   that rolls back notifies nothing and a committed one notifies exactly once; on
//!   SQLite it broadcasts after the commit to this process's subscribers of the same file
//!   (SQLite has no cross-process notification: a writer in another process is not seen).
//! - Each instance has one [`Hub`]: on PostgreSQL one `LISTEN` connection ([`listen`]),
//!   reconnecting with backoff and sending [`Event::Resync`] after a reconnect (updates
//!   may have been missed while it was down); its events go to a bounded broadcast.
//! - [`change`]: the compact events and their split under PostgreSQL's payload limit.
//!
//! The GraphQL side is `graphql/subscription.rs`, the WebSocket side `http/live.rs`.

pub mod change;
pub mod connection;
mod listen;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{broadcast, oneshot, watch};

pub use change::{Change, Shape};
pub use connection::Connection;

use crate::ingest::upsert::Batch;
use crate::ingest::UpsertCounts;
use crate::store::sql::Sql;

/// The PostgreSQL channel every instance listens on.
pub const CHANNEL: &str = "metrics_updated";

/// What a subscription hears from its instance.
#[derive(Debug, Clone)]
pub enum Event {
    /// One part of a committed batch's changes.
    Updated(Arc<Vec<Change>>),
    /// The instance lost its database listener and is back: updates may have been
    /// missed, refetch every tile.
    Resync,
}

/// Limits of live updates, per instance and per connection.
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits {
    /// WebSocket connections one instance serves; more are closed with 1013 (try again
    /// later). Each holds a socket and its subscriptions' buffers.
    pub max_connections: usize,
    /// Subscriptions one connection may run at once; a dashboard needs one (a
    /// subscription takes many projects, metrics and shapes).
    pub max_subscriptions: usize,
    /// Events buffered per subscription before its connection counts as a slow consumer
    /// and is closed (4008). A batch is one event per 7.8 kB of changes, so this is
    /// plenty for a client that keeps up.
    pub buffer: usize,
    /// How often an idle connection gets a WebSocket ping; a connection that sends
    /// nothing (not even the pong) for three periods is closed.
    pub keepalive: Duration,
    /// How long a write to the client socket may wait before the client counts as a slow
    /// consumer.
    pub send_timeout: Duration,
    /// Time allowed between the upgrade and `connection_init` (graphql-ws closes with
    /// 4408 after it).
    pub init_timeout: Duration,
}

impl Default for LiveLimits {
    fn default() -> Self {
        LiveLimits {
            max_connections: 1000,
            max_subscriptions: 20,
            buffer: 256,
            keepalive: Duration::from_secs(15),
            send_timeout: Duration::from_secs(10),
            init_timeout: Duration::from_secs(10),
        }
    }
}

/// The changes a batch makes, prepared before its commit.
pub struct Pending {
    parts: Vec<Vec<Change>>,
}

impl Pending {
    /// The changes of `batch`; none when the batch changed nothing (every row sent again
    /// with its stored value): there is nothing to refetch.
    pub fn of(batch: &Batch, counts: &UpsertCounts) -> Self {
        if counts.inserted + counts.updated == 0 {
            return Pending { parts: Vec::new() };
        }
        Pending { parts: change::split(change::changes_of(batch)) }
    }

    /// Inside the write transaction, before its commit. PostgreSQL: one `NOTIFY` per part,
    /// delivered at commit, dropped on rollback. SQLite: nothing yet (see
    /// [`Pending::committed`]).
    pub async fn notify(&self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        if txn.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for part in &self.parts {
            let mut sql = Sql::new(DbBackend::Postgres);
            sql.push(&format!("SELECT pg_notify('{CHANNEL}', ")).bind(change::payload(part)).push(")");
            txn.execute_raw(sql.build()).await?;
        }
        Ok(())
    }

    /// After the commit. SQLite: broadcasts to this process's hubs on the same file.
    pub fn committed(self, db: &DatabaseConnection) {
        if db.get_database_backend() != DbBackend::Sqlite || self.parts.is_empty() {
            return;
        }
        if let Some(channel) = sqlite_channel(db, None) {
            for part in self.parts {
                let _ = channel.events.send(Event::Updated(Arc::new(part)));
            }
        }
    }
}

/// The in-process broadcast of one SQLite file.
struct SqliteChannel {
    events: broadcast::Sender<Event>,
}

/// SQLite files with live hubs in this process, by path. Weak: a file's channel goes
/// away with its last hub.
fn sqlite_channels() -> &'static Mutex<HashMap<PathBuf, Weak<SqliteChannel>>> {
    static CHANNELS: OnceLock<Mutex<HashMap<PathBuf, Weak<SqliteChannel>>>> = OnceLock::new();
    CHANNELS.get_or_init(Default::default)
}

fn sqlite_key(db: &DatabaseConnection) -> PathBuf {
    let options = db.get_sqlite_connection_pool().connect_options();
    let path = options.get_filename();
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The channel of `db`'s file; created with room for `create` events when given (a hub
/// starting), else only found.
fn sqlite_channel(db: &DatabaseConnection, create: Option<usize>) -> Option<Arc<SqliteChannel>> {
    let key = sqlite_key(db);
    let mut map = sqlite_channels().lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(c) = map.get(&key).and_then(Weak::upgrade) {
        return Some(c);
    }
    let (events, _) = broadcast::channel(create?.max(1));
    let channel = Arc::new(SqliteChannel { events });
    map.insert(key, Arc::downgrade(&channel));
    Some(channel)
}

/// One instance's live updates: where subscriptions get their events, whether the
/// instance is listening, and the connection count.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    events: broadcast::Sender<Event>,
    /// Whether events flow (PostgreSQL: the listener is `LISTEN`ing).
    ready: watch::Receiver<bool>,
    connections: AtomicUsize,
    limits: LiveLimits,
    /// Keeps the SQLite file's channel alive.
    _sqlite: Option<Arc<SqliteChannel>>,
    /// Dropped with the hub: stops the PostgreSQL listener.
    _stop: Option<oneshot::Sender<()>>,
}

impl Hub {
    /// Starts the hub of an instance (PostgreSQL: spawns its listener; must run inside a
    /// Tokio runtime).
    pub fn start(db: &DatabaseConnection, limits: LiveLimits) -> Hub {
        match db.get_database_backend() {
            DbBackend::Postgres => {
                let (events, _) = broadcast::channel(limits.buffer.max(1));
                let (ready_tx, ready) = watch::channel(false);
                let (stop, stopped) = oneshot::channel();
                let pool = db.get_postgres_connection_pool().clone();
                tokio::spawn(listen::run(pool, events.clone(), ready_tx, stopped));
                let inner = HubInner {
                    events,
                    ready,
                    connections: AtomicUsize::new(0),
                    limits,
                    _sqlite: None,
                    _stop: Some(stop),
                };
                Hub { inner: Arc::new(inner) }
            }
            _ => {
                let channel = sqlite_channel(db, Some(limits.buffer)).expect("created");
                let (_, ready) = watch::channel(true);
                let inner = HubInner {
                    events: channel.events.clone(),
                    ready,
                    connections: AtomicUsize::new(0),
                    limits,
                    _sqlite: Some(channel),
                    _stop: None,
                };
                Hub { inner: Arc::new(inner) }
            }
        }
    }

    pub fn limits(&self) -> &LiveLimits {
        &self.inner.limits
    }

    /// A new receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Waits until events flow (PostgreSQL: the listener is `LISTEN`ing).
    pub async fn ready(&self) {
        let mut ready = self.inner.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Takes a connection slot; `None` at the instance limit.
    pub fn connect(&self) -> Option<ConnectionSlot> {
        let max = self.inner.limits.max_connections;
        let taken =
            self.inner.connections.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1));
        taken.ok().map(|_| {
            crate::observe::live_connections(1.0);
            ConnectionSlot { hub: self.clone() }
        })
    }

    /// Open WebSocket connections.
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Acquire)
    }
}

/// A taken connection slot, given back on drop.
pub struct ConnectionSlot {
    hub: Hub,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.hub.inner.connections.fetch_sub(1, Ordering::AcqRel);
        crate::observe::live_connections(-1.0);
    }
}
