//! PodDisruptionBudgets, as CloudNativePG sets them: the primary may not be evicted voluntarily
//! (`<cluster>-primary`, minAvailable 1), and with three or more instances all standbys but one
//! must stay (`<cluster>`, minAvailable instances - 2), so a node drain takes one standby at a
//! time. None when `enablePDB: false`. During a declared node maintenance window
//! (`nodeMaintenanceWindow.inProgress`) that keeps the volumes (`reusePVC`, the default) the
//! standbys' budget is lifted — the user chose to wait for the node rather than re-clone — and a
//! single-instance cluster's primary budget too, so its only pod may move. With `reusePVC: false`
//! the budgets stay: drained standbys are re-cloned elsewhere one at a time.

use super::meta::Owner;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use pgfed_api::cluster::{Cluster, ServiceSelectorType};
use std::collections::BTreeMap;

/// Name of the primary's PodDisruptionBudget.
pub fn primary_pdb_name(cluster: &str) -> String {
    format!("{cluster}-primary")
}

fn pdb(owner: &Owner, name: String, kind: ServiceSelectorType, min: i32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: owner.child_meta(&name, BTreeMap::new()),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(min)),
            selector: Some(LabelSelector {
                match_labels: Some(super::service::selector(owner, kind)),
                match_expressions: None,
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

/// The PodDisruptionBudgets the Cluster should have.
pub fn build(cluster: &Cluster, owner: &Owner) -> Vec<PodDisruptionBudget> {
    let spec = &cluster.spec;
    if spec.enable_pdb == Some(false) {
        return vec![];
    }
    let window = spec.node_maintenance_window.as_ref();
    let lifted = window.and_then(|w| w.in_progress).unwrap_or(false)
        && window.and_then(|w| w.reuse_pvc).unwrap_or(true);
    let mut out = Vec::new();
    if !(lifted && spec.instances <= 1) {
        out.push(pdb(
            owner,
            primary_pdb_name(&owner.name),
            ServiceSelectorType::Rw,
            1,
        ));
    }
    if spec.instances >= 3 && !lifted {
        out.push(pdb(
            owner,
            owner.name.clone(),
            ServiceSelectorType::Ro,
            spec.instances - 2,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use pgfed_api::cluster::NodeMaintenanceWindow;

    fn summary(cluster: &Cluster) -> Vec<(String, i32)> {
        let owner = Owner::of(cluster).expect("owner");
        build(cluster, &owner)
            .into_iter()
            .map(|p| {
                let min = match p.spec.and_then(|s| s.min_available) {
                    Some(IntOrString::Int(n)) => n,
                    other => panic!("unexpected minAvailable {other:?}"),
                };
                (p.metadata.name.unwrap_or_default(), min)
            })
            .collect()
    }

    /// instances, enablePDB, maintenance in progress, reusePVC, expected (name, minAvailable).
    type Case = (i32, Option<bool>, bool, Option<bool>, Vec<(String, i32)>);

    #[test]
    fn budgets_by_instances_pdb_flag_and_maintenance() {
        let p = |n: &str, m: i32| (n.to_string(), m);
        let cases: [Case; 11] = [
            (1, None, false, None, vec![p("pg-primary", 1)]),
            (2, None, false, None, vec![p("pg-primary", 1)]),
            (3, None, false, None, vec![p("pg-primary", 1), p("pg", 1)]),
            (
                5,
                Some(true),
                false,
                None,
                vec![p("pg-primary", 1), p("pg", 3)],
            ),
            (3, Some(false), false, None, vec![]),
            // A window that keeps the volumes lifts the standbys' budget, and a lone primary's.
            (1, None, true, None, vec![]),
            (1, None, true, Some(true), vec![]),
            (3, None, true, None, vec![p("pg-primary", 1)]),
            // A window that re-clones keeps the budgets: one standby at a time.
            (1, None, true, Some(false), vec![p("pg-primary", 1)]),
            (
                3,
                None,
                true,
                Some(false),
                vec![p("pg-primary", 1), p("pg", 1)],
            ),
            // reusePVC alone, outside a window, changes nothing.
            (
                3,
                None,
                false,
                Some(true),
                vec![p("pg-primary", 1), p("pg", 1)],
            ),
        ];
        for (instances, enable, maintenance, reuse, expected) in cases {
            let mut cluster = stored_cluster(instances);
            cluster.spec.enable_pdb = enable;
            cluster.spec.node_maintenance_window = Some(NodeMaintenanceWindow {
                reuse_pvc: reuse,
                in_progress: Some(maintenance),
            });
            assert_eq!(
                summary(&cluster),
                expected,
                "instances {instances}, enablePDB {enable:?}, maintenance {maintenance}, reusePVC {reuse:?}"
            );
        }
    }
}
