//! `instance run`: the manager as PID 1 — supervises postgres, serves probes, status and metrics,
//! and turns PostgreSQL's log into JSON lines on stdout.
//!
//! `supervisor` runs the loop; `decide` holds its pure decisions, `converge` the role changes that
//! carry them out, `postmaster` the child process; `shared` is the state the HTTP handlers read;
//! `dynamic` the settings the operator pushes and how they combine with the configuration file;
//! `managed` when the primary reconciles its managed roles and its Database objects; `slots` keeps the replication slots;
//! `upstream` keeps the address a standby streams from pinned in its `primary_conninfo`;
//! `rejoin` decides how a former primary that pg_rewind cannot bring back gets in again;
//! `diverged` recognises a standby that replayed past its primary's timeline fork;
//! `backups` keeps the base backups the operator started through the status API;
//! `retention` applies `backup.retentionPolicy` to the object store while this instance is primary;
//! `partial_wal` uploads the WAL segment in progress every few seconds while it is primary;
//! `fencing_lease` renews the federation's fencing lease while it is primary, and fences it when
//! it cannot.

pub mod backups;
pub mod converge;
pub mod decide;
pub mod diverged;
pub mod dynamic;
pub mod fencing_lease;
pub mod http;
pub mod jsonlog;
pub mod lease;
pub mod managed;
pub mod metrics;
pub mod partial_wal;
pub mod postmaster;
pub mod rejoin;
pub mod retention;
pub mod shared;
pub mod slots;
pub mod source_divergence;
pub mod status;
pub mod supervisor;
pub mod upgrade;
pub mod upstream;

use crate::instance::InstanceError;

/// Why `instance run` could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Loading the configuration, bootstrapping or configuring the instance failed.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// The primary Lease the configuration asks for cannot be used.
    #[error(transparent)]
    Lease(#[from] lease::LeaseError),
    /// A port for probes, status or metrics cannot be bound.
    #[error("binding port {port}: {source}")]
    Bind {
        /// The port.
        port: u16,
        /// Cause.
        source: std::io::Error,
    },
    /// SIGTERM or SIGINT cannot be listened for.
    #[error("installing the {signal} handler: {source}")]
    Signal {
        /// The signal.
        signal: &'static str,
        /// Cause.
        source: std::io::Error,
    },
    /// The custom metrics queries file cannot be read.
    #[error("reading {path}: {source}")]
    CustomQueriesFile {
        /// The file.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The custom metrics queries are not postgres_exporter's format.
    #[error(transparent)]
    CustomQueries(#[from] metrics::QueriesError),
    /// The status API's TLS material is unusable.
    #[error(transparent)]
    Tls(#[from] http::TlsError),
}

impl RunError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            RunError::Instance(e) => e.label(),
            RunError::Bind { .. } => "bind",
            RunError::Signal { .. } => "signal_handler",
            RunError::CustomQueriesFile { .. } | RunError::CustomQueries(_) => "custom_queries",
            RunError::Tls(_) => "status_tls",
            RunError::Lease(_) => "primary_lease",
        }
    }
}
