//! The command line of `pgfed-operator`. In the library so the manifests test parses every
//! command a Deployment runs with the very definition the binary uses.

use clap::{Parser, Subcommand};
use pgfed_api::crds::command::CrdArgs;

/// pgfed member operator: PostgreSQL clusters on Kubernetes.
#[derive(Parser)]
#[command(name = "pgfed-operator", version, about)]
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
    /// Run the operator (admission webhook, its certificate renewal, metrics).
    Run(crate::webhook::RunArgs),
}
