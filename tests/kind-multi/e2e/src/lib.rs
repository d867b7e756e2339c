//! Harness of the end-to-end suite: clients for each region of the environment `tests/kind-multi/up`
//! created, and a temporary namespace per test that is removed afterwards (its objects are dumped
//! when the test fails).
#![forbid(unsafe_code)]

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
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
        for kind in ["Cluster", "Federation", "Backup", "Pooler"] {
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
