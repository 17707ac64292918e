//! `metrics-api serve` as a child process, for tests of what only the binary does: the
//! command line, background tasks (replica checks, retention), signals and shutdown,
//! several instances on one database.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A running `serve` process; killed when dropped.
pub struct Served {
    child: Child,
    pub url: String,
    pub client: reqwest::Client,
    log: PathBuf,
}

impl Served {
    /// Starts `serve` on a free port over `database_url` with `args`, and waits until it
    /// answers `/healthz`. Its log (stderr) goes to a file, read with [`Served::log`].
    pub async fn start(database_url: &str, args: &[&str]) -> Served {
        let port = free_port();
        let n = super::next_id();
        let log = std::env::temp_dir().join(format!("metrics-serve-{}-{n}.log", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_metrics-api"))
            .arg("serve")
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn metrics-api serve");
        let served = Served {
            child,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder().no_proxy().build().expect("client"),
            log,
        };
        for _ in 0..300 {
            if served.client.get(format!("{}/healthz", served.url)).send().await.is_ok() {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("serve did not come up; its log:\n{}", served.log());
    }

    /// Everything the process has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POSTs a GraphQL request and returns the whole JSON response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        super::post_graphql(&self.client, &self.url, query, variables).await
    }

    /// Runs a query that must succeed and returns its `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "[{}] unexpected errors: {body:#}", self.url);
        body["data"].clone()
    }

    /// `GET path` as JSON (status not checked: `/readyz` answers 503 with a body).
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.client.get(format!("{}{path}", self.url)).send().await.expect("request");
        r.json().await.expect("json body")
    }

    /// `GET path` as text.
    pub async fn get_text(&self, path: &str) -> String {
        self.client.get(format!("{}{path}", self.url)).send().await.expect("request").text().await.expect("text")
    }

    /// Sends SIGTERM (as an orchestrator stopping the instance does).
    pub fn terminate(&self) {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(ok.success());
    }

    /// Waits for the process to exit, at most `within`.
    pub async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "serve did not exit within {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
