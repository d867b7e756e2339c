//! Why a data directory cannot be made, or PostgreSQL may not start on it. Its own module so that
//! init, join and restore (which the bootstrap orchestrates) name these causes without importing
//! the orchestrator.

use std::path::PathBuf;

/// Why a data directory is neither started nor rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// PGDATA is a mount point.
    MountPoint,
    /// The record says complete but PGDATA holds no data directory.
    CompleteWithoutData,
    /// A data directory without a record that an older manager may have left unfinished.
    UnfinishedLegacy,
    /// PGDATA holds files that are not a data directory, and no record says pgfed wrote them.
    NotADataDirectory,
}

impl Refusal {
    fn explain(self) -> &'static str {
        match self {
            Refusal::MountPoint => {
                "PGDATA is a mount point; mount the volume one level up (PGDATA a subdirectory of \
                 it, as /var/lib/postgresql/data/pgdata) so the bootstrap record beside PGDATA is \
                 kept with the data"
            }
            Refusal::CompleteWithoutData => {
                "the bootstrap record says the data directory was complete, but PGDATA holds no \
                 PG_VERSION: the data was lost or moved. pgfed does not create a new database in \
                 its place; restore the volume, or remove the record to bootstrap from scratch"
            }
            Refusal::UnfinishedLegacy => {
                "PGDATA holds a data directory without a bootstrap record, and nothing shows it \
                 was finished (an older manager's init leaves pgfed_initialized; a copy that \
                 PostgreSQL never started on still has backup_label). pgfed removes only its own \
                 partial work and may not start an unfinished one: check it, then remove PGDATA \
                 to bootstrap again, or write the record {\"state\":\"adopted\"} beside it to keep \
                 it"
            }
            Refusal::NotADataDirectory => {
                "PGDATA holds files but no PG_VERSION, and no bootstrap record says pgfed wrote \
                 them; pgfed removes only its own partial work: empty the directory to bootstrap"
            }
        }
    }
}

/// Why the data directory cannot be bootstrapped or started.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// PGDATA has no parent directory to keep the record in.
    #[error("PGDATA {0} has no parent directory for the bootstrap record")]
    NoParent(PathBuf),
    /// The record could not be read or written.
    #[error("bootstrap record {path}: {source}")]
    RecordIo {
        /// Record file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The record is not what pgfed writes; it is not guessed at.
    #[error("bootstrap record {path} is unreadable ({source}); fix or remove it")]
    RecordGarbled {
        /// Record file.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// PGDATA could not be inspected.
    #[error("inspecting {path}: {source}")]
    Inspect {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Neither started nor rebuilt.
    #[error("{pgdata}: {}", why.explain())]
    Refused {
        /// PGDATA.
        pgdata: PathBuf,
        /// Why.
        why: Refusal,
    },
    /// An explicit init/join/restore on a complete data directory.
    #[error("{0} already holds a complete data directory; bootstrap only creates new ones")]
    AlreadyComplete(PathBuf),
    /// PostgreSQL may not start: the data directory is not complete.
    #[error(
        "{0} is not a complete data directory (no complete bootstrap record beside it); \
         PostgreSQL is not started on it: run `instance run`, `instance init`, `join` or `restore`"
    )]
    NotComplete(PathBuf),
    /// A directory a restore would write into (a tablespace) already holds files pgfed did not
    /// write.
    #[error("{0} is not empty; a restore writes only into empty or absent directories")]
    NotEmpty(PathBuf),
    /// The command needs a `bootstrap` section the configuration does not have.
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    /// `targetPrimary` names another instance to clone from, but nothing says how to reach it.
    #[error(
        "targetPrimary names {target_primary:?}, another instance, but primaryConnection is not \
         set: this instance cannot clone itself from the target primary"
    )]
    NoPrimaryConnection {
        /// The instance `targetPrimary` names.
        target_primary: String,
    },
    /// `bootstrap.recovery.source` is unset.
    #[error(
        "bootstrap.recovery.source is not set: the instance manager restores only from an \
         external cluster's object store"
    )]
    NoRecoverySource,
    /// A source names no external cluster.
    #[error("external cluster {0:?} is not defined")]
    UnknownExternalCluster(String),
    /// `bootstrap.initdb.secret` holds another user's credentials.
    #[error("secret {secret} is for user {user:?}, but the database owner is {owner:?}")]
    SecretForAnotherUser {
        /// Secret name.
        secret: String,
        /// The secret's `username`.
        user: String,
        /// The database owner.
        owner: String,
    },
    /// No backup in the archive can start the recovery.
    #[error("cannot restore from {archive}: {source}")]
    NoBackup {
        /// The archive's URL.
        archive: String,
        /// Why.
        source: pgfed_api::barman::select::SelectError,
    },
    /// A replica cluster's source has no completed base backup on its newest timeline's
    /// history (all of them lie on a history it left, or there are none).
    #[error(
        "cannot restore from {archive}: no completed base backup on the history of its timeline {timeline}"
    )]
    NoBackupOnSourceHistory {
        /// The archive's URL.
        archive: String,
        /// The source's newest timeline.
        timeline: u32,
    },
    /// PostgreSQL exited before recovery reached its target.
    #[error("postgres stopped during recovery; last log lines: {log_tail}")]
    RecoveryStopped {
        /// The end of PostgreSQL's log.
        log_tail: String,
    },
    /// The file holding a referenced post-init script cannot be read (the Secret or ConfigMap
    /// key was not mounted, or is not UTF-8 text).
    #[error("cannot read the SQL script of {field} from {path}: {source}")]
    PostInitScript {
        /// The field naming the reference (`bootstrap.initdb.postInitSQLRefs.secretRefs[0]`).
        field: String,
        /// The mounted file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Removing an unfinished bootstrap's work failed.
    #[error("removing the unfinished bootstrap's files in {path}: {source}")]
    Clean {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl BootstrapError {
    /// A short, stable name for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            BootstrapError::NoParent(_) => "no_parent",
            BootstrapError::RecordIo { .. } => "record_io",
            BootstrapError::RecordGarbled { .. } => "record_garbled",
            BootstrapError::Inspect { .. } => "inspect",
            BootstrapError::Refused { why, .. } => match why {
                Refusal::MountPoint => "pgdata_mount_point",
                Refusal::CompleteWithoutData => "complete_without_data",
                Refusal::UnfinishedLegacy => "unfinished_legacy",
                Refusal::NotADataDirectory => "not_a_data_directory",
            },
            BootstrapError::AlreadyComplete(_) => "already_complete",
            BootstrapError::NotComplete(_) => "not_complete",
            BootstrapError::NotEmpty(_) => "not_empty",
            BootstrapError::NotConfigured(_) => "not_configured",
            BootstrapError::NoPrimaryConnection { .. } => "no_primary_connection",
            BootstrapError::NoRecoverySource => "no_recovery_source",
            BootstrapError::UnknownExternalCluster(_) => "unknown_external_cluster",
            BootstrapError::SecretForAnotherUser { .. } => "secret_for_another_user",
            BootstrapError::NoBackup { .. } | BootstrapError::NoBackupOnSourceHistory { .. } => {
                "no_backup"
            }
            BootstrapError::RecoveryStopped { .. } => "recovery_stopped",
            BootstrapError::PostInitScript { .. } => "post_init_script",
            BootstrapError::Clean { .. } => "clean",
        }
    }
}
