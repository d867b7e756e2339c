//! `kubectl-pgfed`: the kubectl plugin binary (`kubectl pgfed …`). Thin: parses arguments and
//! calls the library.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// kubectl plugin for pgfed PostgreSQL clusters and federations.
#[derive(Parser)]
#[command(name = "kubectl-pgfed", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check pgfed manifests offline with the admission webhook's defaulting and validation.
    Validate {
        /// Manifest files (multi-document YAML; non-pgfed documents are skipped).
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Validate { files } => {
            let mut problems = 0;
            let mut checked = 0;
            for file in &files {
                let (findings, n) = kubectl_pgfed::validate::validate_file(file);
                checked += n;
                for f in &findings {
                    println!(
                        "{}[{}] {}: {}",
                        f.file.display(),
                        f.document,
                        f.object,
                        f.message
                    );
                }
                problems += findings.len();
            }
            if problems == 0 {
                println!("{checked} pgfed object(s) valid");
                ExitCode::SUCCESS
            } else {
                println!("{problems} problem(s) in {checked} pgfed object(s)");
                ExitCode::FAILURE
            }
        }
    }
}
