//! `kubectl pgfed status <cluster>`: reads the Cluster and its instance pods and prints the
//! report ([`render`]) or the Cluster's status as JSON/YAML.

pub mod render;

use crate::lookup::{LookupError, ObjectRef};
use crate::output::{Format, OutputError, structured};
use chrono::Utc;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use pgfed_api::cluster::Cluster;
use pgfed_api::names::{LABEL_CLUSTER, LABEL_POD_ROLE};

/// The `pgfed.io/podRole` of instance pods (the operator's `build::service::POD_ROLE_INSTANCE`);
/// pooler pods and jobs carry the cluster label too and are not instances.
const POD_ROLE_INSTANCE: &str = "instance";

/// Why the status of a cluster cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum ClusterStatusError {
    /// The Cluster or its pods could not be read.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The status could not be written in the format asked for.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// The status of Cluster `name` in `namespace`: the text report, or `status` as JSON or YAML.
/// Reads the Cluster and its instance pods (`pgfed.io/cluster=<name>,pgfed.io/podRole=instance`).
pub async fn status(
    client: Client,
    namespace: &str,
    name: &str,
    format: Format,
) -> Result<String, ClusterStatusError> {
    let object = ObjectRef {
        kind: "cluster",
        resource: "clusters.pgfed.io",
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let cluster = object
        .get(&Api::<Cluster>::namespaced(client.clone(), namespace))
        .await?;
    if let Some(text) = structured(&cluster.status.clone().unwrap_or_default(), format)? {
        return Ok(text);
    }
    let selector = format!("{LABEL_CLUSTER}={name},{LABEL_POD_ROLE}={POD_ROLE_INSTANCE}");
    let pods = Api::<Pod>::namespaced(client, namespace)
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(object.api_error("listing the instance pods of"))?;
    Ok(render::render(&cluster, &pods.items, Utc::now()))
}
