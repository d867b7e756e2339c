//! Talking to the local PostgreSQL: its binaries (initdb, pg_ctl, pg_controldata), its
//! configuration files, and SQL over the Unix socket.

pub mod conf;
pub mod controldata;
pub mod ctl;
pub mod hba;
pub mod sql;

/// Why an operation on the local PostgreSQL failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// A PostgreSQL program could not be run.
    #[error("cannot run {program}: {source} (is PostgreSQL installed? set PG_BINDIR or pgBindir)")]
    Spawn {
        /// Program path.
        program: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A PostgreSQL program failed.
    #[error("{program} failed ({status}): {output}")]
    Failed {
        /// Program and arguments.
        program: String,
        /// Exit status.
        status: String,
        /// Its stderr and stdout.
        output: String,
    },
    /// SQL failed.
    #[error("SQL {context}: {source}")]
    Sql {
        /// What was being done.
        context: String,
        /// Cause.
        source: tokio_postgres::Error,
    },
    /// A configuration file could not be written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The user's configuration is not acceptable.
    #[error(transparent)]
    Conf(#[from] conf::ConfError),
    /// pg_controldata output lacks a field we need.
    #[error("pg_controldata has no usable {0:?}")]
    ControlData(String),
    /// PostgreSQL is not in the state the operation needs.
    #[error("{0}")]
    State(String),
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let context = context.into();
    move |source| PgError::Io { context, source }
}
