//! Stopping postgres: a primary no longer entitled to run as one (another holds the Lease, or
//! the configuration names another), and the escalating stop every shutdown goes through.

use super::{ISOLATED_STOP_TIMEOUT_SECS, Supervisor};
use crate::pg::ctl;
use crate::run::converge::every_standby_streaming;
use std::sync::atomic::Ordering;

impl Supervisor {
    /// The other instances of the cluster.
    pub(super) fn others(&self) -> Vec<String> {
        let me = self.cfg.me();
        self.cfg
            .instances
            .iter()
            .filter(|i| i.as_str() != me)
            .cloned()
            .collect()
    }

    /// Stops a running primary that may no longer accept writes: another instance holds the
    /// primary Lease, or this one could not renew it within the renew deadline and not every
    /// other instance streams from it — Patroni's failsafe rule, stricter than CloudNativePG's
    /// "any peer": a standby on the same side of a partition proves nothing about the other side,
    /// where the operator may promote. It stays down until it holds the Lease again (see
    /// [`Self::may_start_as_primary`]).
    pub(super) async fn stop_if_not_entitled(&mut self) {
        let Some(lease) = self.lease.clone() else {
            return;
        };
        if !self.want_lease.load(Ordering::SeqCst) {
            return;
        }
        let reason = if let Some(holder) = lease.held_elsewhere() {
            format!("instance {holder} holds the primary lease")
        } else if !lease.renewed_within_deadline()
            && self.cfg.instances.len() > 1
            && !every_standby_streaming(&self.cfg, &self.others(), lease.renew_deadline()).await
        {
            "the primary lease could not be renewed within its deadline and not every other instance streams from this one: it may be cut off while another is promoted".to_string()
        } else {
            return;
        };
        tracing::error!(%reason, "stopping postgres: this primary may no longer accept writes");
        let plan = ctl::escalation(ctl::StopMode::Fast, 0, ISOLATED_STOP_TIMEOUT_SECS);
        if let Err(e) = self.postmaster.stop(&self.cfg, plan).await {
            tracing::error!(error = %e, label = e.label(), "postgres did not stop");
        }
        self.want_lease.store(false, Ordering::SeqCst);
    }

    /// Stops postgres, escalating from `first` to immediate.
    pub(super) async fn stop(&mut self, first: ctl::StopMode) {
        let plan = ctl::escalation(
            first,
            self.cfg.smart_shutdown_timeout,
            ctl::FAST_STOP_TIMEOUT_SECS,
        );
        if let Err(e) = self.postmaster.stop(&self.cfg, plan).await {
            tracing::error!(error = %e, label = e.label(), "postgres did not stop");
        }
    }
}
