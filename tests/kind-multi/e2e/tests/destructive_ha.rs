//! Node-level faults on the primary, run alone (they take a node of region-a away): its node
//! stopped (a failover that does not wait for the node controller, and the old primary rejoins
//! when the node comes back), and its node cut off the network (the isolated primary stops
//! accepting writes within the lease duration, seen by a client on its own node, and a standby
//! elsewhere takes over). The primary is first moved off the leading operator replica's node: the
//! other replica takes over only after the operator's own leader Lease expires, which would add
//! its 15 s to the failover measured here.

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use pgfed_e2e::cluster;
use pgfed_e2e::nodes;
use pgfed_e2e::{fault, with_temp_namespace};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const REGION: &str = "region-a";
const CLUSTER: &str = "ha-node";
/// The Cluster's primary lease duration (CloudNativePG's default).
const LEASE_SECONDS: u64 = 15;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A primary other than `old` that the managers were told about and that reports as primary:
/// the cluster cannot be healthy while a node is down, but `-rw` accepts writes.
async fn moved(client: &Client, ns: &str, what: &str, old: &str) -> Value {
    cluster::wait_status(client, ns, CLUSTER, what, Duration::from_secs(300), |s| {
        s["currentPrimary"].as_str().is_some_and(|c| c != old)
            && s["currentPrimary"] == s["targetPrimary"]
    })
    .await
}

/// The settled primary with every instance ready, moved off `avoid`; returns it and its node.
async fn primary_away_from(client: &Client, ns: &str, avoid: &str) -> (String, String) {
    nodes::primary_away_from(client, ns, CLUSTER, 3, Some(avoid)).await
}

/// Healthy with every instance ready on one timeline.
async fn settled(client: &Client, ns: &str) -> Value {
    nodes::settled(client, ns, CLUSTER, 3, Duration::from_secs(420)).await
}

/// Runs `statement` through `-rw` from a client pod on `node` (not the faulty one: the scheduler
/// still takes a stopped node for a ready one until the node controller says otherwise).
async fn sql(client: &Client, ns: &str, node: &str, step: &str, statement: &str) -> String {
    let host = format!("{CLUSTER}-rw");
    let script = format!(
        "{}psql -h {host} -qtAc \"{statement}\"",
        pgfed_e2e::wait_for_postgres(&[&host])
    );
    let mut pod = pgfed_e2e::psql_client_pod(step, CLUSTER, &script);
    pod["spec"]["nodeName"] = Value::String(node.to_string());
    let (ok, log) = pgfed_e2e::run_pod(client, ns, pod, Duration::from_secs(180)).await;
    assert!(ok, "{statement:?} failed:\n{log}");
    log.trim().to_string()
}

/// A client pod on `node` that inserts into `isolated` at `ip` twice a second and prints
/// `ok <unix seconds>` for every acknowledged commit.
fn writer(node: &str, ip: &str) -> Pod {
    let script = format!(
        "while true; do if PGSSLMODE=require PGCONNECT_TIMEOUT=2 psql -h {ip} -qtAc 'INSERT INTO isolated DEFAULT VALUES' >/dev/null 2>&1; then echo \"ok $(date +%s)\"; else echo \"fail $(date +%s)\"; fi; sleep 0.5; done"
    );
    let mut p = pgfed_e2e::psql_client_pod("isolated-writer", CLUSTER, &script);
    p["spec"]["nodeName"] = Value::String(node.to_string());
    serde_json::from_value(p).expect("writer pod")
}

#[tokio::test]
async fn a_stopped_or_cut_off_primary_node_fails_over_and_the_isolated_primary_stops_writing() {
    with_temp_namespace(REGION, |client, ns| async move {
        let mut manifest = cluster::minimal(CLUSTER, 3);
        manifest["spec"]["primaryLease"] = serde_json::json!({"leaseDurationSeconds": LEASE_SECONDS});
        cluster::create_healthy(&client, &ns, manifest).await;
        let avoid = nodes::operator_node(&client)
            .await
            .expect("a leading operator replica");
        sql(&client, &ns, &avoid, "schema", "CREATE TABLE acked (k int PRIMARY KEY); CREATE TABLE isolated (k serial); INSERT INTO acked SELECT generate_series(1, 1000)").await;

        // The node stops: the failover waits for the Lease, not for the node controller.
        let (old, node) = primary_away_from(&client, &ns, &avoid).await;
        let stopped_at = now_secs();
        let stopped = nodes::stop(&node);
        let status = moved(&client, &ns, "a new primary after the node stopped", &old).await;
        let failed_over_in = now_secs() - stopped_at;
        eprintln!("node {node} stopped: {} primary after {failed_over_in} s", status["currentPrimary"]);
        assert_eq!(sql(&client, &ns, &nodes::other_node(&node), "read-1", "SELECT count(*) FROM acked").await, "1000");
        sql(&client, &ns, &nodes::other_node(&node), "write-2", "INSERT INTO acked SELECT generate_series(1001, 2000)").await;
        stopped.start();
        settled(&client, &ns).await;
        assert_eq!(sql(&client, &ns, &nodes::other_node(&node), "read-2", "SELECT count(*) FROM acked").await, "2000");

        // The node is cut off: a client on it sees its primary stop acknowledging writes.
        let (old, node) = primary_away_from(&client, &ns, &avoid).await;
        let ip = nodes::pod(&client, &ns, &old)
            .await
            .status
            .and_then(|s| s.pod_ip)
            .expect("primary pod IP");
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        pods.create(&PostParams::default(), &writer(&node, &ip))
            .await
            .expect("writer pod");
        tokio::time::sleep(Duration::from_secs(20)).await;
        let cut_at = now_secs();
        fault(&["cut-node", &node]);
        let status = moved(&client, &ns, "a new primary while the old one is cut off", &old).await;
        eprintln!("node {node} cut off: {} primary after {} s", status["currentPrimary"], now_secs() - cut_at);
        tokio::time::sleep(Duration::from_secs(10)).await;
        fault(&["heal-node", &node]);
        settled(&client, &ns).await;
        let log = pods
            .logs("isolated-writer", &LogParams::default())
            .await
            .expect("writer log");
        let _ = pods.delete("isolated-writer", &DeleteParams::default()).await;
        let acked: Vec<u64> = log
            .lines()
            .filter_map(|l| l.strip_prefix("ok "))
            .filter_map(|t| t.trim().parse().ok())
            .collect();
        assert!(acked.iter().any(|t| *t < cut_at), "the writer wrote before the cut:\n{log}");
        let last = acked.iter().copied().max().unwrap_or_default();
        assert!(
            last <= cut_at + LEASE_SECONDS,
            "the isolated primary acknowledged a write {} s after the cut (lease {LEASE_SECONDS} s):\n{log}",
            last.saturating_sub(cut_at)
        );
        // Every key acknowledged through -rw is still there; the old primary follows the new one.
        assert_eq!(sql(&client, &ns, &nodes::other_node(&node), "read-3", "SELECT count(*) FROM acked").await, "2000");
        sql(&client, &ns, &nodes::other_node(&node), "write-4", "INSERT INTO acked SELECT generate_series(2001, 2100)").await;
        assert_eq!(sql(&client, &ns, &nodes::other_node(&node), "read-4", "SELECT count(*) FROM acked").await, "2100");
    })
    .await;
}
