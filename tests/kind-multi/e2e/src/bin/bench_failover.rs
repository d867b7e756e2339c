//! `bench-failover`: the client-observed write outage of a 3-instance Cluster through `-rw`
//! across faults on its primary, each repeated, with the acknowledged writes lost. Reported,
//! never asserted (the machine is shared); run through `tests/kind-multi/bench-failover`, which
//! documents the options and appends the figures to `tests/kind-multi/results/bench-failover.md`.
//!
//! A writer pod on a node other than the primary's inserts unique keys through `-rw`, one
//! connection and one transaction per key, and prints `ok <key> <unix ms>` for every commit the
//! server acknowledged. The outage of a fault is the longest gap between two acknowledgements
//! from the moment it was injected. For the isolation fault a second writer, on the primary's own
//! node and connected to the primary's pod address, shows how long the cut-off primary went on
//! acknowledging writes. After each fault the cluster settles (healthy, every instance on the
//! primary's timeline) and every acknowledged key is looked for on the primary.

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use pgfed_e2e::{cluster, nodes};
use pgfed_e2e::{try_fault, wait_until};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const REGION: &str = "region-a";
const NAMESPACE: &str = "bench-failover";
const CLUSTER: &str = "bench";
/// Keys of one fault: `run * KEY_SPACE + i`.
const KEY_SPACE: u64 = 10_000_000;

/// A fault on the primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    PodDeleted,
    PostgresKilled,
    ManagerKilled,
    NodeStopped,
    NodeIsolated,
    Switchover,
}

impl Fault {
    const ALL: [Fault; 6] = [
        Fault::PodDeleted,
        Fault::PostgresKilled,
        Fault::ManagerKilled,
        Fault::NodeStopped,
        Fault::NodeIsolated,
        Fault::Switchover,
    ];

    fn key(self) -> &'static str {
        match self {
            Fault::PodDeleted => "pod-delete",
            Fault::PostgresKilled => "postgres-kill",
            Fault::ManagerKilled => "manager-kill",
            Fault::NodeStopped => "node-stop",
            Fault::NodeIsolated => "isolation",
            Fault::Switchover => "switchover",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Fault::PodDeleted => "primary pod deleted",
            Fault::PostgresKilled => "primary postgres SIGKILLed",
            Fault::ManagerKilled => "primary instance manager SIGKILLed",
            Fault::NodeStopped => "primary node stopped",
            Fault::NodeIsolated => "primary node cut off the network",
            Fault::Switchover => "planned switchover (kubectl pgfed promote)",
        }
    }

    /// pgfed's target and what CloudNativePG publishes for the same fault
    /// (../shared/notes/performance-anchors.md).
    fn budgets(self) -> (&'static str, &'static str) {
        match self {
            Fault::PodDeleted => ("≤ 5 s", "failover budget 20 s on kind (e2e)"),
            Fault::PostgresKilled => ("≤ 5 s", "liveness 3 × 10 s, then failover"),
            Fault::ManagerKilled => ("-", "liveness 3 × 10 s, then failover"),
            Fault::NodeStopped => ("≤ 15 s", "40–80 s (node grace period)"),
            Fault::NodeIsolated => ("≤ 10 s", "isolated primary stops after ~30 s"),
            Fault::Switchover => ("≤ 3 s", "switchover budget 20 s; 15–30 s outage measured"),
        }
    }

    fn node_level(self) -> bool {
        matches!(self, Fault::NodeStopped | Fault::NodeIsolated)
    }
}

/// What one fault measured.
#[derive(Debug)]
struct Measured {
    /// Client-observed outage through `-rw` (ms).
    outage_ms: u64,
    /// Acknowledged keys missing on the primary afterwards.
    lost: usize,
    /// Acknowledged keys of this run.
    acked: usize,
    /// Isolation only: how long after the cut the old primary acknowledged its last write (ms;
    /// 0 when it acknowledged none after the cut).
    isolated_acks_for_ms: Option<u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The acknowledgements a writer printed: (key, unix ms).
fn acknowledgements(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            if parts.next() != Some("ok") {
                return None;
            }
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect()
}

/// The longest gap between two consecutive acknowledgements once the fault was injected at `at`
/// (ms): the outage the client saw, however long after `at` it began (a deleted pod stops
/// serving only once its shutdown ends). None when nothing was acknowledged after `at`.
fn outage_after(acks: &[(u64, u64)], at: u64) -> Option<u64> {
    let mut times: Vec<u64> = acks.iter().map(|a| a.1).collect();
    times.sort_unstable();
    times
        .windows(2)
        .filter(|w| w[1] > at)
        .map(|w| w[1] - w[0])
        .max()
}

/// The median of `values` (the lower middle of an even count).
fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

fn writer_script(host: &str, first_key: u64, tls: &str) -> String {
    format!(
        "k={first_key}; while true; do k=$((k+1)); if PGSSLMODE={tls} PGCONNECT_TIMEOUT=2 psql -h {host} -qtAc \"INSERT INTO acked VALUES ($k)\" >/dev/null 2>&1; then echo \"ok $k $(date +%s%3N)\"; else echo \"fail $k $(date +%s%3N)\"; sleep 0.1; fi; done"
    )
}

fn pinned_pod(name: &str, node: &str, script: &str) -> Pod {
    let mut pod = pgfed_e2e::psql_client_pod(name, CLUSTER, script);
    pod["spec"]["nodeName"] = Value::String(node.to_string());
    serde_json::from_value(pod).expect("writer pod")
}

struct Bench {
    client: Client,
    pods: Api<Pod>,
}

impl Bench {
    /// Healthy, the primary settled, every instance ready and on the primary's timeline.
    async fn settled(&self) -> Value {
        nodes::settled(
            &self.client,
            NAMESPACE,
            CLUSTER,
            3,
            Duration::from_secs(600),
        )
        .await
    }

    /// The settled primary, moved by a switchover off `avoid` when it runs there.
    async fn primary_away_from(&self, avoid: Option<&str>) -> (String, String) {
        nodes::primary_away_from(&self.client, NAMESPACE, CLUSTER, 3, avoid).await
    }

    async fn start_writer(&self, name: &str, node: &str, script: &str) {
        let _ = self.pods.delete(name, &DeleteParams::default()).await;
        wait_until(
            &format!("the previous {name} gone"),
            Duration::from_secs(120),
            Duration::from_secs(1),
            || async move {
                match self.pods.get_opt(name).await {
                    Ok(None) => Ok(()),
                    other => Err(format!("{:?}", other.map(|p| p.is_some()))),
                }
            },
        )
        .await;
        self.pods
            .create(&PostParams::default(), &pinned_pod(name, node, script))
            .await
            .unwrap_or_else(|e| panic!("writer {name}: {e}"));
    }

    async fn log(&self, name: &str) -> String {
        self.pods
            .logs(name, &LogParams::default())
            .await
            .unwrap_or_default()
    }

    /// Waits until writer `name` acknowledged `count` writes after `after` (unix ms).
    async fn acks_after(&self, name: &str, after: u64, count: usize, timeout: Duration) {
        wait_until(
            &format!("{count} writes acknowledged to {name}"),
            timeout,
            Duration::from_millis(500),
            || async move {
                let log = self.log(name).await;
                let n = acknowledgements(&log)
                    .iter()
                    .filter(|a| a.1 > after)
                    .count();
                if n >= count {
                    Ok(())
                } else {
                    Err(format!("{n} so far"))
                }
            },
        )
        .await;
    }

    /// Every key of run `run` present on the primary, read from `node`.
    async fn keys_on_primary(&self, node: &str, run: u64) -> BTreeSet<u64> {
        let host = format!("{CLUSTER}-rw");
        let (lo, hi) = (run * KEY_SPACE, (run + 1) * KEY_SPACE);
        let script = format!(
            "{}psql -h {host} -qtAc 'SELECT k FROM acked WHERE k > {lo} AND k < {hi}'",
            pgfed_e2e::wait_for_postgres(&[&host])
        );
        let mut pod = pgfed_e2e::psql_client_pod(&format!("read-{run}"), CLUSTER, &script);
        pod["spec"]["nodeName"] = Value::String(node.to_string());
        let (ok, log) =
            pgfed_e2e::run_pod(&self.client, NAMESPACE, pod, Duration::from_secs(180)).await;
        assert!(ok, "reading the keys of run {run}:\n{log}");
        log.lines().filter_map(|l| l.trim().parse().ok()).collect()
    }

    fn inject(&self, fault: Fault, target: &str, node: &str) -> Result<(), String> {
        match fault {
            Fault::PodDeleted => try_fault(&["delete-pod", REGION, target]),
            Fault::PostgresKilled => try_fault(&[
                "kill-process",
                REGION,
                target,
                "--container",
                "postgres",
                "--name",
                "postgres",
            ]),
            Fault::ManagerKilled => {
                try_fault(&["kill-process", REGION, target, "--container", "postgres"])
            }
            Fault::NodeStopped => try_fault(&["stop-node", node]),
            Fault::NodeIsolated => try_fault(&["cut-node", node]),
            Fault::Switchover => Ok(()),
        }
    }

    /// One fault, measured.
    async fn run(&self, fault: Fault, run: u64, operator_node: Option<&str>) -> Measured {
        let avoid = if fault.node_level() {
            operator_node
        } else {
            None
        };
        let (primary, node) = if fault.node_level() {
            // Alone on its node: the fault must not take its synchronous standby with it.
            nodes::lone_primary_away_from(&self.client, NAMESPACE, CLUSTER, 3, avoid).await
        } else {
            self.primary_away_from(avoid).await
        };
        let safe = nodes::other_node(&node);
        let writer = format!("writer-{run}");
        self.start_writer(
            &writer,
            &safe,
            &format!(
                "{}{}",
                pgfed_e2e::wait_for_postgres(&[&format!("{CLUSTER}-rw")]),
                writer_script(&format!("{CLUSTER}-rw"), run * KEY_SPACE, "verify-full")
            ),
        )
        .await;
        let isolated = format!("isolated-{run}");
        if fault == Fault::NodeIsolated {
            let ip = nodes::pod(&self.client, NAMESPACE, &primary)
                .await
                .status
                .and_then(|s| s.pod_ip)
                .expect("the primary's pod IP");
            self.start_writer(
                &isolated,
                &node,
                &writer_script(&ip, run * KEY_SPACE + KEY_SPACE / 2, "require"),
            )
            .await;
            self.acks_after(&isolated, 0, 5, Duration::from_secs(120))
                .await;
        }
        self.acks_after(&writer, 0, 20, Duration::from_secs(120))
            .await;
        let target = format!("{NAMESPACE}/{primary}");
        let mut at = now_ms();
        if fault == Fault::Switchover {
            let to = cluster::instance_pods(&self.client, NAMESPACE, CLUSTER)
                .await
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .find(|n| *n != primary)
                .expect("a standby");
            kubectl_pgfed::promote::promote(self.client.clone(), NAMESPACE, CLUSTER, &to)
                .await
                .unwrap_or_else(|e| panic!("switchover to {to}: {e}"));
        } else {
            // A process between two lives (postgres restarting after the previous run's
            // recovery) cannot be killed: try again a moment later.
            let mut attempt = 0;
            while let Err(e) = self.inject(fault, &target, &node) {
                attempt += 1;
                assert!(attempt < 10, "{}: {e}", fault.describe());
                tokio::time::sleep(Duration::from_secs(1)).await;
                at = now_ms();
            }
        }
        self.acks_after(&writer, at, 5, Duration::from_secs(300))
            .await;
        let mut isolated_acks_for_ms = None;
        if fault.node_level() {
            // The client on the cut-off node keeps trying for a while: its last acknowledgement
            // is the figure, not when the client noticed.
            tokio::time::sleep(Duration::from_secs(10)).await;
            let healed = match fault {
                Fault::NodeStopped => try_fault(&["start-node", &node]),
                _ => try_fault(&["heal-node", &node]),
            };
            healed.unwrap_or_else(|e| panic!("bringing {node} back: {e}"));
        } else {
            // The status may still read settled while a deleted pod shuts down or a step-down
            // has not begun: give the fault time to show before waiting for the cluster.
            tokio::time::sleep(Duration::from_secs(20)).await;
        }
        self.settled().await;
        if fault == Fault::NodeIsolated {
            let acks = acknowledgements(&self.log(&isolated).await);
            let last = acks.iter().map(|a| a.1).max().unwrap_or_default();
            isolated_acks_for_ms = Some(last.saturating_sub(at));
            let _ = self.pods.delete(&isolated, &DeleteParams::default()).await;
        }
        // A few more acknowledgements on the settled cluster, then the writer stops.
        self.acks_after(&writer, now_ms(), 3, Duration::from_secs(120))
            .await;
        let log = self.log(&writer).await;
        let _ = self.pods.delete(&writer, &DeleteParams::default()).await;
        let acks = acknowledgements(&log);
        let outage_ms = outage_after(&acks, at).unwrap_or_default();
        let acked: BTreeSet<u64> = acks.iter().map(|a| a.0).collect();
        let present = self.keys_on_primary(&safe, run).await;
        let lost = acked.difference(&present).count();
        Measured {
            outage_ms,
            lost,
            acked: acked.len(),
            isolated_acks_for_ms,
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-failover [--runs N] [--faults pod-delete,postgres-kill,manager-kill,node-stop,isolation,switchover] [--durability required|async] [--lease SECONDS]"
    );
    std::process::exit(2)
}

struct Options {
    runs: usize,
    faults: Vec<Fault>,
    synchronous: bool,
    /// `primaryLease.leaseDurationSeconds`, when not the default (15 s): the floor of every
    /// failover that waits for the Lease (node stop, isolation).
    lease_seconds: Option<u32>,
}

fn options() -> Options {
    let mut o = Options {
        runs: 5,
        faults: Fault::ALL.to_vec(),
        synchronous: true,
        lease_seconds: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--runs" => o.runs = value.parse().unwrap_or_else(|_| usage()),
            "--faults" => {
                o.faults = value
                    .split(',')
                    .map(|k| {
                        Fault::ALL
                            .into_iter()
                            .find(|f| f.key() == k)
                            .unwrap_or_else(|| usage())
                    })
                    .collect()
            }
            "--durability" => {
                o.synchronous = match value.as_str() {
                    "required" => true,
                    "async" => false,
                    _ => usage(),
                }
            }
            "--lease" => {
                let lease: u32 = value.parse().unwrap_or_else(|_| usage());
                if lease < 3 {
                    usage();
                }
                o.lease_seconds = Some(lease);
            }
            _ => usage(),
        }
    }
    o
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let o = options();
    let client = pgfed_e2e::client(REGION).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let _ = namespaces.delete(NAMESPACE, &DeleteParams::default()).await;
    wait_until(
        "the previous bench namespace gone",
        Duration::from_secs(300),
        Duration::from_secs(2),
        || async {
            match namespaces.get_opt(NAMESPACE).await {
                Ok(None) => Ok(()),
                _ => Err("still there".to_string()),
            }
        },
    )
    .await;
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    let mut manifest = cluster::minimal(CLUSTER, 3);
    if o.synchronous {
        manifest["spec"]["postgresql"] = json!({"synchronous": {
            "method": "any", "number": 1, "dataDurability": "required"}});
    }
    if let Some(lease) = o.lease_seconds {
        // The renew deadline stays below the duration, as the API requires.
        manifest["spec"]["primaryLease"] = json!({
            "leaseDurationSeconds": lease,
            "renewDeadlineSeconds": (lease * 2 / 3).max(2),
            "retryPeriodSeconds": 1});
    }
    cluster::create_healthy(&client, NAMESPACE, manifest).await;
    cluster::query(
        &client,
        NAMESPACE,
        "schema",
        CLUSTER,
        &format!("{CLUSTER}-rw"),
        "CREATE TABLE acked (k bigint PRIMARY KEY)",
    )
    .await;
    let bench = Bench {
        pods: Api::namespaced(client.clone(), NAMESPACE),
        client,
    };
    let replication = if o.synchronous {
        "synchronous (any 1, dataDurability required)"
    } else {
        "asynchronous"
    };
    let durability = match o.lease_seconds {
        Some(lease) => format!("{replication}; lease {lease} s"),
        None => replication.to_string(),
    };
    println!("replication: {durability}; {} run(s) per fault", o.runs);
    let mut run = 0u64;
    let mut rows = Vec::new();
    for fault in &o.faults {
        let mut outages = Vec::new();
        let mut isolated = Vec::new();
        let (mut lost, mut acked) = (0, 0);
        for i in 0..o.runs {
            run += 1;
            let operator_node = nodes::operator_node(&bench.client).await;
            let m = bench.run(*fault, run, operator_node.as_deref()).await;
            println!(
                "{} #{}: outage {:.1} s, {} acknowledged, {} lost{}",
                fault.key(),
                i + 1,
                m.outage_ms as f64 / 1000.0,
                m.acked,
                m.lost,
                m.isolated_acks_for_ms
                    .map(|t| format!(
                        ", the isolated primary acknowledged writes for {:.1} s after the cut",
                        t as f64 / 1000.0
                    ))
                    .unwrap_or_default()
            );
            outages.push(m.outage_ms);
            isolated.extend(m.isolated_acks_for_ms);
            lost += m.lost;
            acked += m.acked;
        }
        let (target, cnpg) = fault.budgets();
        let secs = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
        let isolation = if isolated.is_empty() {
            String::new()
        } else {
            format!(
                "; old primary acknowledged writes until {} after the cut (median), {} (max)",
                secs(median(&isolated)),
                secs(isolated.iter().copied().max().unwrap_or_default())
            )
        };
        rows.push(format!(
            "| {} | {} | {} | {} | {} | {lost} of {acked}{isolation} | {target} | {cnpg} |",
            fault.describe(),
            outages.len(),
            secs(median(&outages)),
            secs(outages.iter().copied().max().unwrap_or_default()),
            durability,
        ));
    }
    println!();
    println!(
        "| fault | runs | outage median | outage max | replication | acknowledged writes lost | pgfed target | CloudNativePG |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    let _ = namespaces.delete(NAMESPACE, &DeleteParams::default()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outage_is_the_longest_gap_after_the_fault() {
        let acks = acknowledgements(
            "ok 1 1000\nfail 2 1100\nok 3 1200\nok 4 1300\nfail 5 1400\nok 6 4300\nok 7 4400\n",
        );
        assert_eq!(acks.len(), 5);
        // Injected at 1250: acknowledged once more at 1300, then nothing until 4300.
        assert_eq!(outage_after(&acks, 1250), Some(3000));
        assert_eq!(outage_after(&acks, 5000), None);
        assert_eq!(median(&[5, 1, 3, 2]), 2);
        assert_eq!(median(&[]), 0);
    }
}
