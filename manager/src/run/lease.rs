//! The cluster's primary Lease (`coordination.k8s.io/v1`, named after the cluster), from the
//! instance's side. The primary's manager holds it and renews it every `retryPeriodSeconds` while
//! its postmaster runs; a standby promotes, and any instance starts as a primary, only once it
//! holds it. A holder that stops on purpose (step-down, fencing, shutdown) releases it, so the
//! next primary takes it at once; a holder that vanishes lets it expire (`leaseDurationSeconds`).
//!
//! Expiry is judged as the operator's leader election judges it ([`pgfed_lease::decide`]): on
//! this instance's clock, from when this instance first saw the record unchanged — every
//! manager reads the Lease every retry period, so a standby asked to promote has been watching
//! the record for long enough to tell a silent holder from a live one. The write itself is the
//! guard: it succeeds only at the version read, so two instances can never both take it.
//!
//! The Lease object is created by the operator (with the Cluster as owner); managers only get
//! and update it, which is all their Role allows.

use crate::config::{LeaseTimings, ManagerConfig};
use chrono::{DateTime, Utc};
use pgfed_lease::decide::{self, Decision, LeaseRecord, Observed};
use pgfed_lease::store::{KubeLeases, LeaseStore, StoreError, StoredLease};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why the Lease cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// No in-cluster Kubernetes configuration (service account token, API server address).
    #[error("primary lease: no in-cluster Kubernetes configuration: {0}")]
    Config(#[source] kube::config::InClusterError),
    /// The Kubernetes client cannot be built.
    #[error("primary lease: Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// What trying to take (or keep) the Lease gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// This instance holds it now.
    Held,
    /// Another instance holds a fresh lease.
    HeldBy {
        /// The holder.
        holder: String,
        /// When it expires unless renewed, on this instance's clock.
        expires: DateTime<Utc>,
    },
    /// The Lease object does not exist (yet): the operator creates it.
    Missing,
    /// The API server did not answer, or another instance wrote first; try again.
    NotNow(String),
}

/// The record last read and when this instance first saw it at that version.
struct Seen {
    lease: StoredLease,
    first_seen: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    seen: Option<Seen>,
    /// When the request of the last write that left this instance holding the lease was sent.
    renewed_at: Option<Instant>,
}

/// The primary Lease of one instance's cluster.
pub struct PrimaryLease {
    store: KubeLeases,
    me: String,
    timings: LeaseTimings,
    state: Mutex<State>,
    /// When this manager started watching the Lease: a manager that just started (or re-executed
    /// itself in an in-place upgrade) is given one renew deadline to renew before it is judged.
    started: Instant,
}

impl PrimaryLease {
    /// The Lease for `cfg`'s cluster, when the configuration asks for one (`primaryLease`).
    pub fn for_config(cfg: &ManagerConfig) -> Result<Option<PrimaryLease>, LeaseError> {
        let Some(timings) = cfg.primary_lease.clone() else {
            return Ok(None);
        };
        let mut config = kube::Config::incluster().map_err(LeaseError::Config)?;
        // Every call must fit in the failover budget: a hanging connection is a failed call.
        config.connect_timeout = Some(Duration::from_secs(2));
        config.read_timeout = Some(timings.retry_period());
        config.write_timeout = Some(timings.retry_period());
        let namespace = config.default_namespace.clone();
        let client = kube::Client::try_from(config).map_err(LeaseError::Client)?;
        Ok(Some(PrimaryLease {
            store: KubeLeases::new(client, &namespace, &cfg.cluster_name),
            me: cfg.me().to_string(),
            timings,
            state: Mutex::new(State::default()),
            started: Instant::now(),
        }))
    }

    /// How long the primary may go without renewing.
    pub fn renew_deadline(&self) -> Duration {
        self.timings.renew_deadline()
    }

    /// How often the Lease is read and renewed.
    pub fn retry_period(&self) -> Duration {
        self.timings.retry_period()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Each call bounded by the retry period.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.timings.retry_period(), call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the API server did not answer in time".into()),
        }
    }

    /// Reads the Lease and remembers when this version was first seen.
    pub async fn read(&self) -> Result<Option<LeaseRecord>, String> {
        let lease = self.bounded(self.store.get()).await?;
        let now = Utc::now();
        let mut state = self.state();
        match lease {
            None => {
                state.seen = None;
                Ok(None)
            }
            Some(lease) => {
                let record = lease.record.clone();
                let first_seen = match &state.seen {
                    Some(seen) if seen.lease.version == lease.version => seen.first_seen,
                    _ => now,
                };
                if record.holder.as_deref() != Some(self.me.as_str()) {
                    state.renewed_at = None;
                }
                state.seen = Some(Seen { lease, first_seen });
                Ok(Some(record))
            }
        }
    }

    /// Takes the Lease when it is free, expired or already this instance's, renewing it in the
    /// last case; a fresh lease of another instance is left alone.
    pub async fn acquire(&self) -> Acquired {
        if let Err(e) = self.read().await {
            return Acquired::NotNow(e);
        }
        let now = Utc::now();
        let (decision, current) = {
            let state = self.state();
            let Some(seen) = &state.seen else {
                return Acquired::Missing;
            };
            let observed = Observed {
                record: &seen.lease.record,
                first_seen: seen.first_seen,
            };
            (
                decide::decide(Some(observed), &self.me, now, self.timings.duration()),
                seen.lease.clone(),
            )
        };
        let record = match decision {
            Decision::Follow { holder, expires } => return Acquired::HeldBy { holder, expires },
            Decision::Renew => decide::renewed(&current.record, now, self.timings.duration()),
            Decision::TakeOver | Decision::Acquire => decide::claimed(
                Some(&current.record),
                &self.me,
                now,
                self.timings.duration(),
            ),
        };
        self.write(record, &current.version).await
    }

    /// What the primary does every retry period: renew the Lease it holds, or take one that
    /// nobody ever held (a cluster created before its managers used the Lease). A Lease another
    /// instance holds, or that was released, is left alone: taking those is for a start or a
    /// promotion ([`Self::acquire`]). Returns whether this instance holds it afterwards.
    pub async fn keep(&self) -> Acquired {
        let record = match self.read().await {
            Ok(Some(record)) => record,
            Ok(None) => return Acquired::Missing,
            Err(e) => return Acquired::NotNow(e),
        };
        match record.holder.as_deref() {
            Some(holder) if holder == self.me => {
                if self.renew().await {
                    Acquired::Held
                } else {
                    Acquired::NotNow("the renewal did not go through".into())
                }
            }
            None if record.acquire_time.is_none() => self.acquire().await,
            Some(holder) => Acquired::HeldBy {
                holder: holder.to_string(),
                expires: record
                    .renew_time
                    .map_or_else(Utc::now, |t| t + self.timings.duration()),
            },
            None => Acquired::NotNow("the lease was released; it is taken again at a start".into()),
        }
    }

    /// The Lease as last read, when this instance holds it.
    fn held_by_me(&self) -> Option<StoredLease> {
        self.state()
            .seen
            .as_ref()
            .filter(|s| s.lease.record.holder.as_deref() == Some(self.me.as_str()))
            .map(|s| s.lease.clone())
    }

    /// Renews the Lease if this instance holds it; true when it holds it afterwards.
    pub async fn renew(&self) -> bool {
        let held = self.held_by_me();
        let Some(held) = held else {
            return false;
        };
        let record = decide::renewed(&held.record, Utc::now(), self.timings.duration());
        self.write(record, &held.version).await == Acquired::Held
    }

    async fn write(&self, record: LeaseRecord, version: &str) -> Acquired {
        let sent = Instant::now();
        match self.bounded(self.store.replace(&record, version)).await {
            Ok(lease) => {
                let mut state = self.state();
                state.seen = Some(Seen {
                    lease,
                    first_seen: Utc::now(),
                });
                state.renewed_at = Some(sent);
                Acquired::Held
            }
            Err(e) => Acquired::NotNow(e),
        }
    }

    /// Gives the Lease up if this instance holds it (after postgres stopped on purpose), so the
    /// next primary need not wait for it to expire.
    pub async fn release(&self) {
        if self.read().await.is_err() {
            return;
        }
        let held = self.held_by_me();
        if let Some(held) = held {
            let record = decide::released(&held.record, Utc::now());
            match self
                .bounded(self.store.replace(&record, &held.version))
                .await
            {
                Ok(_) => {
                    self.state().renewed_at = None;
                    tracing::info!("primary lease released");
                }
                Err(e) => tracing::warn!(error = %e, "cannot release the primary lease"),
            }
        }
    }

    /// Whether this instance renewed the Lease within the renew deadline: while it has not, it
    /// cannot prove that no other instance is about to take it.
    pub fn renewed_within_deadline(&self) -> bool {
        self.state().renewed_at.unwrap_or(self.started).elapsed() < self.timings.renew_deadline()
    }

    /// Another instance holding a lease that is fresh as far as this instance has seen.
    pub fn held_elsewhere(&self) -> Option<String> {
        let state = self.state();
        let seen = state.seen.as_ref()?;
        let observed = Observed {
            record: &seen.lease.record,
            first_seen: seen.first_seen,
        };
        match decide::decide(
            Some(observed),
            &self.me,
            Utc::now(),
            self.timings.duration(),
        ) {
            Decision::Follow { holder, .. } => Some(holder),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_come_from_the_configuration_with_defaults() {
        let t = LeaseTimings::default();
        assert_eq!(t.duration(), chrono::Duration::seconds(15));
        assert_eq!(t.renew_deadline(), Duration::from_secs(10));
        assert_eq!(t.retry_period(), Duration::from_secs(2));
        let cfg = ManagerConfig::parse(
            "clusterName: pg\npgdata: /nonexistent\nprimaryLease: {leaseDurationSeconds: 8, renewDeadlineSeconds: 5, retryPeriodSeconds: 1}\n",
        )
        .expect("configuration");
        let t = cfg.primary_lease.expect("lease timings");
        assert_eq!(
            (t.duration(), t.renew_deadline(), t.retry_period()),
            (
                chrono::Duration::seconds(8),
                Duration::from_secs(5),
                Duration::from_secs(1)
            )
        );
    }
}
