//! A node drained during a declared maintenance window (`nodeMaintenanceWindow: {inProgress:
//! true, reusePVC: false}`), on real Kubernetes: the standby evicted from the cordoned node is not
//! waited for on its volume (pinned to that node) but replaced by a new clone elsewhere, and the
//! cluster is healthy again without the node.
//!
//! It cordons a node of the last region, so `e2e/run` runs it alone, after the other files.

use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use kube::api::{Api, EvictParams, Patch, PatchParams};
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{regions, wait_until, with_temp_namespace};
use std::time::Duration;

async fn set_unschedulable(nodes: &Api<Node>, node: &str, unschedulable: bool) {
    nodes
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": unschedulable}})),
        )
        .await
        .unwrap_or_else(|e| panic!("(un)cordoning {node}: {e}"));
}

#[tokio::test]
async fn a_drained_standby_is_replaced_by_a_new_clone_when_volumes_are_not_reused() {
    let region = regions().pop().expect("a region");
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(
            &client,
            &ns,
            serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": "mnt"},
                "spec": {"instances": 2, "storage": {"size": "1Gi"},
                         "nodeMaintenanceWindow": {"inProgress": true, "reusePVC": false}}
            }),
        )
        .await;
        let status =
            cluster::wait_phase(&client, &ns, "mnt", HEALTHY, Duration::from_secs(420)).await;
        let primary = status["currentPrimary"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let standby = if primary == "mnt-1" { "mnt-2" } else { "mnt-1" };
        let node = pods
            .get(standby)
            .await
            .expect("standby pod")
            .spec
            .and_then(|s| s.node_name)
            .expect("scheduled standby");

        // Drain the standby's node: cordon it and evict the standby (the PodDisruptionBudgets
        // allow it), as `kubectl drain` does.
        let nodes: Api<Node> = Api::all(client.clone());
        set_unschedulable(&nodes, &node, true).await;
        let evicted = pods.evict(standby, &EvictParams::default()).await;
        let (c, n, s) = (client.clone(), ns.clone(), standby.to_string());
        let replaced = tokio::spawn(async move {
            let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), &n);
            wait_until(
                "a new standby in place of the drained one",
                Duration::from_secs(420),
                Duration::from_secs(3),
                || {
                    let (c, n, s, pvcs) = (c.clone(), n.clone(), s.clone(), pvcs.clone());
                    async move {
                        let names: Vec<String> = cluster::instance_pods(&c, &n, "mnt")
                            .await
                            .into_iter()
                            .filter_map(|p| p.metadata.name)
                            .collect();
                        let old_claim = pvcs.get_opt(&s).await.map_err(|e| e.to_string())?;
                        let phase = cluster::status(&c, &n, "mnt").await["phase"].clone();
                        if names.len() == 2
                            && names.iter().any(|p| p == "mnt-3")
                            && old_claim.is_none()
                            && phase == HEALTHY
                        {
                            Ok(())
                        } else {
                            Err(format!(
                                "pods {names:?}, old claim kept: {}, phase {phase}",
                                old_claim.is_some()
                            ))
                        }
                    }
                },
            )
            .await
        })
        .await;
        // The node comes back whatever happened.
        set_unschedulable(&nodes, &node, false).await;
        evicted.expect("evicting the standby");
        assert!(replaced.is_ok(), "the drained standby was not replaced");
        let status = cluster::status(&client, &ns, "mnt").await;
        assert_eq!(
            status["currentPrimary"],
            primary.as_str(),
            "the primary moved"
        );
    })
    .await;
}
