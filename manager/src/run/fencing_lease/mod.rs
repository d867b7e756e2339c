//! The primary region's side of the federation's fencing lease (`spec.replica.fencingLease`,
//! the object and its conditional writes: the `pgfed-fencing` crate). While this instance runs
//! as the primary of the primary cluster, it creates the lease if there is none and renews it
//! every third of its duration; when no renewal that started within the duration succeeded
//! (store down, network cut, credentials revoked), it fences itself — postgres is stopped and
//! kept down as the configuration's fencing does, the reason in the status' `fencedByLease` —
//! and lifts that fence once a renewal at the epoch it held succeeds again. A lease that names
//! another holder or a newer epoch keeps it fenced until the configuration demotes it. Standbys
//! and replica clusters never write the lease. The decisions are in [`decide`]; this module
//! observes, writes the lease and publishes the fence for the supervisor, which owns postgres.

pub mod decide;

use super::converge::in_recovery;
use super::decide::Target;
use super::shared::Shared;
use crate::config::ManagerConfig;
use crate::objstore::{StoreError, open_root};
use decide::{Fence, Observed, Outcome, Reading, Server, Step, holds, next_step, read_lease};
use object_store::path::Path as ObjPath;
use pgfed_api::cluster::{FencingLeaseConfiguration, MIN_FENCING_LEASE_DURATION};
use pgfed_api::validation::formats::FormatError;
use pgfed_fencing::{FencingLease, HolderClock, LeaseError, Stored};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The longest the task sleeps: how soon it notices a role or configuration change.
const TICK: Duration = Duration::from_secs(1);
/// How soon a failed write is tried again (a renewal is due every third of the duration anyway).
const RETRY: Duration = Duration::from_secs(1);
/// The most steps one turn takes (write, then fence or unfence), so a turn always ends.
const STEPS_PER_TURN: usize = 4;

/// Why the lease could not be written, or the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FencingLeaseError {
    /// `leaseDuration` is unreadable (the validation refuses it before it reaches an instance).
    #[error("spec.replica.fencingLease.leaseDuration: {0}")]
    Duration(#[from] FormatError),
    /// `leaseDuration` is below the minimum.
    #[error("spec.replica.fencingLease.leaseDuration {seconds}s is below the {min}s minimum")]
    TooShort {
        /// What was configured.
        seconds: u64,
        /// The minimum.
        min: u64,
    },
    /// The object store could not be opened (bad destination, unreadable credentials).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The lease call failed or found the lease someone else's.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The store did not answer in time.
    #[error("the object store did not answer within {0:?}")]
    TimedOut(Duration),
}

impl FencingLeaseError {
    /// A short, stable name of the cause, for logs.
    pub fn label(&self) -> &'static str {
        match self {
            FencingLeaseError::Duration(_) | FencingLeaseError::TooShort { .. } => {
                "fencing_lease_config"
            }
            FencingLeaseError::Store(e) => e.label(),
            FencingLeaseError::Lease(e) => e.label(),
            FencingLeaseError::TimedOut(_) => "timed_out",
        }
    }
}

/// The lease this instance must hold, from its configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `spec.replica.fencingLease`.
    pub lease: FencingLeaseConfiguration,
    /// This member's name in the lease.
    pub holder: String,
    /// How long a renewal keeps the right to accept writes.
    pub duration: Duration,
    /// Where the store's credentials are mounted.
    pub secrets_dir: PathBuf,
}

impl Settings {
    /// The lease settings when the configuration makes this instance the primary of the primary
    /// cluster (a fencing lease configured, not a replica cluster, not another instance named
    /// target primary); `None` otherwise. Pure.
    pub fn of(cfg: &ManagerConfig) -> Result<Option<Settings>, FencingLeaseError> {
        let Some(replica) = &cfg.replica else {
            return Ok(None);
        };
        let Some(lease) = &replica.fencing_lease else {
            return Ok(None);
        };
        if cfg.is_replica_cluster() || Target::of(cfg) == Target::Other {
            return Ok(None);
        }
        let duration = lease.lease_duration()?;
        if duration < MIN_FENCING_LEASE_DURATION {
            return Err(FencingLeaseError::TooShort {
                seconds: duration.as_secs(),
                min: MIN_FENCING_LEASE_DURATION.as_secs(),
            });
        }
        Ok(Some(Settings {
            holder: lease.holder(replica, &cfg.cluster_name).to_string(),
            lease: lease.clone(),
            duration,
            secrets_dir: cfg.secrets_dir.clone(),
        }))
    }

    /// The object path of the lease: `<destinationPath>/<key>`, `prefix` being the path part
    /// of `destinationPath` inside its bucket. Pure.
    pub fn object_path(&self, prefix: &str) -> ObjPath {
        pgfed_fencing::lease_path(prefix, self.lease.key())
    }

    fn open(&self) -> Result<FencingLease, FencingLeaseError> {
        let (store, prefix) = open_root(&self.lease.object_store, &self.secrets_dir)?;
        Ok(FencingLease::new(
            store,
            self.object_path(&prefix),
            self.lease.federation.clone(),
            self.duration,
        ))
    }
}

/// One stretch of holding the lease, from the instance becoming the primary to it no longer
/// being it.
struct Term {
    clock: HolderClock,
    last: Outcome,
    fence: Option<Fence>,
    /// The lease as last read or written, to renew from.
    known: Option<Stored>,
    /// The epoch held in this term, once known: a lease at another epoch is lost.
    held_epoch: Option<u64>,
    next_write: Instant,
    /// The last failure, for the fence's reason.
    last_error: Option<String>,
}

impl Term {
    fn new(duration: Duration, fence: Option<Fence>) -> Term {
        Term {
            clock: HolderClock::new(duration),
            last: Outcome::None,
            fence,
            known: None,
            held_epoch: None,
            next_write: Instant::now(),
            last_error: None,
        }
    }
}

/// The task's state across turns.
#[derive(Default)]
struct Keeper {
    /// The settings the term and the handle were made for.
    settings: Option<Settings>,
    handle: Option<FencingLease>,
    term: Option<Term>,
    /// The configuration error last logged, so it is logged once.
    config_error: Option<String>,
}

/// Runs for the life of the manager.
pub async fn run(shared: Arc<Shared>) {
    let mut keeper = Keeper::default();
    loop {
        let wait = keeper.turn(&shared).await;
        tokio::time::sleep(wait).await;
    }
}

/// How the local server runs, from the supervisor's flag and a query.
async fn observe_server(shared: &Shared, cfg: &ManagerConfig) -> Server {
    if !shared.postgres_running.load(Ordering::SeqCst) {
        return Server::Down;
    }
    match in_recovery(cfg).await {
        Some(false) => Server::Primary,
        Some(true) => Server::Standby,
        None => Server::Down,
    }
}

impl Keeper {
    /// One look and the steps it calls for; returns how long to sleep.
    async fn turn(&mut self, shared: &Shared) -> Duration {
        let cfg = shared.config.read().await.clone();
        let settings = match Settings::of(&cfg) {
            Ok(s) => {
                self.config_error = None;
                s
            }
            Err(e) => {
                let text = e.to_string();
                if self.config_error.as_deref() != Some(text.as_str()) {
                    tracing::error!(error = %e, label = e.label(), "the fencing lease cannot be kept");
                    self.config_error = Some(text);
                }
                None
            }
        };
        let server = match (&settings, &self.term) {
            (None, None) => Server::Down,
            _ => observe_server(shared, &cfg).await,
        };
        let holds_now = holds(settings.is_some(), server, self.term.is_some());
        if let Some(s) = settings.as_ref().filter(|_| holds_now)
            && (self.term.is_none() || self.settings.as_ref() != Some(s))
        {
            // A new term, or new settings: write before anything; a fence already set stays
            // until a write lifts it.
            let fence = self.term.take().and_then(|t| t.fence);
            self.term = Some(Term::new(s.duration, fence));
            self.settings = Some(s.clone());
            self.handle = None;
        }
        for _ in 0..STEPS_PER_TURN {
            let Some(term) = &self.term else { break };
            let now = Instant::now();
            let step = next_step(&Observed {
                holds: holds_now,
                fence: term.fence.as_ref(),
                must_fence: term.clock.must_fence(now),
                write_due: now >= term.next_write,
                last: &term.last,
            });
            match step {
                Step::Nothing => break,
                Step::Write => self.write().await,
                Step::Fence(fence) => self.fence(shared, fence).await,
                Step::Unfence => self.unfence(shared, holds_now).await,
            }
        }
        if !holds_now && self.term.as_ref().is_some_and(|t| t.fence.is_none()) {
            self.term = None;
        }
        self.wait()
    }

    /// How long until the next thing to do: a write, the fence deadline, or a look.
    fn wait(&self) -> Duration {
        let now = Instant::now();
        let Some(term) = &self.term else { return TICK };
        [Some(term.next_write), term.clock.fence_at()]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .map(|at| at - now)
            .fold(TICK, Duration::min)
            .max(Duration::from_millis(50))
    }

    /// Creates or renews the lease, bounded so that a store that never answers cannot hold the
    /// fence back past its deadline.
    async fn write(&mut self) {
        let (Some(settings), Some(term)) = (self.settings.clone(), self.term.as_mut()) else {
            return;
        };
        let started = Instant::now();
        let interval = term.clock.renew_interval();
        let limit = term
            .clock
            .fence_at()
            .filter(|at| *at > started)
            .map_or(started + interval, |at| at.min(started + interval));
        let handle = match self.handle.take() {
            Some(h) => Ok(h),
            None => settings.open(),
        };
        let result = match handle {
            Ok(lease) => {
                let pending = attempt(&lease, &settings, term.known.clone(), term.held_epoch);
                let answered = tokio::time::timeout_at(limit.into(), pending).await;
                // Reopened after a failure: credentials may have been rotated meanwhile.
                if matches!(answered, Ok(Ok(_))) {
                    self.handle = Some(lease);
                }
                answered.unwrap_or_else(|_| Err(FencingLeaseError::TimedOut(limit - started)))
            }
            Err(e) => Err(e),
        };
        let now = Instant::now();
        match result {
            Ok(stored) => {
                term.clock.succeeded(started);
                term.held_epoch = Some(stored.lease.epoch);
                if term.last == Outcome::Failed {
                    tracing::info!(
                        epoch = stored.lease.epoch,
                        renewals = stored.lease.renewals,
                        "the fencing lease is renewed again"
                    );
                }
                term.known = Some(stored);
                term.last = Outcome::Renewed;
                term.last_error = None;
                term.next_write = term.clock.next_renewal(now);
            }
            Err(FencingLeaseError::Lease(LeaseError::Lost { holder, epoch, .. })) => {
                term.clock.lost();
                term.last = Outcome::Lost { holder, epoch };
            }
            Err(e) => {
                if term.last != Outcome::Failed {
                    tracing::warn!(error = %e, label = e.label(), "the fencing lease was not renewed; retrying");
                }
                if matches!(
                    e,
                    FencingLeaseError::Lease(
                        LeaseError::Missing { .. } | LeaseError::Conflict { .. }
                    )
                ) {
                    // Read it again next time (the epoch held still has to match).
                    term.known = None;
                }
                term.last = Outcome::Failed;
                term.last_error = Some(e.to_string());
                term.next_write = now + RETRY;
            }
        }
    }

    async fn fence(&mut self, shared: &Shared, fence: Fence) {
        let (Some(settings), Some(term)) = (&self.settings, self.term.as_mut()) else {
            return;
        };
        let key = settings.lease.key();
        let reason = match &fence {
            Fence::Expired => format!(
                "the fencing lease {key} was not renewed within {}s ({}): this primary stopped accepting writes until it renews it",
                settings.duration.as_secs(),
                term.last_error.as_deref().unwrap_or("no answer")
            ),
            Fence::Lost { holder, epoch } => format!(
                "the fencing lease {key} is held by {holder} at epoch {epoch}: this primary stays fenced until it is demoted"
            ),
        };
        tracing::error!(reason = %reason, event = "FencedByLease", "fencing this primary");
        term.fence = Some(fence);
        *shared.fenced_by_lease.write().await = Some(reason);
        shared.settings_pushed.notify_one();
    }

    async fn unfence(&mut self, shared: &Shared, holds_now: bool) {
        let Some(term) = self.term.as_mut() else {
            return;
        };
        term.fence = None;
        if holds_now {
            tracing::info!(
                event = "UnfencedByLease",
                "the fencing lease is renewed: this primary accepts writes again"
            );
        } else {
            tracing::info!(
                event = "UnfencedByLease",
                "no longer the primary: the fencing lease's fence is lifted"
            );
            self.term = None;
        }
        *shared.fenced_by_lease.write().await = None;
        shared.settings_pushed.notify_one();
    }
}

/// One write of the lease: renew what was last read or written; with nothing known, read it and
/// create it when absent, renew it when it is ours, report it lost otherwise.
async fn attempt(
    lease: &FencingLease,
    settings: &Settings,
    known: Option<Stored>,
    held_epoch: Option<u64>,
) -> Result<Stored, FencingLeaseError> {
    let holder = settings.holder.as_str();
    let current = match known {
        Some(stored) => stored,
        None => match lease.read().await? {
            Some(stored) => stored,
            None => match lease.create(holder).await {
                Ok(created) => return Ok(created),
                Err(LeaseError::AlreadyHeld { stored, .. }) => *stored,
                Err(e) => return Err(e.into()),
            },
        },
    };
    match read_lease(
        &current.lease,
        &settings.lease.federation,
        holder,
        held_epoch,
    ) {
        Reading::Ours => Ok(lease.renew(&current, holder).await?),
        Reading::Lost { holder, epoch } => Err(LeaseError::Lost {
            key: lease.key().to_string(),
            holder,
            epoch,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(yaml: &str) -> ManagerConfig {
        ManagerConfig::parse(&format!(
            "clusterName: pg\npgdata: /d\ninstanceName: pg-1\nsecretsDir: /s\n{yaml}"
        ))
        .expect("config")
    }

    const LEASE: &str = "fencingLease: {objectStore: {destinationPath: 's3://b/fed/'}, federation: f, leaseDuration: 6s}";

    #[test]
    fn who_must_keep_the_lease() {
        // (case, rest of the configuration, holder expected)
        let cases = [
            ("no replica section", String::new(), None),
            (
                "no lease",
                "replica: {self: east, primary: east, source: west}".to_string(),
                None,
            ),
            (
                "the primary cluster",
                format!("replica: {{self: east, primary: east, source: west, {LEASE}}}"),
                Some("east"),
            ),
            (
                "the primary cluster, this instance the target",
                format!(
                    "targetPrimary: pg-1\nreplica: {{self: east, primary: east, source: west, {LEASE}}}"
                ),
                Some("east"),
            ),
            (
                "another instance is the target",
                format!(
                    "targetPrimary: pg-2\nreplica: {{self: east, primary: east, source: west, {LEASE}}}"
                ),
                None,
            ),
            (
                "a replica cluster",
                format!("replica: {{self: east, primary: west, source: west, {LEASE}}}"),
                None,
            ),
            (
                "no self: the cluster's name",
                format!("replica: {{primary: pg, source: west, {LEASE}}}"),
                Some("pg"),
            ),
        ];
        for (case, yaml, want) in cases {
            let got = Settings::of(&cfg(&yaml)).expect("valid");
            assert_eq!(got.as_ref().map(|s| s.holder.as_str()), want, "{case}");
            if let Some(s) = got {
                assert_eq!(s.duration, Duration::from_secs(6), "{case}");
                assert_eq!(s.secrets_dir, Path::new("/s"), "{case}");
            }
        }
    }

    #[test]
    fn an_unusable_duration_is_refused() {
        let short = cfg(
            "replica: {primary: pg, source: w, fencingLease: {objectStore: {destinationPath: 's3://b/'}, federation: f, leaseDuration: 2s}}",
        );
        assert!(matches!(
            Settings::of(&short),
            Err(FencingLeaseError::TooShort { seconds: 2, min: 5 })
        ));
        let garbage = cfg(
            "replica: {primary: pg, source: w, fencingLease: {objectStore: {destinationPath: 's3://b/'}, federation: f, leaseDuration: soon}}",
        );
        assert!(matches!(
            Settings::of(&garbage),
            Err(FencingLeaseError::Duration(_))
        ));
    }

    #[test]
    fn the_lease_lives_under_the_destination_path() {
        let s = Settings::of(&cfg(&format!(
            "replica: {{primary: pg, source: w, {LEASE}}}"
        )))
        .expect("valid")
        .expect("settings");
        assert_eq!(
            s.object_path("fed").as_ref(),
            "fed/pgfed-fencing-lease.json"
        );
        assert_eq!(
            s.object_path("fed/").as_ref(),
            "fed/pgfed-fencing-lease.json"
        );
        assert_eq!(s.object_path("").as_ref(), "pgfed-fencing-lease.json");
    }
}
