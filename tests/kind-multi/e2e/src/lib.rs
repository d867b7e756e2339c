//! Harness of the end-to-end suite: clients for each region of the environment `tests/kind-multi/up`
//! created, and a temporary namespace per test that is removed afterwards (its objects are dumped
//! when the test fails).
#![forbid(unsafe_code)]

pub mod backups;
pub mod cluster;
pub mod federation;
pub mod nodes;

use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, LogParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use kube::{Client, Config};
use std::future::Future;
use std::path::PathBuf;

/// Where `tests/kind-multi/up` writes the kubeconfig with one context per region.
pub fn kubeconfig_path() -> PathBuf {
    std::env::var_os("PGFED_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/pgfed-kind/kubeconfig"))
}

/// The regions of the environment (contexts `region-a`, `region-b`, …).
pub fn regions() -> Vec<String> {
    let path = kubeconfig_path();
    let config = Kubeconfig::read_from(&path).unwrap_or_else(|e| {
        panic!(
            "no multi-region environment at {}: {e}\nrun tests/kind-multi/e2e/run (or tests/kind-multi/up, tests/kind-multi/load and kubectl apply -k manifests/ in every region)",
            path.display()
        )
    });
    let mut names: Vec<String> = config
        .contexts
        .iter()
        .map(|c| c.name.clone())
        .filter(|n| n.starts_with("region-"))
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "{} has no region-* context",
        path.display()
    );
    names
}

/// A client for one region.
pub async fn client(region: &str) -> Client {
    // Dependencies enable both of rustls' crypto backends, so pick one explicitly (Err: already set).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(kubeconfig_path()).expect("kubeconfig");
    let options = KubeConfigOptions {
        context: Some(region.to_string()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap_or_else(|e| panic!("context {region}: {e}"));
    Client::try_from(config).expect("client")
}

/// The API resource of a pgfed kind.
pub fn pgfed_resource(kind: &str) -> ApiResource {
    let plural = format!("{}s", kind.to_lowercase());
    ApiResource {
        group: "pgfed.io".into(),
        version: "v1".into(),
        api_version: "pgfed.io/v1".into(),
        kind: kind.into(),
        plural,
    }
}

/// Runs `test` in a fresh namespace of `region` and deletes the namespace afterwards. When the
/// test panics, the pgfed objects of the namespace are printed before the panic continues.
pub async fn with_temp_namespace<F, Fut>(region: &str, test: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let client = client(region).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": "e2e-", "labels": {"pgfed.io/e2e": "true"}}
    }))
    .expect("namespace");
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let name = created.metadata.name.clone().expect("generated name");
    let outcome = tokio::spawn(test(client.clone(), name.clone())).await;
    if outcome.is_err() {
        dump_namespace(&client, region, &name).await;
        for kind in [
            "Cluster",
            "Federation",
            "Backup",
            "ScheduledBackup",
            "Database",
            "Pooler",
        ] {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &name, &pgfed_resource(kind));
            if let Ok(list) = api.list(&ListParams::default()).await {
                for obj in list {
                    eprintln!(
                        "--- {region} {name} {kind}: {}",
                        serde_json::to_string_pretty(&obj).unwrap_or_default()
                    );
                }
            }
        }
    }
    let _ = namespaces.delete(&name, &DeleteParams::default()).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// Every YAML document of a file under examples/.
pub fn example_documents(file: &str) -> Vec<serde_json::Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect()
}

/// Prints what a failed test needs to be understood: every pod with its phase, conditions and
/// container states, the namespace's Events, and the last lines of every container's log (the
/// instance managers' JSON lines among them).
pub async fn dump_namespace(client: &Client, region: &str, ns: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    if let Ok(list) = pods.list(&ListParams::default()).await {
        for pod in list {
            let name = pod.metadata.name.clone().unwrap_or_default();
            eprintln!(
                "--- {region} {ns} pod {name}: labels {:?}\n{}",
                pod.metadata.labels.clone().unwrap_or_default(),
                serde_json::to_string_pretty(&pod.status).unwrap_or_default()
            );
            let containers: Vec<String> = pod
                .spec
                .iter()
                .flat_map(|s| {
                    s.init_containers
                        .iter()
                        .flatten()
                        .chain(s.containers.iter())
                        .map(|c| c.name.clone())
                })
                .collect();
            for container in containers {
                let params = LogParams {
                    container: Some(container.clone()),
                    tail_lines: Some(60),
                    ..LogParams::default()
                };
                if let Ok(text) = pods.logs(&name, &params).await {
                    eprintln!("--- {region} {ns} log {name}/{container}:\n{text}");
                }
            }
        }
    }
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    if let Ok(list) = events.list(&ListParams::default()).await {
        for e in list {
            eprintln!(
                "--- {region} {ns} event {} {} {}: {}",
                e.type_.unwrap_or_default(),
                e.involved_object.name.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            );
        }
    }
}

/// Polls `check` every `every` until it returns `Some`, or panics after `timeout` with `what`
/// and the last value `describe` gives.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(state) => state,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(every).await;
    }
}

/// A shell prefix that waits (up to a minute) until each of `hosts` accepts PostgreSQL
/// connections. A Service's address starts accepting only once kube-proxy has programmed the new
/// endpoint, a moment after the pod became Ready; a client connecting in that moment is refused,
/// as any application retrying its connection would be.
pub fn wait_for_postgres(hosts: &[&str]) -> String {
    hosts
        .iter()
        .map(|h| format!("for _ in $(seq 60); do pg_isready -q -h {h} && break; sleep 1; done\n"))
        .collect()
}

/// Runs a one-shot pod built from `pod` in `ns` until it terminates; returns whether it
/// succeeded and its log. The pod is deleted afterwards.
pub async fn run_pod(
    client: &Client,
    ns: &str,
    pod: serde_json::Value,
    timeout: std::time::Duration,
) -> (bool, String) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(pod).expect("pod");
    let name = pod.metadata.name.clone().expect("pod name");
    pods.create(&PostParams::default(), &pod)
        .await
        .unwrap_or_else(|e| panic!("creating pod {name}: {e}"));
    let succeeded = wait_until(
        &format!("pod {name} to finish"),
        timeout,
        std::time::Duration::from_secs(1),
        || {
            let pods = pods.clone();
            let name = name.clone();
            async move {
                let p = pods.get(&name).await.map_err(|e| e.to_string())?;
                match p.status.and_then(|s| s.phase).as_deref() {
                    Some("Succeeded") => Ok(true),
                    Some("Failed") => Ok(false),
                    other => Err(format!("phase {other:?}")),
                }
            }
        },
    )
    .await;
    let log = pods
        .logs(&name, &LogParams::default())
        .await
        .unwrap_or_else(|e| format!("<no log: {e}>"));
    let _ = pods.delete(&name, &DeleteParams::default()).await;
    (succeeded, log)
}

/// A one-shot client pod that runs `script` in PostgreSQL's image with the application owner's
/// credentials of Cluster `cluster` in libpq's environment (`PGUSER`, `PGPASSWORD`,
/// `PGDATABASE`) and the cluster CA mounted, verifying the server's name
/// (`sslmode=verify-full`); for [`run_pod`].
pub fn psql_client_pod(name: &str, cluster: &str, script: &str) -> serde_json::Value {
    let app = |key: &str| serde_json::json!({"secretKeyRef": {"name": format!("{cluster}-app"), "key": key}});
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsUser": 26, "runAsGroup": 26, "runAsNonRoot": true,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "psql",
                "image": "pgfed/postgresql:15",
                "imagePullPolicy": "Never",
                "command": ["bash", "-c", script],
                "env": [
                    {"name": "PGUSER", "valueFrom": app("username")},
                    {"name": "PGPASSWORD", "valueFrom": app("password")},
                    {"name": "PGDATABASE", "valueFrom": app("dbname")},
                    {"name": "PGSSLMODE", "value": "verify-full"},
                    {"name": "PGSSLROOTCERT", "value": "/ca/ca.crt"},
                    {"name": "HOME", "value": "/tmp"}
                ],
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                    "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "ca", "mountPath": "/ca"}, {"name": "tmp", "mountPath": "/tmp"}]
            }],
            "volumes": [
                {"name": "ca", "secret": {"secretName": format!("{cluster}-ca"), "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"name": "tmp", "emptyDir": {}}
            ]
        }
    })
}

/// Runs `tests/kind-multi/fault` with `args` (e.g. `["delete-pod", "region-a", "ns/pod"]`);
/// panics with its output when it fails.
pub fn fault(args: &[&str]) {
    if let Err(e) = try_fault(args) {
        panic!("{e}");
    }
}

/// Like [`fault`], but a fault that could not be injected (say, the process to kill is between
/// two lives) is returned as an error instead of failing the test.
pub fn try_fault(args: &[&str]) -> Result<(), String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fault");
    let out = std::process::Command::new(&script)
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "fault {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
