//! `synchronous.failoverQuorum` refuses a failover it cannot prove safe, run alone (it stops a
//! node of region-a). Three instances, `ANY 1` of the two standbys required: with one standby
//! fenced, the other acknowledges every commit (W = 1 of N = 2 listed). The primary's node then
//! stops. The one reachable standby (R = 1) could lack a commit that only the fenced one
//! acknowledged — R + W > N does not hold — so it is not promoted, for as long as the node stays
//! down, and the phase says why. When the node comes back, the same primary resumes on its volume
//! with every acknowledged row.
//!
//! A stopped node, not a deleted pod: a recreated primary pod is back within seconds, which closes
//! the window in which the refusal shows; a stopped node keeps it open until the test starts it.

use kube::Client;
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{nodes, with_temp_namespace};
use serde_json::json;
use std::time::Duration;

const REGION: &str = "region-a";
const CLUSTER: &str = "quorum";

/// Inserts `key` through `-rw` from a pod on `node`; psql gives up after 30 s, so a commit
/// waiting for a synchronous standby that never answers fails the pod instead of hanging.
async fn insert(client: &Client, ns: &str, node: &str, key: &str) {
    let rw = format!("{CLUSTER}-rw");
    let script = format!(
        "{}timeout 30 psql -h {rw} -v ON_ERROR_STOP=1 -qtAc \"CREATE TABLE IF NOT EXISTS acknowledged (key text PRIMARY KEY); INSERT INTO acknowledged VALUES ('{key}')\"",
        pgfed_e2e::wait_for_postgres(&[&rw])
    );
    let mut pod = pgfed_e2e::psql_client_pod(&format!("insert-{key}"), CLUSTER, &script);
    pod["spec"]["nodeName"] = json!(node);
    let (ok, log) = pgfed_e2e::run_pod(client, ns, pod, Duration::from_secs(120)).await;
    assert!(ok, "inserting {key}:\n{log}");
}

#[tokio::test]
async fn failover_quorum_refuses_a_promotion_it_cannot_prove_safe() {
    with_temp_namespace(REGION, |client, ns| async move {
        let mut manifest = cluster::minimal(CLUSTER, 3);
        manifest["spec"]["postgresql"] = json!({
            "synchronous": {"method": "any", "number": 1, "dataDurability": "required",
                            "failoverQuorum": true}
        });
        manifest["spec"]["primaryLease"] = json!({"leaseDurationSeconds": 15});
        cluster::create_healthy(&client, &ns, manifest).await;
        // Off the leading operator's node: stopping it would stop the operator too.
        let avoid = nodes::operator_node(&client).await;
        let (primary, node) =
            nodes::primary_away_from(&client, &ns, CLUSTER, 3, avoid.as_deref()).await;
        let safe = nodes::other_node(&node);
        let mut standbys = Vec::new();
        for pod in cluster::instance_pods(&client, &ns, CLUSTER).await {
            let name = pod.metadata.name.clone().expect("pod name");
            if name != primary {
                standbys.push((name, nodes::node_of(&pod)));
            }
        }
        standbys.sort();
        let listed: Vec<&str> = standbys.iter().map(|(n, _)| n.as_str()).collect();
        let required = format!("ANY 1 (\"{}\",\"{}\",\"{primary}\")", listed[0], listed[1]);
        cluster::wait_sync_names(&client, &ns, CLUSTER, &required).await;
        insert(&client, &ns, &safe, "before").await;

        // Fence the standby that shares the primary's node, if one does: the one left reachable
        // must survive the node stop, or no candidate would be left at all (a different refusal).
        let fenced = standbys
            .iter()
            .find(|(_, n)| n.as_deref() == Some(node.as_str()))
            .unwrap_or(&standbys[0])
            .0
            .clone();
        cluster::patch(
            &client,
            &ns,
            CLUSTER,
            json!({"metadata": {"annotations": {
                "cnpg.io/fencedInstances": serde_json::to_string(&[&fenced]).expect("json")
            }}}),
        )
        .await;
        cluster::wait_status(
            &client,
            &ns,
            CLUSTER,
            "the fenced standby down",
            Duration::from_secs(180),
            |s| s["readyInstances"] == 2,
        )
        .await;
        // Still listed (required), and the other standby acknowledges.
        cluster::wait_sync_names(&client, &ns, CLUSTER, &required).await;
        insert(&client, &ns, &safe, "fenced").await;

        let stopped = nodes::stop(&node);
        let refused = cluster::wait_status(
            &client,
            &ns,
            CLUSTER,
            "the failover refused by the quorum",
            Duration::from_secs(120),
            |s| {
                s["phaseReason"]
                    .as_str()
                    .is_some_and(|r| r.contains("failoverQuorum"))
            },
        )
        .await;
        assert_eq!(refused["targetPrimary"], primary.as_str(), "{refused}");
        // The refusal holds while the node is down, not just for one look.
        tokio::time::sleep(Duration::from_secs(20)).await;
        let still = cluster::status(&client, &ns, CLUSTER).await;
        assert_eq!(still["targetPrimary"], primary.as_str(), "{still}");
        assert_eq!(still["currentPrimary"], primary.as_str(), "{still}");

        stopped.start();
        cluster::wait_status(
            &client,
            &ns,
            CLUSTER,
            "the primary back on its volume",
            Duration::from_secs(420),
            |s| {
                s["currentPrimary"] == primary.as_str()
                    && s["targetPrimary"] == primary.as_str()
                    && s["readyInstances"] == 2
            },
        )
        .await;
        let promoted: Vec<_> = cluster::event_reasons(&client, &ns)
            .await
            .into_iter()
            .filter(|(reason, _)| reason == "FailingOver")
            .collect();
        assert!(promoted.is_empty(), "a standby was promoted: {promoted:?}");

        cluster::patch(
            &client,
            &ns,
            CLUSTER,
            json!({"metadata": {"annotations": {"cnpg.io/fencedInstances": null}}}),
        )
        .await;
        cluster::wait_phase(&client, &ns, CLUSTER, HEALTHY, Duration::from_secs(300)).await;
        let keys = cluster::query(
            &client,
            &ns,
            "read-keys",
            CLUSTER,
            &format!("{CLUSTER}-rw"),
            "SELECT string_agg(key, ',' ORDER BY key) FROM acknowledged",
        )
        .await;
        assert_eq!(keys, "before,fenced");
    })
    .await;
}
