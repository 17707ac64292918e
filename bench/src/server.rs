//! The pieces every benchmark shares: databases on the benchmark PostgreSQL, and a
//! `metrics-api serve` child process.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// The URL of database `db` on the server of `admin`.
pub fn url_of(admin: &str, db: &str) -> String {
    format!("{}/{db}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin))
}

/// Drops and recreates `db`, migrated.
pub async fn fresh_database(admin_url: &str, db: &str) -> DatabaseConnection {
    let admin = Database::connect(admin_url).await.expect("admin connection");
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {db}")).await.unwrap();
    admin.close().await.ok();
    let conn = Database::connect(url_of(admin_url, db)).await.unwrap();
    Migrator::up(&conn, None).await.unwrap();
    conn
}

pub async fn drop_database(admin_url: &str, db: &str) {
    let admin = Database::connect(admin_url).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await.ok();
    admin.close().await.ok();
}

/// A running `metrics-api serve`; dropping it (also on a panic) kills and reaps it.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size of the server process (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `metrics-api serve` on `port` over `url` with extra arguments and waits until
/// it is ready.
pub async fn start_server(bin: &str, url: &str, port: u16, extra: &[&str]) -> Server {
    let server = Server {
        child: Command::new(bin)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--no-migrate"])
            .args(extra)
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start metrics-api (build it with `cargo build --release`)"),
        port,
    };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..200 {
        if client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("metrics-api did not become ready");
}
