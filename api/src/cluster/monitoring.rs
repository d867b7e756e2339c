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
    /// How long the results of the metric queries are reused before a scrape runs them again
    /// (a duration such as `30s`, the default; `0` runs them on every scrape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "metricsQueriesTTL")]
    pub metrics_queries_ttl: Option<String>,
    /// Relabelings of the PodMonitor, applied to targets before scraping (deprecated by
    /// CloudNativePG: create your own PodMonitor instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_monitor_relabelings: Vec<RelabelConfig>,
    /// Relabelings of the PodMonitor, applied to samples before ingestion (deprecated by
    /// CloudNativePG: create your own PodMonitor instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_monitor_metric_relabelings: Vec<RelabelConfig>,
}

/// A Prometheus relabeling rule, as in the Prometheus Operator's `RelabelConfig`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RelabelConfig {
    /// What to do when `regex` matches (default `replace`): replace, keep, drop, hashmod,
    /// labelmap, labeldrop, labelkeep, lowercase, uppercase, keepequal, dropequal (each also
    /// capitalised, e.g. `HashMod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = [
        "replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod",
        "labelmap", "LabelMap", "labeldrop", "LabelDrop", "labelkeep", "LabelKeep",
        "lowercase", "Lowercase", "uppercase", "Uppercase", "keepequal", "KeepEqual",
        "dropequal", "DropEqual"
    ]))]
    pub action: Option<String>,
    /// Labels whose values, joined by `separator`, are matched against `regex`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    /// Separator between the joined source label values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Label the result is written to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    /// Regular expression matched against the joined source values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Modulus of the hash, for `hashmod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulus: Option<i64>,
    /// Value written on a match; regex capture groups are available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}
/// TLS of the metrics endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct MonitoringTls {
    /// Serve metrics with the server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}
