//! Helpers for tests of the Cluster controller: create and patch a Cluster, read its status,
//! wait for a phase, list its instance pods.

use crate::{pgfed_resource, wait_until};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

/// CloudNativePG's phase of a cluster whose every instance is up.
pub const HEALTHY: &str = "Cluster in healthy state";

/// The Clusters of `ns`.
pub fn api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &pgfed_resource("Cluster"))
}

/// The smallest Cluster: `instances` instances on 1Gi volumes, everything else defaulted.
pub fn minimal(name: &str, instances: u32) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "pgfed.io/v1", "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"instances": instances, "storage": {"size": "1Gi"}}
    })
}

/// Creates the Cluster `cluster` (a manifest) in `ns`.
pub async fn create(client: &Client, ns: &str, cluster: serde_json::Value) {
    let obj: DynamicObject = serde_json::from_value(cluster).expect("cluster manifest");
    api(client, ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create cluster");
}

/// Merge-patches Cluster `name` with `patch`.
pub async fn patch(client: &Client, ns: &str, name: &str, patch: serde_json::Value) {
    api(client, ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patching Cluster {ns}/{name} with {patch}: {e}"));
}

/// The status of Cluster `name` (null when it has none or cannot be read).
pub async fn status(client: &Client, ns: &str, name: &str) -> serde_json::Value {
    api(client, ns)
        .get(name)
        .await
        .map(|c| c.data.get("status").cloned().unwrap_or_default())
        .unwrap_or_default()
}

/// Waits until Cluster `name` is in `phase`; returns its status.
pub async fn wait_phase(
    client: &Client,
    ns: &str,
    name: &str,
    phase: &str,
    timeout: Duration,
) -> serde_json::Value {
    wait_until(
        &format!("Cluster {ns}/{name} in phase {phase:?}"),
        timeout,
        Duration::from_secs(2),
        || async move {
            let s = status(client, ns, name).await;
            if s["phase"] == phase {
                Ok(s)
            } else {
                Err(format!("phase {} ({})", s["phase"], s["phaseReason"]))
            }
        },
    )
    .await
}

/// The instance pods of `cluster` that are not being deleted.
pub async fn instance_pods(client: &Client, ns: &str, cluster: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.list(&ListParams::default().labels(&format!(
        "pgfed.io/cluster={cluster},pgfed.io/podRole=instance"
    )))
    .await
    .expect("list pods")
    .items
    .into_iter()
    .filter(|p| p.metadata.deletion_timestamp.is_none())
    .collect()
}

/// uid of each instance pod of `cluster`, by name.
pub async fn pod_uids(client: &Client, ns: &str, cluster: &str) -> BTreeMap<String, String> {
    instance_pods(client, ns, cluster)
        .await
        .into_iter()
        .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
        .collect()
}

/// The UIDs of `cluster`'s instance pods and of its PVCs (`pvc/<name>`): equal before and after
/// an operation, nothing was replaced or re-created.
pub async fn identities(client: &Client, ns: &str, cluster: &str) -> BTreeMap<String, String> {
    let mut out = pod_uids(client, ns, cluster).await;
    let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(client.clone(), ns);
    for p in pvcs
        .list(&ListParams::default().labels(&format!("pgfed.io/cluster={cluster}")))
        .await
        .expect("list PVCs")
    {
        out.insert(
            format!("pvc/{}", p.metadata.name.unwrap_or_default()),
            p.metadata.uid.unwrap_or_default(),
        );
    }
    out
}

/// Runs `sql` through `host` (a Service of `cluster`) with the application owner's credentials
/// over TLS (verify-full) from a one-shot pod named `pod_name`; returns psql's unaligned output.
/// Panics with the pod's log when psql fails.
pub async fn query(
    client: &Client,
    ns: &str,
    pod_name: &str,
    cluster: &str,
    host: &str,
    sql: &str,
) -> String {
    query_with_login(client, ns, pod_name, cluster, cluster, host, sql).await
}

/// [`query`] with the application owner's credentials of Cluster `login` and the CA of Cluster
/// `cluster` (a cluster restored from another has the other's users and passwords).
pub async fn query_with_login(
    client: &Client,
    ns: &str,
    pod_name: &str,
    login: &str,
    cluster: &str,
    host: &str,
    sql: &str,
) -> String {
    try_query_with_login(client, ns, pod_name, login, cluster, host, sql)
        .await
        .unwrap_or_else(|log| panic!("query {sql:?} on {host} failed:\n{log}"))
}

/// [`query_with_login`] for a wait loop, where a connection cut by an instance restarting on
/// purpose is expected: psql's failure comes back as `Err` with the pod's log.
pub async fn try_query_with_login(
    client: &Client,
    ns: &str,
    pod_name: &str,
    login: &str,
    cluster: &str,
    host: &str,
    sql: &str,
) -> Result<String, String> {
    let script = format!(
        "{}psql -h {host} -qtAc \"{sql}\"",
        crate::wait_for_postgres(&[host])
    );
    let mut pod = crate::psql_client_pod(pod_name, login, &script);
    pod["spec"]["volumes"][0]["secret"]["secretName"] = serde_json::json!(format!("{cluster}-ca"));
    let (ok, log) = crate::run_pod(client, ns, pod, Duration::from_secs(120)).await;
    if ok {
        Ok(log.trim().to_string())
    } else {
        Err(log)
    }
}

/// Restart count of each instance pod's `postgres` container, by pod name.
pub async fn restart_counts(client: &Client, ns: &str, cluster: &str) -> BTreeMap<String, i32> {
    instance_pods(client, ns, cluster)
        .await
        .into_iter()
        .filter_map(|p| {
            let count = p
                .status?
                .container_statuses?
                .into_iter()
                .find(|c| c.name == "postgres")?
                .restart_count;
            Some((p.metadata.name?, count))
        })
        .collect()
}

/// Creates Cluster `cluster` (a manifest) and waits until it is healthy; returns its status.
pub async fn create_healthy(
    client: &Client,
    ns: &str,
    cluster: serde_json::Value,
) -> serde_json::Value {
    let name = cluster["metadata"]["name"]
        .as_str()
        .expect("cluster name")
        .to_string();
    create(client, ns, cluster).await;
    wait_phase(client, ns, &name, HEALTHY, Duration::from_secs(420)).await
}

/// Waits until the status of Cluster `name` satisfies `check`; returns it.
pub async fn wait_status(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let check = &check;
    wait_until(
        &format!("Cluster {ns}/{name}: {what}"),
        timeout,
        Duration::from_secs(1),
        || async move {
            let s = status(client, ns, name).await;
            if check(&s) {
                Ok(s)
            } else {
                Err(format!(
                    "phase {} ({}), current primary {}, target primary {}",
                    s["phase"], s["phaseReason"], s["currentPrimary"], s["targetPrimary"]
                ))
            }
        },
    )
    .await
}

/// The reasons of the Events of `ns` whose message mentions `object`.
pub async fn event_reasons(client: &Client, ns: &str) -> Vec<(String, String)> {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    events
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the primary of `cluster` (through `-rw`) enforces `synchronous_standby_names` =
/// `want`.
pub async fn wait_sync_names(client: &Client, ns: &str, cluster: &str, want: &str) {
    let mut attempt = 0u32;
    wait_until(
        &format!("synchronous_standby_names = {want}"),
        Duration::from_secs(300),
        Duration::from_secs(3),
        || {
            attempt += 1;
            let name = format!("show-sync-{attempt}");
            async move {
                let got = query(
                    client,
                    ns,
                    &name,
                    cluster,
                    &format!("{cluster}-rw"),
                    "SHOW synchronous_standby_names",
                )
                .await;
                if got == want { Ok(()) } else { Err(got) }
            }
        },
    )
    .await
}
