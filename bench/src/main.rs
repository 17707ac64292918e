//! `metrics-bench`: benchmarks of metrics-api against a release build and a real
//! PostgreSQL. Benchmarks report numbers; the test suite asserts behaviour. Results and
//! the commands that produced them are in `docs/PERFORMANCE.md`.
//!
//! # Layout
//! - [`server`]: benchmark databases and the `metrics-api serve` child process.
//! - [`ingest`]: write throughput against a raw `INSERT`.
//! - [`dataset`]: the generated dataset, and the retention job timed over it.
//! - [`load`]: the dashboard query mix over HTTP against the same SQL run directly.
//! - [`sizes`]: bytes per row and rows per project per day, for `docs/SCALING.md`.

mod cpu;
mod dataset;
mod ingest;
mod load;
mod server;
mod sizes;

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "metrics-bench", about = "Benchmarks of metrics-api")]
struct Cli {
    /// PostgreSQL server to create the benchmark databases on.
    #[arg(long, env = "BENCH_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    admin_url: String,
    /// The metrics-api binary to run (a release build).
    #[arg(long, env = "METRICS_API_BIN", default_value = "target/release/metrics-api")]
    bin: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingest throughput: raw INSERT vs upsertTrendPoints over HTTP vs the NDJSON CLI.
    Ingest {
        /// Trend points to write.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Rows per API call and per CLI transaction.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
    },
    /// Generate the benchmark dataset (database `metrics_bench`).
    Generate {
        /// Projects to generate (2,160 hourly points per metric, 10 metrics, each).
        #[arg(long, default_value_t = 500)]
        projects: usize,
    },
    /// The dashboard query mix over HTTP, with the raw-SQL baseline in the same run.
    Load {
        /// How long each shape runs at each concurrency.
        #[arg(long, default_value = "10s")]
        duration: humantime::Duration,
        /// Concurrencies, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        concurrency: Vec<usize>,
    },
    /// Time the retention job over a copy of the dataset, 30 days after it ends.
    Retention {
        /// Convert the copy to the partitioned layout first (`metrics-api migrate
        /// --partitioned`, timed apart), so retention drops whole expired months.
        #[arg(long)]
        partitioned: bool,
        /// Run retention this many days after the dataset ends (30: a third of the hourly
        /// points past the horizon; 60: two thirds, whole months expired).
        #[arg(long, default_value_t = 30)]
        after_days: i64,
    },
    /// Bytes per row and rows per project per day of each table, measured on a small
    /// generated dataset (its own database), projected to 1k/10k/100k projects.
    Sizes {
        /// Projects to generate for the measurement.
        #[arg(long, default_value_t = 50)]
        projects: usize,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Ingest { rows, batch } => ingest::run(&cli.admin_url, &cli.bin, rows, batch).await,
        Cmd::Generate { projects } => dataset::generate(&cli.admin_url, dataset::DB, projects).await,
        Cmd::Sizes { projects } => sizes::run(&cli.admin_url, projects).await,
        Cmd::Load { duration, concurrency } => {
            let d: Duration = duration.into();
            load::run(&cli.admin_url, &cli.bin, d, &concurrency).await;
        }
        Cmd::Retention { partitioned, after_days } => {
            dataset::retention(&cli.admin_url, &cli.bin, partitioned, after_days).await
        }
    }
}
