//! What the election sees of a cluster, read from the observed pods, the managers' reports and
//! the primary Lease. Pure.

use super::decide::election::{Instance, LeaseView};
use super::decide::fencing::Fenced;
use super::observe::Observed;
use chrono::DateTime;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use pgfed_api::instance::InstanceStatus;
use pgfed_api::lsn::Lsn;
use pgfed_api::names::instance_serial;
use pgfed_lease::store::from_spec;
use std::collections::BTreeMap;

/// The primary Lease as the election reads it.
pub fn lease_view(lease: &Lease) -> LeaseView {
    let record = lease.spec.as_ref().map(from_spec).unwrap_or_default();
    LeaseView {
        ever_held: record.holder.is_some() || record.acquire_time.is_some(),
        holder: record.holder,
        renew_time: record.renew_time,
        duration: record.duration,
    }
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn lsn(value: Option<&String>) -> Option<Lsn> {
    value.and_then(|v| v.parse().ok())
}

/// Every instance pod of cluster `name`, with its manager's report (when it answered).
pub fn election_instances(
    name: &str,
    observed: &Observed,
    reported: &BTreeMap<String, InstanceStatus>,
    fenced: &Fenced,
) -> Vec<Instance> {
    observed
        .pods
        .iter()
        .filter(|(pod_name, _)| instance_serial(name, pod_name).is_some())
        .map(|(pod_name, pod)| {
            let report = reported.get(pod_name);
            let alive = pod.metadata.deletion_timestamp.is_none();
            Instance {
                name: pod_name.clone(),
                pod_alive: alive,
                pod_ready: alive && ready(pod),
                pod_created: pod
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0)),
                reachable: report.is_some(),
                postgres_running: report.is_some_and(|r| r.postgres_running),
                is_primary: report.is_some_and(|r| r.is_primary),
                fenced: fenced.contains(pod_name) || report.is_some_and(|r| r.fenced),
                // Stopped on purpose: for its demotion, or because its history diverged from
                // its source and it waits to be re-seeded (`decide::reseed`), not failed.
                demoting: report
                    .is_some_and(|r| r.demotion_under_way || r.diverged_from_source.is_some()),
                streaming: report.is_some_and(|r| r.is_wal_receiver_active),
                received_lsn: report.and_then(|r| {
                    if r.is_primary {
                        lsn(r.current_lsn.as_ref())
                    } else {
                        lsn(r.received_lsn.as_ref()).or(lsn(r.replay_lsn.as_ref()))
                    }
                }),
                replay_lsn: report.and_then(|r| lsn(r.replay_lsn.as_ref())),
            }
        })
        .collect()
}
