//! The metric catalog: per metric key, how its points fold when downsampled (`sum`, `avg`,
//! `min`, `max`, `last`), its unit and a description.
//!
//! Built-in defaults cover the spec's domain (task cycle time, tasks completed, gate pass
//! rate, integration success rate, WIP); a TOML file (`--catalog` / `METRICS_CATALOG`)
//! adds keys or overrides them:
//!
//! ```toml
//! [metrics.deploys]
//! aggregation = "sum"
//! unit = "deploys"
//! description = "Production deploys in the bucket."
//! ```
//!
//! Unknown keys fold with `avg`, and a retention run reports them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// How the points of a metric fold into one coarser point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// The sum of the values (counts: tasks completed).
    Sum,
    /// The mean of the values (rates, durations).
    Avg,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The value of the latest bucket (levels: work in progress).
    Last,
}

impl Aggregation {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Last => "last",
        }
    }
}

/// One metric of the catalog.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricDef {
    pub aggregation: Aggregation,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub description: String,
}

/// Metric definitions by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub metrics: BTreeMap<String, MetricDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    metrics: BTreeMap<String, MetricDef>,
}

/// Why a catalog file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the metric catalog {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid metric catalog {path}: {message}")]
    Parse { path: String, message: String },
}

fn def(aggregation: Aggregation, unit: &str, description: &str) -> MetricDef {
    MetricDef { aggregation, unit: unit.to_owned(), description: description.to_owned() }
}

impl Default for Catalog {
    /// The spec's domain.
    fn default() -> Self {
        let metrics = BTreeMap::from([
            (
                "task_cycle_time".to_owned(),
                def(Aggregation::Avg, "hours", "Time from a task's start to its completion."),
            ),
            ("tasks_completed".to_owned(), def(Aggregation::Sum, "tasks", "Tasks completed in the bucket.")),
            (
                "gate_pass_rate".to_owned(),
                def(Aggregation::Avg, "ratio", "Share of gate decisions that passed (0 to 1)."),
            ),
            (
                "integration_success_rate".to_owned(),
                def(Aggregation::Avg, "ratio", "Share of integration attempts that succeeded (0 to 1)."),
            ),
            ("wip".to_owned(), def(Aggregation::Last, "tasks", "Tasks in progress at the end of the bucket.")),
        ]);
        Catalog { metrics }
    }
}

impl Catalog {
    /// The built-in defaults, overridden and extended by the file when one is given.
    pub fn load(path: Option<&Path>) -> Result<Self, CatalogError> {
        let mut catalog = Catalog::default();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .map_err(|source| CatalogError::Read { path: path.display().to_string(), source })?;
            catalog
                .merge_toml(&text)
                .map_err(|message| CatalogError::Parse { path: path.display().to_string(), message })?;
        }
        Ok(catalog)
    }

    /// Adds or overrides definitions from TOML text.
    pub fn merge_toml(&mut self, text: &str) -> Result<(), String> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        self.metrics.extend(file.metrics);
        Ok(())
    }

    /// The aggregation of a key; `None` for a key the catalog does not know (callers fold
    /// it with `avg` and report it).
    pub fn aggregation(&self, key: &str) -> Option<Aggregation> {
        self.metrics.get(key).map(|d| d.aggregation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_the_spec_and_files_override() {
        let mut c = Catalog::default();
        assert_eq!(c.aggregation("tasks_completed"), Some(Aggregation::Sum));
        assert_eq!(c.aggregation("wip"), Some(Aggregation::Last));
        assert_eq!(c.aggregation("unknown"), None);
        c.merge_toml(
            "[metrics.wip]\naggregation = \"max\"\n\n[metrics.deploys]\naggregation = \"sum\"\nunit = \"deploys\"\n",
        )
        .unwrap();
        assert_eq!(c.aggregation("wip"), Some(Aggregation::Max));
        assert_eq!(c.metrics["deploys"].unit, "deploys");
        assert!(c.merge_toml("[metrics.x]\naggregation = \"median\"\n").unwrap_err().contains("median"));
        assert!(c.merge_toml("[metrics.x]\naggregation = \"sum\"\ncolour = 1\n").is_err());
    }
}
