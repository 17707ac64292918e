//! Read replicas: where a request's reads go.
//!
//! Why: a dashboard's reads outnumber the compute jobs' writes by far, and PostgreSQL's
//! own streaming replicas can serve them. `DATABASE_READ_URL` names one or more replicas;
//! a GraphQL request without a mutation reads from one of them (round robin), and
//! everything that writes or must see its own writes uses the primary: mutations (and
//! every read of a request that holds one), migrations, retention, the demo loader.
//!
//! Health is checked in the background ([`Replicas::spawn_checks`]), never on a request's
//! path: every `check_every`, each replica is asked `SELECT 1` and, on PostgreSQL, how far
//! its replay lags (`pg_last_xact_replay_timestamp()`). A replica that does not answer or
//! lags more than `max_lag` is skipped; when none is usable, reads go to the primary. Each
//! change of a replica's state is logged; reads that fall back are counted in `/metrics`
//! (`metrics_api_replica_fallback_total`), and `/readyz` lists every database.
//!
//! A replica that dies between two checks fails the reads routed to it until the next
//! check (at most `check_every`, 2 s by default) takes it out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::Serialize;

use crate::db::{self, ConnectError, PoolSettings};

/// How replicas are judged.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaSettings {
    /// A replica whose replay lags more than this is skipped until it catches up.
    pub max_lag: Duration,
    /// How often each replica's health and lag are checked.
    pub check_every: Duration,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings { max_lag: Duration::from_secs(10), check_every: Duration::from_secs(2) }
    }
}

/// What the last check found about one replica.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Health {
    /// Not checked yet: not used.
    Unchecked,
    /// Answers and lags at most `max_lag`: serves reads.
    Healthy { lag_seconds: f64 },
    /// Answers but lags more than `max_lag`: skipped.
    Lagging { lag_seconds: f64 },
    /// Does not answer: skipped.
    Down { reason: String },
}

impl Health {
    fn usable(&self) -> bool {
        matches!(self, Health::Healthy { .. })
    }

    fn label(&self) -> &'static str {
        match self {
            Health::Unchecked => "unchecked",
            Health::Healthy { .. } => "healthy",
            Health::Lagging { .. } => "lagging",
            Health::Down { .. } => "down",
        }
    }
}

/// One replica: its pool and what the last check found.
struct Replica {
    /// The URL with any password hidden: the name in logs, metrics and `/readyz`.
    name: String,
    conn: DatabaseConnection,
    health: Mutex<Health>,
}

impl Replica {
    fn health(&self) -> Health {
        self.health.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The configured replicas (none: every read uses the primary). Cheap to clone.
#[derive(Clone, Default)]
pub struct Replicas {
    replicas: Arc<Vec<Replica>>,
    next: Arc<AtomicUsize>,
    settings: ReplicaSettings,
}

/// One database as `/readyz` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaStatus {
    pub url: String,
    #[serde(flatten)]
    pub health: Health,
}

impl Replicas {
    /// Opens a lazy pool per URL: a replica that is down at start does not stop the
    /// server, it is only skipped. Call [`Replicas::check`] once before serving so the
    /// healthy ones are used from the first request.
    pub async fn connect(
        urls: &[String],
        pool: &PoolSettings,
        settings: ReplicaSettings,
    ) -> Result<Replicas, ConnectError> {
        let lazy = PoolSettings { lazy: true, ..pool.clone() };
        let mut replicas = Vec::with_capacity(urls.len());
        for url in urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
            let (conn, _) = db::connect(url, &lazy).await?;
            replicas.push(Replica { name: db::redact(url), conn, health: Mutex::new(Health::Unchecked) });
        }
        Ok(Replicas { replicas: Arc::new(replicas), next: Arc::default(), settings })
    }

    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// The connection a read-only request uses: the next usable replica in turn, else
    /// the primary (counted as a fallback when replicas are configured).
    pub fn for_reads(&self, primary: &DatabaseConnection) -> DatabaseConnection {
        let n = self.replicas.len();
        if n == 0 {
            return primary.clone();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let r = &self.replicas[(start + i) % n];
            if r.health().usable() {
                metrics::counter!("metrics_api_db_reads_total", "target" => "replica").increment(1);
                return r.conn.clone();
            }
        }
        metrics::counter!("metrics_api_db_reads_total", "target" => "primary").increment(1);
        metrics::counter!("metrics_api_replica_fallback_total").increment(1);
        tracing::debug!("no usable replica; the read goes to the primary");
        primary.clone()
    }

    /// The connection of a request: the primary when it holds a mutation (its reads must
    /// see its writes), else [`Replicas::for_reads`].
    pub fn for_request(&self, primary: &DatabaseConnection, mutation: bool) -> DatabaseConnection {
        if mutation {
            primary.clone()
        } else {
            self.for_reads(primary)
        }
    }

    /// Each replica's state, in configuration order.
    pub fn statuses(&self) -> Vec<ReplicaStatus> {
        self.replicas.iter().map(|r| ReplicaStatus { url: r.name.clone(), health: r.health() }).collect()
    }

    /// Checks every replica once, logging each change of state and updating the gauges.
    pub async fn check(&self) {
        let any_usable = |rs: &[Replica]| rs.iter().any(|r| r.health().usable());
        let before = any_usable(&self.replicas);
        let first = self.replicas.iter().all(|r| r.health() == Health::Unchecked);
        for r in self.replicas.iter() {
            let new = probe(&r.conn, self.settings).await;
            let old = std::mem::replace(&mut *r.health.lock().unwrap_or_else(|e| e.into_inner()), new.clone());
            record(&r.name, &new);
            if old.label() != new.label() {
                match &new {
                    Health::Healthy { lag_seconds } => {
                        tracing::info!(replica = %r.name, lag_seconds, "replica serves reads")
                    }
                    Health::Lagging { lag_seconds } => tracing::warn!(
                        replica = %r.name,
                        lag_seconds,
                        max_lag_seconds = self.settings.max_lag.as_secs_f64(),
                        "replica lags too far; skipped until it catches up"
                    ),
                    Health::Down { reason } => {
                        tracing::warn!(replica = %r.name, reason = %reason, "replica down; skipped")
                    }
                    Health::Unchecked => {}
                }
            }
        }
        // Once when the last usable replica goes (or none is usable at start), not at
        // every check.
        if !self.is_empty() && !any_usable(&self.replicas) && (before || first) {
            tracing::warn!("no replica is usable; reads fall back to the primary");
        }
    }

    /// Runs [`Replicas::check`] every `check_every` until the process ends.
    pub fn spawn_checks(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.is_empty() {
            return None;
        }
        let this = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.settings.check_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                this.check().await;
            }
        }))
    }
}

/// The replay lag of a PostgreSQL replica, in seconds. A replica that has replayed all it
/// received from a streaming connection is current (0): `pg_last_xact_replay_timestamp()`
/// alone would grow while the primary is idle. A server not in recovery (a promoted or
/// plain server) has no lag.
const LAG_SQL: &str = "SELECT CASE \
    WHEN NOT pg_is_in_recovery() THEN 0::float8 \
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() \
         AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0::float8 \
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8, 'Infinity'::float8) \
    END AS lag";

/// One replica's health, within the check period (a check never outlives the next).
async fn probe(conn: &DatabaseConnection, settings: ReplicaSettings) -> Health {
    let timeout = settings.check_every.max(Duration::from_secs(1));
    let ask = async {
        match conn.get_database_backend() {
            DbBackend::Postgres => {
                let row = conn.query_one_raw(Statement::from_string(DbBackend::Postgres, LAG_SQL)).await?;
                Ok::<f64, sea_orm::DbErr>(row.map(|r| r.try_get::<f64>("", "lag")).transpose()?.unwrap_or(0.0))
            }
            // SQLite has no replication: a read copy is judged by whether it answers.
            backend => conn.execute_raw(Statement::from_string(backend, "SELECT 1")).await.map(|_| 0.0),
        }
    };
    match tokio::time::timeout(timeout, ask).await {
        Err(_) => Health::Down { reason: format!("no answer within {} ms", timeout.as_millis()) },
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "replica check failed");
            let reason = if crate::error::upstream::is_unavailable(&e) { "unreachable" } else { "check query failed" };
            Health::Down { reason: reason.into() }
        }
        Ok(Ok(lag)) if lag <= settings.max_lag.as_secs_f64() => Health::Healthy { lag_seconds: lag },
        Ok(Ok(lag)) => Health::Lagging { lag_seconds: lag },
    }
}

/// The gauges of one replica: `metrics_api_replica_usable` (1/0) and its lag.
fn record(name: &str, health: &Health) {
    metrics::gauge!("metrics_api_replica_usable", "replica" => name.to_owned()).set(f64::from(health.usable()));
    let lag = match health {
        Health::Healthy { lag_seconds } | Health::Lagging { lag_seconds } => *lag_seconds,
        _ => f64::NAN,
    };
    metrics::gauge!("metrics_api_replica_lag_seconds", "replica" => name.to_owned()).set(lag);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SQLite file holding one row that names it, so a read tells which database ran.
    async fn named(name: &str) -> (DatabaseConnection, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("metrics-replicas-{}-{name}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let (db, _) = db::connect(&format!("sqlite://{}", path.display()), &PoolSettings::default()).await.unwrap();
        db.execute_unprepared(&format!("CREATE TABLE who (name TEXT); INSERT INTO who VALUES ('{name}')"))
            .await
            .unwrap();
        (db, path)
    }

    async fn who(db: &DatabaseConnection) -> String {
        let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT name FROM who")).await;
        row.unwrap().unwrap().try_get("", "name").unwrap()
    }

    #[tokio::test]
    async fn reads_rotate_over_usable_replicas_and_fall_back_to_the_primary() {
        let (primary, p) = named("primary").await;
        let (r1, f1) = named("r1").await;
        let (r2, f2) = named("r2").await;
        let replica = |name: &str, conn| Replica { name: name.into(), conn, health: Mutex::new(Health::Unchecked) };
        let replicas = Replicas {
            replicas: Arc::new(vec![replica("r1", r1), replica("r2", r2)]),
            next: Arc::default(),
            settings: ReplicaSettings::default(),
        };
        assert_eq!(who(&replicas.for_reads(&primary)).await, "primary", "unchecked replicas are not used");
        replicas.check().await;
        assert!(replicas.statuses().iter().all(|s| s.health == Health::Healthy { lag_seconds: 0.0 }));
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(who(&replicas.for_reads(&primary)).await);
        }
        seen.sort();
        assert_eq!(seen, ["r1", "r1", "r2", "r2"], "round robin");
        assert_eq!(who(&replicas.for_request(&primary, true)).await, "primary", "a mutation's reads");

        *replicas.replicas[0].health.lock().unwrap() = Health::Lagging { lag_seconds: 60.0 };
        for _ in 0..3 {
            assert_eq!(who(&replicas.for_reads(&primary)).await, "r2", "a lagging replica is skipped");
        }
        *replicas.replicas[1].health.lock().unwrap() = Health::Down { reason: "unreachable".into() };
        assert_eq!(who(&replicas.for_reads(&primary)).await, "primary", "none usable: the primary");
        for f in [p, f1, f2] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
    }
}
