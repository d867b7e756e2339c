//! Federations across the environment's regions: a least-privilege kubeconfig for a member region
//! (a token of its `pgfed-federation-member` ServiceAccount), Federation reads and waits, a
//! switchover followed step by step, a client writing through a switchover, and killing the
//! controllers mid-step.

use crate::{kubeconfig_path, pgfed_resource, psql_client_pod, wait_until};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
};
use kube::config::Kubeconfig;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A kubeconfig reaching `region`'s API server as `pgfed-system/pgfed-federation-member`, whose
/// only rights are the member ones (manifests/federation-member-rbac.yaml).
pub async fn member_kubeconfig(region: &str, client: &Client) -> String {
    let config = Kubeconfig::read_from(kubeconfig_path()).expect("kubeconfig");
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == region)
        .and_then(|c| c.context.clone())
        .expect("context");
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.clone())
        .expect("cluster");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "pgfed-system");
    let request = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 86400}
    });
    let issued: Value = accounts
        .create_subresource(
            "token",
            "pgfed-federation-member",
            &PostParams::default(),
            &request,
        )
        .await
        .expect("a token of pgfed-federation-member (manifests/ installs it)");
    let token = issued["status"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": region, "cluster": {
            "server": cluster.server,
            "certificate-authority-data": cluster.certificate_authority_data,
        }}],
        "users": [{"name": "pgfed-federation-member", "user": {"token": token}}],
        "contexts": [{"name": region, "context": {"cluster": region, "user": "pgfed-federation-member"}}],
        "current-context": region,
    });
    serde_json::to_string(&kubeconfig).expect("kubeconfig json")
}

/// Stores `kubeconfig` in Secret `name` (key `kubeconfig`) of `ns`.
pub async fn kubeconfig_secret(client: &Client, ns: &str, name: &str, kubeconfig: &str) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name},
        "stringData": {"kubeconfig": kubeconfig}
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create kubeconfig secret");
}

/// The Federations of `ns`.
pub fn api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &pgfed_resource("Federation"))
}

/// Merge-patches Federation `name`.
pub async fn patch(client: &Client, ns: &str, name: &str, patch: Value) {
    api(client, ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch Federation");
}

/// Waits until the status of Federation `name` satisfies `check`; returns it.
pub async fn wait_status(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let check = &check;
    let api = api(client, ns);
    let api = &api;
    wait_until(
        &format!("Federation {ns}/{name}: {what}"),
        timeout,
        Duration::from_secs(2),
        || async move {
            let obj = api.get(name).await.map_err(|e| e.to_string())?;
            let status = obj.data["status"].clone();
            if check(&status) {
                Ok(status)
            } else {
                Err(status.to_string())
            }
        },
    )
    .await
}

/// Deletes, at once and without grace, the pods labelled `app` in `pgfed-system` of `client`'s
/// cluster: the federation controller or a member operator killed mid-step.
pub async fn kill(client: &Client, app: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "pgfed-system");
    let list = pods
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/name={app}")))
        .await
        .expect("list pods");
    for p in list {
        let name = p.metadata.name.unwrap_or_default();
        let _ = pods
            .delete(
                &name,
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                },
            )
            .await;
    }
}

/// Moves the primary to `to` through `spec.primary` and waits for the federation to settle;
/// calls `at_step` once for every switchover step it sees (to inject a fault there). Returns the
/// seconds it took and the steps seen.
pub async fn switch<F, Fut>(
    hub: &Client,
    ns: &str,
    name: &str,
    to: &str,
    mut at_step: F,
) -> (f64, Vec<String>)
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    patch(hub, ns, name, json!({"spec": {"primary": to}})).await;
    let api = api(hub, ns);
    let mut seen: Vec<String> = Vec::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(480),
            "switchover to {to} not done; steps {seen:?}"
        );
        if let Ok(obj) = api.get(name).await {
            let s = &obj.data["status"];
            if s["currentPrimary"] == to && s["switchover"].is_null() && s["phase"] == "Healthy" {
                return (started.elapsed().as_secs_f64(), seen);
            }
            if let Some(step) = s["switchover"]["step"].as_str()
                && !seen.iter().any(|x| x == step)
            {
                println!("{:.1} s: step {step}", started.elapsed().as_secs_f64());
                seen.push(step.to_string());
                at_step(step.to_string()).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Starts pod `pod` in `ns`: a client writing numbered rows (from `first`) into table `acks`
/// through `<cluster>-rw` five times a second with `<login>-app`'s credentials and
/// `<cluster>-ca`, printing `ack N <unix seconds>` for each commit acknowledged. It stops 20 s
/// after its last acknowledgement (the primary moved away) or after `seconds`. Returns once it
/// has five acknowledgements, or at once when `wait_acks` is false (a writer in a region that is
/// not primary yet).
pub async fn start_writer(
    client: &Client,
    ns: &str,
    pod: &str,
    (login, cluster): (&str, &str),
    first: u64,
    seconds: u32,
    wait_acks: bool,
) {
    let script = format!(
        "i={first}; got=0; last=$SECONDS; end=$((SECONDS+{seconds})); \
        while [ $SECONDS -lt $end ]; do \
        if [ $got = 1 ] && [ $((SECONDS-last)) -ge 20 ]; then break; fi; i=$((i+1)); \
        if psql -h {cluster}-rw -qAtc \"INSERT INTO acks VALUES ($i)\" >/dev/null 2>&1; then \
        echo \"ack $i $(date +%s.%N)\"; got=1; last=$SECONDS; fi; \
        sleep 0.2; done; echo finished"
    );
    let name = pod;
    let mut pod = psql_client_pod(name, login, &script);
    pod["spec"]["volumes"][0]["secret"]["secretName"] = json!(format!("{cluster}-ca"));
    pod["spec"]["containers"][0]["env"]
        .as_array_mut()
        .expect("env")
        .push(json!({"name": "PGCONNECT_TIMEOUT", "value": "3"}));
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).expect("pod"),
    )
    .await
    .expect("create the writer");
    if !wait_acks {
        return;
    }
    let pods = &pods;
    wait_until(
        "the writer's first acknowledged rows",
        Duration::from_secs(120),
        Duration::from_secs(1),
        || async move {
            let log = pods
                .logs(name, &LogParams::default())
                .await
                .map_err(|e| e.to_string())?;
            if log.lines().filter(|l| l.starts_with("ack ")).count() >= 5 {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;
}

/// What writer `pod` (see [`start_writer`]) saw acknowledged, once it finished: each number
/// with the time it was acknowledged (unix seconds). The pod is deleted.
pub async fn acknowledged(client: &Client, ns: &str, pod: &str) -> Vec<(u64, f64)> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pods = &pods;
    let log = wait_until(
        "the writer to finish",
        Duration::from_secs(420),
        Duration::from_secs(2),
        || async move {
            let log = pods
                .logs(pod, &LogParams::default())
                .await
                .map_err(|e| e.to_string())?;
            if log.contains("finished") {
                Ok(log)
            } else {
                Err("still writing".to_string())
            }
        },
    )
    .await;
    let _ = pods.delete(pod, &DeleteParams::default()).await;
    log.lines()
        .filter_map(|l| {
            let mut words = l.strip_prefix("ack ")?.split_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

/// `spec.members` of a Federation of two members: `a` in the hub's namespace `ns_a` of
/// `region_a`, `b` in `ns_b` of `region_b` reached through Secret `region-b-kubeconfig` (see
/// [`member_kubeconfig`], [`kubeconfig_secret`]), each archiving into its region's bucket under
/// its namespace.
pub fn two_members(
    store: &crate::backups::ObjectStore,
    (region_a, ns_a): (&str, &str),
    (region_b, ns_b): (&str, &str),
) -> Value {
    use crate::backups::store_in;
    json!([
        {"name": "a", "region": region_a, "barmanObjectStore": store_in(store, &store.bucket, ns_a)},
        {"name": "b", "region": region_b, "namespace": ns_b,
         "kubeconfigSecretRef": {"name": "region-b-kubeconfig", "key": "kubeconfig"},
         "barmanObjectStore": store_in(store, &store.bucket_b, ns_b)}
    ])
}

/// Prepares a two-region Federation's namespaces: the object store's credentials in both, and in
/// the hub's the kubeconfig Secret `region-b-kubeconfig` reaching `ns_b` of `region_b` with the
/// member rights only. Returns the object store and that kubeconfig (to put back if a test
/// removes it).
pub async fn prepare_two_regions(
    (hub, ns_a): (&Client, &str),
    (client_b, ns_b, region_b): (&Client, &str, &str),
) -> (crate::backups::ObjectStore, String) {
    let store = crate::backups::ObjectStore::load();
    crate::backups::s3_secret(hub, ns_a, &store).await;
    crate::backups::s3_secret(client_b, ns_b, &store).await;
    let kubeconfig = member_kubeconfig(region_b, client_b).await;
    kubeconfig_secret(hub, ns_a, "region-b-kubeconfig", &kubeconfig).await;
    (store, kubeconfig)
}

/// Prepares a two-region Federation whose hub is region b, so that it survives the loss of region
/// a: the object store's credentials in both namespaces, and in the hub's the kubeconfig Secret
/// `region-a-kubeconfig` reaching `ns_a` of `region_a` with the member rights only. Returns the
/// object store.
pub async fn prepare_hub_in_b(
    (client_a, ns_a, region_a): (&Client, &str, &str),
    (hub, ns_b): (&Client, &str),
) -> crate::backups::ObjectStore {
    let store = crate::backups::ObjectStore::load();
    crate::backups::s3_secret(hub, ns_b, &store).await;
    crate::backups::s3_secret(client_a, ns_a, &store).await;
    let kubeconfig = member_kubeconfig(region_a, client_a).await;
    kubeconfig_secret(hub, ns_b, "region-a-kubeconfig", &kubeconfig).await;
    store
}

/// `spec.members` for [`prepare_hub_in_b`]: `a` in `ns_a` of `region_a` through
/// `region-a-kubeconfig`, `b` in the hub, each archiving into its region's bucket.
pub fn members_hub_in_b(
    store: &crate::backups::ObjectStore,
    (region_a, ns_a): (&str, &str),
    (region_b, ns_b): (&str, &str),
) -> Value {
    use crate::backups::store_in;
    json!([
        {"name": "a", "region": region_a, "namespace": ns_a,
         "kubeconfigSecretRef": {"name": "region-a-kubeconfig", "key": "kubeconfig"},
         "barmanObjectStore": store_in(store, &store.bucket, ns_a)},
        {"name": "b", "region": region_b,
         "barmanObjectStore": store_in(store, &store.bucket_b, ns_b)}
    ])
}

/// `spec.failover` with `mode: Automatic`, the fencing lease under `fencing-<ns>` of region b's
/// bucket, and the given lease duration and unreachable timeout in seconds.
pub fn automatic_failover(
    store: &crate::backups::ObjectStore,
    ns: &str,
    lease_seconds: u32,
    unreachable_seconds: u32,
) -> Value {
    json!({
        "mode": "Automatic",
        "leaseDuration": format!("{lease_seconds}s"),
        "primaryUnreachableTimeout": format!("{unreachable_seconds}s"),
        "leaseObjectStore": crate::backups::store_in(store, &store.bucket_b, &format!("fencing-{ns}"))
    })
}

/// Copies the `shop-app` Secret of `(from, ns)` as `origin-app` into each of `to`: the same
/// application credentials on every member (a replica member is a copy of the primary's system).
pub async fn copy_app_secret((from, ns): (&Client, &str), to: &[(&Client, &str)]) {
    let app: Secret = Api::<Secret>::namespaced(from.clone(), ns)
        .get("shop-app")
        .await
        .expect("shop-app");
    for (client, ns) in to {
        let copy: Secret =
            serde_json::from_value(json!({"metadata": {"name": "origin-app"}, "data": app.data}))
                .expect("secret");
        Api::<Secret>::namespaced((*client).clone(), ns)
            .create(&PostParams::default(), &copy)
            .await
            .expect("copy the app credentials");
    }
}

/// Cuts `region` off (`tests/kind-multi/fault cut-region`) until dropped (then heals it).
pub struct CutRegion(String);

impl CutRegion {
    /// Cuts `region` off from the other regions and the object store.
    pub fn cut(region: &str) -> CutRegion {
        crate::fault(&["cut-region", region]);
        CutRegion(region.to_string())
    }
}

impl Drop for CutRegion {
    fn drop(&mut self) {
        if let Err(e) = crate::try_fault(&["heal-region", &self.0]) {
            eprintln!("healing {}: {e}", self.0);
        }
    }
}
