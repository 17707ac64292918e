//! A throwaway Citus cluster in a temporary directory: a coordinator and two workers,
//! each `initdb`'d and run as the `postgres` OS user with `shared_preload_libraries =
//! 'citus'` on a free port, `CREATE EXTENSION citus` on each, the coordinator registered
//! with `citus_set_coordinator_host` and the workers with `citus_add_node`. The machine's
//! main cluster is left alone.
//!
//! When Citus is not installed the tests skip with a notice, unless `REQUIRE_CITUS=1`
//! (set by `.ci/run`), which makes them fail instead.

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, Database};

use super::cluster::{binaries_usable, pg, postgres_dir, stop_immediately, BIN};

/// Where Debian puts PostgreSQL 15's extension libraries.
const CITUS_SO: &str = "/usr/lib/postgresql/15/lib/citus.so";

/// The coordinator's and the workers' names (data directories and log files).
const NODES: [&str; 3] = ["coordinator", "worker1", "worker2"];

pub fn require_citus() -> bool {
    std::env::var("REQUIRE_CITUS").is_ok_and(|v| v == "1")
}

/// A coordinator and two workers; stopped and removed when dropped.
pub struct CitusCluster {
    dir: PathBuf,
    /// Coordinator, worker 1, worker 2.
    pub ports: [u16; 3],
}

impl CitusCluster {
    /// Builds and starts the three nodes. `None` (after a notice) when Citus, the
    /// PostgreSQL binaries or `runuser` are missing and `REQUIRE_CITUS` is not set.
    pub async fn start() -> Option<CitusCluster> {
        let missing = if !Path::new(CITUS_SO).exists() {
            Some(format!("Citus is not installed ({CITUS_SO}; ../shared/vendor/install-citus.sh installs it)"))
        } else if !binaries_usable() {
            Some(format!("no {BIN}/initdb or no `runuser -u postgres`"))
        } else {
            None
        };
        if let Some(why) = missing {
            assert!(!require_citus(), "REQUIRE_CITUS=1 but {why}");
            eprintln!("Citus tests skipped: {why} (REQUIRE_CITUS=1 fails instead)");
            return None;
        }
        let dir = postgres_dir("metrics-citus");
        let ports = [super::serve::free_port(), super::serve::free_port(), super::serve::free_port()];
        let cluster = CitusCluster { dir, ports };
        for (name, port) in NODES.iter().zip(ports) {
            let data = cluster.path(name);
            pg("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=citus -c fsync=off \
                 -c max_connections=200",
                cluster.dir.display()
            );
            let log = cluster.path(&format!("{name}.log"));
            pg("pg_ctl", &["-D", &data, "-l", &log, "-o", &opts, "-w", "start"]);
            let db = Database::connect(cluster.url(port)).await.expect("connect to a Citus node");
            db.execute_unprepared("CREATE EXTENSION citus").await.expect("CREATE EXTENSION citus");
            db.close().await.ok();
        }
        let coordinator = Database::connect(cluster.coordinator_url()).await.expect("connect to the coordinator");
        coordinator
            .execute_unprepared(&format!("SELECT citus_set_coordinator_host('127.0.0.1', {})", ports[0]))
            .await
            .expect("citus_set_coordinator_host");
        for port in &ports[1..] {
            coordinator
                .execute_unprepared(&format!("SELECT citus_add_node('127.0.0.1', {port})"))
                .await
                .expect("citus_add_node");
        }
        coordinator.close().await.ok();
        Some(cluster)
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn url(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    }

    pub fn coordinator_url(&self) -> String {
        self.url(self.ports[0])
    }

    /// The server log of node `n` (0 the coordinator, 1 and 2 the workers).
    pub fn log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", NODES[n]))).unwrap_or_default()
    }

    /// The URL of worker 1 or 2.
    pub fn worker_url(&self, n: usize) -> String {
        self.url(self.ports[n])
    }
}

impl Drop for CitusCluster {
    fn drop(&mut self) {
        for name in NODES.iter().rev() {
            stop_immediately(&self.path(name));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
