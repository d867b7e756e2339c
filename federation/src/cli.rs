//! The command line of `pgfed-federation`. In the library so the manifests test parses the
//! command the Deployment runs with the very definition the binary uses.

use clap::{Parser, Subcommand};
use pgfed_operator::crd_command::CrdArgs;

/// pgfed federation controller: one PostgreSQL primary across regions.
#[derive(Parser)]
#[command(name = "pgfed-federation", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions of the pgfed.io/v1 API.
    Crd(CrdArgs),
    /// Run the controller (leader election, the Federation controller, metrics).
    Run(crate::run::RunArgs),
}
