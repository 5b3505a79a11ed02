//! The `brevduva` binary: parse the command line, set up logging, run the command.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    brevduva::telemetry::init();
    let cli = brevduva::cli::Cli::parse();
    match brevduva::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
