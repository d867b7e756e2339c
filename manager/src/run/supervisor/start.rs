//! Starting postgres in the role the configuration asks for: as the primary only when entitled
//! to, as a standby after whatever a former primary needs first (rewind, re-clone).

use super::{FOLLOW_RETRY, Recloning, StartAs, Supervisor, later};
use crate::instance::bootstrap::{self, Record, RecordState};
use crate::instance::follow::{Divergence, Rewind};
use crate::instance::{InstanceError, configure};
use crate::pg::conf::Role;
use crate::run::converge::prepare_to_follow;
use crate::run::lease::Acquired;
use crate::run::rejoin::{self, RejoinStep};
use crate::run::upstream;
use pgfed_api::instance::RejoinKind;
use std::time::Instant;

impl Supervisor {
    /// Starts postgres: in the configured role (a former primary rewound first), or as the
    /// primary it still is while its demotion starts over.
    pub(super) async fn start(&mut self, start_as: StartAs) {
        if start_as == StartAs::NotNow || later(self.retry_follow_at) {
            return;
        }
        // Never on a history the source does not share: it would replay nothing, or worse. Not
        // even configured for it: the data directory stays as it is.
        if start_as != StartAs::Primary {
            let blocked = self.source.blocks_start(&self.cfg).await;
            let news = self.publish_source_divergence().await;
            if blocked {
                // Said once per finding, not at every step it is kept down.
                if news {
                    tracing::error!(
                    divergence = ?self.source.found(),
                    "this designated primary's history diverged from its source's: postgres \
                     stays down until the operator re-seeds the cluster (its data is kept)"
                    );
                }
                return;
            }
        }
        let prepared = match start_as {
            StartAs::Primary => configure::write_all(&self.cfg, &self.config_file, &Role::Primary)
                .map_err(|e| {
                    (
                        InstanceError::from(e),
                        "cannot write the primary's configuration",
                    )
                }),
            _ => {
                match upstream::startup_role(&self.cfg, self.upstream.as_deref(), &self.pins).await
                {
                    Ok(role) => self.prepare_standby(&role).await,
                    Err(e) => Err((InstanceError::from(e), "configuration refused")),
                }
            }
        };
        if let Err((e, why)) = prepared {
            tracing::error!(error = %e, label = e.label(), "{why}; postgres stays down");
            self.retry_follow_at = Some(Instant::now() + FOLLOW_RETRY);
            return;
        }
        self.retry_follow_at = None;
        let as_primary = start_as == StartAs::Primary;
        // What postgres will actually do decides, not only what was asked: a data directory
        // without standby.signal comes up accepting writes, whatever path led here (a primary
        // stopped because it could not renew its Lease was once started again this way, with no
        // Lease, and took writes while cut off).
        let writable = !self.cfg.pgdata.join("standby.signal").exists();
        let primary_role = as_primary
            || writable
            || matches!(
                configure::startup_role(&self.cfg, self.upstream.as_deref()),
                Ok(Role::Primary)
            );
        if primary_role && !self.may_start_as_primary().await {
            return;
        }
        // Never on a data directory whose bootstrap did not complete.
        if let Err(e) = crate::instance::bootstrap::require_complete(&self.cfg) {
            tracing::error!(error = %e, label = e.label(), "postgres stays down");
            return;
        }
        self.source.starting(&self.cfg);
        match self.postmaster.spawn(&self.cfg) {
            Ok(()) => tracing::info!(as_primary, "postmaster started"),
            Err(e) => tracing::error!(error = %e, label = e.label(), "cannot start postgres"),
        }
    }

    /// Makes the data directory ready to start in `role`: finishes a re-clone this run left
    /// half-done, rewinds a former primary, and when pg_rewind cannot bring it back re-clones it
    /// or refuses, as [`rejoin`] decides. Every outcome a former primary reaches is reported.
    pub(super) async fn prepare_standby(
        &mut self,
        role: &Role,
    ) -> Result<(), (InstanceError, &'static str)> {
        let unfinished = matches!(
            bootstrap::read_record(&self.cfg.pgdata),
            Ok(RecordState::Found(Record::InProgress { .. }))
        );
        if unfinished {
            // A re-clone in place stopped half-way: finish it as the next start would.
            let _busy = Recloning::flag(&self.shared);
            bootstrap::ensure(&self.cfg, &self.config_file)
                .await
                .map_err(|e| (e, "cannot finish re-cloning the data directory"))?;
            if self.rejoin.reclone_pending {
                self.rejoin.rejoined();
                let reason = self.reclone_reason.clone();
                self.publish_rejoin(RejoinKind::Recloned, &reason).await;
            }
        }
        // Only while another instance is the primary to copy from; named the primary itself, the
        // instance starts on its own data as it always did.
        if self.rejoin.reclone_pending && self.cfg.other_target_primary().is_some() {
            let reason = self.reclone_reason.clone();
            return self.reclone(role, reason).await;
        }
        let divergence = if self.rewind_standby {
            Divergence::SeenOnStandby
        } else {
            Divergence::IfFormerPrimary
        };
        let failure = match prepare_to_follow(&self.cfg, &self.config_file, role, divergence).await
        {
            Ok(rewind) => {
                let diverged_standby = std::mem::take(&mut self.rewind_standby);
                if diverged_standby {
                    tracing::info!(?rewind, "pg_rewind ran on the diverged standby");
                    self.diverged.rewound(rewind, Instant::now());
                }
                if rewind == Rewind::Rewound {
                    let how = if diverged_standby {
                        "pg_rewind brought a standby that had replayed past the primary's \
                         timeline fork onto the primary's timeline"
                    } else {
                        "pg_rewind brought the former primary onto the new primary's timeline"
                    };
                    self.publish_rejoin(RejoinKind::Rewound, how).await;
                }
                self.rejoin.rejoined();
                return Ok(());
            }
            Err(InstanceError::Rewind(failure)) => failure,
            Err(e) => return Err((e, "cannot rewind from the new primary yet")),
        };
        match self.rejoin.after_failure(failure.kind) {
            RejoinStep::Retry => Err((failure.into(), "cannot rewind from the new primary yet")),
            RejoinStep::Refuse => {
                self.publish_rejoin(RejoinKind::RewindRefused, &failure.reason)
                    .await;
                Err((
                    failure.into(),
                    "pg_rewind refuses this source, and a copy of it must not replace this data",
                ))
            }
            RejoinStep::Reclone => {
                self.reclone_reason = rejoin::reclone_reason(&failure, &self.rejoin);
                let reason = self.reclone_reason.clone();
                self.reclone(role, reason).await
            }
        }
    }

    /// Whether this instance may start postgres as a primary: only while it holds the primary
    /// Lease (when there is one). A former primary that was cut off comes back to find the Lease
    /// with the instance promoted meanwhile, and stays down until it is told to follow it.
    pub(super) async fn may_start_as_primary(&mut self) -> bool {
        let Some(lease) = &self.lease else {
            return true;
        };
        match lease.acquire().await {
            Acquired::Held => true,
            // Alone, nothing else can be promoted: the Lease protects nobody, and a primary that
            // cannot reach the API server still starts.
            _ if self.cfg.instances.len() <= 1 => true,
            Acquired::HeldBy { holder, expires } => {
                tracing::warn!(%holder, %expires, "another instance holds the primary lease: postgres stays down");
                false
            }
            Acquired::Missing => {
                tracing::warn!(
                    "the primary lease does not exist yet (the operator creates it): postgres stays down"
                );
                false
            }
            Acquired::NotNow(reason) => {
                tracing::warn!(%reason, "cannot take the primary lease: postgres stays down");
                false
            }
        }
    }
}
