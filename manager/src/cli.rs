//! Command-line surface: parses arguments, sets up logging, runs one command and maps its result
//! to an exit status PostgreSQL understands (archive/restore commands must exit 1, never >125, on
//! failure so PostgreSQL retries instead of aborting recovery).

use crate::config::ManagerConfig;
use crate::instance;
use crate::wal::restore::RestoreOutcome;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "manager", version, about = "pgfed instance manager")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// Manager configuration file (JSON or YAML).
    #[arg(long, env = "PGFED_CONFIG", default_value = "/etc/pgfed/config.json")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// archive_command: archive a WAL file (path relative to PGDATA).
    WalArchive {
        #[command(flatten)]
        config: ConfigArg,
        /// `%p`.
        path: PathBuf,
    },
    /// restore_command: restore WAL file `name` to `dest`.
    WalRestore {
        #[command(flatten)]
        config: ConfigArg,
        /// Read from this external cluster's object store.
        #[arg(long)]
        from: Option<String>,
        /// `%f`.
        name: String,
        /// `%p`.
        dest: PathBuf,
    },
    /// Take a base backup of the local instance into the object store.
    Backup {
        #[command(flatten)]
        config: ConfigArg,
        /// Backup ID (default: the current UTC time, Barman's format).
        #[arg(long)]
        backup_id: Option<String>,
        /// Seconds WAL archiving may keep failing, without archiving anything, while the backup
        /// waits for its last segment; then the backup is abandoned with the reason.
        #[arg(long, default_value_t = 300)]
        archive_stall_timeout: u64,
    },
    /// Instance lifecycle.
    Instance {
        #[command(subcommand)]
        command: InstanceCommand,
    },
}

#[derive(Subcommand)]
enum InstanceCommand {
    /// Create a new primary with initdb.
    Init(ConfigArg),
    /// Bootstrap from a base backup in an external cluster's object store.
    Restore(ConfigArg),
    /// Clone a standby from a running primary with pg_basebackup (TLS client certificate).
    Join(ConfigArg),
    /// Run as PID 1: supervise postgres, serve probes, status and metrics.
    Run(ConfigArg),
    /// Print the instance status document (JSON).
    Status(ConfigArg),
    /// Start postgres (pg_ctl) and wait until it accepts connections.
    Start(ConfigArg),
    /// Stop postgres.
    Stop {
        #[command(flatten)]
        config: ConfigArg,
        /// smart (escalating to fast after smartShutdownTimeout), fast or immediate.
        #[arg(long, default_value = "smart")]
        mode: String,
    },
    /// Demote the primary: clean shutdown, WAL and the final .partial archived; prints the token.
    Demote(ConfigArg),
    /// Promote this standby; with a token only once replayed exactly to it.
    Promote {
        #[command(flatten)]
        config: ConfigArg,
        /// Demotion token of the former primary.
        #[arg(long, env = "PGFED_PROMOTION_TOKEN")]
        token: Option<String>,
        /// Seconds to wait for the token's LSN.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Reconfigure as a standby of the configured replica source (leaves postgres stopped).
    Follow(ConfigArg),
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PGFED_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    // A pg_ctl or pg_rewind that SIGTERM abandoned still runs on a blocking thread; do not wait
    // for it to exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("manager: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load(c: &ConfigArg) -> Result<ManagerConfig, String> {
    ManagerConfig::load(&c.config).map_err(|e| e.to_string())
}

async fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::WalArchive { config, path } => {
            let cfg = load(&config)?;
            let outcome = crate::wal::archive::wal_archive(&cfg, &path)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(wal = %path.display(), ?outcome, "archived");
            Ok(ExitCode::SUCCESS)
        }
        Command::WalRestore {
            config,
            from,
            name,
            dest,
        } => {
            let cfg = load(&config)?;
            match crate::wal::restore::wal_restore(&cfg, from.as_deref(), &name, &dest)
                .await
                .map_err(|e| e.to_string())?
            {
                RestoreOutcome::NotFound => {
                    tracing::info!(wal = %name, "not found in the archive");
                    Ok(ExitCode::FAILURE)
                }
                outcome => {
                    tracing::info!(wal = %name, ?outcome, "restored");
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Backup {
            config,
            backup_id,
            archive_stall_timeout,
        } => {
            let cfg = load(&config)?;
            let stall = std::time::Duration::from_secs(archive_stall_timeout);
            let report = crate::backup::take::take_backup(&cfg, backup_id, stall)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&report).map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Instance { command } => run_instance(command).await.map_err(|e| e.to_string()),
    }
}

async fn run_instance(command: InstanceCommand) -> Result<ExitCode, instance::InstanceError> {
    let load =
        |c: &ConfigArg| ManagerConfig::load(&c.config).map_err(instance::InstanceError::from);
    match command {
        InstanceCommand::Init(c) => instance::init::init(&load(&c)?, &c.config).await?,
        InstanceCommand::Restore(c) => {
            let id = instance::restore::restore(&load(&c)?, &c.config).await?;
            println!("{id}");
        }
        InstanceCommand::Join(c) => instance::join::join(&load(&c)?, &c.config)?,
        InstanceCommand::Run(c) => {
            if let Err(e) = crate::run::supervisor::run(c.config.clone()).await {
                tracing::error!(error = %e, label = e.label(), "instance run failed");
                eprintln!("manager: {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
        InstanceCommand::Status(c) => {
            let cfg = load(&c)?;
            let st = crate::run::status::collect(&cfg, cfg.fenced).await;
            println!(
                "{}",
                serde_json::to_string_pretty(&st)
                    .map_err(|e| instance::InstanceError::Refused(e.to_string()))?
            );
        }
        InstanceCommand::Start(c) => crate::pg::ctl::start(&load(&c)?, 3600)?,
        InstanceCommand::Stop { config, mode } => {
            let cfg = load(&config)?;
            match mode.as_str() {
                "smart" => crate::pg::ctl::shutdown(&cfg, cfg.smart_shutdown_timeout)?,
                "fast" => crate::pg::ctl::stop(&cfg, crate::pg::ctl::StopMode::Fast, 600)?,
                "immediate" => {
                    crate::pg::ctl::stop(&cfg, crate::pg::ctl::StopMode::Immediate, 600)?
                }
                other => {
                    return Err(instance::InstanceError::Refused(format!(
                        "unknown stop mode {other:?}: use smart, fast or immediate"
                    )));
                }
            }
        }
        InstanceCommand::Demote(c) => {
            let token = instance::demote::demote(&load(&c)?, &c.config).await?;
            println!("{}", token.encode());
        }
        InstanceCommand::Promote {
            config,
            token,
            timeout,
        } => {
            instance::promote::promote(
                &load(&config)?,
                &config.config,
                token.as_deref(),
                Duration::from_secs(timeout),
            )
            .await?
        }
        InstanceCommand::Follow(c) => instance::follow::follow(&load(&c)?, &c.config)?,
    }
    Ok(ExitCode::SUCCESS)
}
