//! Fencing, the target primary, PostgreSQL's configuration and the managed databases reach the
//! running managers at once, over their status API (the ConfigMap is what a new pod starts
//! from).

use crate::cluster::decide::fencing::Fenced;
use crate::cluster::observe::Observed;
use crate::instances::InstanceClient;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use pgfed_api::cluster::Cluster;
use pgfed_api::instance::InstanceStatus;
use std::collections::BTreeMap;

/// How long every manager must have had its settings before an in-place restart is decided on
/// what they report: a manager applies pushed settings within about a second.
const SETTINGS_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the managers are told.
pub struct Pushed<'a> {
    /// Which instances are fenced.
    pub fenced: &'a Fenced,
    /// The primary the managers follow.
    pub target_primary: Option<&'a str>,
    /// Every instance that has (or is about to get) volumes.
    pub instances: &'a [String],
    /// `synchronous_standby_names`; `None`: asynchronous.
    pub synchronous_standby_names: Option<&'a str>,
    /// The Database objects the primary acts on.
    pub databases: &'a [pgfed_api::database::ManagedDatabase],
}

/// Pushes the settings to every manager that answered this turn. Returns whether every manager
/// has had its settings long enough for what it reports to reflect them (in-place restarts wait
/// for it), and the fencing changes made (for Events).
pub async fn push_settings(
    managers: &InstanceClient,
    cluster: &Cluster,
    observed: &Observed,
    reported: &BTreeMap<String, InstanceStatus>,
    pushed: Pushed<'_>,
    now: DateTime<Utc>,
) -> (bool, Vec<(&'static str, String)>) {
    let Pushed {
        fenced,
        target_primary,
        instances,
        synchronous_standby_names,
        databases,
    } = pushed;
    let mut actions = Vec::new();
    let version = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let postgresql = cluster.spec.postgresql.clone().unwrap_or_default();
    let settings = crate::cluster::managers::ClusterSettings {
        fenced,
        target_primary,
        postgresql: &postgresql,
        instances,
        synchronous_standby_names,
        replica: cluster.spec.replica.as_ref(),
        databases,
        version,
    };
    // Only the managers that answered this turn: one that did not (its node stopped, cut
    // off) would cost a connect timeout per call while a failover waits for this turn.
    let answering: BTreeMap<String, Pod> = observed
        .pods
        .iter()
        .filter(|(instance, _)| reported.contains_key(*instance))
        .map(|(instance, pod)| (instance.clone(), pod.clone()))
        .collect();
    let converged = crate::cluster::managers::converge(managers, &answering, |instance| {
        crate::cluster::managers::desired(instance, &settings)
    })
    .await;
    let settled = converged.settled(version, SETTINGS_SETTLE);
    for (instance, config) in converged.pushed {
        let was_fenced = reported.get(&instance).is_some_and(|s| s.fenced);
        if config.fenced != was_fenced {
            let verb = if config.fenced {
                "fencing"
            } else {
                "unfencing"
            };
            actions.push(("Fencing", format!("{verb} instance {instance}")));
        }
    }
    (settled, actions)
}
