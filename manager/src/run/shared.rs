//! State the supervisor shares with the HTTP handlers: the supervisor writes it, the probes,
//! status and metrics endpoints read it; `PUT /pg/config` hands pushed settings to the supervisor
//! and wakes it.

use crate::config::ManagerConfig;
use pgfed_api::cluster::ManagedRolesStatus;
use pgfed_api::database::DatabaseReport;
use pgfed_api::instance::{DynamicConfig, RejoinReport, RetentionReport, SourceDivergence};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use tokio::sync::{Mutex, Notify, RwLock};

/// State shared with the HTTP handlers.
pub struct Shared {
    /// Current configuration: the file's, with the dynamic settings in effect applied (its
    /// `dynamicVersion` is the file's).
    pub config: RwLock<ManagerConfig>,
    /// Fenced by configuration.
    pub fenced: AtomicBool,
    /// Why this instance fenced itself over the federation's fencing lease (`run::fencing_lease`);
    /// `None` when it did not. Postgres is kept stopped while set, as with `fenced`.
    pub fenced_by_lease: RwLock<Option<String>>,
    /// The postmaster child is alive.
    pub postgres_running: AtomicBool,
    /// Token of this instance's demotion, once every byte of WAL up to it is archived (read back
    /// from PGDATA after a restart).
    pub demotion_token: RwLock<Option<String>>,
    /// The settings last pushed to `PUT /pg/config` and kept in `dynamicConfigFile`; a mutex so
    /// that one push at a time is checked against them, kept and installed.
    pub pushed: Mutex<Option<DynamicConfig>>,
    /// Wakes the supervisor when a push was accepted, so it acts now rather than at its next tick.
    pub settings_pushed: Notify,
    /// Outcome of the last reconciliation of the managed roles; None on a standby.
    pub managed_roles: RwLock<Option<ManagedRolesStatus>>,
    /// Outcome of the last reconciliation of the Database objects, one report per object; None
    /// on a standby.
    pub databases: RwLock<Option<Vec<DatabaseReport>>>,
    /// The operator asked for a restart of postgres (`POST /pg/restart`); the supervisor takes it
    /// when the server runs and a changed parameter still waits for a restart.
    pub restart_requested: AtomicBool,
    /// This manager's executable (where a new binary is installed).
    pub executable: PathBuf,
    /// SHA-256 of the executable at start, which the status reports; computed in the background
    /// (unset meanwhile, and when the file cannot be read: no in-place upgrade then).
    pub digest: OnceLock<String>,
    /// Serialises in-place upgrades: one binary is checked and installed at a time.
    pub upgrading: Mutex<()>,
    /// Wakes the supervisor to re-execute the newly installed manager between two steps.
    pub reexec: Notify,
    /// When the supervisor last finished a step (seconds since the Unix epoch): the liveness
    /// probe fails only when the supervisor itself is stuck, not while it keeps postgres down on
    /// purpose (waiting to rewind, for the primary Lease, for a demotion).
    pub last_step: std::sync::atomic::AtomicU64,
    /// How this instance last rejoined as a standby after being a primary (rewound, re-cloned,
    /// refused); read back from beside PGDATA after a restart.
    pub rejoin: RwLock<Option<RejoinReport>>,
    /// A replica cluster's designated primary diverged from its source's history
    /// (`run::source_divergence`): postgres stays stopped, the operator re-seeds the cluster.
    pub source_divergence: RwLock<Option<SourceDivergence>>,
    /// The last pass of the retention policy (`run::retention`); reported while primary.
    pub retention: RwLock<Option<RetentionReport>>,
    /// A re-clone (pg_basebackup of the whole database) is under way: a step that long is not a
    /// stuck supervisor.
    pub recloning: AtomicBool,
    /// The base backups the operator started in this session of the manager.
    pub backups: super::backups::Backups,
}
