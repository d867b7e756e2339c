//! The configuration in effect: the file, reread when it changes, combined with the settings
//! the operator pushed, and written out for PostgreSQL.

use super::{Supervisor, mtime};
use crate::config::ManagerConfig;
use crate::instance::{InstanceError, configure};
use crate::run::{dynamic, upstream};
use std::sync::atomic::Ordering;

impl Supervisor {
    /// Rereads the configuration file when it changed; true when a valid new one was read.
    pub(super) fn reread_file(&mut self) -> bool {
        let now = mtime(&self.config_file);
        if now == self.seen {
            return false;
        }
        self.seen = now;
        match ManagerConfig::load(&self.config_file) {
            Ok(new) => {
                self.file_cfg = new;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "ignoring an invalid configuration file");
                false
            }
        }
    }

    /// Combines the configuration file (reread when it changed) with the pushed dynamic settings
    /// (when they changed) and writes the configuration files for the result; true when a new
    /// configuration was applied.
    pub(super) async fn reload_config(&mut self) -> bool {
        let file_changed = self.reread_file();
        let pushed = self.shared.pushed.lock().await.clone();
        if !file_changed && pushed == self.applied {
            return false;
        }
        self.applied = pushed;
        self.cfg = dynamic::effective(&self.file_cfg, self.applied.as_ref());
        let role = upstream::startup_role(&self.cfg, self.upstream.as_deref(), &self.pins).await;
        if let Some(conninfo) = self.cfg.target_primary_conninfo() {
            self.upstream = Some(conninfo);
        }
        let written = role
            .map_err(InstanceError::from)
            .and_then(|role| Ok(configure::write_all(&self.cfg, &self.config_file, &role)?));
        self.shared.fenced.store(self.cfg.fenced, Ordering::SeqCst);
        *self.shared.config.write().await = self.cfg.clone();
        match written {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, label = e.label(), "configuration refused");
                false
            }
        }
    }
}
