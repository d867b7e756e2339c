//! Where the Lease lives: the three calls election makes (read, create, replace at a version),
//! behind a trait so the election loop is tested against an in-memory store; [`KubeLeases`] is
//! the `coordination.k8s.io/v1` implementation.

use crate::decide::LeaseRecord;
use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use std::future::Future;

/// A Lease as stored: its election fields and the version they were read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLease {
    /// The election fields.
    pub record: LeaseRecord,
    /// The resourceVersion; a replace succeeds only at the current one.
    pub version: String,
}

/// Why a Lease call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another replica wrote first (409: the Lease already exists, or changed since it was read).
    #[error("another replica wrote the lease first")]
    Conflict,
    /// The API server answered without a resourceVersion, so the Lease cannot be updated safely.
    #[error("the lease has no resourceVersion")]
    NoVersion,
    /// Any other API error.
    #[error("lease API call: {0}")]
    Kube(#[source] kube::Error),
}

/// The calls leader election makes on its Lease.
pub trait LeaseStore: Send + Sync + 'static {
    /// Reads the Lease; `None` when it does not exist.
    fn get(&self) -> impl Future<Output = Result<Option<StoredLease>, StoreError>> + Send;
    /// Creates the Lease; [`StoreError::Conflict`] when it already exists.
    fn create(
        &self,
        record: &LeaseRecord,
    ) -> impl Future<Output = Result<StoredLease, StoreError>> + Send;
    /// Replaces the Lease if it is still at `version`; [`StoreError::Conflict`] otherwise.
    fn replace(
        &self,
        record: &LeaseRecord,
        version: &str,
    ) -> impl Future<Output = Result<StoredLease, StoreError>> + Send;
}

/// The Lease `name` in `namespace` of the API server `client` talks to.
pub struct KubeLeases {
    api: Api<Lease>,
    name: String,
    /// The metadata last read or written: a replace carries it over, so labels, annotations and
    /// owner references someone else set (the operator, on a primary Lease) are kept.
    meta: std::sync::Mutex<ObjectMeta>,
}

impl KubeLeases {
    /// The Lease `name` in `namespace`.
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            meta: std::sync::Mutex::new(ObjectMeta::default()),
        }
    }

    fn object(&self, record: &LeaseRecord, version: Option<&str>) -> Lease {
        let known = self
            .meta
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                resource_version: version.map(str::to_string),
                labels: known.labels,
                annotations: known.annotations,
                owner_references: known.owner_references,
                ..ObjectMeta::default()
            },
            spec: Some(to_spec(record)),
        }
    }

    fn remember(&self, lease: Lease) -> Result<StoredLease, StoreError> {
        if let Ok(mut meta) = self.meta.lock() {
            *meta = lease.metadata.clone();
        }
        stored(lease)
    }
}

fn conflict_or_kube(e: kube::Error) -> StoreError {
    match &e {
        kube::Error::Api(status) if status.is_conflict() || status.is_already_exists() => {
            StoreError::Conflict
        }
        _ => StoreError::Kube(e),
    }
}

fn stored(lease: Lease) -> Result<StoredLease, StoreError> {
    let version = lease
        .metadata
        .resource_version
        .ok_or(StoreError::NoVersion)?;
    Ok(StoredLease {
        record: lease.spec.as_ref().map(from_spec).unwrap_or_default(),
        version,
    })
}

impl LeaseStore for KubeLeases {
    async fn get(&self) -> Result<Option<StoredLease>, StoreError> {
        match self.api.get_opt(&self.name).await {
            Ok(Some(lease)) => self.remember(lease).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(StoreError::Kube(e)),
        }
    }

    async fn create(&self, record: &LeaseRecord) -> Result<StoredLease, StoreError> {
        let lease = self
            .api
            .create(&PostParams::default(), &self.object(record, None))
            .await
            .map_err(conflict_or_kube)?;
        self.remember(lease)
    }

    async fn replace(
        &self,
        record: &LeaseRecord,
        version: &str,
    ) -> Result<StoredLease, StoreError> {
        let lease = self
            .api
            .replace(
                &self.name,
                &PostParams::default(),
                &self.object(record, Some(version)),
            )
            .await
            .map_err(conflict_or_kube)?;
        self.remember(lease)
    }
}

fn to_micro(t: DateTime<Utc>) -> Option<MicroTime> {
    Timestamp::from_microsecond(t.timestamp_micros())
        .ok()
        .map(MicroTime)
}

fn from_micro(t: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.0.as_microsecond())
}

fn whole_seconds_up(duration: Duration) -> i32 {
    let seconds = duration.num_seconds();
    let rounded = if duration > Duration::seconds(seconds) {
        seconds.saturating_add(1)
    } else {
        seconds
    };
    i32::try_from(rounded).unwrap_or(i32::MAX)
}

/// The Lease spec holding `record`.
pub fn to_spec(record: &LeaseRecord) -> LeaseSpec {
    LeaseSpec {
        holder_identity: record.holder.clone(),
        acquire_time: record.acquire_time.and_then(to_micro),
        renew_time: record.renew_time.and_then(to_micro),
        // Whole seconds, rounded up: a reader must never see a shorter lease than the holder keeps.
        lease_duration_seconds: record.duration.map(whole_seconds_up),
        lease_transitions: Some(record.transitions),
        ..LeaseSpec::default()
    }
}

/// The election fields of a Lease spec (written by us or by anyone else).
pub fn from_spec(spec: &LeaseSpec) -> LeaseRecord {
    LeaseRecord {
        holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
        acquire_time: spec.acquire_time.as_ref().and_then(from_micro),
        renew_time: spec.renew_time.as_ref().and_then(from_micro),
        // A zero or negative duration is meaningless; treat it as unset.
        duration: spec
            .lease_duration_seconds
            .filter(|s| *s > 0)
            .map(|s| Duration::seconds(i64::from(s))),
        transitions: spec.lease_transitions.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_the_lease_spec() {
        let at = DateTime::<Utc>::UNIX_EPOCH + Duration::microseconds(1_700_000_000_123_456);
        let record = LeaseRecord {
            holder: Some("pgfed-operator-0-0000beef".into()),
            acquire_time: Some(at),
            renew_time: Some(at + Duration::seconds(5)),
            duration: Some(Duration::seconds(15)),
            transitions: 7,
        };
        assert_eq!(from_spec(&to_spec(&record)), record);
        assert_eq!(
            from_spec(&to_spec(&LeaseRecord::default())),
            LeaseRecord::default()
        );
    }

    #[test]
    fn a_fractional_duration_is_written_rounded_up() {
        // (milliseconds, seconds written)
        for (millis, seconds) in [(1500, 2), (15_000, 15), (1, 1), (0, 0)] {
            let record = LeaseRecord {
                duration: Some(Duration::milliseconds(millis)),
                ..LeaseRecord::default()
            };
            assert_eq!(
                to_spec(&record).lease_duration_seconds,
                Some(seconds),
                "{millis} ms"
            );
        }
    }

    #[test]
    fn foreign_lease_specs_are_read_leniently() {
        let spec = LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(0),
            ..LeaseSpec::default()
        };
        assert_eq!(from_spec(&spec), LeaseRecord::default());
    }
}
