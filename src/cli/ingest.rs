//! `metrics-api ingest`: NDJSON files (or standard input) into the read model, batch by
//! batch, with progress on a terminal and one summary line.

use sea_orm::DatabaseConnection;

use super::args::IngestArgs;
use super::out::say;
use super::CliError;

/// `metrics-api ingest`: streams each file, with a progress bar on a terminal, and prints
/// one summary line. On a bad line it stops, saying how far it got.
pub async fn ingest_files(db: &DatabaseConnection, args: &IngestArgs) -> Result<(), CliError> {
    use indicatif::{ProgressBar, ProgressStyle};
    use tokio::io::BufReader;

    let started = std::time::Instant::now();
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut total = crate::ingest::UpsertCounts::default();
    let mut rows = 0u64;
    let batch_size = args.batch_size.max(1);
    let registration = args.writes.project_registration;
    for file in &args.files {
        bar.set_message(file.clone());
        let base = rows;
        let on_rows = |n: u64| bar.set_position(base + n);
        let result = if file == "-" {
            let stdin = BufReader::new(tokio::io::stdin());
            crate::ingest::ndjson::ingest(db, "<stdin>", stdin, batch_size, registration, on_rows).await
        } else {
            let f = tokio::fs::File::open(file).await.map_err(|e| format!("{file}: cannot open: {e}"))?;
            let reader = BufReader::with_capacity(1 << 16, f);
            crate::ingest::ndjson::ingest(db, file, reader, batch_size, registration, on_rows).await
        };
        match result {
            Ok(p) => {
                rows += p.rows;
                total += p.counts;
            }
            Err((err, p)) => {
                bar.finish_and_clear();
                rows += p.rows;
                total += p.counts;
                say!("{}", summary_line(rows, total, started.elapsed()));
                return Err(format!(
                    "stopped at {err}; {} rows of {file} committed (through line {}); fix the line and run again: re-running is safe",
                    p.rows, p.committed_through_line
                )
                .into());
            }
        }
    }
    bar.finish_and_clear();
    say!("{}", summary_line(rows, total, started.elapsed()));
    Ok(())
}

fn summary_line(rows: u64, c: crate::ingest::UpsertCounts, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!(
        "ingested {rows} rows (inserted {}, updated {}, refreshed {}, unchanged {}) in {:.1} s ({:.0} rows/s)",
        c.inserted,
        c.updated,
        c.refreshed,
        c.unchanged,
        secs,
        rows as f64 / secs
    )
}
