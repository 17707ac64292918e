//! Streaming NDJSON files into batches: one row a line, with a `kind` field (`summary`,
//! `trend`, `breakdown`, `drilldown`) and the columns of that table.
//!
//! Memory stays flat whatever the file size: lines are read one at a time and at most one
//! batch is held. Each full batch is one transaction. On a bad line, the rows before it
//! are committed and the run stops with the file, line number and reason; since every
//! write is an idempotent upsert, re-running after fixing the line is safe.
//!
//! The same natural key on two lines: the later line wins, whether the two fall in one
//! batch or in two, so the stored result does not depend on `--batch-size`.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use uuid::Uuid;

use super::rows::{BreakdownPointInput, DrilldownInput, Row, SummaryInput, TrendPointInput};
use super::upsert::{self, Batch};
use super::{IngestError, ProjectRegistration, UpsertCounts};
use crate::identity::normalize_time;

/// One line of an NDJSON file.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Line {
    Summary(SummaryInput),
    Trend(TrendPointInput),
    Breakdown(BreakdownPointInput),
    Drilldown(DrilldownInput),
}

/// How far a run got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Rows committed.
    pub rows: u64,
    /// The last line whose row is committed (0: none).
    pub committed_through_line: u64,
    pub counts: UpsertCounts,
}

/// Why a run stopped before the end of a file.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("{file}:{line}: {reason}")]
    BadLine { file: String, line: u64, reason: String },
    #[error("{file}: cannot read: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: writing the batch ending at line {line} failed: {source}")]
    Write { file: String, line: u64, source: IngestError },
    #[error("{file}:{line}: {reason} (the batch holding the line was not written)")]
    Refused { file: String, line: u64, reason: String },
}

/// A batch being filled, with the line of each row.
#[derive(Default)]
struct Pending {
    batch: Batch,
    /// Where each natural key sits in its table's rows, so a later line replaces it.
    at: HashMap<Uuid, usize>,
    /// The line of each row, per table in [`Batch`] order (summaries, trends, breakdowns,
    /// drilldowns), to name the line of a row the write refuses.
    lines: [Vec<u64>; 4],
    last_line: u64,
}

impl Pending {
    /// Adds a row; a natural key already in this batch is replaced (the last line wins,
    /// as it does across batches, so the result does not depend on `--batch-size`).
    fn add<R: Row>(&mut self, table: usize, rows: impl Fn(&mut Batch) -> &mut Vec<R>, row: R, line: u64) {
        let rows = rows(&mut self.batch);
        match self.at.get(&row.id()) {
            Some(&i) => {
                rows[i] = row;
                self.lines[table][i] = line;
            }
            None => {
                self.at.insert(row.id(), rows.len());
                rows.push(row);
                self.lines[table].push(line);
            }
        }
        self.last_line = line;
    }

    async fn flush(
        &mut self,
        db: &DatabaseConnection,
        file: &str,
        registration: ProjectRegistration,
        progress: &mut Progress,
    ) -> Result<(), StopError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let lines: Vec<u64> = std::mem::take(&mut self.lines).into_iter().flatten().collect();
        self.at.clear();
        let n = batch.len() as u64;
        let counts = upsert::write(db, batch, registration).await.map_err(|source| match source {
            IngestError::InvalidRow(e) => StopError::Refused {
                file: file.to_owned(),
                line: lines.get(e.index).copied().unwrap_or(self.last_line),
                reason: format!("`{}` {}", e.field, e.reason),
            },
            source => StopError::Write { file: file.to_owned(), line: self.last_line, source },
        })?;
        progress.rows += n;
        progress.counts += counts;
        progress.committed_through_line = self.last_line;
        Ok(())
    }
}

/// Parses and validates one line into the pending batch.
fn accept(pending: &mut Pending, text: &str, line: u64) -> Result<(), String> {
    let parsed: Line = serde_json::from_str(text).map_err(|e| format!("invalid row: {e}"))?;
    let now = normalize_time(Utc::now());
    let field = |(f, reason): (&'static str, String)| format!("`{f}` {reason}");
    match parsed {
        Line::Summary(r) => pending.add(0, |b| &mut b.summaries, r.into_row(now).map_err(field)?, line),
        Line::Trend(r) => pending.add(1, |b| &mut b.trends, r.into_row(now).map_err(field)?, line),
        Line::Breakdown(r) => pending.add(2, |b| &mut b.breakdowns, r.into_row(now).map_err(field)?, line),
        Line::Drilldown(r) => pending.add(3, |b| &mut b.drilldowns, r.into_row(now).map_err(field)?, line),
    }
    Ok(())
}

/// Rows per transaction of `metrics-api ingest` unless `--batch-size` says otherwise: big
/// enough that commits do not dominate, small enough that a bad line costs little rework.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// Reads one NDJSON stream to its end, committing every `batch_size` rows. `on_rows` is
/// called after each commit with the rows committed so far (for a progress bar).
pub async fn ingest<R: AsyncBufRead + Unpin>(
    db: &DatabaseConnection,
    file: &str,
    reader: R,
    batch_size: usize,
    registration: ProjectRegistration,
    mut on_rows: impl FnMut(u64),
) -> Result<Progress, (StopError, Progress)> {
    let mut progress = Progress::default();
    let mut pending = Pending::default();
    let mut lines = reader.lines();
    loop {
        let text = match lines.next_line().await {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(source) => {
                let flushed = pending.flush(db, file, registration, &mut progress).await;
                let err = StopError::Read { file: file.to_owned(), source };
                return Err((flushed.err().unwrap_or(err), progress));
            }
        };
        progress.lines += 1;
        let line = progress.lines;
        if text.trim().is_empty() {
            continue;
        }
        if let Err(reason) = accept(&mut pending, &text, line) {
            // The rows before the bad line are good: commit them, then stop.
            if let Err(e) = pending.flush(db, file, registration, &mut progress).await {
                return Err((e, progress));
            }
            return Err((StopError::BadLine { file: file.to_owned(), line, reason }, progress));
        }
        if pending.batch.len() >= batch_size {
            if let Err(e) = pending.flush(db, file, registration, &mut progress).await {
                return Err((e, progress));
            }
            on_rows(progress.rows);
        }
    }
    if let Err(e) = pending.flush(db, file, registration, &mut progress).await {
        return Err((e, progress));
    }
    on_rows(progress.rows);
    Ok(progress)
}
