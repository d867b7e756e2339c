//! `kubectl-pgfed`: the kubectl plugin binary (`kubectl pgfed …`). Thin: parses arguments and
//! calls the library.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use kubectl_pgfed::federation::Follow;
use kubectl_pgfed::output::Format;
use pgfed_api::validation::formats::parse_duration;
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
    /// Create a Backup of a cluster (its phase then shows in `kubectl get backup`).
    Backup {
        /// The Cluster.
        cluster: String,
        /// Name of the Backup (default: `<cluster>-<UTC time>`).
        #[arg(long)]
        name: Option<String>,
        /// `barmanObjectStore` or `volumeSnapshot` (default: barmanObjectStore).
        #[arg(long)]
        method: Option<String>,
        /// `primary` or `prefer-standby` (default: the cluster's backup.target).
        #[arg(long)]
        target: Option<String>,
        /// Namespace of the Cluster (default: the kubeconfig's).
        #[arg(short = 'n', long = "namespace")]
        namespace: Option<String>,
    },
    /// Show a cluster: phase, primary, instances, conditions, backups, certificates.
    Status {
        /// The Cluster.
        cluster: String,
        /// Namespace of the Cluster (default: the kubeconfig's).
        #[arg(short = 'n', long = "namespace")]
        namespace: Option<String>,
        /// text, or the Cluster's status as json or yaml.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Federations: several clusters in several regions with one primary region.
    #[command(subcommand)]
    Federation(FederationCommand),
}

#[derive(Subcommand)]
enum FederationCommand {
    /// Show a federation: primary region, members and their lag, switchover, failover.
    Status {
        /// The Federation.
        name: String,
        /// Namespace of the Federation (default: the kubeconfig's).
        #[arg(short = 'n', long = "namespace")]
        namespace: Option<String>,
        /// text, or the Federation's status as json or yaml.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Move the primary to another member (sets spec.primary) and follow the switchover.
    Switchover {
        /// The Federation.
        name: String,
        /// The member to hold the primary.
        member: String,
        /// Namespace of the Federation (default: the kubeconfig's).
        #[arg(short = 'n', long = "namespace")]
        namespace: Option<String>,
        /// Return once spec.primary is set, without following the switchover.
        #[arg(long)]
        no_wait: bool,
        /// How long to follow it (e.g. 90s, 10m); the switchover goes on after that.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        timeout: std::time::Duration,
    },
}

/// Runs `command` with a client of the kubeconfig's cluster and the namespace (the given one,
/// else the kubeconfig's) on a one-thread runtime; prints what it returns, a line on success or
/// the error on failure.
fn with_client<F, Fut>(namespace: Option<String>, command: F) -> ExitCode
where
    F: FnOnce(kube::Client, String) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
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
        match command(client, namespace).await {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Promote {
            cluster,
            instance,
            namespace,
        } => with_client(namespace, |client, namespace| async move {
            kubectl_pgfed::promote::promote(client, &namespace, &cluster, &instance)
                .await
                .map(|target| format!(
                    "switchover of {namespace}/{cluster} to {target} requested; follow it with `kubectl get cluster {cluster} -n {namespace} -w`"
                ))
                .map_err(|e| e.to_string())
        }),
        Command::Backup {
            cluster,
            name,
            method,
            target,
            namespace,
        } => with_client(namespace, |client, namespace| async move {
            let request = kubectl_pgfed::backup::Request {
                cluster,
                name,
                method,
                target,
            };
            kubectl_pgfed::backup::create(client, &namespace, &request)
                .await
                .map(|name| format!(
                    "backup {namespace}/{name} requested; follow it with `kubectl get backup {name} -n {namespace} -w`"
                ))
                .map_err(|e| e.to_string())
        }),
        Command::Status {
            cluster,
            namespace,
            output,
        } => with_client(namespace, |client, namespace| async move {
            kubectl_pgfed::cluster_status::status(client, &namespace, &cluster, output)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Federation(FederationCommand::Status {
            name,
            namespace,
            output,
        }) => with_client(namespace, |client, namespace| async move {
            kubectl_pgfed::federation::status(client, &namespace, &name, output)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Federation(FederationCommand::Switchover {
            name,
            member,
            namespace,
            no_wait,
            timeout,
        }) => with_client(namespace, |client, namespace| async move {
            let follow = Follow {
                wait: (!no_wait).then_some(timeout),
            };
            kubectl_pgfed::federation::switchover(
                client,
                &namespace,
                &name,
                &member,
                follow,
                |line| println!("{line}"),
            )
            .await
            .map_err(|e| e.to_string())
        }),
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
