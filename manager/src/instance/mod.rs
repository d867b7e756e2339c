//! Instance lifecycle operations on the local data directory: init, configure, restore, join,
//! demote (with its token), promote (only at the token), follow, fence. [`bootstrap`] decides
//! whether the data directory is complete and runs init, join or restore to make it.

pub mod bootstrap;
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
use crate::secrets::SecretError;
use crate::wal::WalError;
use bootstrap::BootstrapError;

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
    /// A secret the Cluster references cannot be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The data directory cannot be made, or PostgreSQL may not start on it.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The operation is refused; the message says why. Left only for the role changes (promote,
    /// demote, the supervisor), which are getting typed causes of their own.
    #[error("{0}")]
    Refused(String),
    /// A condition was not met in time; the message says what was awaited.
    #[error("timed out: {0}")]
    Timeout(String),
}

impl InstanceError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            InstanceError::Config(e) => e.label(),
            InstanceError::Pg(_) => "postgres",
            InstanceError::Wal(_) => "wal",
            InstanceError::Backup(_) => "backup",
            InstanceError::Secret(_) => "secret",
            InstanceError::Bootstrap(e) => e.label(),
            InstanceError::Refused(_) => "refused",
            InstanceError::Timeout(_) => "timeout",
        }
    }
}
