//! Live updates across processes on PostgreSQL: two `serve` processes (the debug binary)
//! on one database, and a database restarted under a live subscription.
//!
//! The restart runs on a throwaway cluster this test creates (`initdb`/`pg_ctl` as the
//! `postgres` OS user, in a temporary directory, on a free port), never on the machine's
//! main one. Without the PostgreSQL binaries (or the rights to run them) the tests print
//! a notice and pass, unless `REQUIRE_POSTGRES=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::fixtures::pid;
use crate::common::TestApp;
use crate::live::WsClient;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn require_postgres() -> bool {
    std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

fn skip(why: &str) {
    assert!(!require_postgres(), "REQUIRE_POSTGRES=1 but {why}");
    eprintln!("live PostgreSQL test skipped: {why}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `metrics-api serve` process, killed on drop.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    async fn start(database_url: &str, log: &Path) -> Serve {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_metrics-api"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--ws-keepalive", "2s"])
            .env("DATABASE_URL", database_url)
            .env_remove("JWT_SECRET")
            .env_remove("JWT_PUBLIC_KEY")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start serve");
        let serve = Serve { child, url: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        for _ in 0..300 {
            if client.get(format!("{}/healthz", serve.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return serve;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("serve did not come up; log: {}", std::fs::read_to_string(log).unwrap_or_default());
    }

    async fn upsert(&self, project: uuid::Uuid, day: u32) -> Value {
        let body = json!({
            "query": "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted updated } }",
            "variables": { "p": [{ "projectId": project, "metricKey": "m", "grain": "DAY",
                                   "bucket": format!("2024-03-{day:02}T00:00:00Z"), "value": 1.0 }] }
        });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        client.post(format!("{}/graphql", self.url)).json(&body).send().await.unwrap().json().await.unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A write through one instance reaches a subscriber of the other, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_instance_reaches_a_subscriber_of_another() {
    let Some(name) = TestApp::fresh_postgres_database().await else { return };
    let admin =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = std::env::temp_dir();
    let (log1, log2) = (dir.join(format!("{name}-1.log")), dir.join(format!("{name}-2.log")));
    let one = Serve::start(&url, &log1).await;
    let two = Serve::start(&url, &log2).await;
    let mut ws = WsClient::connect(&two.url, json!({})).await;
    ws.subscribe_live("s", json!({ "p": [pid(1)] })).await;
    let written = one.upsert(pid(1), 1).await;
    assert_eq!(written["data"]["upsertTrendPoints"]["inserted"], 1, "{written:#}");
    let (kind, changes) = ws.next_event("s").await;
    assert_eq!((kind.as_str(), changes.len()), ("UPDATED", 1));
    assert_eq!(changes[0]["buckets"], json!(["2024-03-01T00:00:00+00:00"]));
    ws.expect_silence().await;
    drop((one, two));
    for l in [log1, log2] {
        let _ = std::fs::remove_file(l);
    }
    crate::common::drop_database(&name).await;
}

/// A PostgreSQL cluster of its own, stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    fn as_postgres(args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("runuser").args(["-u", "postgres", "--"]).args(args).output()
    }

    fn pg_ctl(&self, action: &[&str]) -> std::process::Output {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let bin = format!("{PG_BIN}/pg_ctl");
        let mut args = vec![bin.as_str(), "-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &opts, "-w"];
        args.extend_from_slice(action);
        Self::as_postgres(&args).expect("pg_ctl")
    }

    /// `None` (after a notice) when the binaries or the `postgres` user are missing.
    fn start() -> Option<Cluster> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            skip(&format!("no PostgreSQL binaries in {PG_BIN}"));
            return None;
        }
        let dir = std::env::temp_dir().join(format!("metrics-live-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let chown = Command::new("chown").args(["-R", "postgres:postgres", dir.to_str().unwrap()]).output();
        if !chown.is_ok_and(|o| o.status.success()) {
            skip("cannot hand a directory to the `postgres` user (not root?)");
            return None;
        }
        let data = dir.join("data");
        let init = Self::as_postgres(&[
            &format!("{PG_BIN}/initdb"),
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        match init {
            Ok(o) if o.status.success() => {}
            other => {
                skip(&format!("initdb failed: {other:?}"));
                return None;
            }
        }
        let cluster = Cluster { dir, port: free_port() };
        let out = cluster.pg_ctl(&["start"]);
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
        Some(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The database restarts under a live subscription: the subscriber gets `RESYNC` once
/// the instance listens again, then the next write as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_yields_resync_then_updates_again() {
    let Some(cluster) = Cluster::start() else { return };
    let log = cluster.dir.join("serve.log");
    let serve = Serve::start(&cluster.url(), &log).await;
    let mut ws = WsClient::connect(&serve.url, json!({})).await;
    ws.subscribe_live("s", json!({ "p": [pid(1)] })).await;
    serve.upsert(pid(1), 1).await;
    assert_eq!(ws.next_event("s").await.0, "UPDATED");

    let out = cluster.pg_ctl(&["restart", "-m", "fast"]);
    assert!(out.status.success(), "pg_ctl restart: {}", String::from_utf8_lossy(&out.stderr));
    let (kind, changes) = ws.next_event("s").await;
    assert_eq!(
        (kind.as_str(), changes.len()),
        ("RESYNC", 0),
        "log: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // Writes may fail while the pool notices the restart; the first that commits is told.
    let mut written = Value::Null;
    for _ in 0..50 {
        written = serve.upsert(pid(1), 2).await;
        if written["data"]["upsertTrendPoints"]["inserted"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(written["data"]["upsertTrendPoints"]["inserted"], 1, "{written:#}");
    let (kind, changes) = ws.next_event("s").await;
    assert_eq!(kind, "UPDATED");
    assert_eq!(changes[0]["buckets"], json!(["2024-03-02T00:00:00+00:00"]));
    drop(serve);
}
