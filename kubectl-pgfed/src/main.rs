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
    /// Switch the primary of a cluster over to another instance (a name like pg-2, or 2).
    Promote {
        /// The Cluster.
        cluster: String,
        /// The instance to promote.
        instance: String,
        /// Namespace of the Cluster (default: the kubeconfig's).
        #[arg(short = 'n', long = "namespace")]
        namespace: Option<String>,
    },
}

async fn promote(namespace: Option<String>, cluster: &str, instance: &str) -> ExitCode {
    // Dependencies enable both of rustls' crypto backends; choose one (Err: already chosen).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot reach the Kubernetes API server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    match kubectl_pgfed::promote::promote(client, &namespace, cluster, instance).await {
        Ok(target) => {
            println!(
                "switchover of {namespace}/{cluster} to {target} requested; follow it with `kubectl get cluster {cluster} -n {namespace} -w`"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Promote {
            cluster,
            instance,
            namespace,
        } => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(promote(namespace, &cluster, &instance)),
            Err(e) => {
                eprintln!("cannot start: {e}");
                ExitCode::FAILURE
            }
        },
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
