//! A throwaway PostgreSQL primary and streaming replica in a temporary directory, for
//! the replica tests: `initdb`, `pg_basebackup -R`, `pg_ctl`, run as the `postgres` OS
//! user on free ports. The machine's main cluster is left alone.
//!
//! Both servers log every statement (`log_statement = all`) to their own file, so a test
//! can tell which server ran a read.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts PostgreSQL 15's server binaries.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A primary and its replica; both stopped and removed when dropped.
pub struct Cluster {
    dir: PathBuf,
    pub primary_port: u16,
    pub replica_port: u16,
}

/// Runs a PostgreSQL binary as the `postgres` OS user; panics with its output on failure.
pub fn pg(bin: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--", &format!("{BIN}/{bin}")])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    assert!(
        out.status.success(),
        "{bin} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the server binaries and `runuser -u postgres` are there to build clusters with.
pub fn binaries_usable() -> bool {
    Path::new(&format!("{BIN}/initdb")).exists()
        && Command::new("runuser").args(["-u", "postgres", "--", "true"]).status().is_ok_and(|s| s.success())
}

/// A fresh temporary directory `<prefix>-<pid>-<n>` owned by the `postgres` OS user.
pub fn postgres_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), super::next_id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cluster dir");
    let owner = Command::new("chown").args(["postgres:postgres", &dir.display().to_string()]).status();
    assert!(owner.is_ok_and(|s| s.success()), "chown the cluster directory");
    dir
}

/// Stops the server of `data` at once, ignoring failure (for `Drop`).
pub fn stop_immediately(data: &str) {
    let _ = Command::new("runuser")
        .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "-D", data, "-m", "immediate", "stop"])
        .output();
}

impl Cluster {
    /// Builds and starts both servers. `None` (after a notice) when the binaries or
    /// `runuser` are missing and `REQUIRE_POSTGRES` is not set.
    pub fn start() -> Option<Cluster> {
        if !binaries_usable() {
            assert!(!super::require_postgres(), "REQUIRE_POSTGRES=1 but {BIN} or `runuser -u postgres` is unusable");
            eprintln!("replica tests skipped: no {BIN}/initdb or no `runuser -u postgres`");
            return None;
        }
        let dir = postgres_dir("metrics-cluster");
        let cluster = Cluster { dir, primary_port: super::serve::free_port(), replica_port: super::serve::free_port() };
        let primary = cluster.path("primary");
        pg("initdb", &["-D", &primary, "-A", "trust", "-U", "postgres", "--no-sync"]);
        cluster.start_server("primary", cluster.primary_port);
        pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &cluster.path("replica"),
                "-R",
                "-X",
                "stream",
            ],
        );
        cluster.start_replica();
        Some(cluster)
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn start_server(&self, name: &str, port: u16) {
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c log_statement=all -c fsync=off",
            self.dir.display()
        );
        pg("pg_ctl", &["-D", &self.path(name), "-l", &self.path(&format!("{name}.log")), "-o", &opts, "-w", "start"]);
    }

    fn stop_server(&self, name: &str) {
        pg("pg_ctl", &["-D", &self.path(name), "-m", "fast", "-w", "stop"]);
    }

    pub fn start_replica(&self) {
        self.start_server("replica", self.replica_port);
    }

    pub fn stop_replica(&self) {
        self.stop_server("replica");
    }

    pub fn primary_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.primary_port)
    }

    pub fn replica_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.replica_port)
    }

    /// How many statements a server has logged that mention `needle`.
    pub fn logged(&self, server: &str, needle: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.join(format!("{server}.log"))).unwrap_or_default();
        log.lines().filter(|l| l.contains("statement:") || l.contains("execute")).filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for name in ["replica", "primary"] {
            stop_immediately(&self.path(name));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
