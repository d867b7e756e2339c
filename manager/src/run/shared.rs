//! State the supervisor shares with the HTTP handlers: the supervisor writes it, the probes,
//! status and metrics endpoints read it.

use crate::config::ManagerConfig;
use std::sync::atomic::AtomicBool;
use tokio::sync::RwLock;

/// State shared with the HTTP handlers.
pub struct Shared {
    /// Current configuration.
    pub config: RwLock<ManagerConfig>,
    /// Fenced by configuration.
    pub fenced: AtomicBool,
    /// The postmaster child is alive.
    pub postgres_running: AtomicBool,
    /// Token of this instance's demotion, once every byte of WAL up to it is archived (read back
    /// from PGDATA after a restart).
    pub demotion_token: RwLock<Option<String>>,
}
