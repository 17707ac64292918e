//! The command line: [`args`] parses it (clap, with every default read from the domain
//! types), and one module per group of subcommands does the work. `main` parses and
//! calls [`run`]; errors come back as one line for the terminal.
//!
//! - [`args`]: the parser, and the conversions from arguments to settings;
//! - [`serve`]: the server and its retention loop;
//! - [`ingest`]: NDJSON ingest;
//! - [`admin`]: `migrate`, `seed-demo`, the retention report;
//! - [`out`]: standard output that a closed pipe does not turn into a panic.

pub mod admin;
pub mod args;
pub mod ingest;
pub mod out;
pub mod serve;

use self::out::{say, say_raw};

use sea_orm::DatabaseConnection;

pub use self::args::{Cli, LogFormat};
use self::args::{Command, MigrateAction};
use crate::catalog::Catalog;
use crate::db::{self, PoolSettings, StatementCounter};
use crate::retention;

/// An error a subcommand reports, as one line.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`, quiet SQL); one JSON object a
/// line with `json` (for log pipelines), human-readable text otherwise. Colours only when
/// stderr is a terminal and `NO_COLOR` is unset: escape codes in a log file or a pipe are
/// noise to every reader and tool.
pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs one subcommand.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Schema => {
            say_raw!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Migrate { action, layout } => {
            let (db, _) = connect(&cli.database_url).await?;
            admin::migrate(&db, action.unwrap_or(MigrateAction::Up), layout.target()).await
        }
        Command::SeedDemo => {
            let (db, _) = connect(&cli.database_url).await?;
            admin::migrate_up(&db).await?;
            admin::report_seed(crate::demo::seed(&db, chrono::Utc::now()).await?);
            Ok(())
        }
        Command::Serve(args) => serve::serve(&cli.database_url, Catalog::load(cli.catalog.as_deref())?, *args).await,
        Command::Token(args) => {
            let auth = args.auth.auth_config()?.ok_or("`token` needs --jwt-secret (or JWT_SECRET)")?;
            let projects = crate::auth::parse_projects(&args.projects)?;
            let token = auth
                .mint(projects, &args.scope, args.ttl.into())
                .ok_or("tokens can only be minted with an HS256 secret (--jwt-secret)")?;
            say!("{token}");
            Ok(())
        }
        Command::Retention(args) => {
            let (db, _) = connect(&cli.database_url).await?;
            let catalog = Catalog::load(cli.catalog.as_deref())?;
            let opts = retention::Options {
                now: args.now.unwrap_or_else(chrono::Utc::now),
                project: args.project,
                dry_run: args.dry_run,
            };
            let report = retention::run(&db, &catalog, &retention::Policy::default(), opts)
                .await
                .map_err(|e| format!("retention failed: {e}"))?;
            say_raw!("{}", admin::retention_report(&report, &opts));
            Ok(())
        }
        Command::Ingest(args) => {
            let (db, _) = connect(&cli.database_url).await?;
            admin::migrate_up(&db).await?;
            ingest::ingest_files(&db, &args).await
        }
    }
}

async fn connect(url: &str) -> Result<(DatabaseConnection, StatementCounter), CliError> {
    Ok(db::connect(url, &PoolSettings::default()).await?)
}
