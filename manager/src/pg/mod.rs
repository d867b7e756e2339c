//! Talking to the local PostgreSQL: its binaries (initdb, pg_ctl, pg_controldata), its
//! configuration files, and SQL over the Unix socket.

pub mod conf;
pub mod conninfo;
pub mod controldata;
pub mod ctl;
pub mod hba;
pub mod sql;
pub mod stale_lock;

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
    /// No stop mode, up to immediate and a kill, stopped the postmaster in time.
    #[error("postgres did not stop: {tried} ({last})")]
    StillRunning {
        /// The stop modes tried, in order.
        tried: String,
        /// Why the last one failed.
        last: Box<PgError>,
    },
    /// A query to the local server got no answer in time (a frozen or overloaded postmaster).
    #[error("SQL {context}: no answer within {seconds}s")]
    NoAnswer {
        /// What was being done.
        context: &'static str,
        /// How long the manager waited.
        seconds: u64,
    },
}

impl PgError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            PgError::Spawn { .. } => "pg_spawn",
            PgError::Failed { .. } => "pg_program_failed",
            PgError::Sql { .. } => "pg_sql",
            PgError::Io { .. } => "pg_io",
            PgError::Conf(_) => "pg_configuration",
            PgError::ControlData(_) => "pg_controldata",
            PgError::StillRunning { .. } => "pg_stop_failed",
            PgError::NoAnswer { .. } => "pg_no_answer",
        }
    }
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let context = context.into();
    move |source| PgError::Io { context, source }
}
