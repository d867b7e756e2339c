//! `pgfed-operator`: the member operator binary. Thin: parses arguments, calls the library.
#![forbid(unsafe_code)]

use clap::Parser;
use pgfed_operator::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Crd(args) => pgfed_api::crds::command::run(&args).map_err(Into::into),
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
