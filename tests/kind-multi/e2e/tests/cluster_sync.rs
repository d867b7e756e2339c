//! Synchronous replication on real Kubernetes: a 3-instance Cluster with `synchronous: {method:
//! any, number: 1, dataDurability: required}` makes its primary wait for either standby (`SHOW
//! synchronous_standby_names` lists both) and reports `SyncReplicationTopologySatisfied` True;
//! switched to `preferred` with both standbys fenced, writes through `-rw` still commit (the
//! primary waits for no one) and the condition turns False, naming what is missing. Runs in its
//! own namespace; on failure the namespace's pods, Events and logs are printed.

use kube::Client;
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{psql_client_pod, regions, run_pod, wait_until, with_temp_namespace};
use serde_json::{Value, json};
use std::time::Duration;

const CLUSTER: &str = "sync";
const CONDITION: &str = "SyncReplicationTopologySatisfied";

/// The `SyncReplicationTopologySatisfied` condition of the status, if any.
fn topology_condition(status: &Value) -> Option<Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == CONDITION)
        .cloned()
}

/// Waits until the condition has `want` as its status; returns it.
async fn wait_condition(client: &Client, ns: &str, want: &str) -> Value {
    wait_until(
        &format!("{CONDITION} {want}"),
        Duration::from_secs(180),
        Duration::from_secs(2),
        || async move {
            let status = cluster::status(client, ns, CLUSTER).await;
            match topology_condition(&status) {
                Some(c) if c["status"] == want => Ok(c),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

/// Inserts `key` through `-rw`; the client gives up after 30 s, so a commit waiting for a
/// synchronous standby that never answers fails the pod instead of hanging the test.
async fn insert(client: &Client, ns: &str, pod: &str, key: &str) -> (bool, String) {
    let rw = format!("{CLUSTER}-rw");
    let script = format!(
        "{}timeout 30 psql -h {rw} -v ON_ERROR_STOP=1 -qtAc \"CREATE TABLE IF NOT EXISTS acknowledged (key text PRIMARY KEY); INSERT INTO acknowledged VALUES ('{key}')\"",
        pgfed_e2e::wait_for_postgres(&[&rw])
    );
    run_pod(
        client,
        ns,
        psql_client_pod(pod, CLUSTER, &script),
        Duration::from_secs(120),
    )
    .await
}

#[tokio::test]
async fn required_waits_for_a_standby_and_preferred_commits_without_them() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let mut manifest = cluster::minimal(CLUSTER, 3);
        manifest["spec"]["postgresql"] = json!({
            "synchronous": {"method": "any", "number": 1, "dataDurability": "required"}
        });
        cluster::create(&client, &ns, manifest).await;
        let status =
            cluster::wait_phase(&client, &ns, CLUSTER, HEALTHY, Duration::from_secs(600)).await;
        let primary = status["currentPrimary"]
            .as_str()
            .expect("a current primary")
            .to_string();
        let mut standbys: Vec<String> = (1..=3)
            .map(|n| format!("{CLUSTER}-{n}"))
            .filter(|n| *n != primary)
            .collect();
        standbys.sort();

        // required: both standbys listed (the primary last, as CloudNativePG), commits wait for 1.
        let required = format!(
            "ANY 1 (\"{}\",\"{}\",\"{primary}\")",
            standbys[0], standbys[1]
        );
        cluster::wait_sync_names(&client, &ns, CLUSTER, &required).await;
        let c = wait_condition(&client, &ns, "True").await;
        assert_eq!(c["reason"], "TopologySatisfied", "{c}");
        let (ok, log) = insert(&client, &ns, "insert-required", "required").await;
        assert!(ok, "a commit with both standbys streaming failed:\n{log}");

        // preferred, both standbys fenced: the primary waits for no one, writes commit.
        cluster::patch(
            &client,
            &ns,
            CLUSTER,
            json!({
                "metadata": {"annotations": {
                    "cnpg.io/fencedInstances": serde_json::to_string(&standbys).expect("json")
                }},
                "spec": {"postgresql": {"synchronous": {"dataDurability": "preferred"}}}
            }),
        )
        .await;
        let c = wait_condition(&client, &ns, "False").await;
        let message = c["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("1 synchronous standby wanted, 0 available"),
            "{c}"
        );
        cluster::wait_sync_names(&client, &ns, CLUSTER, "").await;
        let (ok, log) = insert(&client, &ns, "insert-preferred", "preferred").await;
        assert!(ok, "a commit with preferred and no standby failed:\n{log}");
        let keys = cluster::query(
            &client,
            &ns,
            "read-keys",
            CLUSTER,
            &format!("{CLUSTER}-rw"),
            "SELECT string_agg(key, ',' ORDER BY key) FROM acknowledged",
        )
        .await;
        assert_eq!(keys, "preferred,required");
    })
    .await;
}
