//! Federations across the environment's regions: a least-privilege kubeconfig for a member region
//! (a token of its `pgfed-federation-member` ServiceAccount), Federation reads and waits.

use crate::{kubeconfig_path, pgfed_resource, wait_until};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::{Value, json};
use std::time::Duration;

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
