//! Leader election among the operator's replicas on a `coordination.k8s.io/v1` Lease, so only
//! one replica runs the controllers (the webhook runs in all of them).
//!
//! `decide` holds the pure decisions (who leads, what to write), `store` the Lease calls; this
//! module runs the loop: follow until the lease is free, then lead and renew. The leading work
//! is cancelled when renewals have failed for `lease_duration - margin` since the last one that
//! succeeded (counted from when that request was sent), so it has stopped before any other
//! replica can see the lease expire. [`LeaderElector::run`] then returns
//! [`LeaderError::Lost`] and the process should exit non-zero: the controllers' caches and
//! in-flight decisions are then dropped with the process, and the restarted container starts
//! as a clean follower, which is simpler to trust than resetting every controller in place.
//! On shutdown the leader releases the lease so the other replica takes over at its next read.

pub use pgfed_lease::{decide, store};

use chrono::{DateTime, Utc};
use decide::{Decision, Observed};
use std::future::Future;
use std::time::Duration;
use store::{LeaseStore, StoreError, StoredLease};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::webhook::secret::ApiAccess;
pub use store::KubeLeases;

const COORDINATION: &str = "coordination.k8s.io";

/// Every call [`KubeLeases`] makes: the Lease is read (`get_opt`), created when missing
/// (`create`) and replaced at the version read (`replace`). Keep in step with the code.
pub const API_ACCESS: &[ApiAccess] = &[
    ApiAccess {
        group: COORDINATION,
        resource: "leases",
        verb: "get",
    },
    ApiAccess {
        group: COORDINATION,
        resource: "leases",
        verb: "create",
    },
    ApiAccess {
        group: COORDINATION,
        resource: "leases",
        verb: "update",
    },
];

/// Name of the operator's Lease, in the operator's namespace.
pub const LEASE_NAME: &str = "pgfed-operator-leader";

/// How often and for how long the lease is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// How long a lease stays valid after a renewal.
    pub lease_duration: Duration,
    /// How often the leader renews.
    pub renew_period: Duration,
    /// How often a follower reads the lease, and how soon a failed renewal is retried.
    pub retry_period: Duration,
    /// How long before the lease could expire the leader stops its work; once leadership is
    /// lost the work is given half of it to wind down after cancellation, then aborted.
    pub margin: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_period: Duration::from_secs(5),
            retry_period: Duration::from_secs(2),
            margin: Duration::from_secs(3),
        }
    }
}

impl Timings {
    /// How long after the last successful renewal the leader stops leading.
    fn leading_for(&self) -> Duration {
        self.lease_duration.saturating_sub(self.margin)
    }

    fn lease_duration(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease_duration).unwrap_or(chrono::Duration::seconds(15))
    }
}

/// Why leading ended without a shutdown.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Renewals failed for too long, or another replica holds the lease now. The leading work
    /// was stopped first.
    #[error("lost the operator leader lease")]
    Lost,
}

/// How [`LeaderElector::run`] ended normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was asked; if this replica was leading, its work was stopped and the lease released.
    Shutdown,
    /// The leading work returned by itself; the lease was released.
    WorkFinished,
}

/// Wall time anchored on tokio's monotonic clock, so a jump of the system clock while the
/// operator runs cannot make a lease look older or younger than it is (and tests can pause time).
#[derive(Clone, Copy, Debug)]
struct Clock {
    wall: DateTime<Utc>,
    mono: Instant,
}

impl Clock {
    fn start() -> Self {
        Self {
            wall: Utc::now(),
            mono: Instant::now(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.mono.elapsed()).unwrap_or_default();
        self.wall + elapsed
    }
}

/// One replica's side of the election.
pub struct LeaderElector<S = KubeLeases> {
    store: S,
    identity: String,
    timings: Timings,
    leading: watch::Sender<bool>,
    clock: Clock,
}

/// The identity this replica elects with: `POD_NAME` (the downward API), else the host name,
/// plus a random suffix.
pub fn default_identity() -> String {
    use std::hash::{BuildHasher, Hasher};
    let pod = std::env::var("POD_NAME").ok();
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok());
    // RandomState is seeded randomly per process: enough to tell two runs of one pod apart.
    let suffix = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    decide::identity(pod.as_deref(), host.as_deref(), suffix)
}

impl LeaderElector<KubeLeases> {
    /// An elector on the Lease `name` in `namespace`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: String,
        timings: Timings,
    ) -> Self {
        Self::with_store(KubeLeases::new(client, namespace, name), identity, timings)
    }
}

impl<S: LeaseStore> LeaderElector<S> {
    /// An elector on any Lease store.
    pub fn with_store(store: S, identity: String, timings: Timings) -> Self {
        Self {
            store,
            identity,
            timings,
            leading: watch::Sender::new(false),
            clock: Clock::start(),
        }
    }

    /// Whether this replica leads right now (for the `is_leader` gauge).
    pub fn is_leader(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// This replica's identity in the Lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Follows until this replica gets the lease, then runs `on_leading` with a token cancelled
    /// when leadership is lost or shutdown is asked, and renews the lease while it runs.
    /// Returns when `shutdown` is cancelled, when the work returns by itself, or with
    /// [`LeaderError::Lost`] once the work was stopped because leadership was lost.
    pub async fn run<F, Fut>(
        self,
        shutdown: CancellationToken,
        on_leading: F,
    ) -> Result<Ended, LeaderError>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some((mut held, mut renewed_at)) = self.follow(&shutdown).await else {
            return Ok(Ended::Shutdown);
        };
        tracing::info!(identity = %self.identity, "leading: the controllers start");
        self.leading.send_replace(true);
        let work_token = CancellationToken::new();
        let mut work = tokio::spawn(on_leading(work_token.clone()));
        let mut wait = self.timings.renew_period;
        let end = loop {
            let deadline = renewed_at + self.timings.leading_for();
            tokio::select! {
                biased;
                _ = sleep_until(deadline) => break Leading::Lost,
                _ = shutdown.cancelled() => break Leading::Shutdown,
                finished = &mut work => {
                    if let Err(e) = finished {
                        tracing::error!(error = %e, "the leading work panicked");
                    }
                    break Leading::WorkFinished;
                }
                _ = sleep(wait) => {}
            }
            let sent = Instant::now();
            // One stuck call must not use up every chance to renew before the deadline.
            let attempt_deadline = deadline.min(sent + self.timings.renew_period);
            let attempt = tokio::select! {
                attempt = timeout_at(attempt_deadline, self.renew(&held)) => attempt,
                _ = shutdown.cancelled() => break Leading::Shutdown,
            };
            match attempt {
                Ok(Ok(Renewal::Renewed(next))) => {
                    held = next;
                    renewed_at = sent;
                    wait = self.timings.renew_period;
                }
                Ok(Ok(Renewal::TakenBy(holder))) => {
                    tracing::warn!(%holder, "another replica holds the leader lease");
                    break Leading::Lost;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "renewing the leader lease failed; retrying");
                    wait = self.timings.retry_period;
                }
                Err(_) if Instant::now() >= deadline => break Leading::Lost,
                Err(_) => {
                    tracing::warn!("renewing the leader lease timed out; retrying");
                    wait = Duration::ZERO;
                }
            }
        };
        self.leading.send_replace(false);
        if end != Leading::WorkFinished {
            work_token.cancel();
            // Until the lease deadline on shutdown (the lease is still ours), half the margin
            // once it is lost (the deadline has passed).
            let wind_down = (Instant::now() + self.timings.margin / 2)
                .max(renewed_at + self.timings.leading_for());
            if timeout_at(wind_down, &mut work).await.is_err() {
                tracing::warn!("the leading work did not stop when cancelled; aborting it");
                work.abort();
                // An aborted task ends at its next await; the rest of the margin is for that.
                let _ = timeout_at(wind_down + self.timings.margin / 2, &mut work).await;
            }
        }
        if end == Leading::Lost {
            tracing::error!(identity = %self.identity, "lost the leader lease; the controllers stopped");
            return Err(LeaderError::Lost);
        }
        self.release(&held).await;
        Ok(match end {
            Leading::WorkFinished => Ended::WorkFinished,
            _ => Ended::Shutdown,
        })
    }

    /// Reads the lease every retry period until this replica holds it (with the instant its
    /// claiming request was sent), or `None` on shutdown.
    async fn follow(&self, shutdown: &CancellationToken) -> Option<(StoredLease, Instant)> {
        // The version last read and when it was first read in that version.
        let mut seen: Option<(String, DateTime<Utc>)> = None;
        let mut last_holder: Option<String> = None;
        loop {
            let sent = Instant::now();
            let round = timeout_at(
                sent + self.timings.renew_period,
                self.try_acquire(&mut seen),
            );
            let attempt = tokio::select! {
                attempt = round => attempt,
                _ = shutdown.cancelled() => return None,
            };
            match attempt {
                Err(_) => tracing::warn!("reading the leader lease timed out"),
                Ok(Ok(Round::Holding(held))) => return Some((held, sent)),
                Ok(Ok(Round::Following(holder))) => {
                    if last_holder.as_deref() != holder.as_deref() {
                        tracing::info!(leader = ?holder, "following the operator leader");
                        last_holder = holder;
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "reading the leader lease failed"),
            }
            tokio::select! {
                _ = sleep(self.timings.retry_period) => {}
                _ = shutdown.cancelled() => return None,
            }
        }
    }

    /// One follower round: the lease if this replica got it, or who holds it.
    async fn try_acquire(
        &self,
        seen: &mut Option<(String, DateTime<Utc>)>,
    ) -> Result<Round, StoreError> {
        let now = self.clock.now();
        let duration = self.timings.lease_duration();
        let Some(current) = self.store.get().await? else {
            let record = decide::claimed(None, &self.identity, now, duration);
            return match self.store.create(&record).await {
                Ok(held) => Ok(Round::Holding(held)),
                Err(StoreError::Conflict) => Ok(Round::Following(None)),
                Err(e) => Err(e),
            };
        };
        let first_seen = match seen {
            Some((version, first_seen)) if *version == current.version => *first_seen,
            _ => {
                *seen = Some((current.version.clone(), now));
                now
            }
        };
        let observed = Observed {
            record: &current.record,
            first_seen,
        };
        match decide::decide(Some(observed), &self.identity, now, duration) {
            Decision::Follow { holder, .. } => Ok(Round::Following(Some(holder))),
            Decision::Acquire | Decision::Renew | Decision::TakeOver => {
                let record = decide::claimed(Some(&current.record), &self.identity, now, duration);
                match self.store.replace(&record, &current.version).await {
                    Ok(held) => Ok(Round::Holding(held)),
                    Err(StoreError::Conflict) => Ok(Round::Following(current.record.holder)),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// One renewal at the version this replica last wrote. A conflict means someone else wrote
    /// the lease: read it to see whether it is still ours.
    async fn renew(&self, held: &StoredLease) -> Result<Renewal, StoreError> {
        let now = self.clock.now();
        let record = decide::renewed(&held.record, now, self.timings.lease_duration());
        match self.store.replace(&record, &held.version).await {
            Ok(next) => Ok(Renewal::Renewed(next)),
            Err(StoreError::Conflict) => {
                let current = self.store.get().await?;
                match current {
                    Some(current) if current.record.holder.as_deref() == Some(&self.identity) => {
                        let record =
                            decide::renewed(&current.record, now, self.timings.lease_duration());
                        self.store
                            .replace(&record, &current.version)
                            .await
                            .map(Renewal::Renewed)
                    }
                    other => Ok(Renewal::TakenBy(
                        other
                            .and_then(|l| l.record.holder)
                            .unwrap_or_else(|| "nobody".to_string()),
                    )),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (best effort, bounded by the retry period): the other replica takes
    /// over at its next read instead of after expiry.
    async fn release(&self, held: &StoredLease) {
        let record = decide::released(&held.record, self.clock.now());
        let deadline = Instant::now() + self.timings.retry_period;
        match timeout_at(deadline, self.store.replace(&record, &held.version)).await {
            Ok(Ok(_)) => tracing::info!("released the leader lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "releasing the leader lease failed"),
            Err(_) => tracing::warn!("releasing the leader lease timed out"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leading {
    Lost,
    Shutdown,
    WorkFinished,
}

/// The outcome of one follower round.
enum Round {
    /// This replica holds the lease now.
    Holding(StoredLease),
    /// Someone else (named, when known) holds it.
    Following(Option<String>),
}

/// The outcome of one renewal.
enum Renewal {
    Renewed(StoredLease),
    TakenBy(String),
}

#[cfg(test)]
mod tests;
