//! The `metrics-api` binary: parse the command line, set up logging, run the command.

use clap::Parser;

/// mimalloc instead of the C library's allocator: a request allocates and frees thousands
/// of small objects (GraphQL values, rows, JSON), and glibc's arenas and consolidation
/// were a quarter of the server's CPU under load (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = metrics_api::cli::Cli::parse();
    metrics_api::cli::init_tracing(cli.log_format);
    match metrics_api::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
