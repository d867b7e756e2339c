//! The lost-acknowledgement test: a client writes unique keys through `-rw`, one transaction per
//! key, and records every commit the server acknowledged; faults on the primary are injected one
//! after another at random moments (its pod deleted, its postgres killed, its manager killed, its
//! node stopped, its node cut off the network; node faults only when the primary is not on the
//! writer's node); at the end every acknowledged key must be on the primary and on every standby. With
//! synchronous replication (`dataDurability: required`) nothing may be lost. A write accepted by
//! a primary that was no longer the primary would be rewound away when it rejoins, and show up
//! here as a lost key.
//!
//! `PGFED_LOST_ACK_FAULTS` sets how many faults (CI: 3; on demand, e.g. 60:
//! `PGFED_LOST_ACK_FAULTS=60 tests/kind-multi/e2e/run destructive_lost_ack`), and
//! `PGFED_LOST_ACK_REGION` the region (default region-a). It prints the faults injected, the
//! writes acknowledged, the writes lost and the longest outage the client saw.

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use pgfed_e2e::{cluster, nodes};
use pgfed_e2e::{try_fault, with_temp_namespace};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The region it runs in: `PGFED_LOST_ACK_REGION`, default region-a (an on-demand run can go to
/// region-b while something else uses region-a).
fn region() -> String {
    std::env::var("PGFED_LOST_ACK_REGION").unwrap_or_else(|_| "region-a".to_string())
}
const CLUSTER: &str = "lost-ack";

fn faults_wanted() -> usize {
    std::env::var("PGFED_LOST_ACK_FAULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// A small, dependency-free pseudo-random sequence (xorshift), seeded from the clock or from
/// `PGFED_LOST_ACK_SEED`; the seed is printed so that a failed run's choice of faults can be
/// replayed.
struct Dice(u64);

impl Dice {
    fn new() -> Dice {
        let seed = std::env::var("PGFED_LOST_ACK_SEED")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        eprintln!("lost-ack: seed {seed} (PGFED_LOST_ACK_SEED replays it)");
        Dice(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The writer: inserts key 1, 2, 3, … through `-rw` (a new connection each time, as a client
/// that reconnects would), printing `ok <key> <unix ms>` for every acknowledged commit.
fn writer(node: &str) -> Pod {
    let script = format!(
        "{}k=0; while true; do k=$((k+1)); if PGCONNECT_TIMEOUT=2 psql -h {CLUSTER}-rw -qtAc \"INSERT INTO acked VALUES ($k)\" >/dev/null 2>&1; then echo \"ok $k $(date +%s%3N)\"; else echo \"fail $k $(date +%s%3N)\"; sleep 0.2; fi; done",
        pgfed_e2e::wait_for_postgres(&[&format!("{CLUSTER}-rw")])
    );
    let mut pod = pgfed_e2e::psql_client_pod("writer", CLUSTER, &script);
    // On one node, so that a node fault never takes the client down with the primary.
    pod["spec"]["nodeName"] = json!(node);
    serde_json::from_value(pod).expect("pod")
}

/// Acknowledged keys and the longest gap between two acknowledgements (ms), from the log.
fn acknowledged(log: &str) -> (BTreeSet<u64>, u64) {
    let mut keys = BTreeSet::new();
    let (mut last, mut longest) = (None::<u64>, 0u64);
    for line in log.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("ok") {
            continue;
        }
        let (Some(k), Some(t)) = (
            parts.next().and_then(|k| k.parse().ok()),
            parts.next().and_then(|t| t.parse::<u64>().ok()),
        ) else {
            continue;
        };
        keys.insert(k);
        if let Some(prev) = last {
            longest = longest.max(t.saturating_sub(prev));
        }
        last = Some(t);
    }
    (keys, longest)
}

/// Every key in table `acked` of instance `pod` (queried as the superuser on its pod address).
async fn keys_on(client: &Client, ns: &str, pod: &Pod, step: usize) -> BTreeSet<u64> {
    let name = pod.metadata.name.clone().expect("pod name");
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("pod IP");
    let mut reader = pgfed_e2e::psql_client_pod(
        &format!("read-{step}"),
        CLUSTER,
        &format!("PGSSLMODE=require psql -h {ip} -d app -qtAc 'SELECT k FROM acked ORDER BY k'"),
    );
    let superuser =
        |key: &str| json!({"secretKeyRef": {"name": format!("{CLUSTER}-superuser"), "key": key}});
    reader["spec"]["containers"][0]["env"][0]["valueFrom"] = superuser("username");
    reader["spec"]["containers"][0]["env"][1]["valueFrom"] = superuser("password");
    let (ok, log) = pgfed_e2e::run_pod(client, ns, reader, Duration::from_secs(120)).await;
    assert!(ok, "reading the keys on {name}:\n{log}");
    log.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Healthy, the primary settled, every instance ready on the primary's timeline.
async fn settled(client: &Client, ns: &str) -> Value {
    nodes::settled(client, ns, CLUSTER, 3, Duration::from_secs(420)).await
}

#[tokio::test]
async fn no_acknowledged_write_is_lost_across_faults_on_the_primary() {
    let region = region();
    with_temp_namespace(&region.clone(), |client, ns| async move {
        let writer_node = format!("{region}-n1");
        let mut manifest = cluster::minimal(CLUSTER, 3);
        manifest["spec"]["enableSuperuserAccess"] = json!(true);
        manifest["spec"]["postgresql"] = json!({"synchronous": {
            "method": "any", "number": 1, "dataDurability": "required"}});
        cluster::create_healthy(&client, &ns, manifest).await;
        cluster::query(&client, &ns, "schema", CLUSTER, &format!("{CLUSTER}-rw"),
            "CREATE TABLE acked (k bigint PRIMARY KEY)").await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        pods.create(&PostParams::default(), &writer(&writer_node)).await.expect("writer");

        let mut dice = Dice::new();
        let wanted = faults_wanted();
        let mut injected = Vec::new();
        let mut attempts = 0;
        while injected.len() < wanted {
            settled(&client, &ns).await;
            tokio::time::sleep(Duration::from_millis(2000 + dice.below(8000))).await;
            // The primary now, with its pod ready (the previous fault fully healed).
            let status = settled(&client, &ns).await;
            let primary = status["currentPrimary"].as_str().expect("primary").to_string();
            let instances = cluster::instance_pods(&client, &ns, CLUSTER).await;
            let Some(primary_pod) = instances
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(primary.as_str()))
            else {
                continue;
            };
            let ready = primary_pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|c| c.iter().all(|c| c.ready));
            if !ready {
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            let node = primary_pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .expect("a scheduled primary");
            let target = format!("{ns}/{primary}");
            // Node faults only where the writer is not.
            let node_faults = node != writer_node;
            let (kind, args): (&str, Vec<&str>) = match dice.below(if node_faults { 5 } else { 3 }) {
                0 => ("primary pod deleted", vec!["delete-pod", &region, &target]),
                1 => (
                    "primary postgres killed",
                    vec!["kill-process", &region, &target, "--container", "postgres", "--name", "postgres"],
                ),
                2 => (
                    "primary manager killed",
                    vec!["kill-process", &region, &target, "--container", "postgres"],
                ),
                3 => ("primary node stopped", vec!["stop-node", &node]),
                _ => ("primary node cut off", vec!["cut-node", &node]),
            };
            attempts += 1;
            assert!(attempts <= wanted * 5, "could not inject {wanted} faults in {attempts} attempts");
            // A ready pod may still run postgres's startup (no postmaster to kill yet): that
            // attempt is not a fault; try again on the next settled primary.
            if let Err(e) = try_fault(&args) {
                eprintln!("lost-ack: {kind} not injected, trying again: {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            eprintln!("lost-ack: fault {}/{wanted}: {kind} ({primary})", injected.len() + 1);
            injected.push(kind);
            if args[0] == "stop-node" || args[0] == "cut-node" {
                // The cluster cannot be healthy while the node is away: wait for the failover,
                // then bring the node back.
                cluster::wait_status(&client, &ns, CLUSTER, "a new primary", Duration::from_secs(300), |s| {
                    s["currentPrimary"].as_str().is_some_and(|c| c != primary)
                        && s["currentPrimary"] == s["targetPrimary"]
                })
                .await;
                tokio::time::sleep(Duration::from_secs(2 + dice.below(8))).await;
                let back = if args[0] == "stop-node" { "start-node" } else { "heal-node" };
                if let Err(e) = try_fault(&[back, &node]) {
                    panic!("{back} {node}: {e}");
                }
            } else {
                // Let the operator notice before the next look at the status.
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
        settled(&client, &ns).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let log = pods.logs("writer", &LogParams::default()).await.expect("writer log");
        let _ = pods.delete("writer", &DeleteParams::default()).await;
        let (acked, longest_ms) = acknowledged(&log);
        // Replication is synchronous: every instance has every acknowledged key once settled.
        settled(&client, &ns).await;
        let mut lost_anywhere = BTreeSet::new();
        for (step, pod) in cluster::instance_pods(&client, &ns, CLUSTER).await.iter().enumerate() {
            let present = keys_on(&client, &ns, pod, step).await;
            let lost: BTreeSet<u64> = acked.difference(&present).copied().collect();
            eprintln!(
                "lost-ack: {} has {} keys, {} acknowledged ones missing",
                pod.metadata.name.as_deref().unwrap_or_default(),
                present.len(),
                lost.len()
            );
            lost_anywhere.extend(lost);
        }
        eprintln!(
            "lost-ack: faults injected {}, writes acknowledged {}, writes lost {}, longest outage {:.1} s",
            injected.len(),
            acked.len(),
            lost_anywhere.len(),
            longest_ms as f64 / 1000.0
        );
        assert!(acked.len() > wanted, "the writer acknowledged almost nothing:\n{log}");
        assert!(
            lost_anywhere.is_empty(),
            "acknowledged keys lost: {:?}",
            lost_anywhere.iter().take(20).collect::<Vec<_>>()
        );
    })
    .await;
}

#[test]
fn acknowledgements_and_gaps_are_read_from_the_writer_log() {
    let log = "ok 1 1000\nfail 2 1100\nok 3 4000\nok 4 4100\ngarbage\n";
    let (keys, longest) = acknowledged(log);
    assert_eq!(keys, BTreeSet::from([1, 3, 4]));
    assert_eq!(longest, 3000);
}
