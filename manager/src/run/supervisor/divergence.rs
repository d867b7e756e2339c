//! A standby that can no longer follow: diverged from its primary's timeline (stopped, rewound
//! at the next start, or re-cloned) or, as a replica cluster's designated primary, from its
//! source's history (reported for a re-seed).

use super::{Recloning, Supervisor};
use crate::instance::{InstanceError, reclone};
use crate::pg::conf::Role;
use crate::pg::ctl;
use crate::run::{diverged, rejoin};
use pgfed_api::instance::RejoinKind;
use std::time::Instant;

impl Supervisor {
    /// Stops the designated primary of a replica cluster that turned out unable to follow its
    /// source's timeline (see [`source_divergence`]); it stays down from then on.
    pub(super) async fn stop_if_source_unfollowable(&mut self) {
        let running = self.postmaster.running();
        if !self.source.cannot_follow(&self.cfg, running).await {
            return;
        }
        self.publish_source_divergence().await;
        if self.postmaster.running() {
            tracing::error!("stopping postgres: it cannot follow its source's timeline");
            self.stop(ctl::StopMode::Fast).await;
        }
    }

    /// Puts what the source watch found into the status document; true when that changed it.
    pub(super) async fn publish_source_divergence(&self) -> bool {
        let found = self.source.found().cloned();
        let mut published = self.shared.source_divergence.write().await;
        let changed = *published != found;
        if changed {
            *published = found;
        }
        changed
    }

    /// Stops a standby that has been seen diverged from its primary's timeline for a while (see
    /// [`diverged`]); its next start rewinds it from the primary.
    pub(super) async fn stop_if_diverged(&mut self) {
        let standby = self.cfg.pgdata.join("standby.signal").exists()
            && self.cfg.other_target_primary().is_some();
        if !standby || self.rewind_standby {
            self.diverged.reset();
            return;
        }
        let now = diverged::observe(&self.cfg)
            .await
            .is_some_and(|o| diverged::diverged(&o));
        if self.diverged.confirmed(now, Instant::now()) {
            tracing::warn!(
                "this standby replayed WAL past the point where the primary's timeline forked off \
                 and cannot follow it: stopping it to rewind it from the primary"
            );
            self.rewind_standby = true;
            self.stop(ctl::StopMode::Fast).await;
        }
    }

    /// Replaces the data directory with a fresh copy of the new primary.
    pub(super) async fn reclone(
        &mut self,
        role: &Role,
        reason: String,
    ) -> Result<(), (InstanceError, &'static str)> {
        tracing::warn!(
            %reason,
            "pg_rewind cannot bring the former primary back: re-cloning it from the new primary; \
             what it wrote after the timelines diverged is discarded"
        );
        let (c, file, r) = (self.cfg.clone(), self.config_file.clone(), role.clone());
        let busy = Recloning::flag(&self.shared);
        let recloned =
            crate::instance::blocking("re-clone", move || reclone::reclone(&c, &file, &r)).await;
        drop(busy);
        match recloned {
            Ok(placed) => {
                tracing::warn!(?placed, %reason, "re-cloned from the new primary");
                self.rejoin.rejoined();
                self.publish_rejoin(RejoinKind::Recloned, &reason).await;
                Ok(())
            }
            Err(InstanceError::Reclone(e)) if e.is_permanent() => {
                self.publish_rejoin(RejoinKind::RewindRefused, &e.to_string())
                    .await;
                Err((e.into(), "re-clone refused"))
            }
            Err(e) => Err((e, "re-clone failed; retrying")),
        }
    }

    /// Publishes (and keeps beside PGDATA) a rejoin report, unless it repeats the last one.
    pub(super) async fn publish_rejoin(&self, kind: RejoinKind, reason: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut current = self.shared.rejoin.write().await;
        if let Some(report) = rejoin::report(current.as_ref(), kind, reason, &now) {
            rejoin::keep(&self.cfg.pgdata, &report);
            *current = Some(report);
        }
    }
}
