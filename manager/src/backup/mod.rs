//! Base backups in object storage, Barman Cloud layout: `base/<backupId>/backup.info` and
//! `data.tar` (split into `data_0001.tar`… for parallel streams) plus `<oid>.tar` per tablespace.

pub mod archiver_watch;
pub mod end_wal;
pub mod fetch;
pub mod files;
mod pg_backup;
pub mod retention;
pub mod retention_run;
pub mod stream;
pub mod take;

use crate::compression::CompressionError;
use crate::config::ConfigError;
use crate::objstore::StoreError;
use crate::pg::PgError;
use pgfed_api::barman::backup_info::InfoError;
use pgfed_api::barman::backup_label::LabelError;
use pgfed_api::lsn::InvalidLsn;
use std::path::PathBuf;

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Object store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// PostgreSQL.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// Compression.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// backup.info.
    #[error(transparent)]
    Info(#[from] InfoError),
    /// The backup_label pg_backup_stop returned.
    #[error(transparent)]
    Label(#[from] LabelError),
    /// pg_backup_start or pg_backup_stop returned an LSN that is not one.
    #[error("the server returned a backup position that is not an LSN: {0}")]
    StopLsn(#[from] InvalidLsn),
    /// Local I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A backup with this ID is already in the store: never overwritten.
    #[error("backup {backup_id} already exists in {url}")]
    AlreadyExists {
        /// Backup ID.
        backup_id: String,
        /// Destination.
        url: String,
    },
    /// pg_backup_stop waited for WAL archiving that keeps failing without progress.
    #[error(
        "backup abandoned: pg_backup_stop is waiting for WAL archiving, which has failed \
         {failures} time(s) and archived nothing for {stalled_secs}s (last failure: \
         {last_failed_wal} at {last_failed_at}); check the object store and the archive_command \
         log. No WAL and no earlier backup was touched"
    )]
    ArchivingStalled {
        /// Failed attempts since the backup began waiting.
        failures: i64,
        /// How long nothing was archived.
        stalled_secs: u64,
        /// pg_stat_archiver.last_failed_wal.
        last_failed_wal: String,
        /// pg_stat_archiver.last_failed_time.
        last_failed_at: String,
    },
    /// A backup taken on a standby: the primary did not archive its last WAL segment in time.
    #[error(
        "backup abandoned: its last WAL segment {segment} was not archived by the primary within \
         {waited_secs}s{}; a backup taken on a standby is usable only with it",
        last_error.as_deref().map(|e| format!(" (last object store error: {e})")).unwrap_or_default()
    )]
    EndWalNotArchived {
        /// The segment.
        segment: String,
        /// How long the backup waited.
        waited_secs: u64,
        /// The last listing error, when the object store failed.
        last_error: Option<String>,
    },
    /// One of the backup's streams ended before its part was done.
    #[error("{0}")]
    Interrupted(Interruption),
    /// A worker task panicked or was cancelled.
    #[error("{task} task: {source}")]
    Task {
        /// Which task.
        task: &'static str,
        /// Cause.
        source: tokio::task::JoinError,
    },
    /// A restore needs an empty data directory.
    #[error("{} is not empty; restore needs an empty data directory", .0.display())]
    NotEmpty(PathBuf),
    /// An object in a backup's directory that is neither data.tar nor a tablespace tar.
    #[error("unexpected object {object} in {dir}")]
    UnexpectedObject {
        /// Object name.
        object: String,
        /// Backup directory.
        dir: String,
    },
    /// A tablespace tar whose OID backup.info does not list.
    #[error("{0} belongs to no tablespace in backup.info")]
    UnknownTablespace(String),
    /// A backup without its data directory.
    #[error("backup {0} has no data.tar")]
    NoDataTar(String),
}

/// Which stream of a backup stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Interruption {
    /// The data.tar writer failed before copying every file.
    #[error("data.tar stream failed before copying every file")]
    DataTarEndedEarly,
    /// The data.tar writer was gone when backup_label was ready.
    #[error("data.tar stream ended before backup_label")]
    LabelNotDelivered,
    /// pg_backup_stop never handed over backup_label.
    #[error("pg_backup_stop did not complete")]
    StopNotReturned,
}

impl BackupError {
    /// A short, stable name for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            BackupError::Config(_) => "config",
            BackupError::Store(e) => e.label(),
            BackupError::Pg(_) => "postgres",
            BackupError::Compression(e) => e.label(),
            BackupError::Info(e) => e.label(),
            BackupError::Label(_) => "backup_label",
            BackupError::StopLsn(_) => "stop_lsn",
            BackupError::Io { .. } => "io",
            BackupError::AlreadyExists { .. } => "backup_exists",
            BackupError::ArchivingStalled { .. } => "archiving_stalled",
            BackupError::EndWalNotArchived { .. } => "end_wal_not_archived",
            BackupError::Interrupted(_) => "interrupted",
            BackupError::Task { .. } => "task",
            BackupError::NotEmpty(_) => "pgdata_not_empty",
            BackupError::UnexpectedObject { .. } => "unexpected_object",
            BackupError::UnknownTablespace(_) => "unknown_tablespace",
            BackupError::NoDataTar(_) => "no_data_tar",
        }
    }
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

fn task(task: &'static str) -> impl FnOnce(tokio::task::JoinError) -> BackupError {
    move |source| BackupError::Task { task, source }
}
