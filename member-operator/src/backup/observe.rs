//! What one reconcile of a Backup looks at, read at its start: the effective Cluster (absent
//! when it does not exist), its instance pods, what their managers report, and — once an instance was asked —
//! that manager's record of this backup. Reads only.

use super::decide::Probe;
use super::target::Candidate;
use crate::cluster::build::certs::secrets_to_read;
use crate::cluster::managers;
use crate::cluster::plugin_stores::{PluginStoreError, effective_cluster};
use crate::instances::{ClientCertificates, InstanceClient};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Client;
use kube::api::{Api, ListParams};
use pgfed_api::backup::Backup;
use pgfed_api::cluster::Cluster;
use pgfed_api::instance::InstanceStatus;
use pgfed_api::names::{LABEL_CLUSTER, instance_serial};
use pgfed_api::plugins::MissingObjectStore;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Why a Backup's surroundings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The API server refused or failed a read.
    #[error("{action}: {source}")]
    Kube {
        /// What was read.
        action: String,
        /// Cause.
        source: kube::Error,
    },
    /// The managers cannot be reached (the Cluster's CA Secrets are not usable yet).
    #[error(transparent)]
    Managers(#[from] managers::ManagersError),
    /// The ObjectStores the Cluster's plugin entries name could not be read.
    #[error(transparent)]
    ObjectStores(PluginStoreError),
}

fn kube(action: String) -> impl FnOnce(kube::Error) -> ObserveError {
    move |source| ObserveError::Kube { action, source }
}

/// What exists around a Backup.
#[derive(Default)]
pub struct Observed {
    /// The effective Cluster (the stores its plugin entries name filled in, see
    /// [`crate::cluster::plugin_stores`]); None when it does not exist.
    pub cluster: Option<Cluster>,
    /// An ObjectStore the Cluster needs and that does not exist (the Cluster is then as stored).
    pub missing_store: Option<MissingObjectStore>,
    /// Its instance pods (not being deleted), by name.
    pub pods: BTreeMap<String, Pod>,
    /// What each answering manager reported, by instance.
    pub reports: BTreeMap<String, InstanceStatus>,
    /// The client of the Cluster's managers (None without a Cluster or before its CA exists).
    pub managers: Option<InstanceClient>,
}

impl Observed {
    /// The instances as the choice of a target sees them.
    pub fn candidates(&self) -> Vec<Candidate<'_>> {
        self.pods
            .iter()
            .map(|(name, pod)| Candidate {
                name,
                ready: pod_ready(pod) && pod_ip(pod).is_some(),
                report: self.reports.get(name),
            })
            .collect()
    }

    /// The IP of instance pod `name`.
    pub fn ip(&self, name: &str) -> Option<IpAddr> {
        self.pods.get(name).and_then(pod_ip)
    }

    /// The container ID of the postgres container of pod `name`.
    pub fn container_id(&self, name: &str) -> Option<String> {
        self.pods
            .get(name)?
            .status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .iter()
            .find(|c| c.name == crate::cluster::build::pod::POSTGRES_CONTAINER)?
            .container_id
            .clone()
    }
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_ip(pod: &Pod) -> Option<IpAddr> {
    pod.status.as_ref()?.pod_ip.as_ref()?.parse().ok()
}

/// Reads the Cluster of `backup`, its pods and its managers' reports.
pub async fn observe(
    client: &Client,
    certificates: &ClientCertificates,
    backup: &Backup,
) -> Result<Observed, ObserveError> {
    let namespace = backup.metadata.namespace.clone().unwrap_or_default();
    let name = backup.spec.cluster.name.clone();
    let clusters: Api<Cluster> = Api::namespaced(client.clone(), &namespace);
    let Some(cluster) = clusters
        .get_opt(&name)
        .await
        .map_err(kube(format!("reading Cluster {namespace}/{name}")))?
    else {
        return Ok(Observed::default());
    };
    let (cluster, missing_store) = match effective_cluster(client, &cluster).await {
        Ok(effective) => (effective, None),
        Err(PluginStoreError::Missing(missing)) => (cluster, Some(missing)),
        Err(e) => return Err(ObserveError::ObjectStores(e)),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let pods: BTreeMap<String, Pod> = pods
        .list(&ListParams::default().labels(&format!("{LABEL_CLUSTER}={name}")))
        .await
        .map_err(kube(format!(
            "listing the pods of Cluster {namespace}/{name}"
        )))?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name.clone().map(|n| (n, p)))
        .filter(|(n, _)| instance_serial(&name, n).is_some())
        .collect();
    let config = cluster.spec.certificates.clone().unwrap_or_default();
    let secrets_api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let mut secrets = BTreeMap::new();
    for secret in secrets_to_read(&name, &config) {
        if let Some(s) = secrets_api
            .get_opt(&secret)
            .await
            .map_err(kube(format!("reading Secret {namespace}/{secret}")))?
        {
            secrets.insert(secret, s);
        }
    }
    let (managers, reports) =
        match managers::client(certificates, &secrets, &name, &namespace, &config) {
            Ok(m) => {
                let reports = managers::statuses(&m, &pods).await;
                (Some(m), reports)
            }
            // No CA yet (a Cluster being created): no instance can take a backup, nothing to ask.
            Err(managers::ManagersError::MissingKey { .. }) => (None, BTreeMap::new()),
            Err(e) => return Err(e.into()),
        };
    Ok(Observed {
        cluster: Some(cluster),
        missing_store,
        pods,
        reports,
        managers,
    })
}

/// What the manager of `pod` says about Backup `name`.
pub async fn probe(observed: &Observed, pod: &str, name: &str) -> Probe {
    let (Some(managers), Some(ip)) = (&observed.managers, observed.ip(pod)) else {
        return Probe::Unreachable(format!("instance pod {pod} has no address yet"));
    };
    match managers.backup_progress(ip, name).await {
        Ok(Ok(progress)) => Probe::Found(Box::new(progress)),
        Ok(Err(refusal)) => Probe::Unknown {
            session_id: refusal.session_id,
        },
        Err(e) => Probe::Unreachable(format!("instance manager of {pod}: {e}")),
    }
}
