//! Base backups in object storage, Barman Cloud layout: `base/<backupId>/backup.info` and
//! `data.tar` (split into `data_0001.tar`… for parallel streams) plus `<oid>.tar` per tablespace.

pub mod fetch;
pub mod stream;
pub mod take;

use crate::compression::CompressionError;
use crate::config::ConfigError;
use crate::objstore::StoreError;
use crate::pg::PgError;
use pgfed_api::barman::backup_info::InfoError;

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
    /// Local I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The request cannot be satisfied; the message says why.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}
