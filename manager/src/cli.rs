//! Command-line surface: parses arguments, sets up logging, runs one command and maps its result
//! to an exit status PostgreSQL understands (archive/restore commands must exit 1, never >125, on
//! failure so PostgreSQL retries instead of aborting recovery).

use crate::backup::BackupError;
use crate::config::{ConfigError, ManagerConfig};
use crate::instance::{self, InstanceError, bootstrap};
use crate::wal::WalError;
use crate::wal::restore::RestoreOutcome;
use clap::{Parser, Subcommand, ValueEnum};
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
        /// Acknowledge without uploading: another instance (the target primary) archives this
        /// WAL. Set by the manager on the standbys of a cluster with `archive_mode = always`.
        #[arg(long)]
        skip: bool,
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
        /// On a standby: seconds to wait for the primary to archive the backup's last WAL segment
        /// (it does when it switches segments); then the backup is abandoned with the reason.
        #[arg(long, default_value_t = 600)]
        end_wal_timeout: u64,
    },
    /// Apply `backup.retentionPolicy` to the object store once: remove the base backups outside
    /// the recovery window and the WAL no remaining backup needs. Prints what it removed (with
    /// `--dry-run`, what it would remove) as JSON. The primary's `instance run` does this hourly.
    BackupRetention {
        #[command(flatten)]
        config: ConfigArg,
        /// List and decide, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Instance lifecycle.
    Instance {
        #[command(subcommand)]
        command: InstanceCommand,
    },
    /// Copy this executable to DEST (the init container of an instance pod puts the manager into
    /// the volume the PostgreSQL container runs it from).
    Bootstrap {
        /// Where to install the manager, e.g. /controller/manager.
        dest: PathBuf,
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
        #[arg(long, value_enum, default_value_t = StopArg::Smart)]
        mode: StopArg,
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

/// How `instance stop` stops postgres.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StopArg {
    /// Wait for clients, escalating to fast after `smartShutdownTimeout`.
    Smart,
    /// Disconnect clients; clean shutdown checkpoint.
    Fast,
    /// Abort; crash recovery on the next start.
    Immediate,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `wal-archive`, `wal-restore`.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// `backup`.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// `backup-retention`.
    #[error(transparent)]
    Retention(#[from] crate::backup::retention_run::RetentionError),
    /// `instance …`.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// `bootstrap`.
    #[error(transparent)]
    Install(#[from] crate::install::InstallError),
    /// A result could not be printed as JSON.
    #[error("encoding the result as JSON: {0}")]
    Encode(#[from] serde_json::Error),
}

impl CliError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            CliError::Config(e) => e.label(),
            CliError::Wal(e) => e.label(),
            CliError::Backup(e) => e.label(),
            CliError::Retention(e) => e.label(),
            CliError::Instance(e) => e.label(),
            CliError::Install(e) => e.label(),
            CliError::Encode(_) => "encode",
        }
    }
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
        Err(e) => {
            // Errors never hold statement text or secret values (see `pg::sql`), so they can be
            // shown whole.
            tracing::error!(error = %e, cause = e.label(), "command failed");
            eprintln!("manager: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(c: &ConfigArg) -> Result<ManagerConfig, ConfigError> {
    ManagerConfig::load(&c.config)
}

async fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::WalArchive { config, path, skip } => {
            if skip && crate::wal::archive::left_to_the_target_primary(&path) {
                tracing::debug!(wal = %path.display(), "left to the target primary to archive");
                return Ok(ExitCode::SUCCESS);
            }
            let cfg = load(&config)?;
            let outcome = crate::wal::archive::wal_archive(&cfg, &path).await?;
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
            match crate::wal::restore::wal_restore(&cfg, from.as_deref(), &name, &dest).await? {
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
            end_wal_timeout,
        } => {
            let cfg = load(&config)?;
            let options = crate::backup::take::BackupOptions {
                backup_id,
                archive_stall_timeout: std::time::Duration::from_secs(archive_stall_timeout),
                end_wal_timeout: std::time::Duration::from_secs(end_wal_timeout),
            };
            let report = crate::backup::take::take_backup(&cfg, &options, &|_| {}).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::BackupRetention { config, dry_run } => {
            let cfg = load(&config)?;
            let outcome =
                crate::backup::retention_run::run_pass(&cfg, chrono::Utc::now(), dry_run).await?;
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Instance { command } => run_instance(command).await,
        Command::Bootstrap { dest } => {
            crate::install::install_self(&dest)?;
            tracing::info!(dest = %dest.display(), "manager installed");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_instance(command: InstanceCommand) -> Result<ExitCode, CliError> {
    let pg = |e: crate::pg::PgError| CliError::Instance(e.into());
    match command {
        InstanceCommand::Init(c) => {
            bootstrap::bootstrap(&load(&c)?, &c.config, bootstrap::Method::Init).await?;
        }
        InstanceCommand::Restore(c) => {
            let made =
                bootstrap::bootstrap(&load(&c)?, &c.config, bootstrap::Method::Restore).await?;
            println!("{}", made.backup_id.unwrap_or_default());
        }
        InstanceCommand::Join(c) => {
            bootstrap::bootstrap(&load(&c)?, &c.config, bootstrap::Method::Join).await?;
        }
        InstanceCommand::Run(c) => {
            if let Err(e) = crate::run::supervisor::run(c.config.clone()).await {
                tracing::error!(error = %e, cause = e.label(), "instance run failed");
                eprintln!("manager: {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
        InstanceCommand::Status(c) => {
            let cfg = load(&c)?;
            let st = crate::run::status::collect(&cfg, cfg.fenced).await;
            println!("{}", serde_json::to_string_pretty(&st)?);
        }
        InstanceCommand::Start(c) => {
            let cfg = load(&c)?;
            bootstrap::require_complete(&cfg).map_err(InstanceError::from)?;
            crate::pg::ctl::start(&cfg, 3600).map_err(pg)?
        }
        InstanceCommand::Stop { config, mode } => {
            let cfg = load(&config)?;
            match mode {
                StopArg::Smart => crate::pg::ctl::shutdown(&cfg, cfg.smart_shutdown_timeout),
                StopArg::Fast => crate::pg::ctl::stop(&cfg, crate::pg::ctl::StopMode::Fast, 600),
                StopArg::Immediate => {
                    crate::pg::ctl::stop(&cfg, crate::pg::ctl::StopMode::Immediate, 600)
                }
            }
            .map_err(pg)?
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
