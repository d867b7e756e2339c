//! `pgfed-operator`: the member operator binary. Thin: parses arguments, calls the library.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use pgfed_operator::crd_command::{self, CrdArgs};
use std::process::ExitCode;

/// pgfed member operator: PostgreSQL clusters on Kubernetes.
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
    /// Run the operator (admission webhook).
    Run(pgfed_operator::webhook::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Crd(args) => crd_command::run(&args).map_err(Into::into),
        Command::Run(args) => {
            pgfed_operator::telemetry::init_json_logs();
            match tokio::runtime::Runtime::new() {
                Ok(rt) => rt
                    .block_on(pgfed_operator::webhook::run(args))
                    .map_err(Into::into),
                Err(e) => Err(e.into()),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
