//! `spec.monitoring`: the Prometheus exporter built into the instance manager.

use crate::common::{ConfigMapKeySelector, SecretKeySelector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Metrics configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringConfiguration {
    /// Do not run the default metric queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_default_queries: Option<bool>,
    /// ConfigMaps with custom queries in postgres_exporter's YAML format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_queries_config_map: Vec<ConfigMapKeySelector>,
    /// Secrets with custom queries in postgres_exporter's YAML format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_queries_secret: Vec<SecretKeySelector>,
    /// Create a PodMonitor for the Prometheus Operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pod_monitor: Option<bool>,
    /// Serve metrics over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<MonitoringTls>,
}

/// TLS of the metrics endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct MonitoringTls {
    /// Serve metrics with the server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}
