//! The maintenance subcommands: `migrate`, `seed-demo` and `retention`'s report.

use migration::layout::Layout;
use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;

use super::args::MigrateAction;
use super::out::say;
use super::CliError;
use crate::retention;

pub fn report_seed(outcome: crate::demo::SeedOutcome) {
    match outcome {
        crate::demo::SeedOutcome::Seeded { rows } => say!("demo data loaded: {rows} rows"),
        crate::demo::SeedOutcome::AlreadyHasData => say!("demo data skipped: the database already holds projects"),
    }
}

/// Records the migrations of a database installed from the SQL file as applied (see
/// `migration::adopt`); a database whose objects differ is an error naming them.
pub async fn adopt(db: &DatabaseConnection) -> Result<(), CliError> {
    match migration::adopt::adopt_sql_install(db).await.map_err(|e| format!("migration failed: {e}"))? {
        migration::adopt::Adoption::Recorded(names) => {
            tracing::info!(migrations = ?names, "database installed from the SQL file: recorded as applied")
        }
        migration::adopt::Adoption::NotNeeded => {}
    }
    Ok(())
}

/// Recognises an SQL-file install, then applies pending migrations.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), CliError> {
    adopt(db).await?;
    Migrator::up(db, None).await.map_err(|e| format!("migration failed: {e}"))?;
    Ok(())
}

pub async fn migrate(db: &DatabaseConnection, action: MigrateAction, layout: Option<Layout>) -> Result<(), CliError> {
    if layout.is_some() && action != MigrateAction::Up {
        return Err("--layout, --partitioned and --citus go with `migrate up` (or plain `migrate`)".into());
    }
    match action {
        MigrateAction::Up => {
            adopt(db).await?;
            let pending = Migrator::get_pending_migrations(db).await?.len();
            Migrator::up(db, None).await.map_err(|e| format!("migration failed: {e}"))?;
            say!("applied {pending} migration(s); the database is up to date");
            if let Some(target) = layout {
                let before = migration::layout::current(db).await?;
                migration::layout::apply(db, target).await.map_err(|e| format!("layout change failed: {e}"))?;
                match before == target {
                    true => say!("the tables already have the {target} layout"),
                    false => say!("converted the tables from the {before} layout to the {target} layout"),
                }
            }
        }
        MigrateAction::Down => {
            let applied = Migrator::get_applied_migrations(db).await?;
            match applied.last() {
                Some(last) => {
                    let name = last.name().to_owned();
                    Migrator::down(db, Some(1)).await.map_err(|e| format!("revert failed: {e}"))?;
                    say!("reverted {name}");
                }
                None => say!("nothing to revert: no migration is applied"),
            }
        }
        MigrateAction::Status => {
            say!("layout   {}", migration::layout::current(db).await?);
            for m in Migrator::get_migration_with_status(db).await? {
                let status = match m.status() {
                    migration::MigrationStatus::Applied => "applied",
                    migration::MigrationStatus::Pending => "pending",
                };
                say!("{status:8} {}", m.name());
            }
        }
    }
    Ok(())
}

/// The text `metrics-api retention` prints.
pub fn retention_report(r: &retention::Report, opts: &retention::Options) -> String {
    let mut out = format!(
        "retention as of {} over {} project(s){}\n",
        opts.now.to_rfc3339(),
        r.projects,
        if opts.dry_run { " (dry run: nothing was changed)" } else { "" }
    );
    out += &format!("summary:   deleted {}\n", r.summary.deleted);
    out += &format!(
        "trend:     folded {} hour/day rows into week points ({} new, {} updated); deleted {} (their week was written by a compute job)\n",
        r.trend.folded, r.trend.created, r.trend.updated, r.trend.deleted
    );
    out += &format!("breakdown: deleted {}\n", r.breakdown.deleted);
    out += &format!("drilldown: deleted {}\n", r.drilldown.deleted);
    if !r.unknown_metrics.is_empty() {
        let keys: Vec<&str> = r.unknown_metrics.iter().map(String::as_str).collect();
        out += &format!("unknown metric keys (folded with avg): {}\n", keys.join(", "));
    }
    out
}
