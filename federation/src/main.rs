//! `pgfed-federation`: the federation controller binary. Thin: parses arguments, calls the library.
#![forbid(unsafe_code)]

use clap::Parser;
use pgfed_federation::cli::{Cli, Command};
use pgfed_operator::crd_command;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Crd(args) => crd_command::run(args).map_err(|e| e.to_string()),
        Command::Run(args) => {
            pgfed_operator::telemetry::init_json_logs();
            match tokio::runtime::Runtime::new() {
                Ok(rt) => rt
                    .block_on(pgfed_federation::run::run(args))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
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
