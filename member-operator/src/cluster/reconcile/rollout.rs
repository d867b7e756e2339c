//! The rolling update of a cluster whose instance count is settled: pods on an outdated spec
//! replaced one at a time (standbys first, the primary last, or handed over first with
//! `primaryUpdateMethod: switchover`), instances restarted in place for a parameter PostgreSQL
//! applies only at start, then the instance managers upgraded in place. One step per turn.

use super::Settings;
use super::view::{pod_ready, terminating};
use crate::cluster::apply;
use crate::cluster::build::meta::Owner;
use crate::cluster::build::pod::{self, ANNOTATION_POD_SPEC_HASH, pod_spec_hash};
use crate::cluster::decide::election::Instance;
use crate::cluster::decide::rollout::{self, RolloutInstance, RolloutStep};
use crate::cluster::decide::upgrade::{self, ManagerInstance, UpgradeStep};
use crate::cluster::error::ReconcileError;
use crate::cluster::managers::ManagersError;
use crate::cluster::observe::Observed;
use crate::instances::InstanceClient;
use k8s_openapi::api::core::v1::Pod;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::{Cluster, PrimaryUpdateMethod, PrimaryUpdateStrategy};
use pgfed_api::instance::InstanceStatus;
use pgfed_api::names::{instance_name, instance_serial};
use std::collections::{BTreeMap, BTreeSet};

/// What the rollout looks at.
pub struct RolloutInput<'a> {
    /// The Cluster (its spec as reconciled).
    pub cluster: &'a Cluster,
    /// Its identity as an owner.
    pub owner: &'a Owner,
    /// The operator's settings (its image, the manager binary it rolls out).
    pub settings: &'a Settings,
    /// This turn's observation.
    pub observed: &'a Observed,
    /// What the instance managers reported.
    pub reported: &'a BTreeMap<String, InstanceStatus>,
    /// The client of the instance managers' status API, when it could be built.
    pub managers: &'a Result<InstanceClient, ManagersError>,
    /// The primary this turn.
    pub current_primary: &'a Option<String>,
    /// The instances as the primary's election sees them.
    pub election_view: &'a [Instance],
    /// Every manager has had its settings long enough for its report to reflect them.
    pub settings_settled: bool,
    /// A failover or switchover is under way.
    pub primary_changing: bool,
    /// The pod instance `serial` should run.
    pub build_pod: &'a (dyn Fn(u32) -> Result<Pod, ReconcileError> + Sync),
}

/// What the rollout did and found.
#[derive(Default)]
pub struct Rollout {
    /// Instances on an outdated spec or waiting for a restart.
    pub outdated: u32,
    /// The primary runs an outdated pod and `primaryUpdateStrategy` is supervised.
    pub waiting_for_user: bool,
    /// The primary is being restarted in place.
    pub restarting_primary: bool,
    /// The in-place upgrade of the managers under way, said for the phase reason.
    pub manager_upgrade: Option<String>,
    /// The standby the primary hands over to before its pod is replaced.
    pub switchover_to: Option<String>,
    /// Instance actions taken (for Events): reason, message.
    pub actions: Vec<(&'static str, String)>,
    /// Problems (for Warning Events): reason, message.
    pub warnings: Vec<(&'static str, String)>,
}

/// Takes the rolling update one step further.
pub async fn roll(client: &Client, input: RolloutInput<'_>) -> Result<Rollout, ReconcileError> {
    let RolloutInput {
        cluster,
        owner,
        settings,
        observed,
        reported,
        managers,
        current_primary,
        election_view,
        settings_settled,
        primary_changing,
        build_pod,
    } = input;
    let name = &owner.name;
    let spec = &cluster.spec;
    let mut out = Rollout::default();
    let mut view = Vec::new();
    let mut managers_view = Vec::new();
    let mut spec_current = BTreeSet::new();
    for (pod_name, p) in &observed.pods {
        let Some(serial) = instance_serial(name, pod_name) else {
            continue;
        };
        if terminating(p) {
            continue;
        }
        let report = reported.get(pod_name);
        let want = pod_spec_hash(&build_pod(serial)?);
        // The manager comes with a new pod when it cannot come in place: the operator has no
        // binary to send, or the running manager predates in-place upgrades.
        let in_place =
            settings.manager.is_some() && report.is_none_or(|s| !s.manager_version.is_empty());
        let manager_current =
            in_place || pod::bootstrap_image(p) == Some(settings.operator_image.as_str());
        let current_spec =
            p.annotations().get(ANNOTATION_POD_SPEC_HASH) == Some(&want) && manager_current;
        if current_spec {
            spec_current.insert(serial);
        }
        // A parameter change PostgreSQL applies only at start (its manager reports
        // `pending_restart`) restarts the instances in place, in the rollout's order;
        // reloadable ones were applied by the manager with a reload.
        let pending_restart = report.is_some_and(|s| s.pending_restart);
        let ready = pod_ready(p) && report.is_none_or(|s| s.postgres_running);
        let primary = Some(pod_name) == current_primary.as_ref();
        out.outdated += u32::from(!current_spec || pending_restart);
        view.push(RolloutInstance {
            serial,
            current: current_spec && !pending_restart,
            ready,
            primary,
        });
        managers_view.push(ManagerInstance {
            serial,
            primary,
            ready,
            digest: report.and_then(reported_manager_digest),
        });
    }
    let supervised = spec.primary_update_strategy == Some(PrimaryUpdateStrategy::Supervised);
    let ip_of = |instance: &str| {
        crate::cluster::managers::addresses(&observed.pods)
            .into_iter()
            .find(|(n, _)| n == instance)
            .map(|(_, ip)| ip)
    };
    let primary_first = current_primary
        .as_ref()
        .and_then(|p| reported.get(p))
        .is_some_and(|s| s.pending_restart_lowers_standby_minimum);
    match rollout::next_step(&view, supervised, primary_first) {
        // A restart for `pending_restart` waits until every manager has had the new settings
        // for a while: one that has not applied them yet reports no pending restart, and
        // the primary would go first instead of last.
        RolloutStep::ReplaceStandby(serial) | RolloutStep::ReplacePrimary(serial)
            if spec_current.contains(&serial) && !settings_settled => {}
        RolloutStep::ReplaceStandby(serial) | RolloutStep::ReplacePrimary(serial)
            if spec_current.contains(&serial) =>
        {
            let instance = instance_name(name, serial);
            out.restarting_primary = Some(&instance) == current_primary.as_ref();
            if let (Ok(client), Some(ip)) = (&managers, ip_of(&instance)) {
                match client.request_restart(ip).await {
                    Ok(()) => out.actions.push((
                        "RestartingInstance",
                        format!(
                            "restarting instance {instance} in place: a changed parameter needs it"
                        ),
                    )),
                    Err(e) => {
                        tracing::warn!(cluster = %name, instance, error = %e, cause = e.label(), "asking for a restart failed")
                    }
                }
            }
        }
        // `primaryUpdateMethod: switchover`: the primary hands over to the most advanced
        // standby first; it is replaced as a standby afterwards.
        RolloutStep::ReplacePrimary(serial)
            if spec.primary_update_method == Some(PrimaryUpdateMethod::Switchover)
                && !primary_changing =>
        {
            let instance = instance_name(name, serial);
            if let Some((to, why)) =
                crate::cluster::decide::election::most_advanced(&instance, election_view)
            {
                out.actions.push((
                    "SwitchingOver",
                    format!("rolling update: switching over from {instance} to {to}, {why}, before replacing {instance}"),
                ));
                out.switchover_to = Some(to);
            }
        }
        RolloutStep::ReplaceStandby(serial) | RolloutStep::ReplacePrimary(serial) => {
            let instance = instance_name(name, serial);
            if let Some(p) = observed.pods.get(&instance) {
                apply::delete_owned(client, p, &owner.uid).await?;
            }
            out.actions.push((
                "UpdatingInstance",
                format!("rolling update: replacing the pod of {instance}"),
            ));
        }
        RolloutStep::WaitForUser(_) => out.waiting_for_user = true,
        RolloutStep::Wait => {}
        RolloutStep::Done => {
            if let (Some(binary), Ok(managers)) = (&settings.manager, &managers) {
                match upgrade::next_step(&managers_view, &binary.digest) {
                    UpgradeStep::Done => {}
                    UpgradeStep::Wait { outdated } => {
                        out.manager_upgrade = Some(format!(
                            "{outdated} instance manager(s) to upgrade in place; waiting for every instance to be ready"
                        ));
                    }
                    UpgradeStep::Upgrade { serial, outdated } => {
                        let instance = instance_name(name, serial);
                        out.manager_upgrade = Some(format!(
                            "upgrading the instance manager of {instance} in place ({outdated} to go)"
                        ));
                        if let Some(ip) = ip_of(&instance) {
                            match upload_manager(managers, binary, ip).await {
                                Ok(()) => out.actions.push((
                                    "UpgradingInstanceManager",
                                    format!("instance {instance} runs the operator's manager now (in place; postgres keeps running)"),
                                )),
                                Err(e) => out.warnings.push((
                                    "InstanceManagerUpgradeFailed",
                                    format!("upgrading the manager of {instance} in place: {e}"),
                                )),
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The manager digest an instance reports, as the in-place upgrade reads it: empty for a manager
/// that predates in-place upgrades (it reports no version either), None while a new manager is
/// still digesting itself (it reports its version at once). Pure.
fn reported_manager_digest(status: &pgfed_api::instance::InstanceStatus) -> Option<String> {
    match (
        status.manager_version.is_empty(),
        status.manager_hash.is_empty(),
    ) {
        (true, _) => Some(String::new()),
        (false, true) => None,
        (false, false) => Some(status.manager_hash.clone()),
    }
}

/// Sends the operator's manager to the instance at `ip`.
async fn upload_manager(
    managers: &crate::instances::InstanceClient,
    binary: &crate::manager_binary::ManagerBinary,
    ip: std::net::IpAddr,
) -> Result<(), ManagerUploadError> {
    let file = binary.open().await.map_err(ManagerUploadError::Read)?;
    Ok(managers.upload_manager(ip, file, &binary.digest).await?)
}

/// Why an in-place upgrade of one manager failed (it is tried again by a later reconcile).
#[derive(Debug, thiserror::Error)]
enum ManagerUploadError {
    /// The operator's own copy cannot be opened.
    #[error("reading the operator's manager: {0}")]
    Read(#[source] std::io::Error),
    /// The manager refused it or did not answer.
    #[error(transparent)]
    Send(#[from] crate::instances::InstanceClientError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_still_digesting_itself_is_not_mistaken_for_an_old_one() {
        let status = |version: &str, hash: &str| pgfed_api::instance::InstanceStatus {
            manager_version: version.into(),
            manager_hash: hash.into(),
            ..Default::default()
        };
        assert_eq!(
            reported_manager_digest(&status("", "")),
            Some(String::new())
        );
        assert_eq!(reported_manager_digest(&status("0.1.0", "")), None);
        assert_eq!(
            reported_manager_digest(&status("0.1.0", "abc")),
            Some("abc".into())
        );
    }
}
