//! `wal-archive` and `wal-restore`: PostgreSQL's archive_command and restore_command, moving WAL
//! files between pg_wal and the object store in the Barman Cloud layout.

pub mod ahead;
pub mod archive;
pub mod partial;
pub mod plan;
pub mod ready;
pub mod restore;

use crate::compression::CompressionError;
use crate::config::ConfigError;
use crate::objstore::StoreError;

/// Why a WAL file could not be archived or restored.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Object store problem (unreachable, credentials, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Compression problem (including a corrupt object).
    #[error("{name}: {source}")]
    Compression {
        /// WAL file.
        name: String,
        /// Cause.
        source: CompressionError,
    },
    /// Local file I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A different file with the same name is already archived: never overwrite it.
    #[error(
        "refusing to archive {name}: {existing} already exists in {url} with different content \
         (another cluster is writing to the same serverName, or this instance forked history)"
    )]
    Conflict {
        /// WAL file.
        name: String,
        /// Existing object name.
        existing: String,
        /// Destination.
        url: String,
    },
    /// The object exists but its content cannot be a WAL file.
    #[error("{object} in {url} is corrupt: {reason}")]
    Corrupt {
        /// Object name.
        object: String,
        /// Destination.
        url: String,
        /// What is wrong.
        reason: CorruptReason,
    },
    /// A create-only write found an object that was gone when read back, more than once: another
    /// writer is creating and removing it. Nothing was written; PostgreSQL retries.
    #[error("{object} in {url} appeared and vanished while archiving; will retry")]
    Raced {
        /// Object name.
        object: String,
        /// Destination.
        url: String,
    },
    /// The path handed to wal-archive is not a file name we can archive.
    #[error("{0:?} is not a WAL, history, partial or backup label file")]
    NotWal(String),
    /// The segment reached this replica as the primary's in-progress copy (zero-padded): it is
    /// never archived as it is, but as the source's complete segment, which the source has not
    /// archived yet. PostgreSQL retries.
    #[error(
        "{0} was replayed from the primary's in-progress copy; it is archived once the source has archived it complete"
    )]
    AwaitingCompleteSegment(String),
}

/// What is wrong with a stored WAL object.
#[derive(Debug, thiserror::Error)]
pub enum CorruptReason {
    /// It was listed but gone when downloaded.
    #[error("listed but vanished before download")]
    Vanished,
    /// It does not decompress with the algorithm its suffix names.
    #[error(transparent)]
    Undecodable(CompressionError),
    /// A segment whose size PostgreSQL never uses.
    #[error("{0} bytes is not a WAL segment size")]
    NotASegmentSize(usize),
    /// An in-progress copy that is not the start of the segment it is named after.
    #[error(transparent)]
    NotThisSegment(partial::NotThisSegment),
    /// A prefetched segment of another size than the one just restored.
    #[error("{len} bytes, expected {expected}")]
    SizeMismatch {
        /// Its size.
        len: usize,
        /// The segment size.
        expected: u64,
    },
}

impl WalError {
    /// A short, stable name for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            WalError::Config(_) => "config",
            WalError::Store(e) => e.label(),
            WalError::Compression { source, .. } => source.label(),
            WalError::Io { .. } => "io",
            WalError::Conflict { .. } => "conflict",
            WalError::Corrupt { .. } => "corrupt",
            WalError::Raced { .. } => "raced",
            WalError::NotWal(_) => "not_wal",
            WalError::AwaitingCompleteSegment(_) => "awaiting_complete_segment",
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> WalError {
    let context = context.into();
    move |source| WalError::Io { context, source }
}
