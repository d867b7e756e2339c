//! `Pooler`: PgBouncer in front of a Cluster.

use crate::cluster::{MonitoringTls, RelabelConfig};
use crate::common::LocalObjectReference;
use k8s_openapi::api::apps::v1::DeploymentStrategy;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A PgBouncer deployment routing to a cluster's primary or standbys.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[kube(
    group = "pgfed.io",
    version = "v1",
    kind = "Pooler",
    namespaced,
    status = "PoolerStatus",
    category = "pgfed",
    derive = "Default",
    derive = "PartialEq",
    doc = "A PgBouncer connection pooler for a pgfed Cluster.",
    scale(
        spec_replicas_path = ".spec.instances",
        status_replicas_path = ".status.instances"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster.name"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Instances", type_ = "integer", json_path = ".status.instances")
)]
#[serde(rename_all = "camelCase")]
pub struct PoolerSpec {
    /// The cluster behind the pooler. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("cluster is immutable"))]
    pub cluster: LocalObjectReference,
    /// Which instances it routes to: `rw` (primary, default), `ro` (standbys) or `r` (any).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub pooler_type: Option<PoolerType>,
    /// Number of PgBouncer pods. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub instances: Option<i32>,
    /// Pod template overrides of the PgBouncer pods (a core/v1 PodTemplateSpec; see
    /// `kubectl explain pod.spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::common::embedded_object_schema")]
    pub template: Option<PodTemplateSpec>,
    /// PgBouncer configuration.
    pub pgbouncer: PgBouncerSpec,
    /// Metrics of the pooler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<PoolerMonitoring>,
    /// Service template of the pooler's Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_template: Option<crate::cluster::ServiceTemplateSpec>,
    /// How the PgBouncer Deployment replaces its pods (`RollingUpdate` by default, or `Recreate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_strategy: Option<DeploymentStrategy>,
    /// Run PgBouncer under this existing ServiceAccount instead of one the operator creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("serviceAccountName is immutable"))]
    pub service_account_name: Option<String>,
}

/// Which instances a pooler routes to.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PoolerType {
    /// The primary.
    Rw,
    /// The standbys.
    Ro,
    /// Any instance.
    R,
}

/// PgBouncer settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PgBouncerSpec {
    /// `session` (default) or `transaction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_mode: Option<PoolMode>,
    /// Secret with the credentials of the auth_query user. Default: generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_query_secret: Option<LocalObjectReference>,
    /// Query PgBouncer uses to look up passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_query: Option<String>,
    /// pgbouncer.ini parameters. Those pgfed owns (listen_port, auth_*, unix_socket_dir…) are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// pg_hba rules of PgBouncer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "pg_hba")]
    pub pg_hba: Vec<String>,
    /// Pause all pools (PAUSE) while true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// TLS Secret (`tls.crt`, `tls.key`) PgBouncer presents to PostgreSQL
    /// (`server_tls_cert_file`/`server_tls_key_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "serverTLSSecret")]
    pub server_tls_secret: Option<LocalObjectReference>,
    /// Secret with the CA (`ca.crt`) PgBouncer verifies PostgreSQL's certificate with
    /// (`server_tls_ca_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "serverCASecret")]
    pub server_ca_secret: Option<LocalObjectReference>,
    /// TLS Secret PgBouncer presents to its clients (`client_tls_cert_file`/`client_tls_key_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "clientTLSSecret")]
    pub client_tls_secret: Option<LocalObjectReference>,
    /// Secret with the CA PgBouncer verifies client certificates with (`client_tls_ca_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "clientCASecret")]
    pub client_ca_secret: Option<LocalObjectReference>,
    /// PgBouncer image. Takes precedence over `imageCatalogRef` and the operator's default; an
    /// image set in `template` wins over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Take the PgBouncer image from a catalog's `componentImages`. Excludes `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_catalog_ref: Option<ComponentImageCatalogRef>,
}

/// A reference to an entry of a catalog's `componentImages`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentImageCatalogRef {
    /// API group of the catalog (`pgfed.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// `ImageCatalog` or `ClusterImageCatalog`.
    pub kind: String,
    /// Name of the catalog.
    pub name: String,
    /// Key of the entry in the catalog's `componentImages`.
    pub key: String,
}

/// PgBouncer pool mode.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// A server connection per client session.
    Session,
    /// A server connection per transaction.
    Transaction,
}

/// Pooler metrics.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PoolerMonitoring {
    /// Create a PodMonitor for the Prometheus Operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pod_monitor: Option<bool>,
    /// Relabelings of the PodMonitor, applied to targets before scraping (deprecated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_monitor_relabelings: Vec<RelabelConfig>,
    /// Relabelings of the PodMonitor, applied to samples before ingestion (deprecated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_monitor_metric_relabelings: Vec<RelabelConfig>,
    /// Serve PgBouncer's metrics over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<MonitoringTls>,
}

/// Observed state of a pooler.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PoolerStatus {
    /// Number of PgBouncer pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    /// Secrets in use and their resource versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<PoolerSecrets>,
    /// `active`, `paused`, `inactive` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PoolerPhase>,
    /// Why the pooler is in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_reason: Option<String>,
    /// The PgBouncer image the pooler runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Why the pooler was last refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Lifecycle state of a pooler.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PoolerPhase {
    /// Serving connections.
    Active,
    /// Pools paused (`pgbouncer.paused`).
    Paused,
    /// Scaled to zero or waiting for its cluster.
    Inactive,
    /// Cannot run; see `phaseReason`.
    Failed,
}

/// The Secrets a pooler uses, each with the resource version applied.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PoolerSecrets {
    /// `serverTLSSecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "serverTLS")]
    pub server_tls: Option<SecretVersion>,
    /// `serverCASecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "serverCA")]
    pub server_ca: Option<SecretVersion>,
    /// `clientCASecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "clientCA")]
    pub client_ca: Option<SecretVersion>,
    /// `clientTLSSecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "clientTLS")]
    pub client_tls: Option<SecretVersion>,
    /// Secrets of PgBouncer itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_bouncer_secrets: Option<PgBouncerSecrets>,
}

/// PgBouncer's own Secrets.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PgBouncerSecrets {
    /// The auth_query user's Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_query: Option<SecretVersion>,
}

/// A Secret and the resource version applied.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct SecretVersion {
    /// Secret name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its resource version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}
