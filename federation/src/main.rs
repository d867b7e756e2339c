//! `pgfed-federation`: the federation controller binary. Thin: parses arguments, calls the library.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use pgfed_operator::crd_command::{self, CrdArgs};
use std::process::ExitCode;

/// pgfed federation controller: one PostgreSQL primary across regions.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions of the pgfed.io/v1 API.
    Crd(CrdArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Crd(args) => crd_command::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
