//! Everything one reconcile of a Cluster looks at, read once at its start into [`Observed`]:
//! the children with the Cluster's label (pods, claims, Services, PodDisruptionBudgets, Secrets,
//! ConfigMaps, ServiceAccounts), the Secrets the spec references by name and the Cluster's
//! Backups. Reads only; the
//! decisions and builders downstream are pure over this value.

use super::error::ReconcileError;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Node, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::{Client, Resource};
use pgfed_api::backup::Backup;
use pgfed_api::cluster::Cluster;
use pgfed_api::instance::InstanceStatus;
use pgfed_api::names::LABEL_CLUSTER;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};

/// What exists of one Cluster.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Pods with the Cluster's label (instances), by name.
    pub pods: BTreeMap<String, Pod>,
    /// Claims with the Cluster's label, by name.
    pub pvcs: BTreeMap<String, PersistentVolumeClaim>,
    /// Services with the Cluster's label, by name.
    pub services: BTreeMap<String, Service>,
    /// PodDisruptionBudgets with the Cluster's label, by name.
    pub pdbs: BTreeMap<String, PodDisruptionBudget>,
    /// ConfigMaps with the Cluster's label, by name.
    pub config_maps: BTreeMap<String, ConfigMap>,
    /// ServiceAccounts with the Cluster's label, by name.
    pub service_accounts: BTreeMap<String, ServiceAccount>,
    /// Roles with the Cluster's label, by name.
    pub roles: BTreeMap<String, Role>,
    /// RoleBindings with the Cluster's label, by name.
    pub role_bindings: BTreeMap<String, RoleBinding>,
    /// Leases with the Cluster's label (the primary Lease), by name.
    pub leases: BTreeMap<String, Lease>,
    /// Secrets with the Cluster's label, and the ones the spec names, by name.
    pub secrets: BTreeMap<String, Secret>,
    /// What each instance manager reported, by instance name (absent: it did not answer).
    pub instances: BTreeMap<String, InstanceStatus>,
    /// The Backups of this Cluster (for `firstRecoverabilityPoint`); None when they could not be
    /// read (the status field is then left as it was).
    pub backups: Option<Vec<Backup>>,
}

/// The Backups in `namespace` of Cluster `cluster`; None (logged) when they cannot be listed: a
/// status field must not block a reconcile. One Backup that does not parse is skipped.
async fn list_backups(client: &Client, namespace: &str, cluster: &str) -> Option<Vec<Backup>> {
    let api: Api<DeserializeGuard<Backup>> = Api::namespaced(client.clone(), namespace);
    match api.list(&ListParams::default()).await {
        Ok(list) => Some(
            list.items
                .into_iter()
                .filter_map(|b| b.0.ok())
                .filter(|b| b.spec.cluster.name == cluster)
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(namespace, cluster, error = %e, "cannot list the Backups");
            None
        }
    }
}

async fn list_labelled<K>(
    client: &Client,
    namespace: &str,
    cluster: &str,
) -> Result<BTreeMap<String, K>, ReconcileError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("{LABEL_CLUSTER}={cluster}"));
    let list = api
        .list(&params)
        .await
        .map_err(ReconcileError::kube(format!(
            "listing {} of Cluster {namespace}/{cluster}",
            K::plural(&K::DynamicType::default())
        )))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| o.meta().name.clone().map(|n| (n, o)))
        .collect())
}

/// Reads the children of `cluster` and the Secrets in `referenced` (missing ones are simply
/// absent from the result: the builders decide what a missing Secret means).
pub async fn observe(
    client: &Client,
    cluster: &Cluster,
    referenced: &BTreeSet<String>,
) -> Result<Observed, ReconcileError> {
    let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let mut secrets: BTreeMap<String, Secret> = list_labelled(client, &namespace, &name).await?;
    let secret_api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    for wanted in referenced {
        if secrets.contains_key(wanted) {
            continue;
        }
        if let Some(secret) = secret_api
            .get_opt(wanted)
            .await
            .map_err(ReconcileError::kube(format!(
                "reading Secret {namespace}/{wanted}"
            )))?
        {
            secrets.insert(wanted.clone(), secret);
        }
    }
    Ok(Observed {
        pods: list_labelled(client, &namespace, &name).await?,
        pvcs: list_labelled(client, &namespace, &name).await?,
        services: list_labelled(client, &namespace, &name).await?,
        pdbs: list_labelled(client, &namespace, &name).await?,
        config_maps: list_labelled(client, &namespace, &name).await?,
        service_accounts: list_labelled(client, &namespace, &name).await?,
        roles: list_labelled(client, &namespace, &name).await?,
        role_bindings: list_labelled(client, &namespace, &name).await?,
        leases: list_labelled(client, &namespace, &name).await?,
        secrets,
        instances: BTreeMap::new(),
        backups: list_backups(client, &namespace, &name).await,
    })
}

/// The labels of the nodes that run `pods`, by node name: synchronous standbys are chosen by the
/// failure domain of their node. Only those nodes are read, one `get` each. A node that cannot
/// be read is left out (its instances' failure domain is then unknown, which the decision
/// handles), so a missing permission or a node being removed never blocks a reconcile.
pub async fn node_labels(
    client: &Client,
    pods: &BTreeMap<String, Pod>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let names: BTreeSet<&String> = pods
        .values()
        .filter_map(|p| p.spec.as_ref()?.node_name.as_ref())
        .collect();
    let api: Api<Node> = Api::all(client.clone());
    let mut out = BTreeMap::new();
    for name in names {
        match api.get_opt(name).await {
            Ok(Some(node)) => {
                out.insert(name.clone(), node.metadata.labels.unwrap_or_default());
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(node = %name, error = %e, "cannot read the node's labels"),
        }
    }
    out
}
