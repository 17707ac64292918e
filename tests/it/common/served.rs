//! The `metrics-api serve` binary on a free port, for tests of what only the binary does
//! (migrating at start, the retention schedule, settings from the environment).

use serde_json::json;

/// `metrics-api serve` on a free port, until dropped (the child is killed by its handle).
pub struct Served {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn serve(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-api"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(args)
        .envs(env.iter().copied())
        .env("DATABASE_URL", database_url)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start serve");
    let served = Served { child, url: format!("http://127.0.0.1:{port}") };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{}/healthz", served.url)).send().await {
            if r.status().is_success() {
                return served;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("serve did not start");
}

pub async fn post(url: &str, query: &str, variables: serde_json::Value) -> serde_json::Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = client.post(format!("{url}/graphql")).json(&json!({ "query": query, "variables": variables })).send().await;
    r.unwrap().json().await.unwrap()
}
