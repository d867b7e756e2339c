//! Instance lifecycle operations on the local data directory: init, configure, restore, join,
//! demote (with its token), promote (only at the token), follow, fence. [`bootstrap`] decides
//! whether the data directory is complete and runs init, join, restore or clone to make it.

pub mod bootstrap;
pub mod clone;
pub mod configure;
pub mod demote;
pub mod follow;
pub mod init;
pub mod join;
pub mod promote;
pub mod reclone;
pub mod restore;
pub mod rewind_failure;

use crate::backup::BackupError;
use crate::config::ConfigError;
use crate::pg::PgError;
use crate::secrets::SecretError;
use crate::wal::WalError;
use bootstrap::BootstrapError;
use reclone::RecloneError;
use rewind_failure::RewindFailure;

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
    /// A role change (demotion, promotion) cannot go on.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// pg_rewind failed; how it failed says whether to wait, re-clone or stay down.
    #[error(transparent)]
    Rewind(#[from] RewindFailure),
    /// A former primary's data directory could not be replaced by a fresh copy.
    #[error(transparent)]
    Reclone(#[from] RecloneError),
}

/// Runs `f` on a blocking thread, so a caller that also waits for SIGTERM keeps hearing it.
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, InstanceError> + Send + 'static,
) -> Result<T, InstanceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| RoleError::Task { what, source })?
}

/// Why a demotion or a promotion cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// Only a primary can be demoted.
    #[error("this instance is a standby; only a primary can be demoted")]
    NotPrimary,
    /// A demotion token needs the shutdown checkpoint of a clean stop.
    #[error(
        "postgres did not shut down cleanly (state {state:?}); a demotion token needs a shutdown checkpoint"
    )]
    UncleanShutdown {
        /// `Database cluster state` of pg_controldata.
        state: String,
    },
    /// The promotion token does not decode.
    #[error(transparent)]
    Token(#[from] pgfed_api::token::TokenDecodeError),
    /// The replica is past the token, on another system or timeline: promoting would lose or
    /// fork data.
    #[error("promotion refused: {reason}")]
    PromotionRefused {
        /// What the comparison with the token found.
        reason: String,
    },
    /// The replica did not reach the token in time.
    #[error("timed out: promotion token not reached: {reason}")]
    TokenNotReached {
        /// Where the replica stands.
        reason: String,
    },
    /// The demotion record in PGDATA cannot be read or written.
    #[error("demotion record {path}: {reason}")]
    Record {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A blocking step (pg_ctl, pg_rewind) could not be waited for.
    #[error("{what} task: {source}")]
    Task {
        /// The step.
        what: &'static str,
        /// Cause.
        source: tokio::task::JoinError,
    },
}

impl RoleError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            RoleError::NotPrimary => "not_primary",
            RoleError::UncleanShutdown { .. } => "unclean_shutdown",
            RoleError::Token(_) => "bad_token",
            RoleError::PromotionRefused { .. } => "promotion_refused",
            RoleError::TokenNotReached { .. } => "token_not_reached",
            RoleError::Record { .. } => "demotion_record",
            RoleError::Task { .. } => "task",
        }
    }
}

impl InstanceError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            InstanceError::Config(e) => e.label(),
            InstanceError::Pg(e) => e.label(),
            InstanceError::Wal(e) => e.label(),
            InstanceError::Backup(e) => e.label(),
            InstanceError::Secret(_) => "secret",
            InstanceError::Bootstrap(e) => e.label(),
            InstanceError::Role(e) => e.label(),
            InstanceError::Rewind(e) => e.kind.label(),
            InstanceError::Reclone(e) => e.label(),
        }
    }
}
