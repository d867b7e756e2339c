//! The role labels `-rw` and `-ro` select on (`decide::role_labels` says who and in which
//! order).

use super::view::terminating;
use crate::cluster::apply;
use crate::cluster::build::pod::InstanceRole;
use crate::cluster::error::ReconcileError;
use crate::cluster::observe::Observed;
use k8s_openapi::api::core::v1::Pod;
use kube::{Client, ResourceExt};
use pgfed_api::instance::InstanceStatus;
use pgfed_api::names::LABEL_INSTANCE_ROLE;
use std::collections::BTreeMap;

/// Relabels the pods whose role label differs from the role they hold.
pub async fn set_role_labels(
    client: &Client,
    observed: &Observed,
    pushed_target: Option<&str>,
    reported: &BTreeMap<String, InstanceStatus>,
) -> Result<(), ReconcileError> {
    let labelled_primary =
        crate::cluster::decide::role_labels::labelled_primary(pushed_target, reported);
    let live_pods: BTreeMap<String, &Pod> = observed
        .pods
        .iter()
        .filter(|(_, p)| !terminating(*p))
        .map(|(n, p)| (n.clone(), p))
        .collect();
    let current_labels: BTreeMap<String, Option<bool>> = live_pods
        .iter()
        .map(|(n, p)| {
            let label = p.labels().get(LABEL_INSTANCE_ROLE).map(String::as_str);
            let role = match label {
                Some(l) if l == InstanceRole::Primary.label() => Some(true),
                Some(l) if l == InstanceRole::Replica.label() => Some(false),
                _ => None,
            };
            (n.clone(), role)
        })
        .collect();
    for change in
        crate::cluster::decide::role_labels::changes(&current_labels, labelled_primary.as_deref())
    {
        let Some(p) = live_pods.get(&change.pod) else {
            continue;
        };
        let role = if change.primary {
            InstanceRole::Primary
        } else {
            InstanceRole::Replica
        };
        let labels = BTreeMap::from([(LABEL_INSTANCE_ROLE.to_string(), role.label().to_string())]);
        apply::set_labels(client, *p, &labels).await?;
    }
    Ok(())
}
