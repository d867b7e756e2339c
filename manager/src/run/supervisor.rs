//! The supervision loop of `instance run`: bootstraps an empty data directory, starts the
//! postmaster, reloads when the configuration file or the pushed dynamic settings change (woken at
//! once by a push), restarts when a changed parameter needs it, restarts after a crash, fences and
//! unfences, converges the role the configuration asks for, carries a recorded demotion through,
//! and on SIGTERM shuts down smart, then fast, then immediate. SIGTERM is heard in every state:
//! each step of the loop is abandoned when it comes.

use super::converge::{
    advance_demotion, cleanly_shut_down, converge_role, every_standby_streaming, in_recovery,
    pending_restart, prepare_to_follow,
};
use super::decide::{
    Action, DemotionAction, Server, Target, decide, demotion_action, demotion_wanted,
};
use super::lease::{Acquired, PrimaryLease};
use super::postmaster::Postmaster;
use super::rejoin::{self, RejoinState, RejoinStep};
use super::shared::Shared;
use super::{
    RunError, diverged, dynamic, http, jsonlog, metrics, source_divergence, upgrade, upstream,
};
use crate::config::ManagerConfig;
use crate::instance::bootstrap::{self, Record, RecordState};
use crate::instance::demote::{self, Demotion};
use crate::instance::follow::{Divergence, Rewind};
use crate::instance::{InstanceError, configure, reclone};
use crate::net::pin::Pinner;
use crate::net::resolve::SystemResolver;
use crate::pg::conf::Role;
use crate::pg::ctl;
use pgfed_api::instance::{DynamicConfig, RejoinKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Mutex, Notify, RwLock, watch};

/// How long a former primary waits before trying pg_rewind again when the new primary is not
/// reachable yet.
const FOLLOW_RETRY: Duration = Duration::from_secs(5);
/// How long a demotion that could not go on (postgres did not stop, the archive refused the last
/// WAL) waits before it is tried again.
const DEMOTION_RETRY: Duration = Duration::from_secs(5);
/// How long an isolated primary's fast shutdown may take before it is stopped immediately: it
/// must stop accepting writes before any other instance can take the Lease.
const ISOLATED_STOP_TIMEOUT_SECS: u64 = 2;

/// Set once SIGTERM or SIGINT arrived.
struct Termination(watch::Receiver<bool>);

impl Termination {
    fn install() -> Result<Termination, RunError> {
        let listen = |kind, name| {
            signal(kind).map_err(|source| RunError::Signal {
                signal: name,
                source,
            })
        };
        let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
        let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            let _ = tx.send(true);
        });
        Ok(Termination(rx))
    }

    /// Returns once termination was asked for.
    async fn requested(&mut self) {
        let _ = self.0.wait_for(|terminated| *terminated).await;
    }
}

/// How postgres may start, as far as a recorded demotion is concerned.
#[derive(Debug, PartialEq, Eq)]
enum StartAs {
    /// In the role the configuration asks for.
    Configured,
    /// As the primary it still is (its demotion starts over once it runs).
    Primary,
    /// Not at all: a demotion is under way.
    NotNow,
}

struct Supervisor {
    config_file: PathBuf,
    /// The configuration file as last read.
    file_cfg: ManagerConfig,
    /// The pushed settings `cfg` was made with.
    applied: Option<DynamicConfig>,
    /// What the instance runs with: `file_cfg` with the dynamic settings in effect.
    cfg: ManagerConfig,
    shared: Arc<Shared>,
    postmaster: Postmaster,
    /// Modification time of the configuration file last read.
    seen: Option<SystemTime>,
    /// Where this instance streams from while another instance is primary; remembered so a
    /// standby that becomes the target keeps receiving from the former primary until that one has
    /// stopped.
    upstream: Option<String>,
    retry_follow_at: Option<Instant>,
    retry_demotion_at: Option<Instant>,
    /// The cluster's primary Lease, when the configuration asks for one.
    lease: Option<Arc<PrimaryLease>>,
    /// Whether this instance runs as the primary the configuration names, and so should hold
    /// and renew the Lease (read by the Lease keeper).
    want_lease: Arc<AtomicBool>,
    /// Pins the upstream's address into `primary_conninfo`.
    pins: Pinner<SystemResolver>,
    /// What the attempts to follow the new primary found so far.
    rejoin: RejoinState,
    /// Why the pending re-clone is needed, for its report.
    reclone_reason: String,
    /// Whether this standby looks diverged from its primary's timeline, over time.
    diverged: diverged::Watch,
    /// Set when a diverged standby was stopped: the next start rewinds it first.
    rewind_standby: bool,
    /// Whether this replica cluster's designated primary diverged from its source's history.
    source: source_divergence::Watch,
}

/// Tells the liveness probe a re-clone runs, until dropped (also when SIGTERM abandons the step).
struct Recloning<'a>(&'a Shared);

impl<'a> Recloning<'a> {
    fn flag(shared: &'a Shared) -> Recloning<'a> {
        shared.recloning.store(true, Ordering::SeqCst);
        Recloning(shared)
    }
}

impl Drop for Recloning<'_> {
    fn drop(&mut self) {
        self.0.recloning.store(false, Ordering::SeqCst);
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn later(at: Option<Instant>) -> bool {
    at.is_some_and(|t| Instant::now() < t)
}

impl Supervisor {
    /// One turn of the loop.
    async fn step(&mut self) {
        if let Some(status) = self.postmaster.reap_exited() {
            tracing::warn!(%status, "postmaster exited; restarting it");
        }
        // `|`, not `||`: a running standby's pinned upstream address is checked on every step.
        let changed = self.reload_config().await
            | (self.postmaster.running()
                && upstream::repin(
                    &self.cfg,
                    &self.config_file,
                    self.upstream.as_deref(),
                    &self.pins,
                )
                .await);
        // Fenced by the configuration, or by this instance itself when it could not renew the
        // federation's fencing lease: either way postgres stays stopped.
        let by_lease = self.shared.fenced_by_lease.read().await.is_some();
        let fenced = self.cfg.fenced || by_lease;
        // Only a server running as a primary holds the Lease: a standby named the target takes it
        // when it promotes (standby.signal is gone from then on).
        self.want_lease.store(
            self.postmaster.running()
                && !fenced
                && Target::of(&self.cfg) == Target::Me
                && !self.cfg.pgdata.join("standby.signal").exists(),
            Ordering::SeqCst,
        );
        self.stop_if_not_entitled().await;
        if self.postmaster.running() && !fenced {
            converge_role(
                &self.cfg,
                &self.config_file,
                &mut self.postmaster,
                &self.shared.demotion_token,
                self.lease.as_deref(),
            )
            .await;
            self.stop_if_diverged().await;
        }
        self.stop_if_source_unfollowable().await;
        let start_as = self.carry_on_demotion().await;
        let running = self.postmaster.running();
        // A parameter that takes effect only at start waits for the operator, which restarts the
        // instances one at a time (standbys first), never all at once.
        let requested = self.shared.restart_requested.load(Ordering::SeqCst);
        let restart = running && !changed && requested && pending_restart(&self.cfg).await;
        if requested && running && !changed && !restart {
            tracing::info!("restart requested, but no changed parameter needs one: ignored");
            self.shared.restart_requested.store(false, Ordering::SeqCst);
        }
        match decide(fenced, running, changed, restart) {
            Action::Nothing => {}
            Action::Start => self.start(start_as).await,
            Action::Stop if by_lease && !self.cfg.fenced => {
                // Writes must stop before the lease can be taken over: no smart shutdown.
                tracing::error!("fenced by the fencing lease: stopping postgres");
                let plan = ctl::escalation(ctl::StopMode::Fast, 0, ISOLATED_STOP_TIMEOUT_SECS);
                if let Err(e) = self.postmaster.stop(&self.cfg, plan).await {
                    tracing::error!(error = %e, label = e.label(), "postgres did not stop");
                }
                if let Some(lease) = &self.lease {
                    lease.release().await;
                }
            }
            Action::Stop => {
                tracing::info!("fenced: stopping postgres");
                self.stop(ctl::StopMode::Fast).await;
                if let Some(lease) = &self.lease {
                    lease.release().await;
                }
            }
            Action::Reload => {
                let c = self.cfg.clone();
                match crate::instance::blocking("reload", move || Ok(ctl::reload(&c)?)).await {
                    Ok(()) => tracing::info!("configuration reloaded"),
                    Err(e) => tracing::error!(error = %e, label = e.label(), "reload failed"),
                }
            }
            Action::Restart => {
                tracing::info!("restarting: a changed parameter needs it");
                self.shared.restart_requested.store(false, Ordering::SeqCst);
                self.stop(ctl::StopMode::Fast).await;
            }
        }
        self.shared
            .postgres_running
            .store(self.postmaster.running(), Ordering::SeqCst);
    }

    /// Rereads the configuration file when it changed; true when a valid new one was read.
    fn reread_file(&mut self) -> bool {
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
    async fn reload_config(&mut self) -> bool {
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

    /// Takes a demotion recorded in PGDATA as far as it goes now, publishes its token once it
    /// has one, and says how postgres may start meanwhile.
    async fn carry_on_demotion(&mut self) -> StartAs {
        let recorded = match demote::read_record(&self.cfg.pgdata) {
            Ok(recorded) => recorded,
            Err(e) => {
                // Unknown progress: starting could lose the token's WAL; staying down loses nothing.
                tracing::error!(error = %e, label = e.label(), "postgres stays down");
                return StartAs::NotNow;
            }
        };
        if let Some(token) = recorded.as_ref().and_then(Demotion::published_token) {
            self.publish_token(token).await;
        }
        let under_way = recorded
            .as_ref()
            .is_some_and(|d| d.published_token().is_none());
        let server = match (under_way, self.postmaster.running()) {
            // Only looked at while it matters.
            (false, _) => Server::Up,
            (true, false) => Server::Stopped {
                cleanly: cleanly_shut_down(&self.cfg).await,
            },
            (true, true) if in_recovery(&self.cfg).await.is_some() => Server::Up,
            (true, true) => Server::Starting,
        };
        let wanted = demotion_wanted(Target::of(&self.cfg), self.cfg.is_replica_cluster());
        match (demotion_action(recorded.as_ref(), wanted, server), recorded) {
            (DemotionAction::Nothing, _) | (_, None) => StartAs::Configured,
            (DemotionAction::Cancel, _) => {
                tracing::info!("the configuration no longer asks for the demotion: cancelled");
                if let Err(e) = demote::clear_record(&self.cfg.pgdata) {
                    tracing::error!(error = %e, label = e.label(), "cannot cancel the demotion");
                    return StartAs::NotNow;
                }
                StartAs::Configured
            }
            (DemotionAction::StartAsPrimary, _) => StartAs::Primary,
            (DemotionAction::Advance, Some(_)) if later(self.retry_demotion_at) => StartAs::NotNow,
            (DemotionAction::Advance, Some(d)) => {
                match advance_demotion(&self.cfg, &self.config_file, &mut self.postmaster, d).await
                {
                    Ok(d) => {
                        self.retry_demotion_at = None;
                        if let Some(token) = d.published_token() {
                            tracing::info!(%token, "demoted; token published in the status");
                            self.publish_token(token).await;
                        }
                        StartAs::Configured
                    }
                    Err(e) => {
                        tracing::error!(
                            error = %e,
                            label = e.label(),
                            "demotion cannot go on yet; retrying"
                        );
                        self.retry_demotion_at = Some(Instant::now() + DEMOTION_RETRY);
                        StartAs::NotNow
                    }
                }
            }
        }
    }

    async fn publish_token(&self, token: &str) {
        let mut published = self.shared.demotion_token.write().await;
        if published.as_deref() != Some(token) {
            *published = Some(token.to_string());
        }
    }

    /// Starts postgres: in the configured role (a former primary rewound first), or as the
    /// primary it still is while its demotion starts over.
    async fn start(&mut self, start_as: StartAs) {
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
    async fn prepare_standby(&mut self, role: &Role) -> Result<(), (InstanceError, &'static str)> {
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

    /// Stops the designated primary of a replica cluster that turned out unable to follow its
    /// source's timeline (see [`source_divergence`]); it stays down from then on.
    async fn stop_if_source_unfollowable(&mut self) {
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
    async fn publish_source_divergence(&self) -> bool {
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
    async fn stop_if_diverged(&mut self) {
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
    async fn reclone(
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
    async fn publish_rejoin(&self, kind: RejoinKind, reason: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut current = self.shared.rejoin.write().await;
        if let Some(report) = rejoin::report(current.as_ref(), kind, reason, &now) {
            rejoin::keep(&self.cfg.pgdata, &report);
            *current = Some(report);
        }
    }

    /// Whether this instance may start postgres as a primary: only while it holds the primary
    /// Lease (when there is one). A former primary that was cut off comes back to find the Lease
    /// with the instance promoted meanwhile, and stays down until it is told to follow it.
    async fn may_start_as_primary(&mut self) -> bool {
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

    /// The other instances of the cluster.
    fn others(&self) -> Vec<String> {
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
    async fn stop_if_not_entitled(&mut self) {
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
    async fn stop(&mut self, first: ctl::StopMode) {
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs until SIGTERM/SIGINT.
pub async fn run(config_file: PathBuf) -> Result<(), RunError> {
    let mut termination = Termination::install()?;
    let file_cfg = ManagerConfig::load(&config_file).map_err(InstanceError::from)?;
    // Settings pushed before a restart of this container still hold; unreadable ones are
    // dropped (the operator wrote the same decisions into the configuration file, and pushes
    // again).
    let pushed = dynamic::load(&file_cfg.dynamic_config_file).unwrap_or_else(|e| {
        tracing::error!(error = %e, label = e.label(), "ignoring the kept dynamic settings");
        None
    });
    let cfg = dynamic::effective(&file_cfg, pushed.as_ref());
    // A container that starts afresh (no postmaster handed over by an in-place upgrade) may find
    // lock files that its predecessor's postmaster left in the volumes: those no live postgres
    // holds go before anything starts one (pg_rewind's single-user crash recovery included).
    if upgrade::handed_over_postmaster().is_none() {
        crate::pg::stale_lock::remove_stale(&cfg, crate::pg::stale_lock::DeadPid::Stale);
    }
    // Bootstraps a missing or half-built data directory (cleaning up only its own partial work),
    // or does nothing for a complete one; interruptible by SIGTERM.
    tokio::select! {
        biased;
        _ = termination.requested() => return Ok(()),
        bootstrapped = crate::instance::bootstrap::ensure(&cfg, &config_file) => bootstrapped?,
    }
    // A re-clone that was finished by the bootstrap above, or interrupted after its swap, leaves
    // its scratch directories beside PGDATA.
    if let Err(e) = reclone::remove_leftovers(&cfg) {
        tracing::warn!(error = %e, "cannot remove a re-clone's leftovers");
    }
    // After a manager restart the role file still says where this standby streamed from.
    let upstream: Option<String> = cfg.target_primary_conninfo().or_else(|| {
        std::fs::read_to_string(cfg.pgdata.join(crate::pg::conf::ROLE_CONF))
            .ok()
            .and_then(|text| crate::pg::conf::role_conf_primary_conninfo(&text))
    });
    let pins = Pinner::system();
    configure::write_all(
        &cfg,
        &config_file,
        &upstream::startup_role(&cfg, upstream.as_deref(), &pins)
            .await
            .map_err(InstanceError::from)?,
    )
    .map_err(InstanceError::from)?;
    let custom = match &cfg.custom_queries_file {
        Some(f) => {
            let text =
                std::fs::read_to_string(f).map_err(|source| RunError::CustomQueriesFile {
                    path: f.clone(),
                    source,
                })?;
            metrics::parse_queries(&text)?
        }
        None => Default::default(),
    };
    let published = demote::read_record(&cfg.pgdata)
        .ok()
        .flatten()
        .and_then(|d| d.published_token().map(str::to_string));
    let executable = upgrade::own_executable().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot locate the manager's own executable");
        PathBuf::new()
    });
    let shared = Arc::new(Shared {
        fenced: AtomicBool::new(cfg.fenced),
        fenced_by_lease: RwLock::new(None),
        postgres_running: AtomicBool::new(false),
        config: RwLock::new(cfg.clone()),
        demotion_token: RwLock::new(published),
        pushed: Mutex::new(pushed.clone()),
        settings_pushed: Notify::new(),
        managed_roles: RwLock::new(None),
        databases: RwLock::new(None),
        restart_requested: AtomicBool::new(false),
        executable: executable.clone(),
        digest: std::sync::OnceLock::new(),
        upgrading: Mutex::new(()),
        reexec: Notify::new(),
        last_step: AtomicU64::new(unix_now()),
        rejoin: RwLock::new(rejoin::load(&cfg.pgdata)),
        recloning: AtomicBool::new(false),
        backups: super::backups::Backups::new(),
        retention: RwLock::new(None),
        source_divergence: RwLock::new(None),
    });
    serve(&cfg, shared.clone(), custom).await?;
    let digested = shared.clone();
    tokio::task::spawn_blocking(move || match upgrade::file_digest(&executable) {
        Ok(digest) => {
            tracing::info!(version = env!("CARGO_PKG_VERSION"), %digest, "instance manager");
            let _ = digested.digest.set(digest);
        }
        Err(e) => tracing::warn!(
            error = %e,
            "cannot read the manager's own executable: no in-place upgrade"
        ),
    });
    tokio::spawn(super::managed::run(
        shared.clone(),
        super::managed::Roles::default(),
    ));
    tokio::spawn(super::managed::run(
        shared.clone(),
        super::managed::Databases,
    ));
    tokio::spawn(super::slots::keep(shared.clone()));
    tokio::spawn(super::retention::run(shared.clone()));
    tokio::spawn(super::partial_wal::run(shared.clone()));
    tokio::spawn(super::fencing_lease::run(shared.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    // After an in-place upgrade, forwarding goes on where the previous image stopped.
    let handed_over = upgrade::handed_over_log_offsets();
    let log_offsets: Vec<Arc<AtomicU64>> = ["log/postgres.json", "log/postgres"]
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let offset = Arc::new(AtomicU64::new(handed_over.get(i).copied().unwrap_or(0)));
            tokio::spawn(jsonlog::follow(
                cfg.pgdata.join(file),
                "postgres",
                stop_rx.clone(),
                offset.clone(),
            ));
            offset
        })
        .collect();

    let lease = match PrimaryLease::for_config(&cfg) {
        Ok(lease) => lease.map(Arc::new),
        Err(e) => {
            // Without the Lease no promotion is safe: the instance runs, but never as a primary.
            tracing::error!(error = %e, "the primary lease is unusable");
            return Err(RunError::Lease(e));
        }
    };
    let want_lease = Arc::new(AtomicBool::new(false));
    if let Some(lease) = &lease {
        tokio::spawn(keep_lease(lease.clone(), want_lease.clone()));
    }
    let mut supervisor = Supervisor {
        seen: mtime(&config_file),
        config_file,
        file_cfg,
        applied: pushed,
        cfg,
        shared,
        postmaster: upgrade::handed_over_postmaster()
            .map(Postmaster::adopt)
            .unwrap_or_default(),
        upstream,
        retry_follow_at: None,
        retry_demotion_at: None,
        lease,
        want_lease,
        pins,
        rejoin: RejoinState::default(),
        reclone_reason: String::new(),
        diverged: diverged::Watch::default(),
        rewind_standby: false,
        source: source_divergence::Watch::default(),
    };
    let shared = supervisor.shared.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            biased;
            _ = termination.requested() => break,
            _ = shared.reexec.notified() => {
                // Between two steps: every decision is on disk, the postmaster is handed over.
                // The short pause lets the answer to the upload leave first.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let offsets: Vec<u64> =
                    log_offsets.iter().map(|o| o.load(Ordering::SeqCst)).collect();
                let e = upgrade::reexec(
                    &shared.executable,
                    supervisor.postmaster.pid(),
                    &offsets,
                );
                tracing::error!(error = %e, "cannot re-execute the new manager; the old one goes on");
                continue;
            }
            _ = shared.settings_pushed.notified() => {}
            _ = tick.tick() => {}
        }
        // A step waits for postgres, pg_ctl, pg_rewind or the object store; SIGTERM abandons it
        // (every step it completed is on disk) and shuts down.
        tokio::select! {
            biased;
            _ = termination.requested() => break,
            _ = supervisor.step() => {}
        }
        shared.last_step.store(unix_now(), Ordering::SeqCst);
    }
    tracing::info!("shutting down: smart, fast after smartShutdownTimeout, then immediate");
    supervisor.postmaster.shutdown(&supervisor.cfg).await;
    supervisor.want_lease.store(false, Ordering::SeqCst);
    if let Some(lease) = &supervisor.lease {
        lease.release().await;
    }
    let _ = stop_tx.send(true);
    Ok(())
}

/// Reads the primary Lease every retry period, so that its holder's silence can be told from
/// its renewals; while this instance runs as the primary, takes and renews it instead.
async fn keep_lease(lease: Arc<PrimaryLease>, want: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(lease.retry_period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if want.load(Ordering::SeqCst) {
            match lease.keep().await {
                Acquired::Held => {}
                Acquired::HeldBy { holder, .. } => {
                    tracing::error!(%holder, "another instance holds the primary lease")
                }
                Acquired::Missing => tracing::warn!("the primary lease does not exist"),
                Acquired::NotNow(reason) => {
                    tracing::warn!(%reason, "the primary lease is not renewed")
                }
            }
        } else if let Err(reason) = lease.read().await {
            tracing::debug!(%reason, "cannot read the primary lease");
        }
    }
}

async fn serve(
    cfg: &ManagerConfig,
    shared: Arc<Shared>,
    custom: std::collections::BTreeMap<String, metrics::CustomQuery>,
) -> Result<(), RunError> {
    let bind = |port: u16| async move {
        tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .map_err(|source| RunError::Bind { port, source })
    };
    let probes = http::probes(shared.clone(), cfg.certificates.is_none());
    let l = bind(cfg.probe_port).await?;
    tokio::spawn(async move { axum::serve(l, probes).await });
    let metrics = http::metrics_router(shared.clone(), custom);
    let l = bind(cfg.metrics_port).await?;
    tokio::spawn(async move { axum::serve(l, metrics).await });
    if let Some(files) = &cfg.certificates {
        let acceptor = http::tls_acceptor(files)?;
        let tcp = bind(cfg.status_port).await?;
        let router = http::status_router(shared);
        tokio::spawn(async move {
            let listener = pgfed_tls::TlsListener {
                tcp,
                acceptor,
                name: "status API",
            };
            axum::serve(listener, router).await
        });
    }
    Ok(())
}
