//! The `relreg` binary: parses the command line and runs it.

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    relreg::cli::Cli::parse().run().await
}
