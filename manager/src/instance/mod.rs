//! Instance lifecycle operations on the local data directory: init, configure, restore, join,
//! demote (with its token), promote (only at the token), follow, fence.

pub mod configure;
pub mod demote;
pub mod follow;
pub mod init;
pub mod join;
pub mod promote;
pub mod restore;

use crate::backup::BackupError;
use crate::config::ConfigError;
use crate::pg::PgError;
use crate::wal::WalError;

/// Why an instance operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// PostgreSQL.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// WAL transfer.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// Backup or restore.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The operation is refused; the message says why.
    #[error("{0}")]
    Refused(String),
    /// A condition was not met in time; the message says what was awaited.
    #[error("timed out: {0}")]
    Timeout(String),
}
