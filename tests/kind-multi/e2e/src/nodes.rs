//! Where instances run, for the tests and benchmarks that take a node away: the node of a pod,
//! of the leading operator replica, the other node of a two-node region, and a primary moved off
//! a node before a node fault (a fault on the leading operator's node would add the operator's
//! own leader election to every failover measured there).

use crate::cluster;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use std::time::Duration;

/// The node a pod is scheduled on.
pub fn node_of(pod: &Pod) -> Option<String> {
    pod.spec.as_ref().and_then(|s| s.node_name.clone())
}

/// The node of a two-node region other than `node` (`<region>-n1` ↔ `<region>-n2`).
pub fn other_node(node: &str) -> String {
    if node.ends_with("-n1") {
        node.replace("-n1", "-n2")
    } else {
        node.replace("-n2", "-n1")
    }
}

/// Pod `name` of `ns`.
pub async fn pod(client: &Client, ns: &str, name: &str) -> Pod {
    Api::<Pod>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("pod {ns}/{name}: {e}"))
}

/// The node of the operator replica that holds the `pgfed-operator-leader` Lease, if one does.
pub async fn operator_node(client: &Client) -> Option<String> {
    let holder = Api::<Lease>::namespaced(client.clone(), "pgfed-system")
        .get("pgfed-operator-leader")
        .await
        .ok()
        .and_then(|l| l.spec?.holder_identity)?;
    Api::<Pod>::namespaced(client.clone(), "pgfed-system")
        .list(&ListParams::default().labels("app.kubernetes.io/name=pgfed-operator"))
        .await
        .ok()?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| holder.starts_with(n))
        })
        .and_then(node_of)
}

/// Waits until Cluster `name` is healthy with `ready` instances, its primary settled
/// (current = target) and every instance on one timeline; returns the status.
///
/// The timeline matters before the next fault: a standby that has not followed the latest
/// promotion would, promoted next, pick a timeline ID the old primary already used (without a
/// WAL archive no history file tells it otherwise).
pub async fn settled(
    client: &Client,
    ns: &str,
    name: &str,
    ready: u64,
    timeout: Duration,
) -> serde_json::Value {
    cluster::wait_status(
        client,
        ns,
        name,
        &format!("settled: healthy, {ready} instances ready on one timeline"),
        timeout,
        |s| {
            let timelines: std::collections::BTreeSet<String> = s["instancesReportedState"]
                .as_object()
                .map(|m| m.values().map(|i| i["timeLineID"].to_string()).collect())
                .unwrap_or_default();
            s["phase"] == cluster::HEALTHY
                && s["currentPrimary"] == s["targetPrimary"]
                && s["readyInstances"] == ready
                && timelines.len() == 1
        },
    )
    .await
}

/// The settled primary of Cluster `name` (`ready` instances), moved by a switchover off `avoid`
/// when it runs there; returns it and its node.
pub async fn primary_away_from(
    client: &Client,
    ns: &str,
    name: &str,
    ready: u64,
    avoid: Option<&str>,
) -> (String, String) {
    let timeout = Duration::from_secs(600);
    let status = settled(client, ns, name, ready, timeout).await;
    let primary = status["currentPrimary"]
        .as_str()
        .expect("a primary")
        .to_string();
    let node = node_of(&pod(client, ns, &primary).await).expect("a scheduled primary");
    if avoid != Some(node.as_str()) {
        return (primary, node);
    }
    let target = cluster::instance_pods(client, ns, name)
        .await
        .into_iter()
        .find(|p| node_of(p).as_deref() != avoid)
        .and_then(|p| p.metadata.name)
        .expect("an instance on another node");
    switch_over(client, ns, name, &target, ready).await;
    let node = node_of(&pod(client, ns, &target).await).expect("a scheduled primary");
    (target, node)
}

/// Switches Cluster `name` over to `target` with `kubectl pgfed promote` and waits until it is
/// the primary and the cluster settled again.
async fn switch_over(client: &Client, ns: &str, name: &str, target: &str, ready: u64) {
    // The target may be briefly unready (a node that just came back, a loaded machine): the
    // refusal is retried for a while; any other refusal fails the test at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        match kubectl_pgfed::promote::promote(client.clone(), ns, name, target).await {
            Ok(_) => break,
            Err(e)
                if e.to_string().contains("is not ready")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            Err(e) => panic!("switchover to {target}: {e}"),
        }
    }
    cluster::wait_status(
        client,
        ns,
        name,
        &format!("the switchover to {target}"),
        Duration::from_secs(300),
        |s| s["currentPrimary"] == target && s["targetPrimary"] == target,
    )
    .await;
    settled(client, ns, name, ready, Duration::from_secs(600)).await;
}

/// A node stopped by [`stop`]: started again by [`StoppedNode::start`], or when dropped (a test
/// that fails while the node is down must not leave it down for the tests after it).
#[must_use = "the node is started again when this is dropped"]
pub struct StoppedNode {
    node: Option<String>,
}

/// Stops `node` (`tests/kind-multi/fault stop-node`).
pub fn stop(node: &str) -> StoppedNode {
    crate::fault(&["stop-node", node]);
    StoppedNode {
        node: Some(node.to_string()),
    }
}

impl StoppedNode {
    /// Starts the node again.
    pub fn start(mut self) {
        if let Some(node) = self.node.take() {
            crate::fault(&["start-node", &node]);
        }
    }
}

impl Drop for StoppedNode {
    fn drop(&mut self) {
        if let Some(node) = self.node.take()
            && let Err(e) = crate::try_fault(&["start-node", &node])
        {
            eprintln!("starting {node} again after a failure: {e}");
        }
    }
}

/// The settled primary of Cluster `name` moved (by a switchover) to an instance that is alone on
/// its node, which is not `avoid`; returns it and its node. With three instances on two nodes one
/// node holds two: stopping that one would also take the primary's synchronous standby, and a
/// `dataDurability: required` primary elsewhere would then wait for it. When the lone instance
/// runs on `avoid` (the leading operator's node), the leading operator pod is deleted so that
/// the other replica leads, and the choice is made again.
pub async fn lone_primary_away_from(
    client: &Client,
    ns: &str,
    name: &str,
    ready: u64,
    avoid: Option<&str>,
) -> (String, String) {
    let timeout = Duration::from_secs(600);
    let mut avoid = avoid.map(str::to_string);
    let mut seen = Vec::new();
    for _ in 0..5 {
        let status = settled(client, ns, name, ready, timeout).await;
        let mut by_node: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for p in cluster::instance_pods(client, ns, name).await {
            if let (Some(node), Some(pod)) = (node_of(&p), p.metadata.name.clone()) {
                by_node.entry(node).or_default().push(pod);
            }
        }
        seen.push(format!("{by_node:?} avoiding {avoid:?}"));
        let lone = by_node
            .iter()
            .find(|(node, pods)| pods.len() == 1 && Some(node.as_str()) != avoid.as_deref())
            .map(|(node, pods)| (pods[0].clone(), node.clone()));
        if let Some((target, node)) = lone {
            if status["currentPrimary"] != target.as_str() {
                switch_over(client, ns, name, &target, ready).await;
            }
            return (target, node);
        }
        // The lone instance shares the leading operator's node: hand the leadership over.
        move_operator_leadership(client).await;
        avoid = operator_node(client).await;
    }
    panic!(
        "no instance of {ns}/{name} alone on a node the leading operator does not run on: {seen:?}"
    );
}

/// Deletes the leading operator pod and waits until another replica leads.
async fn move_operator_leadership(client: &Client) {
    let leases = Api::<Lease>::namespaced(client.clone(), "pgfed-system");
    let holder = || async {
        leases
            .get("pgfed-operator-leader")
            .await
            .ok()
            .and_then(|l| l.spec?.holder_identity)
            .unwrap_or_default()
    };
    let before = holder().await;
    let pods = Api::<Pod>::namespaced(client.clone(), "pgfed-system");
    let leader = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=pgfed-operator"))
        .await
        .expect("operator pods")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .find(|n| before.starts_with(n.as_str()));
    if let Some(name) = leader {
        let _ = pods.delete(&name, &Default::default()).await;
    }
    let before = &before;
    crate::wait_until(
        "another operator replica leading",
        Duration::from_secs(120),
        Duration::from_secs(1),
        || async move {
            let now = holder().await;
            if !now.is_empty() && now != *before && operator_node(client).await.is_some() {
                Ok(())
            } else {
                Err(now)
            }
        },
    )
    .await;
}
