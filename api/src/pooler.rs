//! `Pooler`: PgBouncer in front of a Cluster.

use crate::common::{LocalObjectReference, SecretKeySelector};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A PgBouncer deployment routing to a cluster's primary or standbys.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
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
    /// The cluster behind the pooler.
    pub cluster: LocalObjectReference,
    /// Which instances it routes to: `rw` (primary, default), `ro` (standbys) or `r` (any).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub pooler_type: Option<PoolerType>,
    /// Number of PgBouncer pods. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// CA secret key used to verify the server (defaults to the cluster CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "serverTLSSecret")]
    pub server_tls_secret: Option<SecretKeySelector>,
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
}

/// Observed state of a pooler.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PoolerStatus {
    /// Number of PgBouncer pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    /// Secrets in use and their resource versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
}
