//! Notices a primary Lease that lapsed. A holder that stops renewing produces no watch event —
//! silence is the signal — so the Leases are mirrored by a reflector and scanned every second;
//! each lapse (a holder and renewal time not seen lapsed before) triggers one reconcile of the
//! Cluster the Lease belongs to, which then fails over without waiting for its periodic requeue.

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use pgfed_api::names::LABEL_CLUSTER;
use pgfed_lease::store::from_spec;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How often the mirrored Leases are scanned.
const SCAN_PERIOD: Duration = Duration::from_secs(1);

/// A lapse already reported: namespace, Lease, holder, renewal time.
type Lapse = (String, String, String, i64);

/// The lapses among `leases` at `now` not in `reported` (which they are added to): each as the
/// namespace and name of the Cluster to reconcile (the Lease is named after it). Pure.
pub fn new_lapses(
    leases: &[Arc<Lease>],
    now: chrono::DateTime<chrono::Utc>,
    reported: &mut BTreeSet<Lapse>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for lease in leases {
        let Some(spec) = lease.spec.as_ref() else {
            continue;
        };
        let record = from_spec(spec);
        let (Some(holder), Some(renewed), Some(duration)) =
            (record.holder, record.renew_time, record.duration)
        else {
            continue;
        };
        if now <= renewed + duration {
            continue;
        }
        let namespace = lease.namespace().unwrap_or_default();
        let lapse = (
            namespace.clone(),
            lease.name_any(),
            holder,
            renewed.timestamp_micros(),
        );
        if reported.insert(lapse) {
            out.push((namespace, lease.name_any()));
        }
    }
    out
}

/// The Clusters whose primary Lease lapsed, as they lapse.
pub fn lapsed_clusters(
    client: Client,
    clusters: ApiResource,
) -> impl Stream<Item = ObjectRef<DynamicObject>> + Send + 'static {
    let (reader, writer) = reflector::store::<Lease>();
    let leases = watcher(
        Api::<Lease>::all(client),
        watcher::Config::default().labels(LABEL_CLUSTER),
    )
    .default_backoff()
    .reflect(writer)
    .for_each(|_| futures::future::ready(()));
    tokio::spawn(leases);
    let mut reported = BTreeSet::new();
    futures::stream::unfold(tokio::time::interval(SCAN_PERIOD), |mut tick| async move {
        tick.tick().await;
        Some(((), tick))
    })
    .flat_map(move |()| {
        let lapses = new_lapses(&reader.state(), chrono::Utc::now(), &mut reported);
        let resource = clusters.clone();
        futures::stream::iter(lapses.into_iter().map(move |(namespace, name)| {
            ObjectRef::new_with(&name, resource.clone()).within(&namespace)
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    use k8s_openapi::jiff::Timestamp;

    fn lease(holder: Option<&str>, renewed: i64) -> Arc<Lease> {
        Arc::new(Lease {
            metadata: ObjectMeta {
                name: Some("pg".into()),
                namespace: Some("shop".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                renew_time: Timestamp::from_second(1_800_000_000 + renewed)
                    .ok()
                    .map(MicroTime),
                lease_duration_seconds: Some(15),
                ..LeaseSpec::default()
            }),
        })
    }

    fn at(s: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000 + s)
    }

    #[test]
    fn each_lapse_is_reported_once() {
        let mut reported = BTreeSet::new();
        let fresh = [lease(Some("pg-1"), 0)];
        assert!(new_lapses(&fresh, at(10), &mut reported).is_empty());
        let lapsed = new_lapses(&fresh, at(16), &mut reported);
        assert_eq!(lapsed, [("shop".to_string(), "pg".to_string())]);
        assert!(new_lapses(&fresh, at(17), &mut reported).is_empty(), "once");
        // Renewed again and lapsed again: a new lapse.
        let renewed = [lease(Some("pg-1"), 20)];
        assert_eq!(new_lapses(&renewed, at(40), &mut reported).len(), 1);
        // Released (no holder): the manager that released it asked for the change itself.
        assert!(new_lapses(&[lease(None, 0)], at(100), &mut reported).is_empty());
    }
}
